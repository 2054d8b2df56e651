import Foundation
import TallyTestSupport
import Testing
@testable import TransformerCore

/// Tally's Llama-family block variant against the Hugging Face transformers reference in
/// Fixtures/ (grouped-query attention, RoPE in the `rotate_half` layout, SwiGLU, RMSNorm, tied
/// head; see its PROVENANCE.md): logits, final hidden states, loss, every gradient, greedy decoding.
@Suite("Llama against the Hugging Face reference", .serialized)
struct LlamaReferenceTests {
    static let fixture: SafeTensorsFile = {
        let url = Bundle.module.url(forResource: "Fixtures/llama-tiny-reference", withExtension: "safetensors")!
        return try! SafeTensorsFile(path: url.path)
    }()

    static var configuration: LlamaConfiguration {
        var configuration = LlamaConfiguration()
        (configuration.vocabularySize, configuration.contextLength, configuration.width, configuration.intermediateSize) = (512, 128, 64, 176)
        (configuration.layerCount, configuration.headCount, configuration.keyValueHeadCount, configuration.headSize) = (2, 4, 2, 16)
        configuration.ropeTheta = 10_000
        return configuration
    }

    static func loadedModel() throws -> LlamaModel {
        let model = try LlamaModel(configuration: configuration)
        for tensor in model.layout.tensors {
            let values = try fixture.floats("param/" + tensor.name)
            #expect(values.count == tensor.count, "\(tensor.name)")
            model.parameters[tensor.range].update(fromContentsOf: values)
        }
        return model
    }

    @Test func forwardMatchesLogitsHiddenStatesAndLoss() throws {
        let model = try Self.loadedModel()
        let (tokens, targets) = try GPT2ReferenceTests.batch(from: Self.fixture)
        let output = try model.forward(tokens: tokens, targets: targets, batchSize: 4, sequenceLength: 32)
        #expect(GPT2ReferenceTests.relativeError(model.logits, try Self.fixture.doubles("logits")) < 1e-4)
        #expect(GPT2ReferenceTests.relativeError(model.finalHiddenStates, try Self.fixture.doubles("hidden_final")) < 1e-4)
        let expectedLoss = try Self.fixture.doubles("loss")[0]
        #expect(abs(Double(output.loss!) - expectedLoss) / expectedLoss < 1e-5)
    }

    @Test func backwardMatchesEveryParameterGradient() throws {
        let model = try Self.loadedModel()
        let (tokens, targets) = try GPT2ReferenceTests.batch(from: Self.fixture)
        try model.forward(tokens: tokens, targets: targets, batchSize: 4, sequenceLength: 32)
        model.zeroGradients()
        try model.backward()
        let gradients = try #require(model.gradients)
        for tensor in model.layout.tensors {
            let error = GPT2ReferenceTests.relativeError(gradients[tensor.range], try Self.fixture.doubles("grad/" + tensor.name))
            #expect(error < 1e-3, "gradient of \(tensor.name): relative error \(error)")
        }
    }

    @Test func greedyDecodingReproducesTheReferenceTokens() throws {
        let model = try Self.loadedModel()
        let prompt = try Self.fixture.integers("greedy/prompt").map(Int32.init)
        let expected = try Self.fixture.integers("greedy/output").map(Int32.init)
        #expect(try model.greedyContinuation(of: prompt, newTokens: expected.count) == expected)
    }
}

