import Foundation
import TallyTestSupport
import Testing
@testable import Training
import TransformerCore

@Suite("Reward model")
struct RewardModelTests {
    /// InstructGPT's loss for a ranking of four with a tie, by hand: ranks [1, 2, 2, 3] make
    /// five pairs (the tie makes none); with scores [2, 1, 1, 0] four differ by 1 and one by 2.
    @Test func lossOfARankingOfFourWithATieEqualsTheHandValue() {
        let loss = RankingLoss(scores: [2, 1, 1, 0], ranks: [1, 2, 2, 3])
        let expected = (4 * log(1 + exp(-1.0)) + log(1 + exp(-2.0))) / 5
        #expect(loss.pairCount == 5)
        #expect(abs(loss.loss - expected) < 1e-12)
        #expect(loss.correctPairs == 5)
        // d/dr of the winner of a pair with gap d is -sigmoid(-d)/5; the answer ranked 1 wins three.
        let s1 = 1 / (1 + exp(1.0)), s2 = 1 / (1 + exp(2.0))
        #expect(abs(Double(loss.scoreGradients[0]) - -(2 * s1 + s2) / 5) < 1e-7)
        #expect(abs(Double(loss.scoreGradients[3]) - (2 * s1 + s2) / 5) < 1e-7)
        #expect(abs(loss.scoreGradients.reduce(0, +)) < 1e-7)
        // A pair is the K = 2 case.
        #expect(abs(RankingLoss(scores: [0.5, -0.5], ranks: [1, 2]).loss - log(1 + exp(-1.0))) < 1e-12)
    }

