import ArgumentParser
import Foundation
import Training
import TransformerCore

/// The hyperparameters `tally train sft`, `reward` and `dpo` share; an option left out takes
/// the stage's default (`TrainingOptions.supervised` / `.reward` / `.directPreference`,
/// Docs/training.md).
struct TrainingCommandOptions: ParsableArguments {
    @Option(name: [.long, .customLong("policy")], help: ArgumentHelp("The base model (dpo: the SFT policy; --policy is the same option): a GGUF file or a Hugging Face folder (Llama family or GPT-2).", valueName: "path"))
    var model: String

    @Option(name: .long, parsing: .upToNextOption, help: ArgumentHelp("JSONL files to train on (Tally's exports, TRL's formats, HH-RLHF).", valueName: "file"))
    var data: [String]

    @Option(name: .long, help: ArgumentHelp("The folder to write the trained model to; must not exist yet (or be empty), unless --resume.", valueName: "path"))
    var output: String

    @Option(name: .long, help: "The peak learning rate (default: sft and reward 2e-5, dpo 1e-6).") var learningRate: Float?
    @Option(name: .long, help: "Passes over the training data (default: sft 3, reward and dpo 1).") var epochs: Int?
    @Option(name: .long, help: "Examples per batch: demonstrations, or whole rankings; forward passes are cut from a step's examples by length (default: 8).") var batchSize: Int?
    @Option(name: .long, help: "Batches per optimizer step (default: 1).") var gradientAccumulation: Int?
    @Option(name: .long, help: "The longest prompt and answer, in tokens; longer ones keep the conversation's end (default: sft 1024, reward 256, dpo 512).") var maxLength: Int?
    @Option(name: .long, help: "The share of steps spent warming up the learning rate (default: sft and reward 0.03, dpo 0).") var warmup: Double?
    @Option(name: .long, help: "The learning-rate decay after warm-up: linear, cosine or constant (default: linear).") var schedule: String?
    @Option(name: .long, help: "Seeds the data order, the validation split and a new head (default: 42).") var seed: UInt64?
    @Option(name: .long, help: "Train only the top N blocks and the heads (default: all blocks).") var trainedBlocks: Int?
    @Option(name: .long, help: "The share of prompts held out for validation when no record names its split (default: 0.1).") var validationFraction: Double?
    @Option(name: .customLong("max-grad-norm"), help: "Clip the gradient's norm to this (default: 1).") var maximumGradientNorm: Float?
    @Option(name: .long, help: "AdamW's decoupled weight decay (default: 0).") var weightDecay: Float?
    @Option(name: .long, help: "Report training metrics every N steps (default: 10).") var loggingSteps: Int?
    @Option(name: .long, help: "Compute threads (default: every core; env TALLY_COMPUTE_THREADS).") var threads: Int?
    @Flag(name: .long, help: "Continue the interrupted run saved in OUTPUT/checkpoint, with the same options.") var resume = false
    @Flag(name: .long, help: "Print one JSON object per report instead of the progress bar.") var json = false

    /// The stage's defaults with the options given here.
    func options(defaults: TrainingOptions) throws -> TrainingOptions {
        var options = defaults
        if let learningRate { options.learningRate = learningRate }
        if let epochs { options.epochs = epochs }
        if let batchSize { options.batchSize = batchSize }
        if let gradientAccumulation { options.gradientAccumulation = gradientAccumulation }
        if let maxLength { options.maximumLength = maxLength }
        if let warmup { options.warmupFraction = warmup }
        if let schedule {
            guard let decay = LearningRateSchedule.Decay(rawValue: schedule) else { throw ValidationError("--schedule: must be linear, cosine or constant, not '\(schedule)'") }
            options.schedule = decay
        }
        if let seed { options.seed = seed }
        if let trainedBlocks { options.trainedBlockCount = trainedBlocks }
        if let validationFraction { options.validationFraction = validationFraction }
        if let maximumGradientNorm { options.maximumGradientNorm = maximumGradientNorm }
        if let weightDecay { options.weightDecay = weightDecay }
        if let loggingSteps { options.loggingSteps = loggingSteps }
        return options
    }

