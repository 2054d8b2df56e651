import Foundation

/// AdamW (Loshchilov and Hutter 2019): Adam with weight decay decoupled from the gradient.
///
/// Per parameter: m = beta1 m + (1 - beta1) g; v = beta2 v + (1 - beta2) g^2;
/// m^ = m / (1 - beta1^t); v^ = v / (1 - beta2^t);
/// theta -= lr (m^ / (sqrt(v^) + epsilon) + weightDecay theta).
/// Epsilon is added after the square root, outside the bias correction of v, as in PyTorch.
/// Weight decay applies to 2-D tensors (weight matrices and embeddings) only, not to biases or
/// LayerNorm gains, as in nanoGPT's recipe.
public final class AdamW {
    public struct Hyperparameters: Sendable, Equatable, Codable {
        public var beta1: Float = 0.9
        public var beta2: Float = 0.95
        public var epsilon: Float = 1e-8
        public var weightDecay: Float = 0.1
        public init() {}
    }

    public let hyperparameters: Hyperparameters
    public let firstMoment: FloatBuffer
    public let secondMoment: FloatBuffer
    /// Steps taken so far; the bias correction uses it.
    public private(set) var step = 0
    /// Per parameter: whether weight decay applies (true for 2-D weight matrices).
    private let decays: [Bool]
    /// The parameter ranges it updates: its tensors', merged where adjacent. The others (frozen
    /// blocks) are never touched, not even by weight decay.
    private let updatedRanges: [Range<Int>]

    public convenience init(layout: ParameterLayout, hyperparameters: Hyperparameters = Hyperparameters()) {
        self.init(tensors: layout.tensors, parameterCount: layout.totalCount, hyperparameters: hyperparameters)
    }

    public convenience init(layout: LlamaParameterLayout, hyperparameters: Hyperparameters = Hyperparameters()) {
        self.init(tensors: layout.tensors, parameterCount: layout.totalCount, hyperparameters: hyperparameters)
    }

    /// For the `tensors` of a parameter buffer of `parameterCount` floats: it updates those
    /// tensors only; matrices decay, vectors do not.
    public init(tensors: [ParameterLayout.Tensor], parameterCount: Int, hyperparameters: Hyperparameters = Hyperparameters()) {
        self.hyperparameters = hyperparameters
        firstMoment = FloatBuffer(count: parameterCount)
        secondMoment = FloatBuffer(count: parameterCount)
        var decays = [Bool](repeating: false, count: parameterCount)
        for tensor in tensors where tensor.shape.count >= 2 {
            for index in tensor.range { decays[index] = true }
        }
        self.decays = decays
        var ranges: [Range<Int>] = []
        for range in tensors.map(\.range).sorted(by: { $0.lowerBound < $1.lowerBound }) {
            if let last = ranges.last, last.upperBound >= range.lowerBound {
                ranges[ranges.count - 1] = last.lowerBound..<max(last.upperBound, range.upperBound)
            } else {
                ranges.append(range)
            }
        }
        updatedRanges = ranges
    }

    /// Restores a saved state (resuming training).
    public func restore(step: Int, firstMoment: [Float], secondMoment: [Float]) throws {
        guard firstMoment.count == self.firstMoment.count, secondMoment.count == self.secondMoment.count, step >= 0 else {
            throw CheckpointError("the optimizer state does not match the model: \(firstMoment.count) moments for \(self.firstMoment.count) parameters", kind: .mismatch)
        }
        _ = self.firstMoment.buffer.update(fromContentsOf: firstMoment)
        _ = self.secondMoment.buffer.update(fromContentsOf: secondMoment)
        self.step = step
    }

    /// Updates `parameters` in place from `gradients` at `learningRate`.
    public func update(parameters: FloatBuffer, gradients: FloatBuffer, learningRate: Float) {
        precondition(parameters.count == gradients.count && parameters.count == firstMoment.count)
        step += 1
        let (beta1, beta2) = (hyperparameters.beta1, hyperparameters.beta2)
        let correction1 = 1 - powf(beta1, Float(step))
        let correction2 = 1 - powf(beta2, Float(step))
        let (epsilon, weightDecay) = (hyperparameters.epsilon, hyperparameters.weightDecay)
        let theta = parameters.pointer, g = gradients.pointer, m = firstMoment.pointer, v = secondMoment.pointer
        decays.withUnsafeBufferPointer { decays in
            for updated in updatedRanges {
                Kernels.parallelChunks(updated.count) { chunk in
                    for i in (chunk.lowerBound + updated.lowerBound)..<(chunk.upperBound + updated.lowerBound) {
                        let gradient = g[i]
                        m[i] = beta1 * m[i] + (1 - beta1) * gradient
                        v[i] = beta2 * v[i] + (1 - beta2) * gradient * gradient
                        let mHat = m[i] / correction1
                        let vHat = v[i] / correction2
                        let decay = decays[i] ? weightDecay * theta[i] : 0
                        theta[i] -= learningRate * (mHat / (vHat.squareRoot() + epsilon) + decay)
                    }
                }
            }
        }
    }
}

/// Scales gradients down so their global L2 norm is at most `maximumNorm`; returns the norm
/// before clipping (a diagnostic worth logging every step).
@discardableResult
public func clipGradientNorm(_ gradients: FloatBuffer, maximumNorm: Float) -> Float {
    clipGradientNorm([gradients], maximumNorm: maximumNorm)
}

/// The same over several buffers (a trunk's and a head's) as one vector: their joint norm.
/// Summed in double precision, each buffer's chunks on the compute threads.
@discardableResult
public func clipGradientNorm(_ buffers: [FloatBuffer], maximumNorm: Float) -> Float {
    var sum = 0.0
    for buffer in buffers {
        let g = buffer.pointer
        sum += Kernels.parallelSum(buffer.count) { range in
            var local = 0.0
            for i in range { local += Double(g[i]) * Double(g[i]) }
            return local
        }
    }
    let norm = Float(sum.squareRoot())
    if norm > maximumNorm, norm > 0 {
        let scale = maximumNorm / norm
        for buffer in buffers {
            let g = buffer.pointer
            Kernels.parallelChunks(buffer.count) { range in
                for i in range { g[i] *= scale }
            }
        }
    }
    return norm
}

/// The learning rate at each step: linear warm-up from 0, then linear or cosine decay to
/// `minimumRate` at `totalSteps`.
public struct LearningRateSchedule: Sendable, Equatable, Codable {
    public enum Decay: String, Sendable, Codable { case constant, linear, cosine }

    public var peakRate: Float
    public var minimumRate: Float
    public var warmupSteps: Int
    public var totalSteps: Int
    public var decay: Decay

    public init(peakRate: Float, minimumRate: Float = 0, warmupSteps: Int = 0, totalSteps: Int, decay: Decay = .cosine) {
        self.peakRate = peakRate
        self.minimumRate = minimumRate
        self.warmupSteps = warmupSteps
        self.totalSteps = totalSteps
        self.decay = decay
    }

    /// The rate for step `step`, counted from 0.
    public func rate(at step: Int) -> Float {
        if step < warmupSteps { return peakRate * Float(step + 1) / Float(warmupSteps) }
        guard decay != .constant, totalSteps > warmupSteps else { return peakRate }
        let progress = min(1, Float(step - warmupSteps) / Float(totalSteps - warmupSteps))
        switch decay {
        case .constant: return peakRate
        case .linear: return peakRate + (minimumRate - peakRate) * progress
        case .cosine: return minimumRate + 0.5 * (peakRate - minimumRate) * (1 + cosf(Float.pi * progress))
        }
    }
}