@Suite("Llama sampling with the key/value cache")
struct LlamaSamplingTests {
    @Test func cachedGreedyDecodingReproducesTheReferenceAndFullRecomputation() throws {
        let model = try LlamaReferenceTests.loadedModel()
        let prompt = try LlamaReferenceTests.fixture.integers("greedy/prompt").map(Int32.init)
        let expected = try LlamaReferenceTests.fixture.integers("greedy/output").map(Int32.init)
        var options = SamplingOptions()
        options.temperature = 0
        options.maximumNewTokens = expected.count
        // A second, shorter prompt decoded in the same batch must not disturb the first.
        let shorter = Array(prompt.prefix(3))
        let sampled = try model.sample(prompts: [prompt, shorter], options: options)
        #expect(sampled[0].tokens == expected)
        #expect(sampled[1].tokens == (try model.greedyContinuation(of: shorter, newTokens: expected.count)))
        // The log-probabilities are those of the full forward pass at each step.
        try model.forward(tokens: prompt + expected.dropLast(), batchSize: 1, sequenceLength: prompt.count + expected.count - 1)
        let V = model.configuration.vocabularySize
        for (index, token) in expected.enumerated() {
            let row = Array(model.logits[((prompt.count - 1 + index) * V)..<((prompt.count + index) * V)])
            let maximum = row.max()!
            let logSum = log(row.reduce(0) { $0 + exp(Double($1 - maximum)) }) + Double(maximum)
            #expect(abs(Double(sampled[0].logProbabilities[index]) - (Double(row[Int(token)]) - logSum)) < 1e-4)
        }
    }

    @Test func seededSamplingRepeatsAndStopsAtStopTokens() throws {
        let model = try LlamaReferenceTests.loadedModel()
        var options = SamplingOptions()
        (options.temperature, options.topK, options.topP, options.maximumNewTokens, options.seed) = (0.9, 50, 0.95, 12, 7)
        let first = try model.sample(prompts: [[1, 2, 3], [4, 5]], options: options)
        let second = try model.sample(prompts: [[1, 2, 3], [4, 5]], options: options)
        #expect(first == second && first[0].tokens.count == 12)
        let alone = try model.sample(prompts: [[1, 2, 3]], options: options)
        options.stopTokens = [alone[0].tokens[2]]
        let stopped = try model.sample(prompts: [[1, 2, 3]], options: options)
        #expect(stopped[0].stopped && stopped[0].tokens.count <= 3 && stopped[0].tokens.last == alone[0].tokens[2])
    }
}

@Suite("Llama padding, scalar head and training", .serialized)
struct LlamaTrainingTests {
    static let sequence: [Int32] = [11, 250, 37, 400, 5, 99]
    static let targets: [Int32] = [250, 37, 400, 5, 99, -1]

    /// Left padding with a mask and position ids gives the unpadded sequence's loss, logits and
    /// gradients: RoPE rotates by the given positions, not the row index.
    @Test func leftPaddingWithMaskAndPositionsMatchesTheUnpaddedSequence() throws {
        let alone = try LlamaReferenceTests.loadedModel()
        let aloneLoss = try alone.forward(tokens: Self.sequence, targets: Self.targets, batchSize: 1, sequenceLength: 6).loss!
        let aloneLogits = Array(alone.logits)
        alone.zeroGradients()
        try alone.backward()
        let padded = try LlamaReferenceTests.loadedModel()
        let pad = 3
        let loss = try padded.forward(tokens: [0, 0, 0] + Self.sequence, targets: [-1, -1, -1] + Self.targets, attentionMask: [0, 0, 0, 1, 1, 1, 1, 1, 1],
                                      positionIDs: [0, 0, 0, 0, 1, 2, 3, 4, 5], batchSize: 1, sequenceLength: 9).loss!
        #expect(abs(loss - aloneLoss) < 1e-5)
        #expect(zip(padded.logits[(pad * 512)...], aloneLogits).allSatisfy { abs($0 - $1) < 1e-4 })
        padded.zeroGradients()
        try padded.backward()
        #expect(zip(padded.gradients!.buffer, alone.gradients!.buffer).map { abs($0 - $1) }.max()! < 1e-5)
    }

