/// Where each Llama-family parameter tensor lives in the one parameter buffer, under Hugging
/// Face's names (`model.layers.N.self_attn.q_proj.weight`, ...). Linear weights are PyTorch's
/// `[out, in]`: a layer computes `x · W^T`. The query, key and value weights are adjacent, and
/// so are the gate and up weights: decoding reads each group as one matrix.
public struct LlamaParameterLayout: Sendable {
    public typealias Tensor = ParameterLayout.Tensor

    /// The offsets of one block's tensors.
    public struct Block: Sendable {
        public let attentionNormWeight: Int
        public let queryWeight, keyWeight, valueWeight, outputWeight: Int
        public let feedForwardNormWeight: Int
        public let gateWeight, upWeight, downWeight: Int
    }

    public let tensors: [Tensor]
    public let totalCount: Int
    public let tokenEmbedding: Int
    public let blocks: [Block]
    public let finalNormWeight: Int
    /// The output head's weights [V,C]: the token embedding when tied.
    public let outputHead: Int

    public init(_ configuration: LlamaConfiguration) {
        let (V, C, I) = (configuration.vocabularySize, configuration.width, configuration.intermediateSize)
        let (Q, KV) = (configuration.queryWidth, configuration.keyValueWidth)
        var tensors: [Tensor] = []
        var offset = 0
        func add(_ name: String, _ shape: [Int]) -> Int {
            let tensor = Tensor(name: name, shape: shape, offset: offset)
            tensors.append(tensor)
            offset += tensor.count
            return tensor.offset
        }
        tokenEmbedding = add("model.embed_tokens.weight", [V, C])
        blocks = (0..<configuration.layerCount).map { layer in
            let prefix = "model.layers.\(layer)."
            return Block(
                attentionNormWeight: add(prefix + "input_layernorm.weight", [C]),
                queryWeight: add(prefix + "self_attn.q_proj.weight", [Q, C]), keyWeight: add(prefix + "self_attn.k_proj.weight", [KV, C]),
                valueWeight: add(prefix + "self_attn.v_proj.weight", [KV, C]), outputWeight: add(prefix + "self_attn.o_proj.weight", [C, Q]),
                feedForwardNormWeight: add(prefix + "post_attention_layernorm.weight", [C]),
                gateWeight: add(prefix + "mlp.gate_proj.weight", [I, C]), upWeight: add(prefix + "mlp.up_proj.weight", [I, C]),
                downWeight: add(prefix + "mlp.down_proj.weight", [C, I]))
        }
        finalNormWeight = add("model.norm.weight", [C])
        outputHead = configuration.tiedOutputHead ? tokenEmbedding : add("lm_head.weight", [V, C])
        self.tensors = tensors
        totalCount = offset
    }

    public func tensor(named name: String) -> Tensor? { tensors.first { $0.name == name } }
}
