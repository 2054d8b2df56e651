/// What every block variant's forward pass checks of its inputs, how it averages the loss, and
/// what its backward pass needs to have been given.
enum ForwardInputs {
    /// Checks the sizes and ranges of a forward pass's inputs; the error names what is wrong.
    static func validate(tokens: [Int32], targets: [Int32]?, attentionMask: [UInt8]?, positionIDs: [Int32]?,
                         batchSize B: Int, sequenceLength T: Int, vocabularySize V: Int, contextLength: Int) throws {
        guard tokens.count == B * T else { throw ModelInputError.wrongCount(what: "tokens (batch \(B) x length \(T))", expected: B * T, actual: tokens.count) }
        guard T <= contextLength else { throw ModelInputError.sequenceTooLong(length: T, contextLength: contextLength) }
        if let bad = tokens.first(where: { $0 < 0 || Int($0) >= V }) { throw ModelInputError.outsideVocabulary(what: "token", id: bad, vocabularySize: V) }
        if let attentionMask, attentionMask.count != B * T {
            throw ModelInputError.wrongCount(what: "the attention mask", expected: B * T, actual: attentionMask.count)
        }
        if let positionIDs {
            guard positionIDs.count == B * T else { throw ModelInputError.wrongCount(what: "position ids", expected: B * T, actual: positionIDs.count) }
            if let bad = positionIDs.first(where: { $0 < 0 || Int($0) >= contextLength }) {
                throw ModelInputError.positionOutsideContext(position: bad, contextLength: contextLength)
            }
        }
        if let targets {
            guard targets.count == B * T else { throw ModelInputError.wrongCount(what: "targets", expected: B * T, actual: targets.count) }
            if let bad = targets.first(where: { $0 < -1 || Int($0) >= V }) { throw ModelInputError.outsideVocabulary(what: "target", id: bad, vocabularySize: V) }
        }
    }

    /// The mean of the per-position losses over the positions with a target (0 when none has
    /// one), summed in double precision, and how many positions had one.
    static func meanLoss(_ losses: UnsafePointer<Float>, targets: [Int32]) -> (loss: Float, targetCount: Int) {
        let count = targets.reduce(0) { $0 + ($1 >= 0 ? 1 : 0) }
        var total: Double = 0
        for i in 0..<targets.count { total += Double(losses[i]) }
        return (count > 0 ? Float(total / Double(count)) : 0, count)
    }

    /// What drives a backward pass at the logits.
    enum LogitGradient {
        /// The mean cross-entropy of the forward pass's targets.
        case meanLoss
        /// d loss / d log p(target) per position, at a temperature.
        case perToken([Float], temperature: Float)
    }

    /// log p(target) of each row of `logits` ([rows, V]) at `temperature`, 0 where no target.
    static func tokenLogProbabilities(logits: UnsafePointer<Float>, targets: [Int32], vocabularySize V: Int, temperature: Float) throws -> [Float] {
        guard temperature > 0, temperature.isFinite else { throw SamplingError.invalidOption(name: "the temperature", rule: "must be positive to score tokens") }
        var out = [Float](repeating: 0, count: targets.count)
        out.withUnsafeMutableBufferPointer { out in
            targets.withUnsafeBufferPointer { Kernels.targetLogProbabilities(out.baseAddress!, logits, $0.baseAddress!, temperature: temperature, rows: targets.count, V: V) }
        }
        return out
    }

    /// Checks a per-token gradient: one entry per position, finite, zero where the forward pass
    /// had no target, at a positive temperature.
    static func checkPerTokenGradients(_ gradients: [Float], temperature: Float, targets: [Int32]) throws {
        guard gradients.count == targets.count else {
            throw ModelInputError.wrongCount(what: "the log-probability gradients", expected: targets.count, actual: gradients.count)
        }
        guard temperature > 0, temperature.isFinite else { throw SamplingError.invalidOption(name: "the temperature", rule: "must be positive to score tokens") }
        if let bad = gradients.indices.first(where: { !gradients[$0].isFinite || (gradients[$0] != 0 && targets[$0] < 0) }) {
            throw ModelInputError.needsForwardPass("the log-probability gradient at position \(bad) is \(gradients[bad]), but only finite gradients at positions with a target (given to forward) count")
        }
    }

    /// A count of top blocks to train: 1 up to every block.
    static func checkTrainedBlockCount(_ count: Int, layerCount: Int) throws -> Int {
        guard (1...layerCount).contains(count) else {
            throw ModelInputError.invalidTrainedBlockCount(count, layerCount: layerCount)
        }
        return count
    }

    /// The tensors training updates with the top `trainedBlockCount` of `layerCount` blocks:
    /// those of the trained blocks (named `blockPrefix` + "N."), and every tensor outside the
    /// blocks but the `belowTheBlocks` ones (embeddings that only the input reads), which train
    /// only when every block does.
    static func trainedTensors(_ tensors: [ParameterLayout.Tensor], blockPrefix: String, layerCount: Int, trainedBlockCount: Int,
                               belowTheBlocks: Set<String>) -> [ParameterLayout.Tensor] {
        let lowest = layerCount - trainedBlockCount
        return tensors.filter { tensor in
            if tensor.name.hasPrefix(blockPrefix), let block = Int(tensor.name.dropFirst(blockPrefix.count).prefix(while: { $0 != "." })) {
                return block >= lowest
            }
            return lowest == 0 || !belowTheBlocks.contains(tensor.name)
        }
    }

    /// Backward needs something to differentiate: the loss of a forward pass with targets, or a
    /// gradient of the final hidden states ([rows, width]).
    static func checkBackward(targetCount: Int, finalHiddenGradient: [Float]?, rows: Int, width: Int) throws {
        guard targetCount > 0 || finalHiddenGradient != nil else {
            throw ModelInputError.needsForwardPass("backward needs a forward pass with targets, or a gradient of the final hidden states")
        }
        if let finalHiddenGradient, finalHiddenGradient.count != rows * width {
            throw ModelInputError.wrongCount(what: "the final hidden gradient", expected: rows * width, actual: finalHiddenGradient.count)
        }
    }
}
