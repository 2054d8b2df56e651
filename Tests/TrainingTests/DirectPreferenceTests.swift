import Foundation
import Testing
@testable import Training
import TransformerCore

@Suite("Direct preference optimization")
struct DirectPreferenceTests {
    static func comparisons() -> [RankingExample] {
        [("name a fruit.", "an apple, a pear or a plum.", "the sky is blue."),
         ("say something nice about the weather today.", "it is sunny and warm.", "a dog ran to the park."),
         ("tell me a story about a small fox.", "a small fox ran in the woods and back.", "bananas are yellow."),
         ("name a red fruit.", "an apple.", "the cat sat on the mat."),
         ("what colour is the sky?", "the sky is blue.", "a banana or a plum."),
         ("where did the dog run?", "the dog ran to the park and back.", "it is sunny.")]
            .enumerated().map { index, triple in
                RankingExample(prompt: TinyModels.user(triple.0), answers: [triple.1, triple.2], ranks: [1, 2], source: TinyModels.source(index + 1))
            } + [RankingExample(prompt: TinyModels.user("name a fruit or two."), answers: ["a pear and a plum.", "a plum.", "the mat."], ranks: [1, 1, 2], source: TinyModels.source(7))]
    }

    static func trainer(seed: UInt64, epochs: Int, sharesPrompt: Bool = true) throws -> DirectPreferenceTrainer {
        let base = try TinyModels.llama(seed: seed)
        var options = TrainingOptions.directPreference
        (options.learningRate, options.epochs, options.batchSize, options.loggingSteps, options.seed) = (3e-3, epochs, 4, 1, seed)
        options.sharesPrompt = sharesPrompt
        let encoder = try ExampleEncoder(model: base, maximumLength: 64)
        return try DirectPreferenceTrainer(model: base, options: options, training: try comparisons().map(encoder.encode), validation: [])
    }

    /// The policy is its own reference at the first step: every implicit reward is 0 and the
    /// loss is log 2. Then the chosen-over-rejected margin rises on the training pairs, for
    /// each of three seeds, until every pair is ordered.
    @Test(arguments: [1, 2, 3] as [UInt64])
    func lossStartsAtLogTwoAndTheMarginRises(seed: UInt64) throws {
        let trainer = try Self.trainer(seed: seed, epochs: 12)
        var reports: [TrainingProgress] = []
        try trainer.train(progress: { reports.append($0) })
        #expect(abs(reports[0].metric("loss")! - log(2)) < 1e-4, "first loss \(reports[0].metric("loss")!)")
        #expect(abs(reports[0].metric("rewards/margins")!) < 1e-4)
        let margins = reports.map { $0.metric("rewards/margins")! }
        #expect(margins.suffix(3).allSatisfy { $0 > 0.5 }, "margins \(margins)")
        #expect(reports.last!.metric("rewards/accuracies")! == 1)
        #expect(reports.last!.metric("loss")! < 0.5 * log(2))
    }

    /// A prompt computed once for its answers (the last prompt token opening each answer's
    /// branch) gives each answer the log-probabilities of its own row with the prompt repeated,
    /// in both architectures, for an empty answer and a one-token prompt too.
    @Test(arguments: ["llama", "gpt2"])
    func aSharedPromptGivesEachAnswerItsOwnRowsLogProbabilities(architecture: String) throws {
        let model = architecture == "llama" ? try TinyModels.llama(seed: 6) : try TinyModels.gpt2(seed: 6)
        let rows: [(prompt: [Int32], answers: [[Int32]])] = [([5, 9, 13, 2, 40], [[7, 8, 9], [], [11], [30, 31, 32, 33, 34]]), ([4], [[6, 6, 12, 3], [10, 2]])]
        func logProbabilities(_ batch: AnswerBatch) throws -> [[Float]] {
            try batch.forward(model.model, forBackward: false)
            return try batch.answerLogProbabilities(model.model, temperature: 0.7)
        }
        let shared = try logProbabilities(AnswerBatch(sharingPrompts: rows))
        let unshared = try logProbabilities(AnswerBatch(rows: rows.flatMap { row in row.answers.map { (row.prompt, $0) } }))
        #expect(shared.map(\.count) == [3, 0, 1, 5, 4, 2])
        #expect(unshared.map(\.count) == shared.map(\.count))
        let difference = zip(shared.joined(), unshared.joined()).map { abs($0 - $1) }.max()!
        #expect(difference < 1e-5, "largest log-probability difference \(difference)")
    }

