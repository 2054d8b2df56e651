import Foundation
import TransformerCore

/// Direct preference optimization (Rafailov et al. 2023) on the same comparisons the reward
/// model learns from, with no reward model and no sampling: each answer's implicit reward is
/// beta (log pi(answer) - log pi_ref(answer)), summed over its tokens, and a ranking's loss is
/// InstructGPT's ranking loss over those rewards (`RankingLoss`): for a pair,
/// -log sigmoid(beta ((log pi(y_w) - log ref(y_w)) - (log pi(y_l) - log ref(y_l)))).
///
/// The reference is the policy before the first step: its log-probabilities of every answer
/// are computed once, up front, and kept (in the checkpoint too), so no second model is held.
/// Each comparison's prompt is computed once for its answers (`AnswerBatch(sharingPrompts:)`),
/// unless `sharesPrompt` is off: then one row per answer, the prompt repeated, as TRL computes it.
public final class DirectPreferenceTrainer: Trainer {
    public let model: PretrainedModel
    public let options: TrainingOptions
    public let training: [EncodedRanking]
    public let validation: [EncodedRanking]
    let plan: StepPlan
    let optimizer: AdamW
    let beta: Float
    /// log pi_ref of each answer of each ranking, summed over its tokens.
    private(set) var referenceTraining: [[Float]] = []
    private(set) var referenceValidation: [[Float]] = []
    public private(set) var step = 0

    public init(model: PretrainedModel, options: TrainingOptions, training: [EncodedRanking], validation: [EncodedRanking]) throws {
        let training = training.filter { !$0.preferences.isEmpty }
        guard !training.isEmpty else { throw TrainingOptionError("--data", "no comparison with a preference is left for training (all are held out or tie)") }
        try options.validate(layerCount: model.model.blockCount)
        if let count = options.trainedBlockCount {
            do { try model.model.setTrainedBlockCount(count) } catch { throw TrainingOptionError("--trained-blocks", "\(error)") }
        }
        let validation = validation.filter { !$0.preferences.isEmpty }
        if options.sharesPrompt, let long = (training + validation).first(where: { $0.tokenCount - 1 > model.model.contextLength }) {
            throw TrainingOptionError("--max-length", "\(long.source) packs its prompt and answers into \(long.tokenCount - 1) tokens, more than the model's context of \(model.model.contextLength); lower --max-length or pass --no-shared-prompt")
        }
        (self.model, self.options, self.training, self.validation) = (model, options, training, validation)
        beta = options.klCoefficient ?? TrainingOptions.directPreference.klCoefficient!
        plan = StepPlan(exampleCount: training.count, options: options)
        optimizer = AdamW(model: model.model, hyperparameters: options.optimizerHyperparameters)
    }

    public var totalSteps: Int { plan.totalSteps }

    /// The reference's log-probabilities, from the policy as it is now (before training).
    func computeReference() throws {
        referenceTraining = try answerLogProbabilities(training)
        referenceValidation = try answerLogProbabilities(validation)
    }

    /// Each answer's summed log-probability under the current policy, no backward pass.
    func answerLogProbabilities(_ rankings: [EncodedRanking]) throws -> [[Float]] {
        var result = [[Float]](repeating: [], count: rankings.count)
        for pass in StepPlan.passes(Array(rankings.indices), rows: { self.rowCount(rankings[$0]) }, length: { self.rowLength(rankings[$0]) }) {
            let batch = self.batch(pass.map { rankings[$0] })
            try batch.forward(model.model, forBackward: false)
            var sums = try batch.answerLogProbabilities(model.model, temperature: 1).map { $0.reduce(0, +) }[...]
            for index in pass {
                result[index] = Array(sums.prefix(rankings[index].answers.count))
                sums = sums.dropFirst(rankings[index].answers.count)
            }
        }
        return result
    }

