/// Where each GPT-2 parameter tensor lives in the one parameter buffer, under Hugging Face's
/// names (so checkpoints load in both directions). `Conv1D` weights are `[in, out]`: a linear
/// layer computes `x · W + b`.
public struct ParameterLayout: Sendable {
    public struct Tensor: Sendable {
        public let name: String
        public let shape: [Int]
        public let offset: Int
        public var count: Int { shape.reduce(1, *) }
        public var range: Range<Int> { offset..<(offset + count) }
    }

    /// The offsets of one transformer block's tensors.
    public struct Block: Sendable {
        public let layerNorm1Weight, layerNorm1Bias: Int
        public let attentionWeight, attentionBias: Int
        public let attentionProjectionWeight, attentionProjectionBias: Int
        public let layerNorm2Weight, layerNorm2Bias: Int
        public let feedForwardWeight, feedForwardBias: Int
        public let feedForwardProjectionWeight, feedForwardProjectionBias: Int
    }

    public let tensors: [Tensor]
    public let totalCount: Int
    public let tokenEmbedding: Int
    public let positionEmbedding: Int
    public let blocks: [Block]
    public let finalLayerNormWeight: Int
    public let finalLayerNormBias: Int

    public init(_ configuration: GPT2Configuration) {
        let (V, T, C) = (configuration.vocabularySize, configuration.contextLength, configuration.width)
        var tensors: [Tensor] = []
        var offset = 0
        func add(_ name: String, _ shape: [Int]) -> Int {
            let tensor = Tensor(name: name, shape: shape, offset: offset)
            tensors.append(tensor)
            offset += tensor.count
            return tensor.offset
        }
        tokenEmbedding = add("transformer.wte.weight", [V, C])
        positionEmbedding = add("transformer.wpe.weight", [T, C])
        var blocks: [Block] = []
        for layer in 0..<configuration.layerCount {
            let prefix = "transformer.h.\(layer)."
            blocks.append(Block(
                layerNorm1Weight: add(prefix + "ln_1.weight", [C]), layerNorm1Bias: add(prefix + "ln_1.bias", [C]),
                attentionWeight: add(prefix + "attn.c_attn.weight", [C, 3 * C]), attentionBias: add(prefix + "attn.c_attn.bias", [3 * C]),
                attentionProjectionWeight: add(prefix + "attn.c_proj.weight", [C, C]), attentionProjectionBias: add(prefix + "attn.c_proj.bias", [C]),
                layerNorm2Weight: add(prefix + "ln_2.weight", [C]), layerNorm2Bias: add(prefix + "ln_2.bias", [C]),
                feedForwardWeight: add(prefix + "mlp.c_fc.weight", [C, 4 * C]), feedForwardBias: add(prefix + "mlp.c_fc.bias", [4 * C]),
                feedForwardProjectionWeight: add(prefix + "mlp.c_proj.weight", [4 * C, C]), feedForwardProjectionBias: add(prefix + "mlp.c_proj.bias", [C])))
        }
        self.blocks = blocks
        finalLayerNormWeight = add("transformer.ln_f.weight", [C])
        finalLayerNormBias = add("transformer.ln_f.bias", [C])
        self.tensors = tensors
        totalCount = offset
    }

    public func tensor(named name: String) -> Tensor? { tensors.first { $0.name == name } }
}