    /// Training with the prompt shared takes the step the repeated prompt takes: the same
    /// reference, loss, margins and gradient (both answers' gradients gather in the shared
    /// prompt's positions).
    @Test func aSharedPromptTrainsAsTheRepeatedOneDoes() throws {
        func firstStep(sharesPrompt: Bool) throws -> (trainer: DirectPreferenceTrainer, report: TrainingProgress, gradient: [Float]) {
            let trainer = try Self.trainer(seed: 7, epochs: 1, sharesPrompt: sharesPrompt)
            var reports: [TrainingProgress] = []
            #expect(try trainer.train(progress: { reports.append($0) }, shouldStop: { reports.count == 1 }) == false)
            return (trainer, reports[0], Array(trainer.model.model.gradients!.buffer))
        }
        let shared = try firstStep(sharesPrompt: true), repeated = try firstStep(sharesPrompt: false)
        #expect(zip(shared.trainer.referenceTraining.joined(), repeated.trainer.referenceTraining.joined()).allSatisfy { abs($0 - $1) < 1e-5 })
        for name in ["loss", "rewards/margins", "grad_norm"] {
            let (a, b) = (shared.report.metric(name)!, repeated.report.metric(name)!)
            #expect(abs(a - b) < 1e-4 * max(1, abs(b)), "\(name): \(a) shared, \(b) repeated")
        }
        let largest = repeated.gradient.map(abs).max()!
        #expect(largest > 0)
        let worst = zip(shared.gradient, repeated.gradient).map { abs($0 - $1) }.max()!
        #expect(worst < 1e-4 * max(1, largest), "largest gradient difference \(worst) (largest gradient \(largest))")
    }

    /// The reference is the policy before the first step, each answer's log-probability summed
    /// over its tokens (and the end of turn), computed once.
    @Test func theReferenceIsThePolicyBeforeTraining() throws {
        let trainer = try Self.trainer(seed: 4, epochs: 1)
        try trainer.computeReference()
        let before = try trainer.answerLogProbabilities(trainer.training)
        #expect(zip(before, trainer.referenceTraining).allSatisfy { zip($0, $1).allSatisfy { abs($0 - $1) < 1e-5 } })
    }

    /// Stopped after two steps, saved, and resumed in a new trainer, the run ends where an
    /// uninterrupted one does (the reference log-probabilities come back from the checkpoint).
    @Test func aResumedRunEqualsAnUninterruptedOne() throws {
        let whole = try Self.trainer(seed: 5, epochs: 2)
        try whole.train()
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("tally-dpo-resume-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: output) }
        let first = try Self.trainer(seed: 5, epochs: 2)
        var steps = 0
        #expect(try first.train(progress: { _ in steps += 1 }, shouldStop: { steps == 2 }) == false)
        try FileManager.default.createDirectory(atPath: CheckpointFolder.path(in: output), withIntermediateDirectories: true)
        try first.saveCheckpoint(in: output)
        let saved = try PretrainedModel.load(CheckpointFolder.path(in: output))
        let resumed = try DirectPreferenceTrainer(model: saved, options: first.options, training: first.training, validation: [])
        try resumed.resume(from: output)
        try resumed.train()
        let difference = zip(whole.model.model.parameters.buffer, resumed.model.model.parameters.buffer).map { abs($0 - $1) }.max()!
        #expect(difference < 1e-5, "largest parameter difference \(difference)")
    }
}
