import Foundation
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
