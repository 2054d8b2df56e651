import Foundation
import TallyTestSupport
import Testing
@testable import Training
import TransformerCore

/// The repository's shipped demonstrations (Demo/seed-demonstrations.jsonl, see Demo/PROVENANCE.md).
let shippedDemonstrations: String = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("Demo/seed-demonstrations.jsonl").path

@Suite("Supervised fine-tuning")
struct SupervisedFineTuningTests {
    /// On the shipped demonstrations (validation split by prompt, as the file marks it), two
    /// epochs lower a tiny model's validation loss by at least a quarter, for each of three
    /// seeds, and the parameters kept are those of the best validation loss.
    @Test(arguments: [1, 2, 3] as [UInt64])
    func lowersTheValidationLossOnTheShippedDemonstrations(seed: UInt64) throws {
        let examples = try TrainingDataReader.supervisedExamples(files: [shippedDemonstrations])
        #expect(examples.count == 175)
        let base = try TinyModels.llama(seed: seed)
        var options = TrainingOptions.supervised
        (options.learningRate, options.epochs, options.batchSize, options.maximumLength, options.seed) = (3e-3, 2, 8, 96, seed)
        let encoder = try ExampleEncoder(model: base, maximumLength: options.maximumLength)
        let (training, validation) = TrainingSplit.split(examples, prompt: \.prompt, isHeldOut: \.isHeldOut, fraction: 0.1, seed: seed)
        #expect(validation.count == 17)
        let trainer = try SupervisedTrainer(model: base, options: options, training: try training.map(encoder.encode), validation: try validation.map(encoder.encode))
        var validationLosses: [Double] = []
        try trainer.train(progress: { if let loss = $0.metric("eval_loss") { validationLosses.append(loss) } })
        #expect(validationLosses.count == 3)
        let (first, best) = (validationLosses[0], validationLosses.min()!)
        #expect(best < 0.75 * first, "validation loss \(validationLosses)")
        #expect(abs(try trainer.validationLoss() - best) < 1e-9, "the kept parameters are the best validation loss's")
    }

    /// Only the answer's tokens (and the end of turn) are targets: no prompt position carries
    /// a loss, and the per-token backward equals the core's mean loss over the answer alone.
    @Test func promptTokensReceiveNoGradient() throws {
        let base = try TinyModels.llama(seed: 8)
        let encoder = try ExampleEncoder(model: base, maximumLength: 128)
        let demonstrations = try [
            SupervisedExample(prompt: TinyModels.user("name a fruit."), response: "a banana", source: TinyModels.source()),
            SupervisedExample(prompt: TinyModels.user("tell me a story about a fox in the woods."), response: "a small fox ran.", source: TinyModels.source(2)),
        ].map(encoder.encode)
        let batch = SupervisedTrainer.batch(demonstrations)
        for (row, demonstration) in demonstrations.enumerated() {
            for t in 0..<batch.length {
                let target = batch.targets[row * batch.length + t]
                if t < demonstration.responseStart - 1 || t >= demonstration.tokens.count - 1 { #expect(target == -1) }
                else { #expect(target == demonstration.tokens[t + 1]) }
            }
            #expect(demonstration.tokens.last == encoder.endOfTurn)
        }
        let model = base.model
        try model.forward(tokens: batch.tokens, targets: batch.targets, attentionMask: nil, positionIDs: nil, batchSize: batch.rows, sequenceLength: batch.length, forBackward: true, logits: .targets)
        model.zeroGradients()
        try model.backward(logProbabilityGradients: batch.targets.map { $0 >= 0 ? -1 / Float(batch.answerTokens) : 0 }, temperature: 1, finalHiddenGradient: nil)
        let perToken = Array(model.gradients!.buffer)
        model.zeroGradients()
        try model.forward(tokens: batch.tokens, targets: batch.targets, attentionMask: nil, positionIDs: nil, batchSize: batch.rows, sequenceLength: batch.length, forBackward: true, logits: .targets)
        try model.backward(finalHiddenGradient: nil)
        let meanLoss = Array(model.gradients!.buffer)
        let worst = zip(perToken, meanLoss).map { abs($0 - $1) }.max()!
        #expect(worst < 1e-6, "per-token and mean-loss gradients differ by \(worst)")
    }

    /// A folder whose chat template lies in chat_template.jinja (as transformers 4.43 and later
    /// save it) loads with that template.
    @Test func readsTheChatTemplateFromItsOwnFile() throws {
        let base = try TinyModels.llama(seed: 12)
        let folder = TemporaryFiles.path("jinja-template")
        try base.save(to: folder)
        let configPath = folder + "/tokenizer_config.json"
        var config = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: configPath))) as! [String: Any]
        let template = config.removeValue(forKey: "chat_template") as! String
        try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: configPath))
        try template.write(toFile: folder + "/chat_template.jinja", atomically: true, encoding: .utf8)
        #expect(try PretrainedModel.load(folder).chatTemplate == base.chatTemplate)
        try "{{ unknown }}".write(toFile: folder + "/chat_template.jinja", atomically: true, encoding: .utf8)
        #expect(throws: CheckpointError.self) { _ = try PretrainedModel.load(folder) }
    }

    /// transformers 5 writes `rope_parameters` with a whole `rope_theta` as an integer: read as
    /// the theta (it had been ignored, and a reward model saved by transformers scored wrong).
    @Test func readsTransformersFiveRopeParameters() throws {
        let base = try TinyModels.llama(seed: 13)
        let folder = TemporaryFiles.path("rope-parameters")
        try base.save(to: folder)
        let configPath = folder + "/config.json"
        var config = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: configPath))) as! [String: Any]
        config.removeValue(forKey: "rope_theta")
        config["rope_parameters"] = ["rope_theta": 500_000, "rope_type": "default"]
        try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: configPath))
        let loaded = try PretrainedModel.load(folder).model as! LlamaModel
        #expect(loaded.configuration.ropeTheta == 500_000)
    }

    /// A fine-tuned policy saved as a Hugging Face folder loads back in Tally with the same
    /// weights, tokenizer and chat template.
    @Test func savedPolicyLoadsBack() throws {
        let base = try TinyModels.llama(seed: 10)
        let folder = TemporaryFiles.path("sft-policy")
        try base.save(to: folder)
        let loaded = try PretrainedModel.load(folder)
        #expect(Array(loaded.model.parameters.buffer) == Array(base.model.parameters.buffer))
        #expect(loaded.chatTemplate == base.chatTemplate)
        #expect(try loaded.promptTokens(TinyModels.user("hi")) == (try base.promptTokens(TinyModels.user("hi"))))
        #expect(loaded.stopTokens.contains(try base.endOfTurnToken()))
    }
}
