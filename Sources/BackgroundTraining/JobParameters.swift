import JSON
import Labeling
import Training
import TransformerCore

/// A job's parameters, read from the JSON object it was queued with: the stage's options under
/// the names of the command line's options (`"learning-rate"`, `"max-new-tokens"`, ...), what
/// is missing taking the stage's default, and what the worker itself needs. A name the stage
/// does not know is refused, never ignored.
public struct JobParameters: Sendable {
    public let kind: JobKind
    /// sft, reward, dpo.
    public var training: TrainingOptions?
    /// rloo, grpo, ppo.
    public var policy: PolicyOptions?
    /// The share of prompts a policy job holds out for evaluation when none is marked.
    public var validationFraction = 0.1
    /// sample, evaluation.
    public var sampling: CandidateSampling?
    /// self-instruct.
    public var selfInstruct: SelfInstructOptions?
    /// ai-labels with a policy as the judge: its rubric (default: the project's ranking
    /// guidelines, else `PairwiseJudge.defaultRubric`).
    public var rubric: String?
    /// evaluation: the versions whose answers the new answers are paired with (default: every
    /// other version that has answered the held-out prompts).
    public var opponents: [Int]?
    /// best-of-n: answers sampled for each candidate kept (the reward model keeps its favourites).
    public var bestOf = 4
    /// reward-evaluation: the longest prompt and answer in tokens (as `tally eval reward`).
    public var evaluationMaximumLength = 256
    /// The name of the model version the job makes (default: project, kind and job id).
    public var versionName: String?
    /// Minutes between the checkpoints a running job saves, so a crash loses at most that much.
    public var checkpointMinutes = 10.0
    /// After a new policy version: queue a sampling job that gives the prompts waiting for
    /// rankings answers from it (the loop); on by default.
    public var samplesAfter = true
    /// reward: whether the job ends by checking the labels with the model (`LabelChecking`); on
    /// by default.
    public var checksLabels = true
    /// Whether the person left the length out, so the default may be cut to the model's context.
    public var fitsLength = true

    /// Reads and checks `value` for a job of `kind`; the checks that need the model (the
    /// context length, the block count) come again when the job starts.
    public static func parse(_ value: JSONValue, kind: JobKind) throws -> JobParameters {
        var reader = try Reader(value)
        var parameters = JobParameters(kind: kind)
        parameters.versionName = try reader.string("name")
        if let name = parameters.versionName, name.isEmpty || StoredText.length(name) > 200 { throw JobParameterError("name", "must be 1 to 200 characters") }
        if let minutes = try reader.double("checkpoint-minutes") {
            guard minutes > 0, minutes <= 24 * 60 else { throw JobParameterError("checkpoint-minutes", "must be above 0 and at most 1440, got \(minutes)") }
            parameters.checkpointMinutes = minutes
        }
        if kind.resultKind == "policy" || kind == .sft { parameters.samplesAfter = try reader.bool("sample-after") ?? true } else { parameters.samplesAfter = false }
        var fitsLength = true
        defer { parameters.fitsLength = fitsLength }
        switch kind {
        case .sft, .reward, .dpo:
            parameters.training = try trainingOptions(&reader, kind: kind, fitsLength: &fitsLength)
            if kind == .reward { parameters.checksLabels = try reader.bool("check-labels") ?? true }
        case .rloo, .grpo, .ppo:
            parameters.policy = try policyOptions(&reader, kind: kind, fitsLength: &fitsLength)
            if let fraction = try reader.double("validation-fraction") {
                guard (0..<1).contains(fraction) else { throw JobParameterError("validation-fraction", "must be from 0 to below 1, got \(fraction)") }
                parameters.validationFraction = fraction
            }
        case .sample:
            parameters.sampling = try samplingOptions(&reader, answerCount: true)
        case .bestOfN:
            parameters.sampling = try samplingOptions(&reader, answerCount: true)
            if let n = try reader.int("n") {
                guard (2...64).contains(n) else { throw JobParameterError("n", "must be from 2 to 64 answers sampled for each one kept, got \(n)") }
                parameters.bestOf = n
            }
        case .aiLabels:
            if let rubric = try reader.string("rubric") {
                guard !rubric.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, StoredText.length(rubric) <= 20_000 else {
                    throw JobParameterError("rubric", "must be 1 to 20000 characters of guidelines for the judge")
                }
                parameters.rubric = rubric
            }
        case .selfInstruct:
            var options = SelfInstructOptions()
            if let value = try reader.int("count") {
                guard (1...1000).contains(value) else { throw JobParameterError("count", "must be from 1 to 1000 new prompts, got \(value)") }
                options.count = value
            }
            if let value = try reader.int("rounds") {
                guard (1...1000).contains(value) else { throw JobParameterError("rounds", "must be from 1 to 1000, got \(value)") }
                options.maximumRounds = value
            }
            if let value = try reader.int("prompts-per-round") {
                guard (1...64).contains(value) else { throw JobParameterError("prompts-per-round", "must be from 1 to 64, got \(value)") }
                options.promptsPerRound = value
            }
            let decoding = try decodingOptions(&reader)
            options.maximumNewTokens = decoding.maximumNewTokens ?? options.maximumNewTokens
            options.temperature = decoding.temperature ?? options.temperature
            options.topP = decoding.topP ?? options.topP
            options.seed = decoding.seed ?? options.seed
            parameters.selfInstruct = options
        case .rewardEvaluation:
            if let length = try reader.int("max-length") {
                guard length >= 8 else { throw JobParameterError("max-length", "must be at least 8 tokens, got \(length)") }
                parameters.evaluationMaximumLength = length
            }
        case .evaluation:
            // One answer per prompt and version: the pair compares versions, not draws.
            parameters.sampling = try samplingOptions(&reader, answerCount: false)
            if let opponents = try reader.integers("opponents") {
                guard !opponents.isEmpty else { throw JobParameterError("opponents", "must name at least one model version (or be left out for all)") }
                parameters.opponents = opponents
            }
        }
        try reader.refuseUnread(kind: kind)
        return parameters
    }

