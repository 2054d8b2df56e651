import Foundation
import JSON

/// A pretrained Llama-family model as Tally runs it: the weights, the tokenizer, and how to
/// turn a conversation into the prompt the model was tuned on.
public struct PretrainedLlama {
    public let model: LlamaModel
    public let tokenizer: BytePairTokenizer
    public let chatTemplate: ChatTemplate?
    /// Tokens that end an answer (the end-of-turn and end-of-text tokens).
    public let stopTokens: Set<Int32>

    /// The tokens of a conversation's prompt as the model was tuned to read it, ending where
    /// the assistant's answer begins. A model without a chat template is refused rather than
    /// given the turns joined by newlines: it could not tell where an answer starts, and
    /// sampling, training and scoring would each guess differently.
    public func promptTokens(_ messages: [ChatTemplate.Message]) throws -> [Int32] {
        guard let chatTemplate else { throw ChatTemplate.missing }
        return try chatTemplate.tokens(messages, tokenizer: tokenizer)
    }
}

/// Loads Llama-family models from GGUF files (llama.cpp's format; weights dequantized to
/// float32) and from Hugging Face folders (`config.json`, `model.safetensors`,
/// `tokenizer.json`), and saves them as Hugging Face folders that transformers loads.
public enum LlamaCheckpoint {
    /// GGUF's tensor names and their Hugging Face counterparts within a block.
    static let blockTensorNames: [(gguf: String, huggingFace: String)] = [
        ("attn_norm", "input_layernorm"), ("attn_q", "self_attn.q_proj"), ("attn_k", "self_attn.k_proj"), ("attn_v", "self_attn.v_proj"),
        ("attn_output", "self_attn.o_proj"), ("ffn_norm", "post_attention_layernorm"), ("ffn_gate", "mlp.gate_proj"),
        ("ffn_up", "mlp.up_proj"), ("ffn_down", "mlp.down_proj"),
    ]

    /// The GGUF name of a Hugging Face tensor name.
    static func ggufName(of name: String) -> String {
        switch name {
        case "model.embed_tokens.weight": return "token_embd.weight"
        case "model.norm.weight": return "output_norm.weight"
        case "lm_head.weight": return "output.weight"
        default:
            let parts = name.split(separator: ".", maxSplits: 3)
            guard parts.count == 4, parts[0] == "model", parts[1] == "layers" else { return name }
            let rest = String(parts[3]).replacingOccurrences(of: ".weight", with: "")
            let gguf = blockTensorNames.first { $0.huggingFace == rest }?.gguf ?? rest
            return "blk.\(parts[2]).\(gguf).weight"
        }
    }