    /// Refuses an output folder that holds anything (a finished model is never overwritten),
    /// or, with --resume, one without a checkpoint.
    func checkOutputFolder() throws { try checkTrainingOutputFolder(output, resume: resume) }

    /// Trains `run` on the compute threads, then finishes it and publishes the model with its
    /// summary in --output; returns the final metrics.
    @discardableResult
    func train(_ run: StageRun) throws -> [(name: String, value: Double)] {
        try trainAndPublish(run, base: model, data: data, output: output, resume: resume, json: json, threads: threads)
    }

    var computeThreads: ComputeThreads { makeComputeThreads(threads) }
}

/// Compute threads: as many as asked, or every core.
func makeComputeThreads(_ count: Int?) -> ComputeThreads {
    ComputeThreads(count: count ?? ComputeThreads.shared.count, priority: .normal)
}

/// Refuses an output folder that holds anything (a finished model is never overwritten), or,
/// with --resume, one without a checkpoint.
func checkTrainingOutputFolder(_ output: String, resume: Bool) throws {
    let manager = FileManager.default
    var isDirectory: ObjCBool = false
    let exists = manager.fileExists(atPath: output, isDirectory: &isDirectory)
    if resume {
        guard manager.fileExists(atPath: output + "/checkpoint/trainer_state.json") else {
            throw ValidationError("--resume: \(output)/checkpoint holds no interrupted run to continue")
        }
        return
    }
    guard exists else { return }
    guard isDirectory.boolValue, (try? manager.contentsOfDirectory(atPath: output))?.isEmpty ?? false else {
        throw ValidationError("--output: \(output) already exists and is not an empty folder; choose a new one (or --resume an interrupted run)")
    }
}

/// Every training command: resumes when asked, trains with the progress on the terminal, and
/// on Ctrl+C saves a checkpoint and ends the command (exit status 130). Returns the reports
/// and the start.
func trainInterruptibly(_ trainer: some Trainer, resume: Bool, output: String, json: Bool) throws -> (TrainingReporter, Date) {
    if resume { try trainer.resume(from: output) }
    let reporter = TrainingReporter(json: json)
    let interrupt = InterruptRequest()
    let started = Date()
    let finished = try trainer.train(progress: reporter.report, shouldStop: { interrupt.isRequested })
    reporter.finish()
    guard finished else {
        try trainer.saveCheckpoint(in: output)
        note("Saved a checkpoint at step \(trainer.step) of \(trainer.totalSteps) in \(output)/checkpoint; continue with the same command and --resume.")
        throw ExitCode(130)
    }
    return (reporter, started)
}

/// Every training command's end: prints what the data came to, trains on the compute threads
/// (Ctrl+C saves a checkpoint), finishes the run and publishes the model with its summary.
func trainAndPublish(_ run: StageRun, base: String, data: [String], output: String, resume: Bool, json: Bool,
                     threads: Int?) throws -> [(name: String, value: Double)] {
    run.notes.forEach(note)
    return try makeComputeThreads(threads).run {
        let (reporter, started) = try trainInterruptibly(run.trainer, resume: resume, output: output, json: json)
        let final = try run.finish()
        let summary = RunSummary(run: run, base: base, data: data, seconds: Date().timeIntervalSince(started), final: final)
        try OutputFolder.publish({ folder in
            try run.writeModel(to: folder)
            try summary.write(to: folder, log: reporter.logLines)
        }, to: output)
        return final
    }
}

/// Ctrl+C during training: the first asks the trainer to stop after its current step and save
/// a checkpoint; a second ends the process at once.
final class InterruptRequest: @unchecked Sendable {
    private let lock = NSLock()
    private var requested = false
    private var source: (any DispatchSourceSignal)?

    init() {
        signal(SIGINT, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: SIGINT, queue: .global())
        source.setEventHandler { [weak self] in
            guard let self else { return }
            let again = self.lock.withLock { defer { self.requested = true }; return self.requested }
            if again { exit(130) }
            FileHandle.standardError.write(Data("\nStopping after this step and saving a checkpoint (Ctrl+C again quits without one)...\n".utf8))
        }
        source.resume()
        self.source = source
    }

    var isRequested: Bool { lock.withLock { requested } }

    deinit {
        source?.cancel()
        signal(SIGINT, SIG_DFL)
    }
}
