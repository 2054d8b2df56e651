import Foundation
import TallyTestSupport
import Testing
@testable import TransformerCore

@Suite("Padding, scalar head, accumulation and checkpoints", .serialized)
struct PaddingAndHeadTests {
    static let sequence: [Int32] = [11, 250, 37, 400, 5, 99]
    static let sequenceTargets: [Int32] = [250, 37, 400, 5, 99, -1]

    /// A left-padded batch row must give, at its real positions, exactly the logits, loss and
    /// gradients of the same sequence alone.
    @Test func leftPaddingWithMaskAndPositionsMatchesTheUnpaddedSequence() throws {
        let alone = try GPT2ReferenceTests.loadedModel()
        let aloneLoss = try alone.forward(tokens: Self.sequence, targets: Self.sequenceTargets, batchSize: 1, sequenceLength: 6).loss!
        let aloneLogits = Array(alone.logits)
        alone.zeroGradients()
        try alone.backward()

        let padded = try GPT2ReferenceTests.loadedModel()
        let pad = 3
        let tokens = [Int32](repeating: 0, count: pad) + Self.sequence
        let targets = [Int32](repeating: -1, count: pad) + Self.sequenceTargets
        let mask = [UInt8](repeating: 0, count: pad) + [UInt8](repeating: 1, count: 6)
        let positions = [Int32](repeating: 0, count: pad) + (0..<6).map(Int32.init)
        let paddedLoss = try padded.forward(tokens: tokens, targets: targets, attentionMask: mask, positionIDs: positions, batchSize: 1, sequenceLength: 9).loss!
        #expect(abs(paddedLoss - aloneLoss) < 1e-5)
        let V = 512
        let realLogits = Array(padded.logits[(pad * V)...])
        #expect(zip(realLogits, aloneLogits).allSatisfy { abs($0 - $1) < 1e-4 })
        padded.zeroGradients()
        try padded.backward()
        let difference = zip(padded.gradients!.buffer, alone.gradients!.buffer).map { abs($0 - $1) }.max()!
        #expect(difference < 1e-5)
    }

    @Test func rightPaddingNeedsNoMask() throws {
        let model = try GPT2ReferenceTests.loadedModel()
        let alone = try model.forward(tokens: Self.sequence, targets: Self.sequenceTargets, batchSize: 1, sequenceLength: 6).loss!
        let padded = try model.forward(tokens: Self.sequence + [0, 0], targets: Self.sequenceTargets + [-1, -1], batchSize: 1, sequenceLength: 8).loss!
        #expect(abs(alone - padded) < 1e-6)
    }

    @Test func gradientAccumulationOverMicroBatchesEqualsTheBatch() throws {
        let other: [Int32] = [7, 8, 9, 10, 11, 12]
        let otherTargets: [Int32] = [8, 9, 10, 11, 12, -1]
        let whole = try GPT2ReferenceTests.loadedModel()
        try whole.forward(tokens: Self.sequence + other, targets: Self.sequenceTargets + otherTargets, batchSize: 2, sequenceLength: 6)
        whole.zeroGradients()
        try whole.backward()
        let accumulated = try GPT2ReferenceTests.loadedModel()
        accumulated.zeroGradients()
        try accumulated.forward(tokens: Self.sequence, targets: Self.sequenceTargets, batchSize: 1, sequenceLength: 6)
        try accumulated.backward()
        try accumulated.forward(tokens: other, targets: otherTargets, batchSize: 1, sequenceLength: 6)
        try accumulated.backward()
        // Each micro-batch's loss is a mean, so the sum of two is twice the batch's mean gradient.
        let difference = zip(whole.gradients!.buffer, accumulated.gradients!.buffer).map { abs($0 - $1 / 2) }.max()!
        #expect(difference < 1e-5)
    }

    /// Finite differences through the scalar head and the whole trunk: objective = sum of
    /// coefficient * score at chosen positions (the last token of each row, as a reward model reads).
    @Test func scalarHeadGradientsAgreeWithFiniteDifferences() throws {
        let model = try TrainingStepTests.smallModel(seed: 21)
        let head = ScalarHead(width: model.configuration.width)
        head.initialize(seed: 4, standardDeviation: 0.5)
        let positions = [11, 23, 5]
        let coefficients: [Float] = [1, -0.5, 0.25]
        func objective() throws -> Float {
            try model.forward(tokens: TrainingStepTests.tokens, batchSize: 2, sequenceLength: 12)
            return zip(head.forward(hiddenStates: model.finalHiddenStates, positions: positions), coefficients).map(*).reduce(0, +)
        }
        _ = try objective()
        model.zeroGradients()
        head.gradients.zero()
        let hiddenGradient = head.backward(scoreGradients: coefficients, hiddenStates: model.finalHiddenStates, positions: positions)
        try model.backward(finalHiddenGradient: hiddenGradient)
        let trunkGradients = Array(model.gradients!.buffer), headGradients = Array(head.gradients.buffer)
        let h: Float = 1e-2
        var random = SeededRandom(seed: 8)
        for tensor in model.layout.tensors {
            let index = tensor.offset + Int(random.next() % UInt64(tensor.count))
            let original = model.parameters.pointer[index]
            model.parameters.pointer[index] = original + h
            let plus = try objective()
            model.parameters.pointer[index] = original - h
            let minus = try objective()
            model.parameters.pointer[index] = original
            let numeric = (plus - minus) / (2 * h)
            #expect(abs(numeric - trunkGradients[index]) <= 2e-3 + 0.05 * abs(trunkGradients[index]), "\(tensor.name)")
        }
        for index in [0, 3, model.configuration.width] {
            let original = head.parameters.pointer[index]
            head.parameters.pointer[index] = original + h
            let plus = try objective()
            head.parameters.pointer[index] = original - h
            let minus = try objective()
            head.parameters.pointer[index] = original
            #expect(abs((plus - minus) / (2 * h) - headGradients[index]) < 2e-3)
        }
    }

