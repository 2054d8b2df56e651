import Foundation

/// PPO's clipped surrogate and clipped value loss, each with its derivative, so the trainer
/// hands the core the gradient of the log-probabilities (and of the values) directly.
enum ClippedObjective {
    /// One action's (a token's, or a whole answer's) share of the policy loss
    /// max(-A r, -A clip(r, 1 - epsilon, 1 + epsilon)) with r = exp(new - old), and its
    /// derivative with respect to the new log-probability: -A r where the unclipped term is the
    /// larger, 0 where the clipped one is (its ratio is a constant there).
    struct PolicyTerm {
        let loss: Float
        let gradient: Float
        let ratio: Float
        /// Whether the clipped term was the one taken.
        let isClipped: Bool
    }

    static func policy(newLogProbability: Float, oldLogProbability: Float, advantage: Float, clipRange: Float) -> PolicyTerm {
        let ratio = expf(newLogProbability - oldLogProbability)
        let unclipped = -advantage * ratio
        let clipped = -advantage * min(max(ratio, 1 - clipRange), 1 + clipRange)
        return clipped > unclipped ? PolicyTerm(loss: clipped, gradient: 0, ratio: ratio, isClipped: true)
                                   : PolicyTerm(loss: unclipped, gradient: -advantage * ratio, ratio: ratio, isClipped: false)
    }

    /// One token's value loss 0.5 max((V - R)^2, (clip(V, V_old - c, V_old + c) - R)^2) and its
    /// derivative with respect to V.
    struct ValueTerm {
        let loss: Float
        let gradient: Float
        let isClipped: Bool
    }

    static func value(_ value: Float, oldValue: Float, target: Float, clipRange: Float) -> ValueTerm {
        let clippedValue = min(max(value, oldValue - clipRange), oldValue + clipRange)
        let unclipped = (value - target) * (value - target), clipped = (clippedValue - target) * (clippedValue - target)
        return clipped > unclipped ? ValueTerm(loss: 0.5 * clipped, gradient: 0, isClipped: true)
                                   : ValueTerm(loss: 0.5 * unclipped, gradient: value - target, isClipped: false)
    }
}
