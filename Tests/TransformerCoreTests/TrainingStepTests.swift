import Foundation
import TallyTestSupport
import Testing
@testable import TransformerCore

@Suite("Gradients, optimizer and determinism", .serialized)
struct TrainingStepTests {
    static func smallModel(seed: UInt64 = 7) throws -> GPT2Model {
        let model = try GPT2Model(configuration: GPT2Configuration(vocabularySize: 37, contextLength: 16, width: 16, layerCount: 2, headCount: 2))
        model.initializeParameters(seed: seed)
        // Larger weights than GPT-2's 0.02 make every layer matter to the loss, so the finite
        // differences below probe real curvature rather than noise.
        for i in 0..<model.parameters.count where model.parameters.pointer[i] != 1 && model.parameters.pointer[i] != 0 {
            model.parameters.pointer[i] *= 10
        }
        return model
    }

    static let tokens: [Int32] = (0..<24).map { (index: Int) -> Int32 in Int32((index * 7 + 3) % 37) }
    /// The last position of each sequence has no target (-1), as in next-token training.
    static let targets: [Int32] = (0..<24).map { (index: Int) -> Int32 in
        index % 12 == 11 ? -1 : Int32((index * 5 + 1) % 37)
    }

    /// Central differences in float64 terms: (L(theta + h) - L(theta - h)) / 2h against the
    /// analytic gradient, for a sample of entries of every parameter tensor.
    @Test func finiteDifferencesAgreeWithBackwardForEveryTensor() throws {
        let model = try Self.smallModel()
        try model.forward(tokens: Self.tokens, targets: Self.targets, batchSize: 2, sequenceLength: 12)
        model.zeroGradients()
        try model.backward()
        let analytic = Array(try #require(model.gradients).buffer)
        var random = SeededRandom(seed: 3)
        let h: Float = 1e-2
        for tensor in model.layout.tensors {
            for _ in 0..<4 {
                let index = tensor.offset + Int(random.next() % UInt64(tensor.count))
                let original = model.parameters.pointer[index]
                model.parameters.pointer[index] = original + h
                let plus = try model.forward(tokens: Self.tokens, targets: Self.targets, batchSize: 2, sequenceLength: 12).loss!
                model.parameters.pointer[index] = original - h
                let minus = try model.forward(tokens: Self.tokens, targets: Self.targets, batchSize: 2, sequenceLength: 12).loss!
                model.parameters.pointer[index] = original
                let numeric = (plus - minus) / (2 * h)
                let difference = abs(numeric - analytic[index])
                #expect(difference <= 2e-3 + 0.05 * abs(analytic[index]), "\(tensor.name)[\(index - tensor.offset)]: numeric \(numeric), analytic \(analytic[index])")
            }
        }
    }

    @Test func overfitsOneBatch() throws {
        let model = try GPT2Model(configuration: GPT2Configuration(vocabularySize: 37, contextLength: 16, width: 32, layerCount: 2, headCount: 4))
        model.initializeParameters(seed: 11)
        let optimizer = AdamW(layout: model.layout)
        let first = try model.forward(tokens: Self.tokens, targets: Self.targets, batchSize: 2, sequenceLength: 12).loss!
        var loss = first
        for _ in 0..<150 {
            loss = try model.forward(tokens: Self.tokens, targets: Self.targets, batchSize: 2, sequenceLength: 12).loss!
            model.zeroGradients()
            try model.backward()
            clipGradientNorm(model.gradients!, maximumNorm: 1)
            optimizer.update(parameters: model.parameters, gradients: model.gradients!, learningRate: 3e-3)
        }
        #expect(first > 3.0)
        #expect(loss < 0.1, "loss went from \(first) to \(loss)")
    }

    @Test func seededRunsAreBitForBitRepeatable() throws {
        func run() throws -> [Float] {
            let model = try Self.smallModel(seed: 99)
            let optimizer = AdamW(layout: model.layout)
            for _ in 0..<5 {
                try model.forward(tokens: Self.tokens, targets: Self.targets, batchSize: 2, sequenceLength: 12)
                model.zeroGradients()
                try model.backward()
                optimizer.update(parameters: model.parameters, gradients: model.gradients!, learningRate: 1e-3)
            }
            return Array(model.parameters.buffer)
        }
        #expect(try run() == run())
    }

    @Test func adamWMatchesTheFormulaByHand() throws {
        let model = try GPT2Model(configuration: GPT2Configuration(vocabularySize: 4, contextLength: 2, width: 2, layerCount: 1, headCount: 1))
        var hyperparameters = AdamW.Hyperparameters()
        hyperparameters.weightDecay = 0.5
        let optimizer = AdamW(layout: model.layout, hyperparameters: hyperparameters)
        let gradients = FloatBuffer(count: model.parameterCount)
        model.parameters.pointer[0] = 1     // wte: a matrix, decayed
        gradients.pointer[0] = 0.5
        let biasIndex = model.layout.blocks[0].attentionBias
        model.parameters.pointer[biasIndex] = 1   // a bias: not decayed
        gradients.pointer[biasIndex] = 0.5
        optimizer.update(parameters: model.parameters, gradients: gradients, learningRate: 0.1)
        // Step 1: m^ = g, v^ = g^2, so the Adam term is g / (|g| + eps) ~= 1.
        let adamTerm = 0.5 / (0.5 + 1e-8)
        #expect(abs(Double(model.parameters.pointer[0]) - (1 - 0.1 * (adamTerm + 0.5 * 1))) < 1e-6)
        #expect(abs(Double(model.parameters.pointer[biasIndex]) - (1 - 0.1 * adamTerm)) < 1e-6)
    }

    @Test func gradientClippingScalesToTheNorm() {
        let gradients = FloatBuffer(count: 2)
        gradients.pointer[0] = 3
        gradients.pointer[1] = 4
        #expect(clipGradientNorm(gradients, maximumNorm: 1) == 5)
        #expect(abs(gradients.pointer[0] - 0.6) < 1e-6 && abs(gradients.pointer[1] - 0.8) < 1e-6)
    }

    @Test func learningRateScheduleWarmsUpThenDecays() {
        let cosine = LearningRateSchedule(peakRate: 1, minimumRate: 0.1, warmupSteps: 10, totalSteps: 110, decay: .cosine)
        #expect(cosine.rate(at: 0) == 0.1)
        #expect(cosine.rate(at: 9) == 1)
        #expect(abs(cosine.rate(at: 60) - 0.55) < 1e-5)
        #expect(abs(cosine.rate(at: 110) - 0.1) < 1e-6)
        let linear = LearningRateSchedule(peakRate: 1, minimumRate: 0, warmupSteps: 0, totalSteps: 100, decay: .linear)
        #expect(abs(linear.rate(at: 50) - 0.5) < 1e-6)
    }
}