    /// Finite differences through a scalar head read at chosen positions and the whole trunk.
    @Test func scalarHeadGradientsAgreeWithFiniteDifferences() throws {
        var configuration = LlamaReferenceTests.configuration
        (configuration.vocabularySize, configuration.layerCount, configuration.tiedOutputHead) = (64, 2, false)
        let model = try LlamaModel(configuration: configuration)
        model.initializeParameters(seed: 3)
        for i in 0..<model.parameterCount { model.parameters.pointer[i] *= 10 }
        let head = ScalarHead(width: configuration.width)
        head.initialize(seed: 4, standardDeviation: 0.5)
        let tokens: [Int32] = [1, 5, 9, 2, 33, 7, 60, 4, 8, 8, 3, 0]
        let positions = [5, 11, 2], coefficients: [Float] = [1, -0.5, 0.25]
        func objective() throws -> Float {
            try model.forward(tokens: tokens, batchSize: 2, sequenceLength: 6)
            return zip(head.forward(hiddenStates: model.finalHiddenStates, positions: positions), coefficients).map(*).reduce(0, +)
        }
        _ = try objective()
        model.zeroGradients()
        try model.backward(finalHiddenGradient: head.backward(scoreGradients: coefficients, hiddenStates: model.finalHiddenStates, positions: positions))
        let gradients = Array(model.gradients!.buffer)
        var random = SeededRandom(seed: 8)
        let h: Float = 1e-2
        for tensor in model.layout.tensors where tensor.name != "lm_head.weight" {
            let index = tensor.offset + Int(random.next() % UInt64(tensor.count))
            let original = model.parameters.pointer[index]
            model.parameters.pointer[index] = original + h
            let plus = try objective()
            model.parameters.pointer[index] = original - h
            let minus = try objective()
            model.parameters.pointer[index] = original
            #expect(abs((plus - minus) / (2 * h) - gradients[index]) <= 2e-3 + 0.05 * abs(gradients[index]), "\(tensor.name)")
        }
    }

    /// AdamW on one batch drives the loss of an untied-head Llama towards zero, and a seeded run repeats bit for bit.
    @Test func overfitsOneBatchRepeatably() throws {
        func run() throws -> [Float] {
            var configuration = LlamaReferenceTests.configuration
            configuration.tiedOutputHead = false
            let model = try LlamaModel(configuration: configuration)
            model.initializeParameters(seed: 11)
            let optimizer = AdamW(layout: model.layout)
            var losses: [Float] = []
            for _ in 0..<40 {
                losses.append(try model.forward(tokens: Self.sequence + Self.sequence, targets: Self.targets + Self.targets, batchSize: 2, sequenceLength: 6).loss!)
                model.zeroGradients()
                try model.backward()
                optimizer.update(parameters: model.parameters, gradients: model.gradients!, learningRate: 3e-3)
            }
            return losses
        }
        let losses = try run()
        #expect(losses[0] > 5 && losses.last! < 0.5, "\(losses.first!) → \(losses.last!)")
        #expect(try run() == losses)
    }
}

@Suite("Forward passes for sampling")
struct SamplingForwardTests {
    /// A forward pass for sampling keeps one layer's activations (and every layer's keys and
    /// values), gives the same logits and, with targets, the same log-probabilities, and refuses
    /// a backward pass after it (it computes no loss).
    @Test func keepsOneLayerAndGivesTheSameLogits() throws {
        let (tokens, _) = try GPT2ReferenceTests.batch(from: LlamaReferenceTests.fixture)
        let models: [any LanguageModel] = [try LlamaReferenceTests.loadedModel(), try GPT2ReferenceTests.loadedModel()]
        let targets = Array(tokens.dropFirst()) + [-1]
        for model in models {
            try model.forward(tokens: tokens, targets: targets, attentionMask: nil, positionIDs: nil, batchSize: 4, sequenceLength: 32, forBackward: true)
            let logits = Array(model.logits), training = model.activationFloatCount
            let logProbabilities = try model.tokenLogProbabilities(temperature: 0.7)
            let output = try model.forward(tokens: tokens, targets: targets, attentionMask: nil, positionIDs: nil, batchSize: 4, sequenceLength: 32, forBackward: false)
            #expect(output.loss == nil)
            #expect(Array(model.logits) == logits)
            #expect(try model.tokenLogProbabilities(temperature: 0.7) == logProbabilities)
            #expect(model.activationFloatCount < training, "\(model.activationFloatCount) of \(training) floats")
            #expect { try model.backward(finalHiddenGradient: nil) } throws: { "\($0)".contains("forBackward") }
            #expect { try model.backward(logProbabilityGradients: [Float](repeating: 0, count: tokens.count), temperature: 1, finalHiddenGradient: nil) } throws: { "\($0)".contains("forBackward") }
        }
    }
}