    /// Loads a GGUF file of architecture `llama`, with its tokenizer and chat template. RoPE uses
    /// the adjacent-pair layout GGUF's query and key weights are written for.
    public static func load(gguf path: String) throws -> PretrainedLlama {
        let file = try GGUFFile(path: path)
        guard let architecture = try file.required("general.architecture").string, architecture == "llama" else {
            throw CheckpointError("\(path): general.architecture is \(file.metadata["general.architecture"].map { "\($0)" } ?? "absent"); Tally loads 'llama' models")
        }
        func integer(_ key: String) throws -> Int {
            guard let value = try file.required(key).integer else { throw CheckpointError("\(path): metadata '\(key)' is not an integer") }
            return value
        }
        var configuration = LlamaConfiguration()
        configuration.layerCount = try integer("llama.block_count")
        configuration.contextLength = try integer("llama.context_length")
        configuration.width = try integer("llama.embedding_length")
        configuration.intermediateSize = try integer("llama.feed_forward_length")
        configuration.headCount = try integer("llama.attention.head_count")
        configuration.keyValueHeadCount = file.metadata["llama.attention.head_count_kv"]?.integer ?? configuration.headCount
        configuration.headSize = file.metadata["llama.attention.key_length"]?.integer ?? configuration.width / max(configuration.headCount, 1)
        configuration.rmsNormEpsilon = Float(file.metadata["llama.attention.layer_norm_rms_epsilon"]?.number ?? 1e-5)
        configuration.ropeTheta = file.metadata["llama.rope.freq_base"]?.number ?? 10_000
        configuration.rotaryLayout = .adjacentPairs
        configuration.rotaryScaling = try ggufRotaryScaling(file)
        guard let embedding = file.tensors["token_embd.weight"], embedding.shape.count == 2 else {
            throw CheckpointError("\(path): the tensor 'token_embd.weight' is missing or not a matrix")
        }
        configuration.vocabularySize = embedding.shape[0]
        configuration.tiedOutputHead = file.tensors["output.weight"] == nil
        let model = try LlamaModel(configuration: configuration)
        var unused = Set(file.tensorNames)
        for tensor in model.layout.tensors {
            let name = ggufName(of: tensor.name)
            guard let stored = file.tensors[name] else { throw CheckpointError("\(path): the tensor '\(name)' is missing") }
            guard stored.shape == tensor.shape else {
                throw CheckpointError("\(path): '\(name)' has shape \(stored.shape), but the metadata implies \(tensor.shape)")
            }
            _ = model.parameters[tensor.range].update(fromContentsOf: try file.floats(name))
            unused.remove(name)
        }
        if configuration.rotaryScaling != nil { unused.remove("rope_freqs.weight") }
        if let extra = unused.sorted().first { throw CheckpointError("\(path): unexpected tensor '\(extra)'; is this a Llama-family model?") }
        try checkFinite(model, path: path)
        let tokenizer = try BytePairTokenizer(gguf: file)
        guard tokenizer.vocabularySize == configuration.vocabularySize else {
            throw CheckpointError("\(path): the tokenizer has \(tokenizer.vocabularySize) tokens but the embedding \(configuration.vocabularySize)")
        }
        let template = file.metadata["tokenizer.chat_template"]?.string.flatMap(ChatTemplate.init(jinja:))
        var stops = Set<Int32>()
        if let eos = file.metadata["tokenizer.ggml.eos_token_id"]?.integer { stops.insert(Int32(eos)) }
        if let eot = file.metadata["tokenizer.ggml.eot_token_id"]?.integer { stops.insert(Int32(eot)) }
        if let end = template.flatMap({ tokenizer.specialTokens[$0.endOfTurnMarker] }) { stops.insert(end) }
        return PretrainedLlama(model: model, tokenizer: tokenizer, chatTemplate: template, stopTokens: stops)
    }

