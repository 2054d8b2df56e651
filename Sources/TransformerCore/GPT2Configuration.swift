/// The sizes of a GPT-2 model. Defaults are GPT-2 small (124M parameters).
public struct GPT2Configuration: Sendable, Equatable, Codable {
    /// Tokens in the vocabulary (50,257 for GPT-2's BPE).
    public var vocabularySize = 50257
    /// Longest sequence the learned position embeddings cover.
    public var contextLength = 1024
    /// Width of the residual stream (n_embd).
    public var width = 768
    public var layerCount = 12
    /// Attention heads per layer; `width` must be a multiple of it.
    public var headCount = 12
    public var layerNormEpsilon: Float = 1e-5

    public init() {}

    public init(vocabularySize: Int, contextLength: Int, width: Int, layerCount: Int, headCount: Int, layerNormEpsilon: Float = 1e-5) {
        self.vocabularySize = vocabularySize
        self.contextLength = contextLength
        self.width = width
        self.layerCount = layerCount
        self.headCount = headCount
        self.layerNormEpsilon = layerNormEpsilon
    }

    public var headSize: Int { width / headCount }

    /// Checks the sizes make a model; the error names the field at fault.
    public func validate() throws {
        for (name, value) in [("vocabularySize", vocabularySize), ("contextLength", contextLength), ("width", width),
                              ("layerCount", layerCount), ("headCount", headCount)] where value <= 0 {
            throw CheckpointError("the configuration's \(name) must be positive, not \(value)")
        }
        guard width % headCount == 0 else {
            throw CheckpointError("the configuration's width \(width) is not a multiple of headCount \(headCount)")
        }
        guard layerNormEpsilon > 0, layerNormEpsilon.isFinite else {
            throw CheckpointError("the configuration's layerNormEpsilon must be a small positive number")
        }
    }
}
