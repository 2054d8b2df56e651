/// One pair of answers from a ranking: the labeler put `preferred` above `rejected`, or tied
/// them. The reward model trains on these (InstructGPT's loss is over every pair of a ranking),
/// the comparison exports write them, and agreement counts them.
public struct Comparison: Sendable {
    public let preferred: StoredRanking.Entry
    public let rejected: StoredRanking.Entry
    /// How many ranks apart the two are: 0 for a tie, 1 for neighbours.
    public let margin: Int
    /// How much better `preferred` is, where the ranking is a graded pair (or an imported
    /// margin): the ranking's strength; nil otherwise.
    public let strength: Double?
    public let rankingID: Int
    public let promptID: Int
    public let labelerID: Int
    public let labelerGroup: String

    public var isTie: Bool { margin == 0 }
}

extension StoredRanking {
    /// Which pairs of a ranking to take.
    public enum PairSelection: Sendable {
        /// The pairs with a preference: what a reward model learns from.
        case preferences
        /// The tied pairs only, for those who train on ties separately.
        case ties
    }

    /// The C(K, 2) pairs of the ranking's K entries that `selection` takes, better first; a tied
    /// pair keeps the entries' order (by candidate id).
    public func comparisons(_ selection: PairSelection = .preferences) -> [Comparison] {
        var comparisons: [Comparison] = []
        for (index, first) in entries.enumerated() {
            for second in entries[(index + 1)...] where (first.rank == second.rank) == (selection == .ties) {
                let (preferred, rejected) = first.rank <= second.rank ? (first, second) : (second, first)
                comparisons.append(Comparison(preferred: preferred, rejected: rejected, margin: rejected.rank - preferred.rank,
                                              strength: entries.count == 2 ? strength : nil, rankingID: id, promptID: promptID, labelerID: labelerID, labelerGroup: labelerGroup))
            }
        }
        return comparisons
    }
}
