/// What the values of a forward pass's attention mask ([B,T], one per position) mean.
///
/// - 0: padding. No query sees it.
/// - 1: an ordinary token, seen by every later position of its row.
/// - 2 and above: a branch. A token of branch n is seen only by later positions of the same
///   branch n, and a branch's positions see every earlier ordinary token.
///
/// Hugging Face's masks are the 0/1 case. Branches let one row hold a prompt followed by several
/// answers to it, each answer attending to the prompt and to itself only: the reward model reads
/// the K answers of a ranking in one row, the prompt computed once for all of them, and its
/// gradient gathering what every answer sends back. Each answer's position ids continue from the
/// prompt's end, so every answer sees exactly what it would see alone after the prompt.
public enum AttentionMask {
    public static let padding: UInt8 = 0
    public static let ordinary: UInt8 = 1
    /// The mask value of the branch holding the `index`-th answer (from 0) of a packed row.
    public static func branch(_ index: Int) -> UInt8 {
        precondition(index >= 0 && index < Int(maximumBranchCount), "a row holds at most \(maximumBranchCount) branches")
        return UInt8(2 + index)
    }
    public static let maximumBranchCount: UInt8 = 254

    /// Whether a query at a position with mask value `query` sees an earlier key with value `key`.
    @inline(__always)
    static func isVisible(key: UInt8, query: UInt8) -> Bool {
        key == ordinary || (key != padding && key == query)
    }
}
