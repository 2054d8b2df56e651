/// How much better than expected each action was: the estimators of PPO (GAE over tokens),
/// RLOO (leave one out) and GRPO (group-normalized), and the whitening PPO applies. Pure
/// functions of their inputs, checked against hand-computed examples.
enum Advantages {
    /// RLOO: each reward less the mean of the other rewards of its group (consecutive runs of
    /// `groupSize`).
    static func leaveOneOut(_ rewards: [Float], groupSize k: Int) -> [Float] {
        precondition(k >= 2 && rewards.count % k == 0)
        var advantages = [Float](repeating: 0, count: rewards.count)
        for start in stride(from: 0, to: rewards.count, by: k) {
            let sum = rewards[start..<(start + k)].reduce(0, +)
            for i in start..<(start + k) { advantages[i] = rewards[i] - (sum - rewards[i]) / Float(k - 1) }
        }
        return advantages
    }

    /// GRPO: (reward - group mean) / (group standard deviation + 1e-4), the deviation with
    /// Bessel's correction as TRL computes it.
    static func groupNormalized(_ rewards: [Float], groupSize k: Int) -> [Float] {
        precondition(k >= 2 && rewards.count % k == 0)
        var advantages = [Float](repeating: 0, count: rewards.count)
        for start in stride(from: 0, to: rewards.count, by: k) {
            let group = rewards[start..<(start + k)]
            let mean = group.reduce(0, +) / Float(k)
            let deviation = (group.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Float(k - 1)).squareRoot()
            for i in start..<(start + k) { advantages[i] = (rewards[i] - mean) / (deviation + 1e-4) }
        }
        return advantages
    }

    /// Generalized advantage estimation over one answer's tokens: with delta_t = r_t + gamma
    /// V_{t+1} - V_t (V after the last token is 0), A_t = delta_t + gamma lambda A_{t+1}; the
    /// returns the value function learns are A_t + V_t.
    static func generalized(rewards: [Float], values: [Float], discount gamma: Float, traceDecay lambda: Float) -> (advantages: [Float], returns: [Float]) {
        precondition(rewards.count == values.count)
        var advantages = [Float](repeating: 0, count: rewards.count)
        var next: Float = 0
        for t in rewards.indices.reversed() {
            let nextValue = t + 1 < values.count ? values[t + 1] : 0
            let delta = rewards[t] + gamma * nextValue - values[t]
            next = delta + gamma * lambda * next
            advantages[t] = next
        }
        return (advantages, zip(advantages, values).map(+))
    }

    /// Scaled to mean 0 and variance 1 (unbiased variance, as TRL's `masked_whiten`); a single
    /// value or values all alike come back centred only.
    static func whitened(_ values: [Float]) -> [Float] {
        guard values.count > 1 else { return values.map { _ in 0 } }
        let mean = values.reduce(0.0) { $0 + Double($1) } / Double(values.count)
        let variance = values.reduce(0.0) { $0 + (Double($1) - mean) * (Double($1) - mean) } / Double(values.count - 1)
        let scale = 1 / (variance + 1e-8).squareRoot()
        return values.map { Float((Double($0) - mean) * scale) }
    }
}
