import TransformerCore

/// PPO's critic: V(state) for the state before each answer token, a scalar head read at the
/// positions whose targets are the answer's tokens (`AnswerBatch.answerPositions`).
///
/// On the policy's own trunk (`sharedTrunk`), the policy's forward pass serves the values and
/// the two gradients meet in one backward pass: half the work on a CPU. On a trunk of its own
/// (`separateTrunk`, InstructGPT's), the trunk and head start from the reward model's.
final class ValueFunction {
    let head: ScalarHead
    /// nil: the policy's trunk.
    let trunk: PretrainedModel?
    let headOptimizer: AdamW
    let trunkOptimizer: AdamW?

    /// A shared head starts at zero (every value 0), since the reward model's head was fitted to
    /// another trunk's hidden states; a separate trunk starts as the reward model, head and all.
    init(placement: PolicyOptions.ValueModel, policyWidth: Int, rewardModel: RewardModel?, hyperparameters: AdamW.Hyperparameters) throws {
        switch placement {
        case .sharedTrunk:
            head = ScalarHead(width: policyWidth)
            head.parameters.zero()
            trunk = nil
        case .separateTrunk:
            guard let rewardModel else {
                throw TrainingOptionError("--value-model", "separate needs a reward model to start the value trunk from")
            }
            trunk = try rewardModel.base.copy()
            head = ScalarHead(width: rewardModel.head.width)
            head.parameters.pointer.update(from: rewardModel.head.parameters.pointer, count: rewardModel.head.parameters.count)
        }
        // Weights and bias both train: values need an offset that a reward's shift does not.
        headOptimizer = AdamW(tensors: [head.weightAndBiasTensor], parameterCount: head.parameters.count, hyperparameters: hyperparameters)
        trunkOptimizer = trunk.map { AdamW(model: $0.model, hyperparameters: hyperparameters) }
    }

    var gradientBuffers: [FloatBuffer] { [head.gradients] + (trunk?.model.gradients.map { [$0] } ?? []) }

    func zeroGradients() {
        head.gradients.zero()
        trunk?.model.zeroGradients()
    }

    /// The values of `batch`'s answer positions, one list per episode. With a shared trunk the
    /// policy's forward pass over `batch` must be the last one run.
    func values(of batch: AnswerBatch, policy: any LanguageModel, forBackward: Bool) throws -> [[Float]] {
        let model = trunk?.model ?? policy
        if let trunk {
            try trunk.model.forward(tokens: batch.tokens, targets: nil, attentionMask: nil, positionIDs: nil, batchSize: batch.rowCount,
                                    sequenceLength: batch.rowLength, forBackward: forBackward, logits: .skipped)
        }
        let flat = head.forward(hiddenStates: model.finalHiddenStates, positions: batch.answerPositions.flatMap { $0 })
        var offset = 0
        return batch.answerPositions.map { positions in
            defer { offset += positions.count }
            return Array(flat[offset..<(offset + positions.count)])
        }
    }

    /// Accumulates the head's gradients from d loss / d value; returns the gradient of the
    /// final hidden states for the policy's backward pass (shared trunk), or runs the value
    /// trunk's own backward pass and returns nil.
    func backward(valueGradients: [[Float]], batch: AnswerBatch, policy: any LanguageModel) throws -> [Float]? {
        let model = trunk?.model ?? policy
        let hiddenGradient = head.backward(scoreGradients: valueGradients.flatMap { $0 }, hiddenStates: model.finalHiddenStates,
                                           positions: batch.answerPositions.flatMap { $0 })
        guard let trunk else { return hiddenGradient }
        try trunk.model.backward(finalHiddenGradient: hiddenGradient)
        return nil
    }

    func update(learningRate: Float) {
        headOptimizer.update(parameters: head.parameters, gradients: head.gradients, learningRate: learningRate)
        if let trunk, let trunkOptimizer { trunkOptimizer.update(parameters: trunk.model.parameters, gradients: trunk.model.gradients!, learningRate: learningRate) }
    }

    static let headFile = "value_head.safetensors"
    static let trunkFolder = "value_trunk"

    var optimizers: [(name: String, optimizer: AdamW)] {
        [("value_head", headOptimizer)] + (trunkOptimizer.map { [("value_trunk", $0)] } ?? [])
    }

    func save(to folder: String) throws {
        try SafeTensorsWriter.write([SafeTensorsWriter.Tensor(name: "weight_and_bias", shape: [head.parameters.count], values: UnsafeBufferPointer(head.parameters.buffer))],
                                    to: folder + "/" + Self.headFile)
        try trunk?.save(to: folder + "/" + Self.trunkFolder)
    }

    func restore(from folder: String) throws {
        let weights = try SafeTensorsFile(path: folder + "/" + Self.headFile).floats("weight_and_bias")
        guard weights.count == head.parameters.count else { throw CheckpointError("\(folder)/\(Self.headFile): \(weights.count) values for a head of \(head.parameters.count)", kind: .mismatch) }
        head.parameters.pointer.update(from: weights, count: weights.count)
        if let trunk {
            let saved = try PretrainedModel.load(folder + "/" + Self.trunkFolder)
            guard saved.model.parameterCount == trunk.model.parameterCount else { throw CheckpointError("\(folder)/\(Self.trunkFolder): not the value trunk of this run", kind: .mismatch) }
            trunk.model.parameters.pointer.update(from: saved.model.parameters.pointer, count: trunk.model.parameterCount)
        }
    }
}
