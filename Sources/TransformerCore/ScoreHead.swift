import Foundation
import JSON

/// A reward model's head as Hugging Face's `*ForSequenceClassification` folders save it, so
/// that transformers, TRL and OpenRLHF load a reward model trained by Tally, and Tally loads
/// one trained elsewhere: `score.weight` [1, C] without a bias, one label, the `pad_token_id`
/// transformers finds the last real token by, and the shift Tally applies to every score
/// (`mean` and `std`, OpenRLHF's names: reward = (score - mean) / std). transformers and TRL
/// ignore the shift; only the order of rewards, not their zero, matters to them.
public final class ScoreHead {
    public static let tensorName = "score.weight"

    /// [C]: score = h · weights at the last token of an answer.
    public let weights: FloatBuffer
    public let padTokenID: Int32
    public let mean: Float
    public let standardDeviation: Float

    public init(weights: [Float], padTokenID: Int32, mean: Float = 0, standardDeviation: Float = 1) {
        self.weights = FloatBuffer(count: weights.count)
        _ = self.weights.buffer.update(fromContentsOf: weights)
        self.padTokenID = padTokenID
        self.mean = mean
        self.standardDeviation = standardDeviation
    }

    /// What config.json gains: one label, the pad token, the shift.
    var configurationFields: [(String, JSONValue)] {
        [("id2label", .object([("0", .string("LABEL_0"))])), ("label2id", .object([("LABEL_0", .integer(0))])),
         ("pad_token_id", .integer(Int64(padTokenID))), ("mean", .double(Double(mean))), ("std", .double(Double(standardDeviation)))]
    }

    var tensor: SafeTensorsWriter.Tensor {
        SafeTensorsWriter.Tensor(name: Self.tensorName, shape: [1, weights.count], values: UnsafeBufferPointer(weights.buffer))
    }

    /// Whether config.json describes a sequence classifier (a reward model).
    static func isSequenceClassifier(_ config: [String: JSONValue]) -> Bool {
        guard case .array(let architectures)? = config["architectures"] else { return false }
        return architectures.contains { if case .string(let name) = $0 { name.hasSuffix("ForSequenceClassification") } else { false } }
    }

    /// The head of a sequence-classification folder whose trunk has width `width`; a folder of
    /// another kind (a causal language model) is refused as a mismatch, naming what it is.
    public static func load(from directory: String, width: Int) throws -> ScoreHead {
        let configPath = directory + "/config.json"
        guard let data = FileManager.default.contents(atPath: configPath) else { throw CheckpointError("\(configPath): cannot read the configuration", kind: .unreadable) }
        guard case .object(let fields)? = try? JSONParser.parse(Array(data)) else { throw CheckpointError("\(configPath): not a JSON object") }
        let config = Dictionary(fields, uniquingKeysWith: { first, _ in first })
        guard isSequenceClassifier(config) else {
            throw CheckpointError("\(directory): not a reward model (config.json's architectures name no *ForSequenceClassification); train one with `tally train reward`", kind: .mismatch)
        }
        if case .object(let labels)? = config["id2label"], labels.count != 1 {
            throw CheckpointError("\(configPath): a reward model has one label, this one \(labels.count)", kind: .mismatch)
        }
        guard case .integer(let pad)? = config["pad_token_id"] else {
            throw CheckpointError("\(configPath): 'pad_token_id' must be set: it tells where each answer ends")
        }
        func number(_ key: String, default value: Float) throws -> Float {
            switch config[key] {
            case .integer(let number)?: return Float(number)
            case .double(let number)?: return Float(number)
            case nil, .null?: return value
            default: throw CheckpointError("\(configPath): '\(key)' must be a number")
            }
        }
        let mean = try number("mean", default: 0), standardDeviation = try number("std", default: 1)
        guard mean.isFinite, standardDeviation.isFinite, standardDeviation > 0 else {
            throw CheckpointError("\(configPath): 'std' must be positive and 'mean' finite")
        }
        let weights = try SafeTensorsFolder(directory: directory)
        guard weights.tensorNames.contains(tensorName) else { throw CheckpointError("\(weights.path): the tensor '\(tensorName)' is missing") }
        let file = try weights.file(holding: tensorName)
        let info = try file.info(tensorName)
        guard info.shape == [1, width] else {
            throw CheckpointError("\(file.path): '\(tensorName)' has shape \(info.shape), but a reward model of width \(width) needs [1, \(width)]")
        }
        let values = try file.floats(tensorName)
        guard values.allSatisfy(\.isFinite) else { throw CheckpointError("\(file.path): '\(tensorName)' holds NaN or infinite values") }
        return ScoreHead(weights: values, padTokenID: Int32(clamping: pad), mean: mean, standardDeviation: standardDeviation)
    }
}