    /// The rankings' answers laid out for one pass, each ranking's answers in order.
    func batch(_ rankings: [EncodedRanking]) -> AnswerBatch {
        options.sharesPrompt ? AnswerBatch(sharingPrompts: rankings.map { ($0.prompt, $0.answers) })
                             : AnswerBatch(rows: rankings.flatMap { ranking in ranking.answers.map { (ranking.prompt, $0) } })
    }

    /// A ranking's rows and their length in a pass, for cutting passes within the token budget.
    private func rowCount(_ ranking: EncodedRanking) -> Int { options.sharesPrompt ? 1 : ranking.answers.count }
    private func rowLength(_ ranking: EncodedRanking) -> Int { options.sharesPrompt ? ranking.tokenCount : ranking.longestUnsharedRow }

    /// The statistics of a set of rankings' implicit rewards, TRL's `rewards/*` and `logps/*`.
    struct PreferenceStatistics {
        var loss = 0.0, pairs = 0, correct = 0, chosenRewards = 0.0, rejectedRewards = 0.0, chosenLogProbabilities = 0.0, rejectedLogProbabilities = 0.0

        mutating func add(ranking: EncodedRanking, rewards: [Float], logProbabilities: [Float]) {
            for (winner, loser) in ranking.preferences {
                pairs += 1
                if rewards[winner] > rewards[loser] { correct += 1 }
                chosenRewards += Double(rewards[winner])
                rejectedRewards += Double(rewards[loser])
                chosenLogProbabilities += Double(logProbabilities[winner])
                rejectedLogProbabilities += Double(logProbabilities[loser])
            }
        }

        func metrics(prefix: String = "") -> [(name: String, value: Double)] {
            let n = Double(max(1, pairs))
            return [("\(prefix)rewards/chosen", chosenRewards / n), ("\(prefix)rewards/rejected", rejectedRewards / n),
                    ("\(prefix)rewards/accuracies", Double(correct) / n), ("\(prefix)rewards/margins", (chosenRewards - rejectedRewards) / n),
                    ("\(prefix)logps/chosen", chosenLogProbabilities / n), ("\(prefix)logps/rejected", rejectedLogProbabilities / n)]
        }
    }

    @discardableResult
    public func train(progress: @escaping (TrainingProgress) -> Void = { _ in }, shouldStop: () -> Bool = { false }) throws -> Bool {
        if referenceTraining.isEmpty { try computeReference() }
        let trunk = model.model
        var reports = ProgressReports(plan: plan, loggingSteps: options.loggingSteps, send: progress)
        while step < plan.totalSteps {
            if shouldStop() { return false }
            let passes = plan.passes(ofStep: step, rows: { self.rowCount(self.training[$0]) }, length: { self.rowLength(self.training[$0]) })
            let rankingsInStep = passes.reduce(0) { $0 + $1.count }
            trunk.zeroGradients()
            var statistics = PreferenceStatistics(), stepLoss = 0.0
            for pass in passes {
                let rankings = pass.map { training[$0] }
                let batch = self.batch(rankings)
                try batch.forward(trunk, forBackward: true)
                let perToken = try batch.answerLogProbabilities(trunk, temperature: 1)
                var offset = 0, gradients: [[Float]] = []
                for (index, ranking) in zip(pass, rankings) {
                    let logProbabilities = perToken[offset..<(offset + ranking.answers.count)].map { $0.reduce(0, +) }
                    let rewards = zip(logProbabilities, referenceTraining[index]).map { beta * ($0 - $1) }
                    let loss = RankingLoss(scores: rewards, ranks: ranking.ranks)
                    stepLoss += loss.loss / Double(rankingsInStep)
                    statistics.add(ranking: ranking, rewards: rewards, logProbabilities: logProbabilities)
                    // d loss / d log pi(answer) = beta d loss / d reward, the same for each of its tokens.
                    for (answer, gradient) in zip(ranking.answers.indices, loss.scoreGradients) {
                        gradients.append([Float](repeating: beta * gradient / Float(rankingsInStep), count: perToken[offset + answer].count))
                    }
                    offset += ranking.answers.count
                }
                try trunk.backward(logProbabilityGradients: batch.flatGradients(gradients), temperature: 1, finalHiddenGradient: nil)
                reports.count(tokens: batch.tokenCount)
            }
            let gradientNorm = clipGradientNorm([trunk.gradients!], maximumNorm: options.maximumGradientNorm)
            let learningRate = options.learningRateSchedule(totalSteps: plan.totalSteps).rate(at: step)
            optimizer.update(parameters: trunk.parameters, gradients: trunk.gradients!, learningRate: learningRate)
            step += 1
            reports.add("loss", stepLoss)
            for (name, value) in statistics.metrics() { reports.add(name, value) }
            reports.add("grad_norm", Double(gradientNorm))
            reports.add("learning_rate", Double(learningRate))
            reports.stepEnded(step)
            if plan.endsEpoch(step), !validation.isEmpty {
                reports.validated(atStep: step, metrics: try evaluate())
            }
        }
        return true
    }