    /// A pretrained model to sample from: a GGUF file, or a Hugging Face folder (which must
    /// then hold its tokenizer.json). The tokens that end an answer come from config.json's and
    /// generation_config.json's `eos_token_id` (a number or a list), tokenizer_config.json's
    /// `eos_token`, and the chat template's end-of-turn marker.
    public static func loadPretrained(_ path: String) throws -> PretrainedLlama {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw CheckpointError("\(path): no such file or folder (expected a GGUF file or a Hugging Face model folder)", kind: .unreadable)
        }
        guard isDirectory.boolValue else { return try load(gguf: path) }
        let (model, tokenizer, template) = try load(from: path)
        guard let tokenizer else { throw CheckpointError("\(path): the folder has no tokenizer.json, which sampling needs") }
        // A model's embedding may have more rows than its tokenizer has tokens (padded for
        // speed), never fewer: ids past the embedding would be read out of bounds.
        guard tokenizer.vocabularySize <= model.configuration.vocabularySize else {
            throw CheckpointError("\(path)/tokenizer.json: the tokenizer has \(tokenizer.vocabularySize) tokens but the model's embedding \(model.configuration.vocabularySize); is it this model's tokenizer?", kind: .mismatch)
        }
        let stops = try stopTokens(in: path, tokenizer: tokenizer, chatTemplate: template, vocabularySize: model.configuration.vocabularySize)
        return PretrainedLlama(model: model, tokenizer: tokenizer, chatTemplate: template, stopTokens: stops)
    }

    /// The tokens that end an answer, as a Hugging Face folder names them.
    static func stopTokens(in path: String, tokenizer: BytePairTokenizer, chatTemplate template: ChatTemplate?, vocabularySize: Int) throws -> Set<Int32> {
        var stops = Set<Int32>()
        for file in ["config.json", "generation_config.json"] {
            guard let data = FileManager.default.contents(atPath: path + "/" + file), let fields = try? JSONParser.parse(Array(data)) else { continue }
            switch fields["eos_token_id"] {
            case .integer(let id)?: stops.insert(Int32(clamping: id))
            case .array(let ids)?: for case .integer(let id) in ids { stops.insert(Int32(clamping: id)) }
            default: break
            }
        }
        if let data = FileManager.default.contents(atPath: path + "/tokenizer_config.json"), let fields = try? JSONParser.parse(Array(data)) {
            // `eos_token` is a string, or an object with its `content`.
            var eos: String?
            switch fields["eos_token"] {
            case .string(let text)?: eos = text
            case let token?: if case .string(let text)? = token["content"] { eos = text }
            default: break
            }
            if let eos, let id = tokenizer.specialTokens[eos] { stops.insert(id) }
        }
        if let end = template.flatMap({ tokenizer.specialTokens[$0.endOfTurnMarker] }) { stops.insert(end) }
        if let bad = stops.first(where: { $0 < 0 || Int($0) >= vocabularySize }) {
            throw CheckpointError("\(path): the end-of-text token \(bad) is outside the vocabulary of \(vocabularySize)")
        }
        guard !stops.isEmpty else { throw CheckpointError("\(path): no end-of-text token is named (config.json eos_token_id, tokenizer_config.json eos_token), so answers could not end") }
        return stops
    }

    /// A GGUF's RoPE scaling: llama.cpp's converter writes Llama 3's rule as a table of
    /// per-pair divisors (`rope_freqs.weight`) and linear scaling as metadata.
    private static func ggufRotaryScaling(_ file: GGUFFile) throws -> RotaryScaling? {
        if file.tensors["rope_freqs.weight"] != nil {
            return .frequencyDivisors(try file.floats("rope_freqs.weight").map(Double.init))
        }
        switch file.metadata["llama.rope.scaling.type"]?.string ?? "none" {
        case "none": return nil
        case "linear":
            guard let factor = file.metadata["llama.rope.scaling.factor"]?.number else {
                throw CheckpointError("\(file.path): llama.rope.scaling.type is 'linear' but llama.rope.scaling.factor is missing")
            }
            return .linear(factor: factor)
        case let other: throw CheckpointError("\(file.path): RoPE scaling '\(other)' is not one Tally computes (linear, or Llama 3's rope_freqs table)", kind: .unsupported)
        }
    }

    /// Writes `tokenizer.json` and `tokenizer_config.json` (with the chat template in Jinja)
    /// into `directory`, as transformers' fast tokenizers read them.
    public static func saveTokenizer(_ tokenizer: BytePairTokenizer, chatTemplate: ChatTemplate?, stopToken: String?, to directory: String) throws {
        try tokenizer.saveHuggingFaceTokenizer(toDirectory: directory)
        var fields: [(String, JSONValue)] = [("tokenizer_class", .string("PreTrainedTokenizerFast")), ("model_max_length", .integer(1 << 30))]
        if let stopToken { fields.append(("eos_token", .string(stopToken))) }
        if let chatTemplate { fields.append(("chat_template", .string(chatTemplate.jinja))) }
        var bytes: [UInt8] = []
        JSONWriter.write(.object(fields), into: &bytes)
        try write(Data(bytes), to: directory + "/tokenizer_config.json")
    }

    /// Saves a Hugging Face folder: `config.json` (RoPE scaling included) and `model.safetensors`
    /// under Hugging Face's names. Query and key weights of a model loaded from GGUF are permuted
    /// back to `rotate_half`'s order, so transformers computes the same function.
    ///
    /// With a `scoreHead` the folder is a `LlamaForSequenceClassification` instead: `score.weight`
    /// in place of the language-model head, and the head's configuration (`num_labels`,
    /// `pad_token_id`, the reward's shift) in config.json.
    public static func save(_ model: LlamaModel, to directory: String, scoreHead: ScoreHead? = nil) throws {
        // Refused before anything is written: a model whose scaling config.json cannot express.
        let rotaryScaling = try model.configuration.rotaryScaling.map(huggingFaceRotaryScaling)
        do { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) } catch {
            throw CheckpointError("\(directory): cannot create the checkpoint folder (\(error.localizedDescription))")
        }
        let c = model.configuration
        var config: [(String, JSONValue)] = [
            ("architectures", .array([.string(scoreHead == nil ? "LlamaForCausalLM" : "LlamaForSequenceClassification")])), ("model_type", .string("llama")),
            ("vocab_size", .integer(Int64(c.vocabularySize))), ("max_position_embeddings", .integer(Int64(c.contextLength))),
            ("hidden_size", .integer(Int64(c.width))), ("intermediate_size", .integer(Int64(c.intermediateSize))),
            ("num_hidden_layers", .integer(Int64(c.layerCount))), ("num_attention_heads", .integer(Int64(c.headCount))),
            ("num_key_value_heads", .integer(Int64(c.keyValueHeadCount))), ("head_dim", .integer(Int64(c.headSize))),
            ("rms_norm_eps", .double(Double(c.rmsNormEpsilon))), ("rope_theta", .double(c.ropeTheta)),
            ("hidden_act", .string("silu")), ("attention_bias", .bool(false)), ("mlp_bias", .bool(false)),
            ("tie_word_embeddings", .bool(c.tiedOutputHead)), ("torch_dtype", .string("float32")),
        ]
        if let rotaryScaling { config.append(("rope_scaling", rotaryScaling)) }
        if let scoreHead { config += scoreHead.configurationFields }
        var configBytes: [UInt8] = []
        JSONWriter.write(.object(config), into: &configBytes)
        try write(Data(configBytes), to: directory + "/config.json")
        var reordered: [String: FloatBuffer] = [:]
        if c.rotaryLayout == .adjacentPairs {
            for block in model.layout.blocks {
                for (offset, heads) in [(block.queryWeight, c.headCount), (block.keyWeight, c.keyValueHeadCount)] {
                    let tensor = model.layout.tensors.first { $0.offset == offset }!
                    let values = rotateHalfOrder(Array(model.parameters[tensor.range]), heads: heads, headSize: c.headSize, columns: c.width)
                    let buffer = FloatBuffer(count: values.count)
                    _ = buffer.buffer.update(fromContentsOf: values)
                    reordered[tensor.name] = buffer
                }
            }
        }
        var tensors = model.layout.tensors.filter { scoreHead == nil || $0.name != "lm_head.weight" }.map { tensor -> SafeTensorsWriter.Tensor in
            let values = reordered[tensor.name].map { UnsafeBufferPointer($0.buffer) } ?? UnsafeBufferPointer(model.parameters[tensor.range])
            return SafeTensorsWriter.Tensor(name: tensor.name, shape: tensor.shape, values: values)
        }
        if let scoreHead { tensors.append(scoreHead.tensor) }
        try withExtendedLifetime((reordered, scoreHead)) {
            try SafeTensorsWriter.write(tensors, metadata: ["format": "pt"], to: directory + "/model.safetensors")
        }
    }

    /// `rope_scaling` as Hugging Face's config.json writes it. A GGUF's table of divisors has no
    /// such form (the converter keeps only the table), so such a model cannot be saved for
    /// transformers; saying so beats writing a config that computes a different function.
    private static func huggingFaceRotaryScaling(_ scaling: RotaryScaling) throws -> JSONValue {
        switch scaling {
        case .linear(let factor):
            return .object([("rope_type", .string("linear")), ("factor", .double(factor))])
        case .llama3(let factor, let low, let high, let original):
            return .object([("rope_type", .string("llama3")), ("factor", .double(factor)), ("low_freq_factor", .double(low)),
                            ("high_freq_factor", .double(high)), ("original_max_position_embeddings", .integer(Int64(original)))])
        case .frequencyDivisors:
            throw CheckpointError("this model's RoPE scaling is a GGUF table of per-pair divisors (rope_freqs), which Hugging Face's config.json cannot express; load the model from its Hugging Face folder to fine-tune and save it")
        }
    }

    /// The rows of a query or key weight [heads * hs, columns] written for adjacent-pair RoPE,
    /// reordered for `rotate_half`: within each head, row 2i + e moves to e * hs/2 + i
    /// (undoing the permutation llama.cpp's converter applies).
    static func rotateHalfOrder(_ weights: [Float], heads: Int, headSize hs: Int, columns: Int) -> [Float] {
        var out = weights
        let half = hs / 2
        for h in 0..<heads {
            for i in 0..<half {
                for e in 0..<2 {
                    let from = (h * hs + 2 * i + e) * columns, to = (h * hs + e * half + i) * columns
                    for column in 0..<columns { out[to + column] = weights[from + column] }
                }
            }
        }
        return out
    }

    /// Loads a Hugging Face folder of a `llama` model: `config.json`, `model.safetensors`, and
    /// `tokenizer.json` and the chat template of `tokenizer_config.json` when present.
    public static func load(from directory: String) throws -> (model: LlamaModel, tokenizer: BytePairTokenizer?, chatTemplate: ChatTemplate?) {
        let configPath = directory + "/config.json"
        guard let data = FileManager.default.contents(atPath: configPath) else { throw CheckpointError("\(configPath): cannot read the configuration", kind: .unreadable) }
        let config: [String: JSONValue]
        do {
            guard case .object(let fields) = try JSONParser.parse(Array(data)) else { throw CheckpointError("\(configPath): expected a JSON object") }
            config = Dictionary(fields, uniquingKeysWith: { first, _ in first })
        } catch let error as CheckpointError { throw error } catch { throw CheckpointError("\(configPath): not valid JSON (\(error))") }
        func integer(_ key: String, default value: Int? = nil) throws -> Int {
            if case .integer(let number)? = config[key] { return Int(number) }
            if let value, config[key] == nil || config[key] == .null { return value }
            throw CheckpointError("\(configPath): '\(key)' must be an integer")
        }
        func number(_ key: String, default value: Double) throws -> Double {
            switch config[key] {
            case .integer(let number)?: return Double(number)
            case .double(let number)?: return number
            case nil, .null?: return value
            default: throw CheckpointError("\(configPath): '\(key)' must be a number")
            }
        }
        guard case .string(let type)? = config["model_type"], type == "llama" else {
            throw CheckpointError("\(configPath): model_type must be 'llama'")
        }
        var c = LlamaConfiguration()
        c.vocabularySize = try integer("vocab_size")
        c.contextLength = try integer("max_position_embeddings")
        c.width = try integer("hidden_size")
        c.intermediateSize = try integer("intermediate_size")
        c.layerCount = try integer("num_hidden_layers")
        c.headCount = try integer("num_attention_heads")
        c.keyValueHeadCount = try integer("num_key_value_heads", default: c.headCount)
        c.headSize = try integer("head_dim", default: c.width / max(c.headCount, 1))
        c.rmsNormEpsilon = Float(try number("rms_norm_eps", default: 1e-6))
        var theta = try number("rope_theta", default: 10_000)
        // transformers 5 moves rope_theta into rope_parameters, and writes a whole number as an integer.
        if case .object(let rope)? = config["rope_parameters"], let value = rope.first(where: { $0.0 == "rope_theta" })?.1 {
            switch value {
            case .double(let number): theta = number
            case .integer(let number): theta = Double(number)
            default: throw CheckpointError("\(configPath): rope_parameters.rope_theta must be a number")
            }
        }
        c.ropeTheta = theta
        c.rotaryLayout = .rotateHalf
        c.rotaryScaling = try rotaryScaling(config, path: configPath)
        if case .bool(let tied)? = config["tie_word_embeddings"] { c.tiedOutputHead = tied }
        let model = try LlamaModel(configuration: c)
        let weights = try SafeTensorsFolder(directory: directory)
        var unused = weights.tensorNames
        // A sequence classifier (a reward model) has a score head in place of the output head.
        let isClassifier = ScoreHead.isSequenceClassifier(config)
        for tensor in model.layout.tensors {
            if isClassifier, tensor.name == "lm_head.weight", !weights.tensorNames.contains(tensor.name) { continue }
            let file = try weights.file(holding: tensor.name)
            let info = try file.info(tensor.name)
            guard info.shape == tensor.shape else {
                throw CheckpointError("\(file.path): '\(tensor.name)' has shape \(info.shape), but config.json implies \(tensor.shape)")
            }
            try file.floats(tensor.name, into: model.parameters[tensor.range])
            unused.remove(tensor.name)
        }
        if c.tiedOutputHead { unused.remove("lm_head.weight") }
        unused.remove(ScoreHead.tensorName)
        if let extra = unused.sorted().first { throw CheckpointError("\(weights.path): unexpected tensor '\(extra)'; is this a Llama-family checkpoint?") }
        try checkFinite(model, path: weights.path)
        let tokenizerPath = directory + "/tokenizer.json"
        let tokenizer = FileManager.default.fileExists(atPath: tokenizerPath) ? try BytePairTokenizer(huggingFaceTokenizerPath: tokenizerPath) : nil
        return (model, tokenizer, try chatTemplate(in: directory))
    }

    /// config.json's RoPE scaling: `rope_scaling` (`rope_type`, or `type` in older files), or
    /// transformers 5's `rope_parameters`. Types Tally does not compute are refused by name.
    private static func rotaryScaling(_ config: [String: JSONValue], path: String) throws -> RotaryScaling? {
        let source: String
        let scaling: JSONValue
        if let value = config["rope_scaling"], case .object = value { (source, scaling) = ("rope_scaling", value) }
        else if let value = config["rope_parameters"], case .object = value { (source, scaling) = ("rope_parameters", value) }
        else if let value = config["rope_scaling"], value != .null { throw CheckpointError("\(path): rope_scaling must be an object or null") }
        else { return nil }
        func number(_ name: String) throws -> Double {
            switch scaling[name] {
            case .integer(let value)?: return Double(value)
            case .double(let value)?: return value
            default: throw CheckpointError("\(path): \(source).\(name) must be a number")
            }
        }
        guard case .string(let type)? = scaling["rope_type"] ?? scaling["type"] else {
            throw CheckpointError("\(path): \(source) has no rope_type")
        }
        switch type {
        case "default": return nil
        case "linear": return .linear(factor: try number("factor"))
        case "llama3":
            let original = try number("original_max_position_embeddings")
            guard original == original.rounded(), original > 0, original < 1e9 else {
                throw CheckpointError("\(path): \(source).original_max_position_embeddings must be a positive integer")
            }
            return .llama3(factor: try number("factor"), lowFrequencyFactor: try number("low_freq_factor"),
                           highFrequencyFactor: try number("high_freq_factor"), originalContextLength: Int(original))
        default:
            throw CheckpointError("\(path): \(source).rope_type '\(type)' is not one Tally computes (default, linear, llama3)", kind: .unsupported)
        }
    }

    /// The chat template of `tokenizer_config.json` in `directory`, when it is one Tally knows.
    /// The folder's chat template: `chat_template.jinja` (where transformers 4.43 and later
    /// save it), else `tokenizer_config.json`'s `chat_template`.
    static func chatTemplate(in directory: String) throws -> ChatTemplate? {
        if let data = FileManager.default.contents(atPath: directory + "/chat_template.jinja") {
            guard let template = ChatTemplate(jinja: String(decoding: data, as: UTF8.self)) else {
                throw CheckpointError("\(directory)/chat_template.jinja: not a chat template Tally renders (ChatML, Llama 3, Zephyr)", kind: .unsupported)
            }
            return template
        }
        let path = directory + "/tokenizer_config.json"
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        guard case .object(let fields)? = try? JSONParser.parse(Array(data)) else { throw CheckpointError("\(path): not a JSON object") }
        guard case .string(let source)? = fields.first(where: { $0.0 == "chat_template" })?.1 else { return nil }
        return ChatTemplate(jinja: source)
    }

    private static func checkFinite(_ model: LlamaModel, path: String) throws {
        for value in model.parameters.buffer where !value.isFinite {
            throw CheckpointError("\(path): the weights hold NaN or infinite values")
        }
    }

    private static func write(_ data: Data, to path: String) throws {
        do { try data.write(to: URL(fileURLWithPath: path), options: .atomic) } catch {
            throw CheckpointError("\(path): cannot write (\(error.localizedDescription))")
        }
    }
}
