import Foundation

/// What human evaluation says about the model versions: each pairing's win rate with a 95%
/// interval, a Bradley-Terry leaderboard with bootstrap intervals (Chatbot Arena's method: a
/// logistic fit in which a tie counts as half a win each way; never narrower than the fit's own
/// posterior interval), how often the left side won
/// (sides are drawn at random, so a share far from one half is position bias), and each
/// reward model's agreement with the labelers on the same pairs.
public struct EvaluationResults: Sendable, Encodable, Equatable {
    /// A version on the leaderboard. `rating` is on the Elo scale Chatbot Arena reports (400
    /// points are tenfold odds; the versions' mean is 1000); `lower` and `upper` bound the
    /// middle 95% of the bootstrap's ratings, widened to the fit's posterior 95% interval where
    /// that is wider (it is, for a version with few verdicts).
    public struct Standing: Sendable, Encodable, Equatable {
        public let modelId: Int
        public let rating: Double
        public let lower: Double
        public let upper: Double
        public let wins: Int
        public let losses: Int
        public let ties: Int
    }

    /// Two versions judged against each other: A's win rate (a tie is half a win) with its 95%
    /// Wilson interval.
    public struct Matchup: Sendable, Encodable, Equatable {
        public let modelA: Int
        public let modelB: Int
        public let winsA: Int
        public let winsB: Int
        public let ties: Int
        public let winRateA: Double
        public let lower: Double
        public let upper: Double
    }

    /// A share of verdicts with its 95% Wilson interval.
    public struct Share: Sendable, Encodable, Equatable {
        public let verdicts: Int
        public let share: Double
        public let lower: Double
        public let upper: Double

        init(credit: Double, verdicts: Int) {
            (self.verdicts, share) = (verdicts, credit / Double(verdicts))
            (lower, upper) = EvaluationResults.wilsonInterval(successes: credit, trials: Double(verdicts))
        }
    }

    /// The share of the labelers' decided (non-tie) verdicts a reward model agrees with: it
    /// gives the preferred answer the higher reward (equal rewards count half). Over every
    /// labeler, and over the held-out labelers alone (InstructGPT's check that a reward model
    /// agrees with people other than its training labelers).
    public struct RewardModelAgreement: Sendable, Encodable, Equatable {
        public let rewardModelId: Int
        public let all: Share
        public let heldOutLabelers: Share?
    }

    public let verdicts: Int
    public let leaderboard: [Standing]
    public let matchups: [Matchup]
    /// The share of decided verdicts that went to the left answer.
    public let leftSide: Share?
    public let rewardModels: [RewardModelAgreement]

    /// Resamples of the verdicts the leaderboard's intervals are read from.
    public static let bootstrapSamples = 200
    static let eloScale = 400 / log(10.0)

