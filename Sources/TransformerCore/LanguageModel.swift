/// The result of a forward pass.
public struct ForwardOutput: Sendable {
    /// Mean cross-entropy over the positions with a target; nil without targets.
    public let loss: Float?
}

/// What every block variant of the core offers the training stages and sampling: a forward
/// pass with targets, masks and positions; backward of the loss and of a scalar head's gradient;
/// the parameters and gradients in one buffer each; sampling with a key/value cache.
public protocol LanguageModel: AnyObject {
    var vocabularySize: Int { get }
    var contextLength: Int { get }
    var parameters: FloatBuffer { get }
    var gradients: FloatBuffer? { get }
    var parameterCount: Int { get }
    /// Floats held for the last forward and backward pass.
    var activationFloatCount: Int { get }
    var logits: UnsafeBufferPointer<Float> { get }
    var finalHiddenStates: UnsafeBufferPointer<Float> { get }
    /// The parameter tensors, for the optimizer (which decays matrices) and checkpoints.
    var parameterTensors: [ParameterLayout.Tensor] { get }

    /// `forBackward` false keeps one layer's activations (and every layer's keys and values):
    /// for sampling, with neither a loss nor a backward pass after.
    @discardableResult
    func forward(tokens: [Int32], targets: [Int32]?, attentionMask: [UInt8]?, positionIDs: [Int32]?,
                 batchSize: Int, sequenceLength: Int, forBackward: Bool) throws -> ForwardOutput
    func backward(finalHiddenGradient: [Float]?) throws
    /// log p(target) of each position of the last forward pass under softmax(logits /
    /// `temperature`) ([B*T]; 0 where the forward pass had no target): what SFT, PPO, RLOO and
    /// DPO read, with no stage reaching into `logits`.
    func tokenLogProbabilities(temperature: Float) throws -> [Float]
    /// Accumulates gradients of a loss whose derivative with respect to each position's
    /// log p(target) at `temperature` is `logProbabilityGradients` ([B*T], zero where no
    /// target), plus `finalHiddenGradient` when given: the general backward of the policy
    /// stages (the masked cross-entropy of SFT is -1/count on the answer's tokens).
    func backward(logProbabilityGradients: [Float], temperature: Float, finalHiddenGradient: [Float]?) throws
    func zeroGradients()
    func sample(prompts: [[Int32]], options: SamplingOptions) throws -> [SampledSequence]
}

extension LanguageModel {
    /// The most likely next token after each step, recomputing the whole prefix each time (the
    /// check of the key/value cache's sampling).
    public func greedyContinuation(of prompt: [Int32], newTokens: Int) throws -> [Int32] {
        var sequence = prompt
        let V = vocabularySize
        for _ in 0..<newTokens {
            let window = Array(sequence.suffix(contextLength))
            try forward(tokens: window, targets: nil, attentionMask: nil, positionIDs: nil, batchSize: 1, sequenceLength: window.count, forBackward: false)
            let row = logits.baseAddress! + (window.count - 1) * V
            var best = 0
            for i in 1..<V where row[i] > row[best] { best = i }
            sequence.append(Int32(best))
        }
        return Array(sequence.dropFirst(prompt.count))
    }
}

extension GPT2Model {
    public var parameterTensors: [ParameterLayout.Tensor] { layout.tensors }
    public var vocabularySize: Int { configuration.vocabularySize }
    public var contextLength: Int { configuration.contextLength }
}

extension LlamaModel {
    public var parameterTensors: [ParameterLayout.Tensor] { layout.tensors }
    public var vocabularySize: Int { configuration.vocabularySize }
    public var contextLength: Int { configuration.contextLength }
}

extension AdamW {
    /// An optimizer for any variant's parameters.
    public convenience init(model: some LanguageModel, hyperparameters: Hyperparameters = Hyperparameters()) {
        self.init(tensors: model.parameterTensors, parameterCount: model.parameterCount, hyperparameters: hyperparameters)
    }
}
