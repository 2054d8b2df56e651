import Foundation

/// The sizes and variants of a Llama-family model (Llama, SmolLM2, TinyLlama, Mistral without
/// sliding windows): RMSNorm, rotary position embeddings, grouped-query attention, a SwiGLU
/// feed-forward layer, no biases. Defaults are SmolLM2-135M's.
public struct LlamaConfiguration: Sendable, Equatable, Codable {
    public var vocabularySize = 49152
    /// Longest sequence the model was trained for (RoPE itself has no limit; the cosine tables do).
    public var contextLength = 8192
    /// Width of the residual stream (hidden_size).
    public var width = 576
    /// Width of the feed-forward layer (intermediate_size).
    public var intermediateSize = 1536
    public var layerCount = 30
    /// Query heads per layer.
    public var headCount = 9
    /// Key/value heads per layer; query heads share them in groups of headCount / keyValueHeadCount.
    public var keyValueHeadCount = 3
    /// Width of one head (head_dim); usually width / headCount.
    public var headSize = 64
    public var rmsNormEpsilon: Float = 1e-5
    /// RoPE's base: the angle of pair i at position p is p * ropeTheta^(-2i / headSize).
    public var ropeTheta: Double = 100_000
    /// How the frequencies are stretched for a longer context (Llama 3.1 and 3.2); nil for none.
    public var rotaryScaling: RotaryScaling?
    public var rotaryLayout: RotaryLayout = .rotateHalf
    /// Whether the output head is the token embedding (else it has weights of its own, `lm_head`).
    public var tiedOutputHead = true

    public init() {}

    /// Checks the sizes make a model; the error names the field at fault.
    public func validate() throws {
        for (name, value) in [("vocabularySize", vocabularySize), ("contextLength", contextLength), ("width", width),
                              ("intermediateSize", intermediateSize), ("layerCount", layerCount), ("headCount", headCount),
                              ("keyValueHeadCount", keyValueHeadCount), ("headSize", headSize)] where value <= 0 {
            throw CheckpointError("the configuration's \(name) must be positive, not \(value)")
        }
        guard headCount % keyValueHeadCount == 0 else {
            throw CheckpointError("the configuration's headCount \(headCount) is not a multiple of keyValueHeadCount \(keyValueHeadCount)")
        }
        guard headSize % 2 == 0 else { throw CheckpointError("the configuration's headSize \(headSize) must be even: RoPE rotates pairs") }
        guard rmsNormEpsilon > 0, rmsNormEpsilon.isFinite else { throw CheckpointError("the configuration's rmsNormEpsilon must be a small positive number") }
        guard ropeTheta > 1, ropeTheta.isFinite else { throw CheckpointError("the configuration's ropeTheta must be above 1, not \(ropeTheta)") }
        try rotaryScaling?.validate(headSize: headSize)
    }

    /// The angle each RoPE pair turns per position: theta^(-2i / headSize), then scaled.
    var rotaryInverseFrequencies: [Double] {
        let plain = (0..<headSize / 2).map { pow(ropeTheta, -2 * Double($0) / Double(headSize)) }
        return rotaryScaling?.scaled(plain) ?? plain
    }

    /// Width of all query heads together.
    var queryWidth: Int { headCount * headSize }
    /// Width of all key (or value) heads together.
    var keyValueWidth: Int { keyValueHeadCount * headSize }
}