    /// The results of `verdicts`; `rewards` holds each reward model's scores of the answers
    /// (model id to answer id to reward). The bootstrap is seeded, so the same verdicts give
    /// the same intervals.
    public static func compute(_ verdicts: [EvaluationVerdict], rewards: [Int: [Int: Double]], seed: UInt64 = 1) -> EvaluationResults {
        let models = Array(Set(verdicts.flatMap { [$0.leftModelID, $0.rightModelID] })).sorted()
        let index = Dictionary(uniqueKeysWithValues: models.enumerated().map { ($1, $0) })
        let games = verdicts.map { verdict in
            Game(left: index[verdict.leftModelID]!, right: index[verdict.rightModelID]!, preference: verdict.preference)
        }
        let fit = BradleyTerry.fit(games, playerCount: models.count)
        let ratings = fit.strengths.map { 1000 + eloScale * $0 }
        let standardErrors = BradleyTerry.standardErrors(curvature: fit.curvature).map { eloScale * $0 }
        var generator = SplitMix64(seed: seed)
        var resampled = models.map { _ in [Double]() }
        if !games.isEmpty {
            for _ in 0..<bootstrapSamples {
                let sample = games.indices.map { _ in games[Int(generator.next() % UInt64(games.count))] }
                for (player, strength) in BradleyTerry.fit(sample, playerCount: models.count).strengths.enumerated() {
                    resampled[player].append(1000 + eloScale * strength)
                }
            }
        }
        var leaderboard: [Standing] = []
        for (player, model) in models.enumerated() {
            let mine = games.filter { $0.left == player || $0.right == player }
            let wins = mine.filter { $0.winner == player }.count, ties = mine.filter { $0.preference == .tie }.count
            // The bootstrap's middle 95%, widened where it is narrower than the posterior's own
            // 95% interval (the inverse curvature of the fit): resamples of a handful of
            // verdicts all agree, and would give a version judged once an interval of a point.
            let sorted = resampled[player].sorted(), margin = 1.959964 * standardErrors[player]
            let lower = min(percentile(sorted, 0.025) ?? ratings[player], ratings[player] - margin)
            let upper = max(percentile(sorted, 0.975) ?? ratings[player], ratings[player] + margin)
            leaderboard.append(Standing(modelId: model, rating: ratings[player], lower: lower, upper: upper,
                                        wins: wins, losses: mine.count - wins - ties, ties: ties))
        }
        leaderboard.sort { $0.rating > $1.rating || ($0.rating == $1.rating && $0.modelId < $1.modelId) }

        var matchups: [Matchup] = []
        for a in 0..<models.count {
            for b in (a + 1)..<max(a + 1, models.count) {
                let between = games.filter { Set([$0.left, $0.right]) == Set([a, b]) }
                guard !between.isEmpty else { continue }
                let winsA = between.filter { $0.winner == a }.count, winsB = between.filter { $0.winner == b }.count
                let ties = between.count - winsA - winsB
                let score = Double(winsA) + Double(ties) / 2
                let (lower, upper) = wilsonInterval(successes: score, trials: Double(between.count))
                matchups.append(Matchup(modelA: models[a], modelB: models[b], winsA: winsA, winsB: winsB, ties: ties,
                                        winRateA: score / Double(between.count), lower: lower, upper: upper))
            }
        }

        let decided = verdicts.filter { $0.preference != .tie }
        let leftSide = decided.isEmpty ? nil : Share(credit: Double(decided.filter { $0.preference == .left }.count), verdicts: decided.count)

        var agreements: [RewardModelAgreement] = []
        for (rewardModel, scores) in rewards.sorted(by: { $0.key < $1.key }) {
            func agreement(_ verdicts: [EvaluationVerdict]) -> Share? {
                var credit = 0.0, compared = 0
                for verdict in verdicts {
                    guard let left = scores[verdict.leftAnswerID], let right = scores[verdict.rightAnswerID] else { continue }
                    compared += 1
                    if left == right { credit += 0.5 } else if (left > right) == (verdict.preference == .left) { credit += 1 }
                }
                return compared == 0 ? nil : Share(credit: credit, verdicts: compared)
            }
            guard let all = agreement(decided) else { continue }
            agreements.append(RewardModelAgreement(rewardModelId: rewardModel, all: all, heldOutLabelers: agreement(decided.filter(\.byHeldOutLabeler))))
        }
        return EvaluationResults(verdicts: verdicts.count, leaderboard: leaderboard, matchups: matchups, leftSide: leftSide, rewardModels: agreements)
    }

    /// The 95% Wilson score interval of a proportion: unlike the normal approximation it stays
    /// inside [0, 1] and does not collapse to a point after a handful of wins.
    public static func wilsonInterval(successes: Double, trials: Double, z: Double = 1.959964) -> (lower: Double, upper: Double) {
        guard trials > 0 else { return (0, 1) }
        let share = successes / trials, z2 = z * z
        let centre = (share + z2 / (2 * trials)) / (1 + z2 / trials)
        let halfWidth = z / (1 + z2 / trials) * (share * (1 - share) / trials + z2 / (4 * trials * trials)).squareRoot()
        // At no successes (or all) the bound is exactly 0 (or 1); rounding would leave 1e-17.
        return (successes <= 0 ? 0 : max(0, centre - halfWidth), successes >= trials ? 1 : min(1, centre + halfWidth))
    }

    private static func percentile(_ sorted: [Double], _ fraction: Double) -> Double? {
        guard !sorted.isEmpty else { return nil }
        let position = fraction * Double(sorted.count - 1)
        let below = Int(position.rounded(.down)), above = min(sorted.count - 1, below + 1)
        return sorted[below] + (sorted[above] - sorted[below]) * (position - Double(below))
    }
}

/// One verdict as the fit sees it: players by index.
struct Game: Sendable {
    let left: Int
    let right: Int
    let preference: PairPreference

    var winner: Int? {
        switch preference {
        case .left: left
        case .right: right
        case .tie: nil
        }
    }
}

