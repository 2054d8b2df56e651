/// A seeded pseudo-random generator (SplitMix64): the same seed gives the same initialization
/// and the same samples on every machine, which makes runs repeatable and tests exact.
public struct SeededRandom: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [0, 1) with 24 bits of precision.
    public mutating func nextUniform() -> Float {
        Float(next() >> 40) / Float(1 << 24)
    }

    /// Standard normal, by the Box-Muller transform.
    public mutating func nextNormal() -> Float {
        let u1 = max(nextUniform(), Float.leastNormalMagnitude)
        let u2 = nextUniform()
        return (-2 * logf(u1)).squareRoot() * cosf(2 * Float.pi * u2)
    }
}

#if canImport(Glibc)
import Glibc
#endif

extension GPT2Model {
    /// GPT-2's initialization, seeded: weights normal with standard deviation 0.02, the two
    /// projections into the residual stream scaled by 1/sqrt(2 L) (GPT-2 paper, section 2.3),
    /// biases zero, LayerNorm gains one.
    public func initializeParameters(seed: UInt64) {
        var random = SeededRandom(seed: seed)
        let residualScale = 1 / Float(2 * configuration.layerCount).squareRoot()
        let p = parameters.pointer
        for tensor in layout.tensors {
            let isLayerNormGain = tensor.name.hasSuffix("ln_1.weight") || tensor.name.hasSuffix("ln_2.weight") || tensor.name.hasSuffix("ln_f.weight")
            if isLayerNormGain {
                for i in tensor.range { p[i] = 1 }
            } else if tensor.shape.count == 1 {
                for i in tensor.range { p[i] = 0 }
            } else {
                let isResidualProjection = tensor.name.hasSuffix("attn.c_proj.weight") || tensor.name.hasSuffix("mlp.c_proj.weight")
                let standardDeviation: Float = 0.02 * (isResidualProjection ? residualScale : 1)
                for i in tensor.range { p[i] = random.nextNormal() * standardDeviation }
            }
        }
    }
}