    private static func trainingOptions(_ reader: inout Reader, kind: JobKind, fitsLength: inout Bool) throws -> TrainingOptions {
        var options: TrainingOptions = kind == .sft ? .supervised : kind == .reward ? .reward : .directPreference
        if let value = try reader.float("learning-rate") { options.learningRate = value }
        if let value = try reader.int("epochs") { options.epochs = value }
        if let value = try reader.int("batch-size") { options.batchSize = value }
        if let value = try reader.int("gradient-accumulation") { options.gradientAccumulation = value }
        if let value = try reader.int("max-length") { options.maximumLength = value; fitsLength = false }
        if let value = try reader.double("warmup") { options.warmupFraction = value }
        if let name = try reader.string("schedule") {
            guard let decay = LearningRateSchedule.Decay(rawValue: name) else { throw JobParameterError("schedule", "must be linear, cosine or constant, not '\(name)'") }
            options.schedule = decay
        }
        if let value = try reader.int("seed") { options.seed = UInt64(value) }
        if let value = try reader.int("trained-blocks") { options.trainedBlockCount = value }
        if let value = try reader.double("validation-fraction") { options.validationFraction = value }
        if let value = try reader.float("max-grad-norm") { options.maximumGradientNorm = value }
        if let value = try reader.float("weight-decay") { options.weightDecay = value }
        if let value = try reader.int("logging-steps") { options.loggingSteps = value }
        if kind == .dpo, let value = try reader.float("beta") { options.klCoefficient = value }
        guard options.maximumLength >= 8 else { throw JobParameterError("max-length", "must be at least 8 tokens, got \(options.maximumLength)") }
        try named { try options.validate(layerCount: 10_000) }
        return options
    }

