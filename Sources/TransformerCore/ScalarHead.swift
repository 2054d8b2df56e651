/// A scalar read from the trunk's final hidden states: score = h · w + b. The reward model reads
/// it at the last token of each sequence; PPO's value function reads it at every token.
/// Its weights live apart from the trunk's, so one trunk can carry a language-model head and a
/// scalar head at once.
public final class ScalarHead {
    public let width: Int
    /// w[0..<width] then b.
    public let parameters: FloatBuffer
    public let gradients: FloatBuffer

    public init(width: Int) {
        self.width = width
        parameters = FloatBuffer(count: width + 1)
        gradients = FloatBuffer(count: width + 1)
    }

    /// The weights w as one [1, width] tensor of `parameters`, the bias left out: what an
    /// optimizer is given when the bias stays fixed (a reward model's, Hugging Face's `score`).
    public var weightTensor: ParameterLayout.Tensor { ParameterLayout.Tensor(name: ScoreHead.tensorName, shape: [1, width], offset: 0) }

    /// Weights and bias as one tensor: what an optimizer is given when the bias trains too (a
    /// value function's, whose values need an offset).
    public var weightAndBiasTensor: ParameterLayout.Tensor { ParameterLayout.Tensor(name: "scalar_head", shape: [width + 1], offset: 0) }

    /// Small random weights and zero bias, seeded.
    public func initialize(seed: UInt64, standardDeviation: Float = 0.02) {
        var random = SeededRandom(seed: seed)
        for i in 0..<width { parameters.pointer[i] = random.nextNormal() * standardDeviation }
        parameters.pointer[width] = 0
    }

    /// The scores at `positions` (flat indices b * T + t) of `hiddenStates` ([B,T,C]).
    public func forward(hiddenStates: UnsafeBufferPointer<Float>, positions: [Int]) -> [Float] {
        let w = parameters.pointer
        return positions.map { position in
            let h = hiddenStates.baseAddress! + position * width
            var score = w[width]
            for i in 0..<width { score += h[i] * w[i] }
            return score
        }
    }

    /// Given d objective / d score at each of `positions`, accumulates the head's gradients and
    /// returns d objective / d hidden states ([B,T,C], zero elsewhere) for `GPT2Model.backward`.
    public func backward(scoreGradients: [Float], hiddenStates: UnsafeBufferPointer<Float>, positions: [Int]) -> [Float] {
        precondition(scoreGradients.count == positions.count)
        var hiddenGradient = [Float](repeating: 0, count: hiddenStates.count)
        let w = parameters.pointer, dw = gradients.pointer
        for (position, gradient) in zip(positions, scoreGradients) {
            let h = hiddenStates.baseAddress! + position * width
            for i in 0..<width {
                dw[i] += gradient * h[i]
                hiddenGradient[position * width + i] += gradient * w[i]
            }
            dw[width] += gradient
        }
        return hiddenGradient
    }
}
