import Foundation
import JSON

/// Saves and loads GPT-2 models as a Hugging Face directory: `config.json` and
/// `model.safetensors` under GPT-2's tensor names, so a Tally checkpoint loads in transformers
/// (`GPT2LMHeadModel.from_pretrained`) and a user's GPT-2 checkpoint loads in Tally. The
/// optimizer state goes beside them in `optimizer.safetensors`, for resuming training.
public enum GPT2Checkpoint {
    public static let configurationFile = "config.json"
    public static let weightsFile = "model.safetensors"
    public static let optimizerFile = "optimizer.safetensors"

    /// With a `scoreHead` the folder is a `GPT2ForSequenceClassification` (see `ScoreHead`).
    public static func save(_ model: GPT2Model, optimizer: AdamW? = nil, to directory: String, scoreHead: ScoreHead? = nil) throws {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw CheckpointError("\(directory): cannot create the checkpoint folder (\(error.localizedDescription))")
        }
        let configuration = model.configuration
        var fields: [(String, JSONValue)] = [
            ("architectures", .array([.string(scoreHead == nil ? "GPT2LMHeadModel" : "GPT2ForSequenceClassification")])),
            ("model_type", .string("gpt2")),
            ("vocab_size", .integer(Int64(configuration.vocabularySize))),
            ("n_positions", .integer(Int64(configuration.contextLength))),
            ("n_ctx", .integer(Int64(configuration.contextLength))),
            ("n_embd", .integer(Int64(configuration.width))),
            ("n_layer", .integer(Int64(configuration.layerCount))),
            ("n_head", .integer(Int64(configuration.headCount))),
            ("n_inner", .null),
            ("layer_norm_epsilon", .double(Double(configuration.layerNormEpsilon))),
            ("activation_function", .string("gelu_new")),
            ("resid_pdrop", .double(0)), ("embd_pdrop", .double(0)), ("attn_pdrop", .double(0)),
            ("tie_word_embeddings", .bool(true)),
            ("torch_dtype", .string("float32")),
        ]
        if let scoreHead { fields += scoreHead.configurationFields }
        let config: JSONValue = .object(fields)
        var configBytes: [UInt8] = []
        JSONWriter.write(config, into: &configBytes)
        try write(Data(configBytes), to: directory + "/" + configurationFile)
        var tensors = model.layout.tensors.map { tensor in
            SafeTensorsWriter.Tensor(name: tensor.name, shape: tensor.shape, values: UnsafeBufferPointer(model.parameters[tensor.range]))
        }
        if let scoreHead { tensors.append(scoreHead.tensor) }
        try withExtendedLifetime(scoreHead) {
            try SafeTensorsWriter.write(tensors, metadata: ["format": "pt"], to: directory + "/" + weightsFile)
        }
        if let optimizer {
            let moments = [
                SafeTensorsWriter.Tensor(name: "first_moment", shape: [optimizer.firstMoment.count], values: UnsafeBufferPointer(optimizer.firstMoment.buffer)),
                SafeTensorsWriter.Tensor(name: "second_moment", shape: [optimizer.secondMoment.count], values: UnsafeBufferPointer(optimizer.secondMoment.buffer)),
            ]
            try SafeTensorsWriter.write(moments, metadata: ["step": String(optimizer.step)], to: directory + "/" + optimizerFile)
        }
    }

    /// Reads `config.json` of a GPT-2 checkpoint, checking it describes a model Tally runs.
    public static func loadConfiguration(from directory: String) throws -> GPT2Configuration {
        let path = directory + "/" + configurationFile
        guard let data = FileManager.default.contents(atPath: path) else { throw CheckpointError("\(path): cannot read the file", kind: .unreadable) }
        let config: JSONValue
        do { config = try JSONParser.parse(Array(data)) } catch { throw CheckpointError("\(path): not valid JSON (\(error))") }
        func integer(_ key: String) throws -> Int {
            guard case .integer(let value)? = config[key] else { throw CheckpointError("\(path): '\(key)' is missing or not an integer") }
            return Int(value)
        }
        if case .string(let type)? = config["model_type"], type != "gpt2" {
            throw CheckpointError("\(path): model_type is '\(type)'; this loader reads GPT-2 checkpoints")
        }
        if case .string(let activation)? = config["activation_function"], !["gelu_new", "gelu_pytorch_tanh"].contains(activation) {
            throw CheckpointError("\(path): activation_function '\(activation)' is not GELU's tanh approximation, the only one Tally implements")
        }
        if let inner = config["n_inner"], inner != .null, inner != .integer(Int64(4 * (try integer("n_embd")))) {
            throw CheckpointError("\(path): n_inner must be 4 x n_embd (or null)")
        }
        if case .bool(false)? = config["tie_word_embeddings"] {
            throw CheckpointError("\(path): untied output heads are not GPT-2; tie_word_embeddings must be true")
        }
        var epsilon: Float = 1e-5
        switch config["layer_norm_epsilon"] {
        case .double(let value)?: epsilon = Float(value)
        case .integer(let value)?: epsilon = Float(value)
        default: break
        }
        let configuration = GPT2Configuration(vocabularySize: try integer("vocab_size"), contextLength: try integer("n_positions"),
                                              width: try integer("n_embd"), layerCount: try integer("n_layer"),
                                              headCount: try integer("n_head"), layerNormEpsilon: epsilon)
        do { try configuration.validate() } catch { throw CheckpointError("\(path): \(error)") }
        return configuration
    }

    /// Loads a GPT-2 checkpoint: Tally's own, or a Hugging Face one (with or without the
    /// `transformer.` prefix; attention-mask buffers of older files are ignored).
    public static func load(from directory: String) throws -> GPT2Model {
        let configuration = try loadConfiguration(from: directory)
        let model = try GPT2Model(configuration: configuration)
        let file = try SafeTensorsFile(path: directory + "/" + weightsFile)
        var unused = Set(file.tensors.keys)
        for tensor in model.layout.tensors {
            let bare = String(tensor.name.dropFirst("transformer.".count))
            guard let name = [tensor.name, bare].first(where: { file.tensors[$0] != nil }) else {
                throw CheckpointError("\(file.path): the tensor '\(tensor.name)' is missing")
            }
            let info = try file.info(name)
            guard info.shape == tensor.shape else {
                throw CheckpointError("\(file.path): '\(name)' has shape \(info.shape), but config.json implies \(tensor.shape)")
            }
            try file.floats(name, into: model.parameters[tensor.range])
            unused.remove(name)
        }
        for name in unused {
            if name.hasSuffix(".attn.bias") || name.hasSuffix(".attn.masked_bias") || name == ScoreHead.tensorName { continue }
            if name == "lm_head.weight" {
                // A saved tied head must equal the token embedding; anything else is not GPT-2.
                let head = try file.floats(name)
                let embedding = Array(model.parameters[model.layout.tensors[0].range])
                guard head == embedding else { throw CheckpointError("\(file.path): lm_head.weight differs from the token embedding; Tally's GPT-2 ties them") }
                continue
            }
            throw CheckpointError("\(file.path): unexpected tensor '\(name)'; is this a GPT-2 checkpoint?")
        }
        for value in model.parameters.buffer where !value.isFinite {
            throw CheckpointError("\(file.path): the weights hold NaN or infinite values")
        }
        return model
    }

    /// The optimizer state saved beside a checkpoint, or nil when there is none.
    public static func loadOptimizer(from directory: String, for model: GPT2Model, hyperparameters: AdamW.Hyperparameters = AdamW.Hyperparameters()) throws -> AdamW? {
        let path = directory + "/" + optimizerFile
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        let file = try SafeTensorsFile(path: path)
        guard let stepText = file.metadata["step"], let step = Int(stepText) else {
            throw CheckpointError("\(path): the metadata has no step count")
        }
        let optimizer = AdamW(layout: model.layout, hyperparameters: hyperparameters)
        do {
            try optimizer.restore(step: step, firstMoment: try file.floats("first_moment"), secondMoment: try file.floats("second_moment"))
        } catch {
            throw CheckpointError("\(path): \(error)")
        }
        return optimizer
    }

    private static func write(_ data: Data, to path: String) throws {
        do { try data.write(to: URL(fileURLWithPath: path), options: .atomic) } catch {
            throw CheckpointError("\(path): cannot write (\(error.localizedDescription))")
        }
    }
}
