import Foundation
import Testing
@testable import Training
import TransformerCore

/// A rule for a reward: the share of an answer's tokens that belong to a chosen tenth of the
/// vocabulary (ids divisible by 10), about 0.1 for an untrained model; what the policy should
/// learn is known and cheap to score.
struct TokenShareReward: AnswerReward {
    func scores(of episodes: [Episode]) throws -> [Float] {
        episodes.map { episode in Float(episode.answer.filter { $0 % 10 == 0 }.count) / Float(max(1, episode.answer.count)) }
    }
}

/// Policy optimization learns on a tiny model in seconds: the mean reward of a rule rises to at
/// least twice its start for each of three seeds, while the KL to the reference stays within a
/// stated number of nats per answer; a large beta holds the policy near the reference.
@Suite("Policy optimization: learning")
struct PolicyLearningTests {
    static let answerLength = 12

    static func prompts() -> [PromptExample] {
        ["name a fruit.", "say something nice about the weather today.", "tell me a story about a small fox.", "the cat sat on the mat.",
         "a dog ran to the park.", "bananas are yellow.", "it is sunny and warm.", "name a red fruit."]
            .enumerated().map { PromptExample(prompt: TinyModels.user($0.element), source: TinyModels.source($0.offset + 1)) }
    }

    /// The trainer, and the mean reward and KL per answer of each iteration.
    static func trainer(_ options: PolicyOptions, seed: UInt64) throws -> PolicyTrainer {
        let policy = try TinyModels.llama(seed: seed)
        var options = options
        (options.seed, options.maximumNewTokens, options.loggingSteps) = (seed, answerLength, 1)
        // A separate value trunk starts from a reward model: here an untrained one on the policy's base.
        let rewardModel = options.valueModel == .separateTrunk ? try RewardModel(base: try policy.copy(), seed: seed) : nil
        return try PolicyTrainer(policy: policy, reference: try policy.copy(), reward: TokenShareReward(), options: options, prompts: prompts(), rewardModel: rewardModel)
    }

    static func run(_ options: PolicyOptions, seed: UInt64) throws -> (rewards: [Double], kl: [Double], trainer: PolicyTrainer) {
        let trainer = try trainer(options, seed: seed)
        var rewards: [Double] = [], kl: [Double] = []
        try trainer.train(progress: { report in
            guard report.phase == .training else { return }
            rewards.append(report.metric("reward") ?? report.metric("objective/scores")!)
            kl.append(report.metric("kl_per_answer")!)
        })
        return (rewards, kl, trainer)
    }

    static func rloo(_ estimator: PolicyOptions.AdvantageEstimator = .leaveOneOut) -> PolicyOptions {
        var options = estimator == .groupNormalized ? PolicyOptions.grpo : PolicyOptions.rloo
        (options.iterations, options.promptsPerIteration, options.answersPerPrompt, options.learningRate) = (40, 8, 4, 1e-2)
        return options
    }

    static func ppo(_ placement: PolicyOptions.ValueModel = .sharedTrunk) -> PolicyOptions {
        var options = PolicyOptions.ppo
        (options.iterations, options.promptsPerIteration, options.answersPerPrompt, options.learningRate, options.updateEpochs) = (40, 16, 1, 5e-3, 2)
        options.valueModel = placement
        return options
    }

    static func mean(_ values: ArraySlice<Double>) -> Double { values.reduce(0, +) / Double(values.count) }

    @Test(arguments: [1, 2, 3] as [UInt64])
    func rlooDoublesTheRewardWithinAStatedKL(seed: UInt64) throws {
        let (rewards, kl, _) = try Self.run(Self.rloo(), seed: seed)
        let start = Self.mean(rewards.prefix(3)), end = Self.mean(rewards.suffix(5))
        #expect(end >= 2 * start, "rewards \(rewards)")
        #expect(kl.suffix(5).allSatisfy { $0 < 10 }, "KL per answer \(kl)")
    }

    @Test(arguments: [1, 2, 3] as [UInt64])
    func ppoDoublesTheRewardWithinAStatedKL(seed: UInt64) throws {
        let (rewards, kl, _) = try Self.run(Self.ppo(), seed: seed)
        let start = Self.mean(rewards.prefix(3)), end = Self.mean(rewards.suffix(5))
        #expect(end >= 2 * start, "rewards \(rewards)")
        #expect(kl.suffix(5).allSatisfy { $0 < 10 }, "KL per answer \(kl)")
    }

