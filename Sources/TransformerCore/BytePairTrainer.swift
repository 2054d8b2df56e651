/// Learns a byte-level BPE vocabulary from a corpus (Sennrich et al. 2016, byte-level as in
/// GPT-2): start from the 256 bytes, count adjacent token pairs within pre-tokenized pieces,
/// and repeatedly merge the most frequent pair into a new token.
///
/// Pair counts are updated incrementally, only in the words a merge touches, and the most
/// frequent pair comes from a max-heap with stale entries skipped, so training a vocabulary of
/// thousands of merges over a megabyte of text takes seconds. Ties go to the pair whose bytes
/// sort first, so training is deterministic.
public enum BytePairTrainer {
    public static func train(corpus: String, vocabularySize: Int, specialTokens: [String] = ["<|endoftext|>"]) throws -> BytePairTokenizer {
        guard vocabularySize >= 256 + specialTokens.count else {
            throw CheckpointError("a byte-level vocabulary needs at least \(256 + specialTokens.count) tokens, not \(vocabularySize)")
        }
        var tokenBytes: [[UInt8]] = (0...255).map { [UInt8($0)] }
        // Distinct pieces with their counts; each piece a sequence of token ids.
        var counts: [String: Int] = [:]
        for piece in PreTokenizer.split(corpus) { counts[String(piece), default: 0] += 1 }
        var words = counts.keys.sorted().map { $0.utf8.map { Int32($0) } }
        let frequencies = counts.keys.sorted().map { counts[$0]! }

        var pairCounts: [UInt64: Int] = [:]
        var wordsWithPair: [UInt64: Set<Int>] = [:]
        func key(_ left: Int32, _ right: Int32) -> UInt64 { UInt64(UInt32(left)) << 32 | UInt64(UInt32(right)) }
        for (index, word) in words.enumerated() where word.count > 1 {
            for position in 0..<(word.count - 1) {
                let pair = key(word[position], word[position + 1])
                pairCounts[pair, default: 0] += frequencies[index]
                wordsWithPair[pair, default: []].insert(index)
            }
        }
        var heap = BinaryHeap<(count: Int, pair: UInt64)>()
        for (pair, count) in pairCounts { heap.push((count, pair)) { pairPrecedes($0, $1, tokenBytes: tokenBytes) } }

        var orderedMerges: [BytePairTokenizer.Merge] = []
        let mergeCount = vocabularySize - 256 - specialTokens.count
        while orderedMerges.count < mergeCount, let (count, pair) = heap.pop(by: { pairPrecedes($0, $1, tokenBytes: tokenBytes) }) {
            guard pairCounts[pair] == count, count > 0 else { continue }  // stale entry
            let left = Int32(truncatingIfNeeded: pair >> 32), right = Int32(truncatingIfNeeded: pair & 0xFFFF_FFFF)
            let merged = Int32(tokenBytes.count)
            tokenBytes.append(tokenBytes[Int(left)] + tokenBytes[Int(right)])
            orderedMerges.append(BytePairTokenizer.Merge(left: left, right: right, merged: merged))
            var changed: Set<UInt64> = []
            for index in wordsWithPair[pair] ?? [] {
                let word = words[index]
                let frequency = frequencies[index]
                for position in 0..<(word.count - 1) {
                    let old = key(word[position], word[position + 1])
                    pairCounts[old, default: 0] -= frequency
                    changed.insert(old)
                }
                let rewritten = BytePairTokenizer.merging(left, right, into: merged, in: word)
                words[index] = rewritten
                for position in 0..<max(0, rewritten.count - 1) {
                    let new = key(rewritten[position], rewritten[position + 1])
                    pairCounts[new, default: 0] += frequency
                    wordsWithPair[new, default: []].insert(index)
                    changed.insert(new)
                }
            }
            wordsWithPair[pair] = nil
            pairCounts[pair] = nil
            for pair in changed {
                if let count = pairCounts[pair], count > 0 { heap.push((count, pair)) { pairPrecedes($0, $1, tokenBytes: tokenBytes) } }
            }
        }
        var special: [String: Int32] = [:]
        for token in specialTokens {
            special[token] = Int32(tokenBytes.count)
            tokenBytes.append(Array(token.utf8))
        }
        return try BytePairTokenizer(tokenBytes: tokenBytes, merges: orderedMerges, specialTokens: special)
    }
}

/// The order pairs are merged in: the most frequent first; among equal counts the pair whose
/// bytes sort first, then the lower ids.
private func pairPrecedes(_ a: (count: Int, pair: UInt64), _ b: (count: Int, pair: UInt64), tokenBytes: [[UInt8]]) -> Bool {
    if a.count != b.count { return a.count > b.count }
    let aBytes = tokenBytes[Int(a.pair >> 32)] + tokenBytes[Int(a.pair & 0xFFFF_FFFF)]
    let bBytes = tokenBytes[Int(b.pair >> 32)] + tokenBytes[Int(b.pair & 0xFFFF_FFFF)]
    if aBytes != bBytes { return aBytes.lexicographicallyPrecedes(bBytes) }
    return a.pair < b.pair
}
