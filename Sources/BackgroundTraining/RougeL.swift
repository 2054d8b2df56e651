/// ROUGE-L (Lin 2004): the F-measure of the longest common subsequence of two texts' words.
/// The loop drops a new candidate whose ROUGE-L against another answer to the same prompt is
/// 0.7 or more (Self-Instruct's rule for near duplicates), so labelers never rank the same
/// answer twice in other words.
enum RougeL {
    /// Lower-cased words: letters and digits, everything else a separator (as the
    /// `rouge-score` package tokenizes).
    static func words(_ text: String) -> [Substring] {
        text.lowercased().split { !($0.isLetter || $0.isNumber) }
    }

    static func score(_ a: String, _ b: String) -> Double {
        score(words(a), words(b))
    }

    static func score(_ a: [Substring], _ b: [Substring]) -> Double {
        guard !a.isEmpty, !b.isEmpty else { return a.isEmpty && b.isEmpty ? 1 : 0 }
        // One row of the longest-common-subsequence table at a time.
        var previous = [Int](repeating: 0, count: b.count + 1), current = previous
        for wordOfA in a {
            for (j, wordOfB) in b.enumerated() {
                current[j + 1] = wordOfA == wordOfB ? previous[j] + 1 : max(previous[j + 1], current[j])
            }
            swap(&previous, &current)
        }
        let common = Double(previous[b.count])
        guard common > 0 else { return 0 }
        let precision = common / Double(b.count), recall = common / Double(a.count)
        return 2 * precision * recall / (precision + recall)
    }
}
