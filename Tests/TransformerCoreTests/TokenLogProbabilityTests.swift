import Foundation
import Testing
@testable import TransformerCore

/// The core's per-token log-probabilities and the backward pass driven by a gradient per token
/// on log p: what SFT, PPO, RLOO and DPO are built on, for both variants.
@Suite("Per-token log-probabilities and their backward", .serialized)
struct TokenLogProbabilityTests {
    static func models() throws -> [(String, any LanguageModel)] {
        let gpt2 = try TrainingStepTests.smallModel()
        var configuration = LlamaConfiguration()
        (configuration.vocabularySize, configuration.contextLength, configuration.width, configuration.intermediateSize) = (37, 16, 16, 32)
        (configuration.layerCount, configuration.headCount, configuration.keyValueHeadCount, configuration.headSize) = (2, 4, 2, 4)
        let llama = try LlamaModel(configuration: configuration)
        llama.initializeParameters(seed: 5)
        // Larger weights than the initialization's make every layer matter (see TrainingStepTests).
        for i in 0..<llama.parameters.count where llama.parameters.pointer[i] != 1 && llama.parameters.pointer[i] != 0 {
            llama.parameters.pointer[i] *= 10
        }
        return [("GPT-2", gpt2), ("Llama", llama)]
    }

    static let (tokens, targets) = (TrainingStepTests.tokens, TrainingStepTests.targets)
    /// A gradient per position, zero where there is no target, of both signs (a PPO advantage).
    static let weights: [Float] = targets.enumerated().map { index, target in target < 0 ? 0 : Float((index * 3) % 7) / 7 - 0.4 }

    /// The objective sum_t w_t log p_T(target_t), in double precision.
    static func objective(_ model: any LanguageModel, temperature: Float) throws -> Double {
        try model.forward(tokens: tokens, targets: targets, attentionMask: nil, positionIDs: nil, batchSize: 2, sequenceLength: 12, forBackward: true)
        let logProbabilities = try model.tokenLogProbabilities(temperature: temperature)
        return zip(weights, logProbabilities).reduce(0) { $0 + Double($1.0) * Double($1.1) }
    }

    @Test func logProbabilitiesAtTemperatureOneGiveTheLoss() throws {
        for (name, model) in try Self.models() {
            let loss = try model.forward(tokens: Self.tokens, targets: Self.targets, attentionMask: nil, positionIDs: nil,
                                         batchSize: 2, sequenceLength: 12, forBackward: true).loss!
            let logProbabilities = try model.tokenLogProbabilities(temperature: 1)
            let counted = Self.targets.filter { $0 >= 0 }.count
            #expect(abs(-logProbabilities.reduce(0, +) / Float(counted) - loss) < 1e-4, "\(name)")
            #expect(zip(logProbabilities, Self.targets).allSatisfy { $1 >= 0 ? $0 < 0 : $0 == 0 }, "\(name)")
            // At another temperature they are those of softmax(logits / T), computed here apart.
            let hot = try model.tokenLogProbabilities(temperature: 0.7)
            let V = model.vocabularySize
            for position in [0, 5, 13] {
                let row = model.logits.baseAddress! + position * V
                let scaled = (0..<V).map { Double(row[$0]) / 0.7 }
                let maximum = scaled.max()!
                let logSum = log(scaled.reduce(0) { $0 + exp($1 - maximum) }) + maximum
                #expect(abs(Double(hot[position]) - (scaled[Int(Self.targets[position])] - logSum)) < 1e-4, "\(name) position \(position)")
            }
        }
    }