    /// The shared prompt (one row per ranking, answers as branches) computes the same scores,
    /// loss and every gradient as one row per answer, for both variants.
    @Test(arguments: ["llama", "gpt2"])
    func sharedPromptEqualsUnshared(variant: String) throws {
        func run(sharesPrompt: Bool) throws -> (scores: [[Float]], loss: Double, trunk: [Float], head: [Float]) {
            let base = try variant == "llama" ? TinyModels.llama(seed: 3) : TinyModels.gpt2(seed: 3)
            let model = try RewardModel(base: base, seed: 9)
            let encoder = try ExampleEncoder(model: base, maximumLength: 64)
            let rankings = try [
                RankingExample(prompt: TinyModels.user("name a fruit."), answers: ["an apple", "a pear and a plum", "a banana", "the sky is blue"],
                               ranks: [1, 2, 2, 3], source: TinyModels.source()),
                RankingExample(prompt: TinyModels.user("tell me a story about a fox."), answers: ["a small fox ran to the park.", "the cat sat"],
                               ranks: [1, 2], source: TinyModels.source(2)),
            ].map(encoder.encode)
            let batch = RankingBatch(rankings: rankings, sharesPrompt: sharesPrompt, padToken: model.padToken)
            let scores = try model.scores(of: batch, forBackward: true)
            let losses = zip(rankings, scores).map { RankingLoss(scores: $1, ranks: $0.ranks) }
            model.trunk.zeroGradients()
            model.head.gradients.zero()
            try model.backward(scoreGradients: losses.map { $0.scoreGradients.map { $0 / 2 } }, batch: batch)
            return (scores, losses.reduce(0) { $0 + $1.loss } / 2, Array(model.trunk.gradients!.buffer), Array(model.head.gradients.buffer))
        }
        let shared = try run(sharesPrompt: true), unshared = try run(sharesPrompt: false)
        #expect(abs(shared.loss - unshared.loss) < 1e-4)
        for (a, b) in zip(shared.scores.flatMap { $0 }, unshared.scores.flatMap { $0 }) { #expect(abs(a - b) < 1e-4) }
        let largest = unshared.trunk.map(abs).max()!
        #expect(largest > 0)
        let worst = zip(shared.trunk, unshared.trunk).map { abs($0 - $1) }.max()!
        #expect(worst < 1e-4 * max(1, largest), "largest trunk gradient difference \(worst)")
        #expect(zip(shared.head, unshared.head).allSatisfy { abs($0 - $1) < 1e-4 })
    }

    /// A synthetic preference (the answer that mentions bananas wins) learned to at least 95%
    /// accuracy on held-out pairs by a tiny model, seeded.
    @Test func learnsASyntheticPreference() throws {
        let words = ["the cat sat on the mat", "a dog ran to the park", "apples are red", "the sky is blue", "a small fox in the woods",
                     "it is sunny and warm", "a pear or a plum", "say something nice"]
        var random = SeededRandom(seed: 11)
        func sentence() -> String { (0..<2).map { _ in words[Int(random.next() % UInt64(words.count))] }.joined(separator: " and ") }
        func example(_ index: Int) -> RankingExample {
            let plain = sentence(), withBanana = sentence().replacingOccurrences(of: " and ", with: " and bananas are yellow and ")
            let bananaFirst = random.next() % 2 == 0
            return RankingExample(prompt: TinyModels.user(words[index % words.count]), answers: bananaFirst ? [withBanana, plain] : [plain, withBanana],
                                  ranks: bananaFirst ? [1, 2] : [2, 1], source: TinyModels.source(index + 1))
        }
        let base = try TinyModels.llama(seed: 1)
        let model = try RewardModel(base: base, seed: 2)
        let encoder = try ExampleEncoder(model: base, maximumLength: 96)
        let training = try (0..<192).map { try encoder.encode(example($0)) }
        let heldOut = try (192..<256).map { try encoder.encode(example($0)) }
        var options = TrainingOptions.reward
        (options.learningRate, options.epochs, options.batchSize, options.loggingSteps) = (3e-3, 3, 8, 1000)
        let before = try RewardEvaluation.evaluate(model, on: heldOut)
        let trainer = try RewardTrainer(model: model, options: options, training: training, validation: [])
        var losses: [Double] = []
        try trainer.train(progress: { if let loss = $0.metric("loss") { losses.append(loss) } })
        let after = try RewardEvaluation.evaluate(model, on: heldOut)
        #expect(after.overall.accuracy >= 0.95, "held-out accuracy \(after.overall.accuracy) (before training \(before.overall.accuracy))")
        #expect(after.overall.pairs == 64)
        // The shift: the training answers average 0 afterwards, however often it is set.
        try trainer.centreRewards()
        try trainer.centreRewards()
        let sample = TrainingSplit.shuffledIndices(count: training.count, seed: options.seed).map { training[$0] }
        let rewards = try model.rewards(of: sample).flatMap { $0 }
        #expect(abs(rewards.reduce(0, +) / Float(rewards.count)) < 1e-3)
    }

    /// Training only the top block leaves the lower block and the embeddings untouched, and its
    /// backward stops above them.
    @Test func trainingTheTopBlockOnlyLeavesTheRestUntouched() throws {
        let base = try TinyModels.llama(seed: 4, layerCount: 3)
        let model = try RewardModel(base: base, seed: 5)
        let before = Array(model.trunk.parameters.buffer)
        let encoder = try ExampleEncoder(model: base, maximumLength: 64)
        let rankings = try (0..<8).map { try encoder.encode(RankingExample(prompt: TinyModels.user("name a fruit \($0)."), answers: ["an apple", "the cat"], ranks: [1, 2], source: TinyModels.source($0))) }
        var options = TrainingOptions.reward
        (options.trainedBlockCount, options.batchSize, options.learningRate) = (1, 4, 1e-2)
        let trainer = try RewardTrainer(model: model, options: options, training: rankings, validation: [])
        try trainer.train()
        let after = Array(model.trunk.parameters.buffer)
        let trained = Set(model.trunk.trainedParameterTensors.map(\.name))
        #expect(trained.contains("model.layers.2.mlp.down_proj.weight") && !trained.contains("model.layers.1.mlp.down_proj.weight"))
        for tensor in model.trunk.parameterTensors {
            let changed = tensor.range.contains { before[$0] != after[$0] }
            if tensor.name.hasPrefix("model.layers.0.") || tensor.name.hasPrefix("model.layers.1.") || tensor.name == "model.embed_tokens.weight" {
                #expect(!changed, "\(tensor.name) changed")
            }
            if tensor.name.hasPrefix("model.layers.2.") && tensor.shape.count == 2 { #expect(changed, "\(tensor.name) did not train") }
        }
        #expect(throws: TrainingOptionError.self) {
            var bad = TrainingOptions.reward
            bad.trainedBlockCount = 4
            _ = try RewardTrainer(model: model, options: bad, training: rankings, validation: [])
        }
    }

    /// An interrupted run saved and resumed ends with the same weights as an uninterrupted one.
    @Test func resumingContinuesExactly() throws {
        func rankings(_ base: PretrainedModel) throws -> [EncodedRanking] {
            let encoder = try ExampleEncoder(model: base, maximumLength: 64)
            return try (0..<12).map { try encoder.encode(RankingExample(prompt: TinyModels.user("say something \($0)."), answers: ["it is sunny", "the cat sat on the mat", "a dog"], ranks: [1, 2, 3], source: TinyModels.source($0))) }
        }
        var options = TrainingOptions.reward
        (options.batchSize, options.epochs, options.learningRate) = (2, 2, 1e-3)
        let straightBase = try TinyModels.llama(seed: 6)
        let straight = try RewardTrainer(model: try RewardModel(base: straightBase, seed: 7), options: options, training: try rankings(straightBase), validation: [])
        try straight.train()

        let output = TemporaryFiles.path("reward-resume")
        let firstBase = try TinyModels.llama(seed: 6)
        let first = try RewardTrainer(model: try RewardModel(base: firstBase, seed: 7), options: options, training: try rankings(firstBase), validation: [])
        var steps = 0
        let finished = try first.train(progress: { _ in }, shouldStop: { steps += 1; return steps > 5 })
        #expect(!finished && first.step == 5)
        try first.saveCheckpoint(in: output)
        let resumedModel = try RewardModel(contentsOf: CheckpointFolder.path(in: output))
        let resumed = try RewardTrainer(model: resumedModel, options: options, training: try rankings(resumedModel.base), validation: [])
        try resumed.resume(from: output)
        try resumed.train()
        #expect(resumed.step == straight.step)
        #expect(Array(resumedModel.trunk.parameters.buffer) == Array(straight.model.trunk.parameters.buffer))
        #expect(Array(resumedModel.head.parameters.buffer) == Array(straight.model.head.parameters.buffer))
    }
}