/// The Bradley-Terry model: player i beats player j with probability sigmoid(s_i - s_j).
enum BradleyTerry {
    /// A weak Gaussian prior on the strengths (precision 0.01, a standard deviation of 10, so
    /// about 4,000 Elo points): it keeps a version that never won finite and barely moves the
    /// others.
    static let priorPrecision = 0.01

    /// The strengths (in nats) that maximize the likelihood of `games` under the prior, a tie
    /// counting as half a win for each side; centred on a mean of zero. Newton's method on the
    /// concave log-posterior: a handful of steps at the sizes of an evaluation.
    static func fit(_ games: [Game], playerCount: Int) -> (strengths: [Double], curvature: [[Double]]) {
        guard playerCount > 0 else { return ([], []) }
        // wins[i][j]: how often i beat j (halves for ties).
        var wins = Array(repeating: Array(repeating: 0.0, count: playerCount), count: playerCount)
        for game in games {
            switch game.preference {
            case .left: wins[game.left][game.right] += 1
            case .right: wins[game.right][game.left] += 1
            case .tie:
                wins[game.left][game.right] += 0.5
                wins[game.right][game.left] += 0.5
            }
        }
        var strength = Array(repeating: 0.0, count: playerCount)
        var curvature: [[Double]] = []
        for _ in 0..<100 {
            var gradient = strength.map { -priorPrecision * $0 }
            curvature = Array(repeating: Array(repeating: 0.0, count: playerCount), count: playerCount)
            for i in 0..<playerCount {
                curvature[i][i] = priorPrecision
                for j in 0..<playerCount where j != i {
                    let games = wins[i][j] + wins[j][i]
                    guard games > 0 else { continue }
                    let probability = 1 / (1 + exp(strength[j] - strength[i]))
                    gradient[i] += wins[i][j] - games * probability
                    let weight = games * probability * (1 - probability)
                    curvature[i][i] += weight
                    curvature[i][j] -= weight
                }
            }
            let step = solve(curvature, gradient)
            for i in 0..<playerCount { strength[i] += step[i] }
            if step.map(abs).max() ?? 0 < 1e-10 { break }
        }
        let mean = strength.reduce(0, +) / Double(playerCount)
        return (strength.map { $0 - mean }, curvature)
    }

    /// The posterior standard deviation of each strength as reported (centred on the mean):
    /// the diagonal of P C⁻¹ P, with C the curvature at the fit and P the centring projection.
    static func standardErrors(curvature: [[Double]]) -> [Double] {
        let n = curvature.count
        guard n > 0 else { return [] }
        // The columns of C⁻¹, one solve per unit vector (n is the number of versions: small).
        let inverse = (0..<n).map { column in solve(curvature, (0..<n).map { $0 == column ? 1.0 : 0.0 }) }
        let rowMeans = (0..<n).map { i in (0..<n).reduce(0) { $0 + inverse[$1][i] } / Double(n) }
        let grandMean = rowMeans.reduce(0, +) / Double(n)
        // (P C⁻¹ P)_ii = C⁻¹_ii - 2 mean_j C⁻¹_ij + mean_jk C⁻¹_jk (C⁻¹ is symmetric).
        return (0..<n).map { i in max(0, inverse[i][i] - 2 * rowMeans[i] + grandMean).squareRoot() }
    }

    /// Solves `matrix` x = `vector` by Gaussian elimination with partial pivoting (the matrix is
    /// symmetric positive definite: the prior makes it so).
    static func solve(_ matrix: [[Double]], _ vector: [Double]) -> [Double] {
        var a = matrix, b = vector
        let n = b.count
        for column in 0..<n {
            let pivot = (column..<n).max { abs(a[$0][column]) < abs(a[$1][column]) }!
            a.swapAt(column, pivot)
            b.swapAt(column, pivot)
            for row in (column + 1)..<max(column + 1, n) {
                let factor = a[row][column] / a[column][column]
                guard factor != 0 else { continue }
                for k in column..<n { a[row][k] -= factor * a[column][k] }
                b[row] -= factor * b[column]
            }
        }
        var x = Array(repeating: 0.0, count: n)
        for row in stride(from: n - 1, through: 0, by: -1) {
            let known = ((row + 1)..<max(row + 1, n)).reduce(0) { $0 + a[row][$1] * x[$1] }
            x[row] = (b[row] - known) / a[row][row]
        }
        return x
    }
}