    /// Central differences of sum_t w_t log p_T(target_t) against the backward driven by w.
    @Test func weightedBackwardMatchesFiniteDifferences() throws {
        for (name, model) in try Self.models() {
            let temperature: Float = 0.8
            _ = try Self.objective(model, temperature: temperature)
            model.zeroGradients()
            try model.backward(logProbabilityGradients: Self.weights, temperature: temperature, finalHiddenGradient: nil)
            let analytic = Array(try #require(model.gradients).buffer)
            var random = SeededRandom(seed: 4)
            let h: Float = 1e-2
            for tensor in model.parameterTensors {
                for _ in 0..<3 {
                    let index = tensor.offset + Int(random.next() % UInt64(tensor.count))
                    let original = model.parameters.pointer[index]
                    model.parameters.pointer[index] = original + h
                    let plus = try Self.objective(model, temperature: temperature)
                    model.parameters.pointer[index] = original - h
                    let minus = try Self.objective(model, temperature: temperature)
                    model.parameters.pointer[index] = original
                    let numeric = Float((plus - minus) / Double(2 * h))
                    #expect(abs(numeric - analytic[index]) <= 2e-3 + 0.05 * abs(analytic[index]),
                            "\(name) \(tensor.name)[\(index - tensor.offset)]: numeric \(numeric), analytic \(analytic[index])")
                }
            }
        }
    }

