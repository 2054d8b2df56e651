import JSON

/// What a trainer reports while it runs: after every `loggingSteps` optimizer steps (training
/// metrics, averaged over those steps) and after each validation pass. Metric names are those
/// of the TRL trainer that does the same job, so practitioners read the curves at once.
public struct TrainingProgress: Sendable {
    public enum Phase: String, Sendable { case training = "train", validation = "eval" }

    public let phase: Phase
    /// Optimizer steps done, and in all.
    public let step: Int
    public let totalSteps: Int
    /// Fractional epochs done.
    public let epoch: Double
    public let elapsedSeconds: Double
    /// In a fixed order: loss first.
    public let metrics: [(name: String, value: Double)]
    /// Answers the policy wrote at an evaluation (policy stages), to read beside the numbers.
    public var samples: [AnswerSample] = []

    public init(phase: Phase, step: Int, totalSteps: Int, epoch: Double, elapsedSeconds: Double, metrics: [(name: String, value: Double)],
                samples: [AnswerSample] = []) {
        (self.phase, self.step, self.totalSteps, self.epoch, self.elapsedSeconds, self.metrics, self.samples) =
            (phase, step, totalSteps, epoch, elapsedSeconds, metrics, samples)
    }

    public func metric(_ name: String) -> Double? { metrics.first { $0.name == name }?.value }

    /// The report as one line of a run's training_log.jsonl: phase, step, total_steps, epoch,
    /// elapsed_seconds, the metrics by name, and the samples of an evaluation.
    public var record: JSONValue {
        var fields: [(String, JSONValue)] = [("phase", .string(phase.rawValue)), ("step", .integer(Int64(step))),
                                             ("total_steps", .integer(Int64(totalSteps))), ("epoch", .double(epoch)),
                                             ("elapsed_seconds", .double(elapsedSeconds))]
        fields += metrics.map { ($0.name, $0.value.isFinite ? .double($0.value) : .string("\($0.value)")) }
        if !samples.isEmpty {
            fields.append(("samples", .array(samples.map { sample in
                .object([("prompt", .string(sample.prompt)), ("answer", .string(sample.answer)), ("reward", .double(Double(sample.reward))), ("ended", .bool(sample.ended))])
            })))
        }
        return .object(fields)
    }
}

/// One prompt and the answer a policy wrote to it, with its reward.
public struct AnswerSample: Sendable {
    public let prompt: String
    public let answer: String
    public let reward: Float
    public let ended: Bool
}

/// The reports of one run: per-step metrics averaged between reports, tokens per second since
/// the last one, and the validation reports, each stamped with the step, the epoch and the time.
struct ProgressReports {
    let totalSteps: Int
    let epochAfterStep: (Int) -> Double
    let loggingSteps: Int
    let send: (TrainingProgress) -> Void
    private let start = monotonicSeconds()
    private var sums: [(name: String, value: Double)] = []
    private var counts: [Int] = []
    private var tokens = 0, episodes = 0
    private var lastReport = monotonicSeconds()

    init(totalSteps: Int, epochAfterStep: @escaping (Int) -> Double, loggingSteps: Int, send: @escaping (TrainingProgress) -> Void) {
        (self.totalSteps, self.epochAfterStep, self.loggingSteps, self.send) = (totalSteps, epochAfterStep, loggingSteps, send)
    }

    init(plan: StepPlan, loggingSteps: Int, send: @escaping (TrainingProgress) -> Void) {
        self.init(totalSteps: plan.totalSteps, epochAfterStep: plan.epoch(afterStep:), loggingSteps: loggingSteps, send: send)
    }

    mutating func add(_ name: String, _ value: Double) {
        if let index = sums.firstIndex(where: { $0.name == name }) {
            sums[index].value += value
            counts[index] += 1
        } else {
            sums.append((name, value))
            counts.append(1)
        }
    }

    mutating func count(tokens: Int) { self.tokens += tokens }
    mutating func count(episodes: Int) { self.episodes += episodes }

    /// After optimizer step `step` (counted from 1): a training report every `loggingSteps`
    /// steps and after the last.
    mutating func stepEnded(_ step: Int) {
        guard step % loggingSteps == 0 || step == totalSteps else { return }
        let now = monotonicSeconds()
        var metrics = zip(sums, counts).map { (name: $0.name, value: $0.value / Double($1)) }
        if episodes > 0 { metrics.append(("episodes_per_second", Double(episodes) / max(1e-9, now - lastReport))) }
        metrics.append(("tokens_per_second", Double(tokens) / max(1e-9, now - lastReport)))
        (sums, counts, tokens, episodes, lastReport) = ([], [], 0, 0, now)
        send(TrainingProgress(phase: .training, step: step, totalSteps: totalSteps, epoch: epochAfterStep(step),
                              elapsedSeconds: now - start, metrics: metrics))
    }

    func validated(atStep step: Int, metrics: [(name: String, value: Double)], samples: [AnswerSample] = []) {
        send(TrainingProgress(phase: .validation, step: step, totalSteps: totalSteps, epoch: epochAfterStep(step),
                              elapsedSeconds: monotonicSeconds() - start, metrics: metrics, samples: samples))
    }
}

/// What the command line asks of either trainer: run until done or told to stop, and save and
/// restore what an interrupted run needs.
public protocol Trainer: AnyObject {
    /// Optimizer steps done, and in all.
    var step: Int { get }
    var totalSteps: Int { get }
    /// Runs optimizer steps until the end or until `shouldStop` says so (asked between steps).
    /// Returns whether training finished.
    func train(progress: @escaping (TrainingProgress) -> Void, shouldStop: () -> Bool) throws -> Bool
    /// Saves what `resume` needs into `output/checkpoint`.
    func saveCheckpoint(in output: String) throws
    /// Continues a run saved by `saveCheckpoint`, with the same options.
    func resume(from output: String) throws
}
