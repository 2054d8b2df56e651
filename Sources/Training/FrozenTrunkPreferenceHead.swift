import Foundation

/// A reward model's head trained alone on a frozen trunk: score = w · (h / s), where h is the
/// trunk's final hidden state at an answer's last token (`RewardModel.answerFeatures`) and s the
/// spread of each feature over the answers it will score. It is fitted to comparisons by the
/// Bradley-Terry loss, -log sigmoid(score(better) - score(worse)), plus an L2 penalty, with
/// Newton's method: the problem is convex, so each fit is exact and takes a second, where
/// training the trunk takes an hour. What it is for: decisions that need many reward models
/// quickly (a model per round of active selection, a model per fold of labelers).
public struct FrozenTrunkPreferenceHead: Sendable {
    /// Weights on the scaled features.
    public let weights: [Double]
    /// Each feature's standard deviation (1 where a feature does not vary).
    public let scale: [Double]

    /// The per-feature spread of `features` (every answer the head may be asked to score), so
    /// that the penalty weighs every feature alike whatever its range in the trunk.
    public static func scale(of features: [[Float]]) -> [Double] {
        guard let width = features.first?.count else { return [] }
        var sum = [Double](repeating: 0, count: width), squares = [Double](repeating: 0, count: width)
        for row in features {
            for i in 0..<width {
                let value = Double(row[i])
                sum[i] += value
                squares[i] += value * value
            }
        }
        let count = Double(features.count)
        return (0..<width).map { i in
            let variance = squares[i] / count - (sum[i] / count) * (sum[i] / count)
            return variance > 1e-12 ? variance.squareRoot() : 1
        }
    }

    public init(weights: [Double], scale: [Double]) {
        precondition(weights.count == scale.count)
        (self.weights, self.scale) = (weights, scale)
    }

    public func score(_ features: [Float]) -> Double {
        var total = 0.0
        for i in 0..<weights.count { total += weights[i] * Double(features[i]) / scale[i] }
        return total
    }

    /// Fits a head to `comparisons` (each the features of the better answer, then the worse),
    /// starting from `start`'s weights when given (a warm start: the next round converges in a
    /// step or two). `penalty` is the L2 weight on the scaled weights, summed over comparisons
    /// (so it counts for less as comparisons accumulate, as a prior should).
    public static func fit(comparisons: [(better: [Float], worse: [Float])], scale: [Double], penalty: Double,
                           start: FrozenTrunkPreferenceHead? = nil, maximumIterations: Int = 30) -> FrozenTrunkPreferenceHead {
        let width = scale.count
        precondition(penalty > 0, "the penalty keeps Newton's system solvable")
        let differences: [[Double]] = comparisons.map { pair in
            (0..<width).map { (Double(pair.better[$0]) - Double(pair.worse[$0])) / scale[$0] }
        }
        var weights = start?.weights ?? [Double](repeating: 0, count: width)
        func loss(_ w: [Double]) -> Double {
            var total = 0.5 * penalty * w.reduce(0) { $0 + $1 * $1 }
            for d in differences { total += softplus(-dot(w, d)) }
            return total
        }
        var current = loss(weights)
        for _ in 0..<maximumIterations {
            var gradient = weights.map { penalty * $0 }
            var hessian = [Double](repeating: 0, count: width * width)
            for i in 0..<width { hessian[i * width + i] = penalty }
            for d in differences {
                let p = sigmoid(dot(weights, d))
                let (g, h) = (p - 1, p * (1 - p))
                for i in 0..<width {
                    gradient[i] += g * d[i]
                    let hd = h * d[i]
                    // The lower triangle only: Cholesky reads no more.
                    for j in 0...i { hessian[i * width + j] += hd * d[j] }
                }
            }
            if gradient.reduce(0, { max($0, abs($1)) }) < 1e-7 * Double(max(differences.count, 1)) { break }
            let step = solveSymmetricPositiveDefinite(hessian, gradient, width: width)
            // Newton's step on a convex loss; halved while it does not lower the loss (it rarely needs to).
            var length = 1.0, improved = false
            for _ in 0..<20 {
                let trial = (0..<width).map { weights[$0] - length * step[$0] }
                let trialLoss = loss(trial)
                if trialLoss <= current {
                    (weights, current, improved) = (trial, trialLoss, true)
                    break
                }
                length /= 2
            }
            if !improved { break }
        }
        return FrozenTrunkPreferenceHead(weights: weights, scale: scale)
    }

    /// The share of `comparisons` the head ranks the right way round (a tie counts half).
    public func accuracy(on comparisons: [(better: [Float], worse: [Float])]) -> Double {
        guard !comparisons.isEmpty else { return 0 }
        let right = comparisons.reduce(0.0) { total, pair in
            let margin = score(pair.better) - score(pair.worse)
            return total + (margin > 0 ? 1 : margin == 0 ? 0.5 : 0)
        }
        return right / Double(comparisons.count)
    }
}

private func dot(_ a: [Double], _ b: [Double]) -> Double {
    var total = 0.0
    for i in 0..<a.count { total += a[i] * b[i] }
    return total
}

private func sigmoid(_ x: Double) -> Double { x >= 0 ? 1 / (1 + exp(-x)) : exp(x) / (1 + exp(x)) }

/// log(1 + e^x) without overflow.
private func softplus(_ x: Double) -> Double { x > 30 ? x : log1p(exp(x)) }

/// Solves A x = b for a symmetric positive definite A (its lower triangle, row-major) by Cholesky.
private func solveSymmetricPositiveDefinite(_ matrix: [Double], _ right: [Double], width n: Int) -> [Double] {
    var l = matrix
    for j in 0..<n {
        var diagonal = l[j * n + j]
        for k in 0..<j { diagonal -= l[j * n + k] * l[j * n + k] }
        let root = max(diagonal, 1e-300).squareRoot()
        l[j * n + j] = root
        for i in (j + 1)..<n {
            var value = l[i * n + j]
            for k in 0..<j { value -= l[i * n + k] * l[j * n + k] }
            l[i * n + j] = value / root
        }
    }
    var y = right
    for i in 0..<n {
        for k in 0..<i { y[i] -= l[i * n + k] * y[k] }
        y[i] /= l[i * n + i]
    }
    var x = y
    for i in stride(from: n - 1, through: 0, by: -1) {
        for k in (i + 1)..<n { x[i] -= l[k * n + i] * x[k] }
        x[i] /= l[i * n + i]
    }
    return x
}
