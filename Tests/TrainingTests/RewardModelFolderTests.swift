import Foundation
import TallyTestSupport
import Testing
@testable import Training
import TransformerCore


@Suite("Reward model folders")
struct RewardModelFolderTests {
    func trainedModel() throws -> (RewardModel, [EncodedRanking]) {
        let base = try TinyModels.llama(seed: 21)
        let model = try RewardModel(base: base, seed: 22)
        let encoder = try ExampleEncoder(model: base, maximumLength: 64)
        let rankings = try (0..<8).map { try encoder.encode(RankingExample(prompt: TinyModels.user("name a fruit \($0)."), answers: ["an apple", "the cat sat", "a pear"], ranks: [1, 3, 2], source: TinyModels.source($0))) }
        var options = TrainingOptions.reward
        (options.batchSize, options.learningRate) = (4, 1e-2)
        let trainer = try RewardTrainer(model: model, options: options, training: rankings, validation: [])
        try trainer.train()
        try trainer.centreRewards()
        #expect(model.mean != 0)
        return (model, rankings)
    }

    /// transformers' configuration classes and tokenizer and the safetensors library read the
    /// saved folder as a LlamaForSequenceClassification, and an independent numpy forward pass
    /// reads each score where transformers does and gets Tally's.
    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: checkerPython),
                   "needs the checker's Python environment; `make test` creates .build-python/test"))
    func savedFolderReadsInHuggingFaceCode() throws {
        let (model, rankings) = try trainedModel()
        let folder = TemporaryFiles.path("reward-model")
        try model.save(to: folder)
        // One right-padded row per answer, as transformers would be given them.
        let batch = RankingBatch(rankings: rankings, sharesPrompt: false, padToken: model.padToken)
        let rewards = try model.rewards(of: rankings, sharesPrompt: true).flatMap { $0 }
        let sequences = (0..<batch.rowCount).map { Array(batch.tokens[($0 * batch.rowLength)..<(($0 + 1) * batch.rowLength)]).map(Int.init) }
        let scores = rewards.map { Double($0 * model.standardDeviation + model.mean) }
        let expected: [String: Any] = ["sequences": sequences, "scores": scores, "rewards": rewards.map(Double.init)]
        try JSONSerialization.data(withJSONObject: expected).write(to: URL(fileURLWithPath: folder + "/expected.json"))
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Tools/check_reward_model.py").path
        let (status, output) = try run(checkerPython, [script, folder])
        #expect(status == 0 && output.contains("OK:"), "\(output)")
    }

    /// Tally reads its own folder back with the same rewards, and refuses a causal language
    /// model's folder as a reward model.
    @Test func loadsItsOwnFolderAndRefusesAPolicy() throws {
        let (model, rankings) = try trainedModel()
        let folder = TemporaryFiles.path("reward-model-reload")
        try model.save(to: folder)
        let loaded = try RewardModel(contentsOf: folder)
        let endOfTurn = try loaded.base.endOfTurnToken()
        #expect(loaded.padToken == model.padToken && loaded.padToken != endOfTurn)
        let expected = try model.rewards(of: rankings), actual = try loaded.rewards(of: rankings)
        for (a, b) in zip(expected.flatMap { $0 }, actual.flatMap { $0 }) { #expect(abs(a - b) < 1e-5) }
        let policy = TemporaryFiles.path("policy-not-reward")
        try model.base.save(to: policy)
        do {
            _ = try RewardModel(contentsOf: policy)
            Issue.record("a policy folder loaded as a reward model")
        } catch let error as CheckpointError {
            #expect(error.kind == .mismatch && error.description.contains("not a reward model"))
        }
    }
}

@Suite("GPT-2 reward models")
struct GPT2RewardModelTests {
    /// The GPT-2 variant trains, saves a GPT2ForSequenceClassification folder and loads it back
    /// with the same rewards.
    @Test func savesAndLoadsAGPT2SequenceClassifier() throws {
        let base = try TinyModels.gpt2(seed: 31)
        let model = try RewardModel(base: base, seed: 32)
        let encoder = try ExampleEncoder(model: base, maximumLength: 48)
        let rankings = try (0..<8).map { try encoder.encode(RankingExample(prompt: TinyModels.user("name a fruit \($0)."), answers: ["a pear", "the sky"], ranks: [1, 2], source: TinyModels.source($0))) }
        var options = TrainingOptions.reward
        (options.batchSize, options.learningRate) = (4, 1e-2)
        let trainer = try RewardTrainer(model: model, options: options, training: rankings, validation: [])
        try trainer.train()
        try trainer.centreRewards()
        let folder = TemporaryFiles.path("gpt2-reward")
        try model.save(to: folder)
        let config = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: folder + "/config.json"))) as? [String: Any]
        #expect(config?["architectures"] as? [String] == ["GPT2ForSequenceClassification"] && config?["pad_token_id"] as? Int == Int(model.padToken))
        let loaded = try RewardModel(contentsOf: folder)
        for (a, b) in zip(try model.rewards(of: rankings).flatMap { $0 }, try loaded.rewards(of: rankings).flatMap { $0 }) { #expect(abs(a - b) < 1e-5) }
    }
}

@Suite("Model folders that do not fit")
struct MismatchedFolderTests {
    /// A tokenizer with more tokens than the model's embedding is refused as a mismatch.
    @Test func refusesATokenizerLargerThanTheModel() throws {
        let small = try TinyModels.llama(seed: 1)
        let folder = TemporaryFiles.path("mismatched")
        try small.save(to: folder)
        let larger = try BytePairTrainer.train(corpus: TinyModels.corpus + TinyModels.corpus.uppercased(), vocabularySize: 400, specialTokens: TinyModels.specialTokens)
        try larger.saveHuggingFaceTokenizer(toDirectory: folder)
        do {
            _ = try PretrainedModel.load(folder)
            Issue.record("a tokenizer larger than the model loaded")
        } catch let error as CheckpointError {
            #expect(error.kind == .mismatch && error.description.contains("tokenizer"), "\(error)")
        }
    }
}