    /// The mean cross-entropy is the special case of a gradient of -1/count on each target.
    @Test func crossEntropyIsTheSpecialCase() throws {
        for (name, model) in try Self.models() {
            try model.forward(tokens: Self.tokens, targets: Self.targets, attentionMask: nil, positionIDs: nil, batchSize: 2, sequenceLength: 12, forBackward: true)
            model.zeroGradients()
            try model.backward(finalHiddenGradient: nil)
            let meanLoss = Array(try #require(model.gradients).buffer)
            try model.forward(tokens: Self.tokens, targets: Self.targets, attentionMask: nil, positionIDs: nil, batchSize: 2, sequenceLength: 12, forBackward: true)
            model.zeroGradients()
            let count = Float(Self.targets.filter { $0 >= 0 }.count)
            try model.backward(logProbabilityGradients: Self.targets.map { $0 >= 0 ? -1 / count : 0 }, temperature: 1, finalHiddenGradient: nil)
            let perToken = Array(try #require(model.gradients).buffer)
            let largest = zip(meanLoss, perToken).map { abs($0 - $1) }.max()!
            #expect(largest < 1e-5, "\(name): largest difference \(largest)")
        }
    }

    /// The output head run only where there is a target gives what the every-position head
    /// gives: the loss, the log-probabilities (0 elsewhere), the entropies, and the gradients of
    /// both backward passes, with a scalar head's gradient beside them; a position without a
    /// target has no logits to read.
    @Test func theHeadAtTheTargetsOnlyEqualsTheHeadEverywhere() throws {
        let hiddenGradient: (any LanguageModel) -> [Float] = { model in
            (0..<(Self.tokens.count * model.finalHiddenWidth)).map { Float($0 % 5) * 0.01 - 0.02 }
        }
        // A policy stage's shape: each row's first five positions (its prompt) have no target.
        let targets = Self.targets.indices.map { $0 % 12 < 5 ? -1 : Self.targets[$0] }
        let weights = zip(Self.weights, targets).map { $1 < 0 ? 0 : $0 }
        let answerPositions = targets.indices.filter { targets[$0] >= 0 }
        for (name, model) in try Self.models() {
            var results: [LogitPositions: [[Float]]] = [:]
            for positions in [LogitPositions.every, .targets] {
                model.zeroGradients()
                let loss = try model.forward(tokens: Self.tokens, targets: targets, attentionMask: nil, positionIDs: nil,
                                             batchSize: 2, sequenceLength: 12, forBackward: true, logits: positions).loss!
                let logProbabilities = try model.tokenLogProbabilities(temperature: 0.7)
                let entropies = try model.tokenEntropies(temperature: 0.7, positions: answerPositions)
                try model.backward(finalHiddenGradient: hiddenGradient(model))
                let meanLossGradients = Array(model.gradients!.buffer)
                model.zeroGradients()
                try model.backward(logProbabilityGradients: weights, temperature: 0.7, finalHiddenGradient: hiddenGradient(model))
                results[positions] = [[loss], logProbabilities, entropies, meanLossGradients, Array(model.gradients!.buffer)]
                if positions == .targets {
                    #expect(model.logits.count == answerPositions.count * model.vocabularySize, "\(name)")
                    let withoutTarget = targets.indices.first { targets[$0] < 0 }!
                    #expect(model.logitRow(ofPosition: withoutTarget) == nil, "\(name)")
                    #expect(throws: ModelInputError.self) { try model.tokenEntropies(temperature: 1, positions: [withoutTarget]) }
                }
            }
            for (part, (every, targets)) in zip(["loss", "log-probabilities", "entropies", "loss gradients", "per-token gradients"],
                                                zip(results[.every]!, results[.targets]!)) {
                #expect(every.count == targets.count, "\(name) \(part)")
                let largest = zip(every, targets).map { abs($0 - $1) }.max() ?? 0
                #expect(largest <= 1e-5, "\(name) \(part): \(largest) apart")
            }
        }
    }

    @Test func badGradientsAreRefused() throws {
        let model = try TrainingStepTests.smallModel()
        try model.forward(tokens: Self.tokens, targets: Self.targets, batchSize: 2, sequenceLength: 12)
        #expect(throws: ModelInputError.wrongCount(what: "the log-probability gradients", expected: 24, actual: 3)) {
            try model.backward(logProbabilityGradients: [1, 2, 3], temperature: 1, finalHiddenGradient: nil)
        }
        var onPadding = Self.weights
        onPadding[11] = 1  // position 11 has no target
        #expect(throws: ModelInputError.self) { try model.backward(logProbabilityGradients: onPadding, temperature: 1, finalHiddenGradient: nil) }
        #expect(throws: SamplingError.self) { try model.tokenLogProbabilities(temperature: 0) }
    }
}

@Suite("Passes of changing shape")
struct ChangingShapeTests {
    /// A pass after a larger one reuses its memory and computes what a fresh model computes:
    /// logits, loss and every gradient, for both variants, with logits everywhere, at the targets only, and none.
    @Test func aSmallerPassAfterALargerOneEqualsAFreshModel() throws {
        func models() throws -> [any LanguageModel] {
            var llama = LlamaConfiguration()
            (llama.vocabularySize, llama.contextLength, llama.width, llama.intermediateSize) = (41, 32, 16, 32)
            (llama.layerCount, llama.headCount, llama.keyValueHeadCount, llama.headSize) = (2, 4, 2, 4)
            let first = try LlamaModel(configuration: llama)
            first.initializeParameters(seed: 3)
            let second = try GPT2Model(configuration: GPT2Configuration(vocabularySize: 41, contextLength: 32, width: 16, layerCount: 2, headCount: 2))
            second.initializeParameters(seed: 3)
            return [first, second]
        }
        let small = (tokens: (0..<18).map { Int32($0 % 41) }, B: 2, T: 9)
        let large = (tokens: (0..<60).map { Int32(($0 * 7) % 41) }, B: 3, T: 20)
        for (used, fresh) in zip(try models(), try models()) {
            try used.forward(tokens: large.tokens, targets: large.tokens, attentionMask: nil, positionIDs: nil, batchSize: large.B, sequenceLength: large.T, forBackward: true)
            try used.backward(finalHiddenGradient: nil)
            for positions in [LogitPositions.every, .targets, .skipped] {
                var results: [[Float]] = []
                for model in [used, fresh] {
                    model.zeroGradients()
                    let targets: [Int32]? = positions != .skipped ? small.tokens.map { $0 == 5 ? -1 : $0 } : nil
                    try model.forward(tokens: small.tokens, targets: targets, attentionMask: nil, positionIDs: nil, batchSize: small.B, sequenceLength: small.T,
                                      forBackward: true, logits: positions)
                    try model.backward(finalHiddenGradient: positions != .skipped ? nil : [Float](repeating: 0.01, count: small.tokens.count * model.finalHiddenWidth))
                    results.append(Array(model.finalHiddenStates) + Array(model.logits) + Array(model.gradients!.buffer))
                }
                #expect(results[0] == results[1], "logits at \(positions)")
            }
            #expect(throws: ModelInputError.self) { try used.tokenLogProbabilities(temperature: 1) }
        }
    }
}
