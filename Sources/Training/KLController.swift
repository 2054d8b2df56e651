/// beta, the weight of the KL penalty: fixed, or steered toward a target KL per answer as
/// lm-human-preferences' adaptive controller does (Ziegler et al. 2019): after each iteration
/// beta *= 1 + clip(KL / target - 1, -0.2, 0.2) * episodes / horizon.
struct KLController: Sendable {
    private(set) var coefficient: Float
    let target: Float?
    let horizon: Int

    init(options: PolicyOptions) {
        (coefficient, target, horizon) = (options.klCoefficient, options.klTarget, options.klHorizon)
    }

    /// After an iteration whose answers averaged `klPerAnswer` nats over `episodes` episodes.
    mutating func update(klPerAnswer: Float, episodes: Int) {
        guard let target, klPerAnswer.isFinite else { return }
        let error = min(max(klPerAnswer / target - 1, -0.2), 0.2)
        coefficient *= 1 + error * Float(episodes) / Float(horizon)
    }

    /// Restored from a checkpoint.
    mutating func restore(coefficient: Float) { self.coefficient = coefficient }
}