    /// The loss and `rewards/*` of the held-out comparisons, under TRL's `eval_` names.
    public func evaluate() throws -> [(name: String, value: Double)] {
        let logProbabilities = try answerLogProbabilities(validation)
        var statistics = PreferenceStatistics(), loss = 0.0
        for (index, ranking) in validation.enumerated() {
            let rewards = zip(logProbabilities[index], referenceValidation[index]).map { beta * ($0 - $1) }
            loss += RankingLoss(scores: rewards, ranks: ranking.ranks).loss / Double(validation.count)
            statistics.add(ranking: ranking, rewards: rewards, logProbabilities: logProbabilities[index])
        }
        return [("eval_loss", loss)] + statistics.metrics(prefix: "eval_")
    }

    static let referenceFile = "reference_log_probabilities.safetensors"

    public func saveCheckpoint(in output: String) throws {
        let folder = CheckpointFolder.path(in: output)
        try model.save(to: folder)
        try TrainingCheckpoint.save(TrainingCheckpoint(step: step, bestValidationLoss: nil, options: options), optimizers: [("policy", optimizer)], to: folder)
        let trainingValues = referenceTraining.flatMap { $0 }, validationValues = referenceValidation.flatMap { $0 }
        try trainingValues.withUnsafeBufferPointer { trainingBuffer in
            try validationValues.withUnsafeBufferPointer { validationBuffer in
                var tensors = [SafeTensorsWriter.Tensor(name: "training", shape: [trainingBuffer.count], values: trainingBuffer)]
                if !validationBuffer.isEmpty { tensors.append(SafeTensorsWriter.Tensor(name: "validation", shape: [validationBuffer.count], values: validationBuffer)) }
                try SafeTensorsWriter.write(tensors, to: folder + "/" + Self.referenceFile)
            }
        }
    }

    public func resume(from output: String) throws {
        let folder = CheckpointFolder.path(in: output)
        let state = try TrainingCheckpoint<TrainingOptions>.load(from: folder, optimizers: [("policy", optimizer)])
        guard state.options == options else {
            throw TrainingOptionError("--resume", "the options differ from the interrupted run's; resume with the same options (saved in \(folder)/\(CheckpointFolder.stateFile))")
        }
        let file = try SafeTensorsFile(path: folder + "/" + Self.referenceFile)
        func unflatten(_ name: String, _ rankings: [EncodedRanking]) throws -> [[Float]] {
            if rankings.isEmpty { return [] }
            var flat = try file.floats(name)[...]
            guard flat.count == rankings.reduce(0, { $0 + $1.answers.count }) else {
                throw CheckpointError("\(file.path): \(name) holds \(flat.count) answers, not this run's; resume with the same data", kind: .mismatch)
            }
            return rankings.map { ranking in defer { flat = flat.dropFirst(ranking.answers.count) }; return Array(flat.prefix(ranking.answers.count)) }
        }
        (referenceTraining, referenceValidation) = (try unflatten("training", training), try unflatten("validation", validation))
        step = state.step
    }
}