    private static func policyOptions(_ reader: inout Reader, kind: JobKind, fitsLength: inout Bool) throws -> PolicyOptions {
        var options: PolicyOptions = kind == .rloo ? .rloo : kind == .grpo ? .grpo : .ppo
        if let value = try reader.int("iterations") { options.iterations = value }
        if let value = try reader.int("prompts-per-iteration") { options.promptsPerIteration = value }
        if let value = try reader.int("answers-per-prompt") { options.answersPerPrompt = value }
        if let value = try reader.int("max-new-tokens") { options.maximumNewTokens = value }
        if let value = try reader.int("max-prompt-length") { options.maximumPromptLength = value; fitsLength = false }
        if let value = try reader.float("temperature") { options.temperature = value }
        if let value = try reader.float("kl-coefficient") { options.klCoefficient = value }
        if let value = try reader.float("kl-target") { options.klTarget = value }
        if let value = try reader.int("kl-horizon") { options.klHorizon = value }
        if let value = try reader.float("clip-range") { options.clipRange = value }
        if let value = try reader.int("update-epochs") { options.updateEpochs = value }
        if let value = try reader.int("minibatches") { options.minibatches = value }
        if let value = try reader.float("missing-end-penalty") { options.missingEndPenalty = value }
        if let value = try reader.float("learning-rate") { options.learningRate = value }
        if let value = try reader.float("max-grad-norm") { options.maximumGradientNorm = value }
        if let value = try reader.int("seed") { options.seed = UInt64(value) }
        if let value = try reader.int("trained-blocks") { options.trainedBlockCount = value }
        if let value = try reader.int("eval-steps") { options.evaluationSteps = value }
        if let value = try reader.int("logging-steps") { options.loggingSteps = value }
        if let value = try reader.bool("whiten-advantages") { options.whitensAdvantages = value }
        if kind == .ppo {
            if let name = try reader.string("value-model") {
                guard let placement = PolicyOptions.ValueModel(rawValue: name) else { throw JobParameterError("value-model", "must be shared or separate, not '\(name)'") }
                options.valueModel = placement
            }
            if let value = try reader.float("value-coefficient") { options.valueCoefficient = value }
            if let value = try reader.float("value-clip-range") { options.valueClipRange = value }
            if let value = try reader.float("gamma") { options.discount = value }
            if let value = try reader.float("lambda") { options.traceDecay = value }
            if let value = try reader.float("ptx-coefficient") { options.pretrainingCoefficient = value }
        }
        try named { try options.validate(layerCount: 10_000, contextLength: 1 << 20) }
        return options
    }

    /// The decoding options of every kind that samples, each checked; nil where left out, so
    /// each kind keeps its own defaults.
    private static func decodingOptions(_ reader: inout Reader) throws -> (maximumNewTokens: Int?, temperature: Float?, topP: Float?, seed: UInt64?) {
        let tokens = try reader.int("max-new-tokens"), temperature = try reader.float("temperature"), topP = try reader.float("top-p")
        if let value = tokens, !(1...4096).contains(value) { throw JobParameterError("max-new-tokens", "must be from 1 to 4096, got \(value)") }
        if let value = temperature, !(value > 0 && value <= 10) { throw JobParameterError("temperature", "must be above 0 and at most 10, got \(value)") }
        if let value = topP, !(value > 0 && value <= 1) { throw JobParameterError("top-p", "must be above 0 and at most 1, got \(value)") }
        return (tokens, temperature, topP, try reader.int("seed").map { UInt64($0) })
    }

    private static func samplingOptions(_ reader: inout Reader, answerCount: Bool) throws -> CandidateSampling {
        var sampling = CandidateSampling()
        if answerCount, let value = try reader.int("answers-per-prompt") {
            guard (1...9).contains(value) else { throw JobParameterError("answers-per-prompt", "must be from 1 to 9, got \(value)") }
            sampling.answersPerPrompt = value
        }
        let decoding = try decodingOptions(&reader)
        sampling.maximumNewTokens = decoding.maximumNewTokens ?? sampling.maximumNewTokens
        sampling.temperature = decoding.temperature ?? sampling.temperature
        sampling.topP = decoding.topP ?? sampling.topP
        sampling.seed = decoding.seed ?? sampling.seed
        if let value = try reader.int("prompts") {
            guard value >= 1 else { throw JobParameterError("prompts", "must be at least 1, got \(value)") }
            sampling.maximumPrompts = value
        }
        if answerCount {
            // Read again, as text, where the snapshot is taken (`JobRepository.takeSnapshot`).
            if let split = try reader.string("split"), DataSplit(rawValue: split) == nil {
                throw JobParameterError("split", "must be one of \(DataSplit.allCases.map(\.rawValue).joined(separator: ", ")), got '\(split)'")
            }
            if let category = try reader.string("category"), PromptCategory(rawValue: category) == nil {
                throw JobParameterError("category", "must be one of \(PromptCategory.allCases.map(\.rawValue).joined(separator: ", ")), got '\(category)'")
            }
        }
        return sampling
    }

