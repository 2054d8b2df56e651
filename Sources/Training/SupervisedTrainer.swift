import Foundation
import TransformerCore

/// Supervised fine-tuning on demonstrations: the cross-entropy of the answer's tokens (the end
/// of turn included) given the prompt, averaged over every answer token of an optimizer step;
/// the prompt's tokens carry no loss. The gradient goes through the core's per-token backward
/// (d loss / d log p = -1 / answer tokens). Validated at the start and after each epoch; the
/// parameters with the best validation loss are the ones kept.
public final class SupervisedTrainer: Trainer {
    public let model: PretrainedModel
    public let options: TrainingOptions
    public let training: [EncodedDemonstration]
    public let validation: [EncodedDemonstration]
    let plan: StepPlan
    let optimizer: AdamW
    public private(set) var step = 0
    public private(set) var bestValidationLoss: Double?
    private var bestParameters: [Float]?

    public init(model: PretrainedModel, options: TrainingOptions, training: [EncodedDemonstration], validation: [EncodedDemonstration]) throws {
        guard !training.isEmpty else { throw TrainingOptionError("--data", "no demonstration is left for training (all are held out for validation)") }
        try options.validate(layerCount: model.model.blockCount)
        if let count = options.trainedBlockCount {
            do { try model.model.setTrainedBlockCount(count) } catch { throw TrainingOptionError("--trained-blocks", "\(error)") }
        }
        (self.model, self.options, self.training, self.validation) = (model, options, training, validation)
        plan = StepPlan(exampleCount: training.count, options: options)
        optimizer = AdamW(model: model.model, hyperparameters: options.optimizerHyperparameters)
    }

    public var totalSteps: Int { plan.totalSteps }

    /// The padded tokens and targets of a forward pass: each answer token is the target of the
    /// position before it; prompt and padding positions have none (-1).
    static func batch(_ demonstrations: [EncodedDemonstration]) -> (tokens: [Int32], targets: [Int32], rows: Int, length: Int, answerTokens: Int) {
        let T = demonstrations.map(\.tokens.count).max() ?? 0
        var tokens: [Int32] = [], targets: [Int32] = []
        var answerTokens = 0
        for demonstration in demonstrations {
            let row = demonstration.tokens
            var rowTargets = [Int32](repeating: -1, count: T)
            for t in max(0, demonstration.responseStart - 1)..<(row.count - 1) { rowTargets[t] = row[t + 1] }
            answerTokens += row.count - demonstration.responseStart
            tokens += row + [Int32](repeating: 0, count: T - row.count)
            targets += rowTargets
        }
        return (tokens, targets, demonstrations.count, T, answerTokens)
    }

    /// Validates before the first step and after each epoch; once finished, the best
    /// parameters are in place.
    @discardableResult
    public func train(progress: @escaping (TrainingProgress) -> Void = { _ in }, shouldStop: () -> Bool = { false }) throws -> Bool {
        let trunk = model.model
        var reports = ProgressReports(plan: plan, loggingSteps: options.loggingSteps, send: progress)
        if step == 0, !validation.isEmpty { try validate(reports) }
        while step < plan.totalSteps {
            if shouldStop() { return false }
            let passes = plan.passes(ofStep: step) { training[$0].tokens.count }.map { $0.map { training[$0] } }
            let stepAnswerTokens = passes.reduce(0) { $0 + Self.batch($1).answerTokens }
            trunk.zeroGradients()
            var lossSum = 0.0
            for demonstrations in passes {
                let batch = Self.batch(demonstrations)
                let output = try trunk.forward(tokens: batch.tokens, targets: batch.targets, attentionMask: nil, positionIDs: nil,
                                               batchSize: batch.rows, sequenceLength: batch.length, forBackward: true, logits: .targets)
                lossSum += Double(output.loss ?? 0) * Double(batch.answerTokens)
                let weight = -1 / Float(stepAnswerTokens)
                try trunk.backward(logProbabilityGradients: batch.targets.map { $0 >= 0 ? weight : 0 }, temperature: 1, finalHiddenGradient: nil)
                reports.count(tokens: demonstrations.reduce(0) { $0 + $1.tokens.count })
            }
            let gradientNorm = clipGradientNorm([trunk.gradients!], maximumNorm: options.maximumGradientNorm)
            let learningRate = options.learningRateSchedule(totalSteps: plan.totalSteps).rate(at: step)
            optimizer.update(parameters: trunk.parameters, gradients: trunk.gradients!, learningRate: learningRate)
            step += 1
            reports.add("loss", lossSum / Double(max(1, stepAnswerTokens)))
            reports.add("grad_norm", Double(gradientNorm))
            reports.add("learning_rate", Double(learningRate))
            reports.stepEnded(step)
            if plan.endsEpoch(step), !validation.isEmpty { try validate(reports) }
        }
        if let bestParameters { _ = trunk.parameters.buffer.update(fromContentsOf: bestParameters) }
        return true
    }