    @Test func ppoWithASeparateValueTrunkDoublesTheReward() throws {
        let (rewards, kl, _) = try Self.run(Self.ppo(.separateTrunk), seed: 1)
        #expect(Self.mean(rewards.suffix(5)) >= 2 * Self.mean(rewards.prefix(3)), "rewards \(rewards)")
        #expect(kl.suffix(5).allSatisfy { $0 < 10 }, "KL per answer \(kl)")
    }

    @Test func grpoDoublesTheReward() throws {
        let (rewards, _, _) = try Self.run(Self.rloo(.groupNormalized), seed: 1)
        #expect(Self.mean(rewards.suffix(5)) >= 2 * Self.mean(rewards.prefix(3)), "rewards \(rewards)")
    }

    /// The penalty holds: with beta 2 the policy stays within a small KL of the reference.
    @Test func aLargeKLCoefficientHoldsThePolicyNearTheReference() throws {
        var options = Self.rloo()
        options.klCoefficient = 2
        let (_, kl, _) = try Self.run(options, seed: 1)
        #expect(kl.allSatisfy { $0 < 1.5 }, "KL per answer \(kl)")
        let (_, free, _) = try Self.run(Self.rloo(), seed: 1)
        #expect(Self.mean(kl.suffix(5)) < Self.mean(free.suffix(5)), "beta 2: \(kl); beta 0.05: \(free)")
    }

    /// At the first iteration the policy is the reference: the KL reported (the one penalized)
    /// is 0 up to rounding.
    @Test func theReportedKLIsZeroWhileThePolicyIsTheReference() throws {
        var options = Self.rloo()
        options.iterations = 1
        let (_, kl, _) = try Self.run(options, seed: 4)
        #expect(abs(kl[0]) < 1e-2, "KL \(kl)")
    }

    /// A run stopped after three iterations, saved and resumed in a new trainer ends where an
    /// uninterrupted one does: same prompts, same samples, same optimizer moments, same beta.
    @Test(arguments: [PolicyOptions.AdvantageEstimator.leaveOneOut, .generalized])
    func aResumedRunEqualsAnUninterruptedOne(estimator: PolicyOptions.AdvantageEstimator) throws {
        var options = estimator == .generalized ? Self.ppo() : Self.rloo()
        (options.iterations, options.klTarget) = (6, 1)
        let whole = try Self.trainer(options, seed: 5)
        try whole.train()
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("tally-policy-resume-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: output) }
        let first = try Self.trainer(options, seed: 5)
        var iterations = 0
        #expect(try first.train(progress: { if $0.phase == .training { iterations += 1 } }, shouldStop: { iterations == 3 }) == false)
        try FileManager.default.createDirectory(atPath: CheckpointFolder.path(in: output), withIntermediateDirectories: true)
        try first.saveCheckpoint(in: output)
        let saved = try PretrainedModel.load(CheckpointFolder.path(in: output))
        let reference = try TinyModels.llama(seed: 5)
        let resumed = try PolicyTrainer(policy: saved, reference: reference, reward: TokenShareReward(), options: first.options, prompts: Self.prompts())
        try resumed.resume(from: output)
        #expect(resumed.step == 3)
        try resumed.train()
        let difference = zip(whole.policy.model.parameters.buffer, resumed.policy.model.parameters.buffer).map { abs($0 - $1) }.max()!
        #expect(difference < 1e-5, "largest parameter difference \(difference)")
        #expect(abs(whole.klController.coefficient - resumed.klController.coefficient) < 1e-7)
    }

    /// A cancellation acts in the middle of an iteration: decoding stops after a few tokens, the
    /// iteration is thrown away (the step and the parameters stay as they were), and training
    /// goes on from there once nothing asks to stop.
    @Test func anAbandonedIterationChangesNothing() throws {
        var options = Self.rloo()
        options.iterations = 2
        let trainer = try Self.trainer(options, seed: 3)
        let before = Array(UnsafeBufferPointer(start: trainer.policy.model.parameters.pointer, count: trainer.policy.model.parameterCount))
        var asked = 0
        trainer.abandonsIteration = {
            asked += 1
            return asked > 5
        }
        #expect(try trainer.train() == false)
        #expect(trainer.step == 0 && asked > 5 && asked < 100, "asked \(asked) times: decoding (32 answers of 12 tokens) stopped within a token of each")
        let after = Array(UnsafeBufferPointer(start: trainer.policy.model.parameters.pointer, count: trainer.policy.model.parameterCount))
        #expect(after == before)
        trainer.abandonsIteration = nil
        #expect(try trainer.train() == true && trainer.step == 2)
    }
}