    /// A stage's option error, named as the job's parameter.
    private static func named(_ body: () throws -> Void) throws {
        do { try body() } catch let error as TrainingOptionError {
            throw JobParameterError(String(error.option.drop { $0 == "-" }), error.message)
        }
    }

    /// The members of the parameters object, read once each by name and type.
    private struct Reader {
        private let members: [(key: String, value: JSONValue)]
        private var read: Set<String> = []

        init(_ value: JSONValue) throws {
            guard case .object(let members) = value else { throw JobParameterError("parameters", "must be a JSON object") }
            self.members = members
            if let repeated = Dictionary(grouping: members.map(\.key), by: { $0 }).first(where: { $0.value.count > 1 }) {
                throw JobParameterError(repeated.key, "is given twice")
            }
        }

        private mutating func value(_ name: String) -> JSONValue? {
            read.insert(name)
            guard let member = members.first(where: { $0.key == name }), member.value != .null else { return nil }
            return member.value
        }

        mutating func double(_ name: String) throws -> Double? {
            switch value(name) {
            case nil: return nil
            case .integer(let number)?: return Double(number)
            case .double(let number)? where number.isFinite: return number
            case let other?: throw JobParameterError(name, "must be a number, not \(other.kindDescription)")
            }
        }

        mutating func float(_ name: String) throws -> Float? { try double(name).map(Float.init) }

        mutating func int(_ name: String) throws -> Int? {
            switch value(name) {
            case nil: return nil
            case .integer(let number)? where number >= 0 && number <= Int64(Int32.max): return Int(number)
            case .integer(let number)?: throw JobParameterError(name, "must be a whole number from 0 to \(Int32.max), not \(number)")
            case .double(let number)?: throw JobParameterError(name, "must be a whole number from 0 to \(Int32.max), not \(number)")
            case let other?: throw JobParameterError(name, "must be a whole number from 0 to \(Int32.max), not \(other.kindDescription)")
            }
        }

        mutating func integers(_ name: String) throws -> [Int]? {
            switch value(name) {
            case nil: return nil
            case .array(let values)?:
                return try values.map { value in
                    guard case .integer(let number) = value, number >= 1, number <= Int64(Int32.max) else {
                        throw JobParameterError(name, "must be an array of model version ids, not one holding \(value.kindDescription)")
                    }
                    return Int(number)
                }
            case let other?: throw JobParameterError(name, "must be an array of model version ids, not \(other.kindDescription)")
            }
        }

        mutating func bool(_ name: String) throws -> Bool? {
            switch value(name) {
            case nil: return nil
            case .bool(let flag)?: return flag
            case let other?: throw JobParameterError(name, "must be true or false, not \(other.kindDescription)")
            }
        }

        mutating func string(_ name: String) throws -> String? {
            switch value(name) {
            case nil: return nil
            case .string(let text)?: return text
            case let other?: throw JobParameterError(name, "must be a string, not \(other.kindDescription)")
            }
        }

        func refuseUnread(kind: JobKind) throws {
            if let unknown = members.first(where: { !read.contains($0.key) }) {
                throw JobParameterError(unknown.key, "is not a parameter of a \(kind.rawValue) job (Docs/jobs.md lists them)")
            }
        }
    }
}

/// How a sampling job writes candidates.
public struct CandidateSampling: Sendable, Equatable {
    /// Answers per prompt (default: as many as fill the project's ranking size).
    public var answersPerPrompt: Int?
    public var maximumNewTokens = 256
    /// Diverse but on topic: the sampling InstructGPT's candidates came from is not published;
    /// these are common chat defaults.
    public var temperature: Float = 0.8
    public var topP: Float = 0.95
    public var seed: UInt64 = 1
    /// At most this many prompts (default: every prompt waiting).
    public var maximumPrompts: Int?

    public init() {}
}

/// A job parameter that is wrong, named as the job's parameters name it.
public struct JobParameterError: Error, CustomStringConvertible, Sendable {
    public let parameter: String
    public let message: String
    public init(_ parameter: String, _ message: String) { (self.parameter, self.message) = (parameter, message) }
    public var description: String { "parameter '\(parameter)': \(message)" }
}