    private func validate(_ reports: ProgressReports) throws {
        let loss = try validationLoss()
        if bestValidationLoss.map({ loss < $0 }) ?? true {
            bestValidationLoss = loss
            bestParameters = Array(model.model.parameters.buffer)
        }
        reports.validated(atStep: step, metrics: [("eval_loss", loss), ("eval_best_loss", bestValidationLoss ?? loss)])
    }

    /// The mean cross-entropy per answer token over the validation set.
    public func validationLoss() throws -> Double {
        var lossSum = 0.0, tokens = 0
        for pass in StepPlan.passes(Array(validation.indices), length: { validation[$0].tokens.count }) {
            let batch = Self.batch(pass.map { validation[$0] })
            let output = try model.model.forward(tokens: batch.tokens, targets: batch.targets, attentionMask: nil, positionIDs: nil,
                                                 batchSize: batch.rows, sequenceLength: batch.length, forBackward: true, logits: .targets)
            lossSum += Double(output.loss ?? 0) * Double(batch.answerTokens)
            tokens += batch.answerTokens
        }
        return tokens > 0 ? lossSum / Double(tokens) : 0
    }

    static let bestParametersFile = "best_parameters.safetensors"

    /// Saves what `resume` needs into `output/checkpoint`: the model, the optimizer, the step,
    /// and the best parameters so far.
    public func saveCheckpoint(in output: String) throws {
        let folder = CheckpointFolder.path(in: output)
        try model.save(to: folder)
        try TrainingCheckpoint.save(TrainingCheckpoint(step: step, bestValidationLoss: bestValidationLoss, options: options),
                                    optimizers: [("policy", optimizer)], to: folder)
        if let bestParameters {
            try bestParameters.withUnsafeBufferPointer {
                try SafeTensorsWriter.write([SafeTensorsWriter.Tensor(name: "parameters", shape: [$0.count], values: $0)], to: folder + "/" + Self.bestParametersFile)
            }
        }
    }

    public func resume(from output: String) throws {
        let folder = CheckpointFolder.path(in: output)
        let state = try TrainingCheckpoint<TrainingOptions>.load(from: folder, optimizers: [("policy", optimizer)])
        guard state.options == options else {
            throw TrainingOptionError("--resume", "the options differ from the interrupted run's; resume with the same options (saved in \(folder)/\(CheckpointFolder.stateFile))")
        }
        step = state.step
        bestValidationLoss = state.bestValidationLoss
        let bestPath = folder + "/" + Self.bestParametersFile
        if FileManager.default.fileExists(atPath: bestPath) {
            let values = try SafeTensorsFile(path: bestPath).floats("parameters")
            guard values.count == model.model.parameterCount else { throw CheckpointError("\(bestPath): holds \(values.count) parameters for a model of \(model.model.parameterCount)", kind: .mismatch) }
            bestParameters = values
        }
    }
}
