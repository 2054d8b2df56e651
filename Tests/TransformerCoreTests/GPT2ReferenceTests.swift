import Foundation
import Testing
@testable import TransformerCore

/// Tally's GPT-2 against the Hugging Face transformers reference in Fixtures/ (see its
/// PROVENANCE.md): logits, final hidden states, loss, every parameter gradient, greedy decoding.
@Suite("GPT-2 against the Hugging Face reference", .serialized)
struct GPT2ReferenceTests {
    static let fixture: SafeTensorsFile = {
        let url = Bundle.module.url(forResource: "Fixtures/gpt2-tiny-reference", withExtension: "safetensors")!
        return try! SafeTensorsFile(path: url.path)
    }()

    static let configuration = GPT2Configuration(vocabularySize: 512, contextLength: 64, width: 64, layerCount: 2, headCount: 4)

    /// A model holding the fixture's weights.
    static func loadedModel() throws -> GPT2Model {
        let model = try GPT2Model(configuration: configuration)
        for tensor in model.layout.tensors {
            let values = try fixture.floats("param/" + tensor.name)
            #expect(values.count == tensor.count, "\(tensor.name)")
            model.parameters[tensor.range].update(fromContentsOf: values)
        }
        return model
    }

    /// max |actual - expected| / max |expected|: relative to the tensor's scale, as the fixture's
    /// tolerances are meant.
    static func relativeError(_ actual: some Collection<Float>, _ expected: [Double]) -> Double {
        precondition(actual.count == expected.count)
        var maximumDifference = 0.0, maximumExpected = 0.0
        for (a, e) in zip(actual, expected) {
            maximumDifference = max(maximumDifference, abs(Double(a) - e))
            maximumExpected = max(maximumExpected, abs(e))
        }
        return maximumDifference / max(maximumExpected, 1e-12)
    }

    static func batch(from fixture: SafeTensorsFile = fixture) throws -> (tokens: [Int32], targets: [Int32]) {
        let ids = try fixture.integers("input_ids").map(Int32.init)
        let (B, T) = (4, 32)
        var targets = [Int32](repeating: -1, count: B * T)
        for b in 0..<B {
            for t in 0..<(T - 1) { targets[b * T + t] = ids[b * T + t + 1] }
        }
        return (ids, targets)
    }

    @Test func forwardMatchesLogitsHiddenStatesAndLoss() throws {
        let model = try Self.loadedModel()
        let (tokens, targets) = try Self.batch()
        let output = try model.forward(tokens: tokens, targets: targets, batchSize: 4, sequenceLength: 32)
        #expect(Self.relativeError(model.logits, try Self.fixture.doubles("logits")) < 1e-4)
        #expect(Self.relativeError(model.finalHiddenStates, try Self.fixture.doubles("hidden_final")) < 1e-4)
        let expectedLoss = try Self.fixture.doubles("loss")[0]
        #expect(abs(Double(output.loss!) - expectedLoss) / expectedLoss < 1e-5)
    }

    @Test func backwardMatchesEveryParameterGradient() throws {
        let model = try Self.loadedModel()
        let (tokens, targets) = try Self.batch()
        try model.forward(tokens: tokens, targets: targets, batchSize: 4, sequenceLength: 32)
        model.zeroGradients()
        try model.backward()
        let gradients = try #require(model.gradients)
        for tensor in model.layout.tensors {
            let error = Self.relativeError(gradients[tensor.range], try Self.fixture.doubles("grad/" + tensor.name))
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
