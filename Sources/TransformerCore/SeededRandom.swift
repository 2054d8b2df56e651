#if canImport(Glibc)
import Glibc
#endif

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