    @Test func checkpointRoundTripsWithOptimizerState() throws {
        let model = try GPT2ReferenceTests.loadedModel()
        let optimizer = AdamW(layout: model.layout)
        try model.forward(tokens: Self.sequence, targets: Self.sequenceTargets, batchSize: 1, sequenceLength: 6)
        model.zeroGradients()
        try model.backward()
        optimizer.update(parameters: model.parameters, gradients: model.gradients!, learningRate: 1e-3)
        let directory = TemporaryFiles.path("tally-checkpoint")
        try GPT2Checkpoint.save(model, optimizer: optimizer, to: directory)
        let loaded = try GPT2Checkpoint.load(from: directory)
        #expect(loaded.configuration == model.configuration)
        #expect(Array(loaded.parameters.buffer) == Array(model.parameters.buffer))
        let restored = try #require(try GPT2Checkpoint.loadOptimizer(from: directory, for: loaded))
        #expect(restored.step == 1)
        #expect(Array(restored.firstMoment.buffer) == Array(optimizer.firstMoment.buffer))
        #expect(Array(restored.secondMoment.buffer) == Array(optimizer.secondMoment.buffer))
    }

    @Test func checkpointProblemsAreNamed() throws {
        let model = try GPT2ReferenceTests.loadedModel()
        let directory = TemporaryFiles.path("tally-checkpoint-bad")
        try GPT2Checkpoint.save(model, to: directory)
        let config = directory + "/config.json"
        let original = try String(contentsOfFile: config, encoding: .utf8)
        try original.replacingOccurrences(of: "\"n_embd\":64", with: "\"n_embd\":32").write(toFile: config, atomically: true, encoding: .utf8)
        #expect { try GPT2Checkpoint.load(from: directory) } throws: { "\($0)".contains("has shape [512, 64], but config.json implies [512, 32]") }
        try original.replacingOccurrences(of: "\"gelu_new\"", with: "\"relu\"").write(toFile: config, atomically: true, encoding: .utf8)
        #expect { try GPT2Checkpoint.load(from: directory) } throws: { "\($0)".contains("activation_function 'relu'") }
        try original.replacingOccurrences(of: "\"n_head\":4", with: "\"n_head\":5").write(toFile: config, atomically: true, encoding: .utf8)
        #expect { try GPT2Checkpoint.load(from: directory) } throws: { "\($0)".contains("not a multiple of headCount 5") }
        try original.write(toFile: config, atomically: true, encoding: .utf8)
        let weights = directory + "/model.safetensors"
        let data = try Data(contentsOf: URL(fileURLWithPath: weights))
        try data.prefix(data.count / 2).write(to: URL(fileURLWithPath: weights))
        #expect { try GPT2Checkpoint.load(from: directory) } throws: { "\($0)".contains("model.safetensors") && "\($0)".contains("truncated") }
    }

    @Test func loadsAHuggingFaceStyleFileWithoutThePrefix() throws {
        let model = try GPT2ReferenceTests.loadedModel()
        let directory = TemporaryFiles.path("tally-checkpoint-hf")
        try GPT2Checkpoint.save(model, to: directory)
        // Rewrite the weights under GPT2Model's bare names, with the old attention-mask buffers.
        let mask = [Float](repeating: 1, count: 4)
        try mask.withUnsafeBufferPointer { maskBuffer in
            var tensors = model.layout.tensors.map { tensor in
                SafeTensorsWriter.Tensor(name: String(tensor.name.dropFirst("transformer.".count)), shape: tensor.shape, values: UnsafeBufferPointer(model.parameters[tensor.range]))
            }
            tensors.append(SafeTensorsWriter.Tensor(name: "h.0.attn.bias", shape: [2, 2], values: maskBuffer))
            try SafeTensorsWriter.write(tensors, to: directory + "/model.safetensors")
        }
        let loaded = try GPT2Checkpoint.load(from: directory)
        #expect(Array(loaded.parameters.buffer) == Array(model.parameters.buffer))
    }
}
