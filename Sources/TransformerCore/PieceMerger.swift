/// Applies a vocabulary's merges to one piece's symbols: the adjacent pair of the lowest rank
/// merges first, the leftmost among equals, until no pair has a merge (Hugging Face's order).
///
/// Candidate pairs wait in a heap keyed by (rank, position) and the symbols form a linked list,
/// so a piece of n symbols costs O(n log n). Rescanning the whole piece after every merge
/// would cost O(n²), which SentencePiece's whole-text pieces (tens of thousands of characters
/// for a long demonstration) cannot afford.
struct PieceMerger {
    /// (left id << 32 | right id) to (rank, merged id).
    let merges: [UInt64: (rank: Int32, merged: Int32)]

    static func pairKey(_ left: Int32, _ right: Int32) -> UInt64 { UInt64(UInt32(bitPattern: left)) << 32 | UInt64(UInt32(bitPattern: right)) }

    func merge(_ initial: [Int32]) -> [Int32] {
        guard initial.count > 1 else { return initial }
        var symbols = initial
        let count = symbols.count
        // Linked list over positions; a merged pair lives on at its left position.
        var next = Array(1...count), previous = Array(-1..<(count - 1))
        next[count - 1] = -1
        // Keys (rank << 32 | position): the lowest rank first, the leftmost among equals.
        var heap = BinaryHeap<UInt64>()
        func consider(_ position: Int) {
            let right = next[position]
            guard right >= 0, let merge = merges[Self.pairKey(symbols[position], symbols[right])] else { return }
            heap.push(UInt64(UInt32(merge.rank)) << 32 | UInt64(position), by: <)
        }
        for position in 0..<(count - 1) { consider(position) }
        while let key = heap.pop(by: <) {
            let position = Int(key & 0xFFFF_FFFF), rank = Int32(key >> 32)
            let right = next[position]
            // A stale entry: the pair at this position has changed since it was queued.
            guard right >= 0, symbols[position] >= 0, let merge = merges[Self.pairKey(symbols[position], symbols[right])], merge.rank == rank else { continue }
            symbols[position] = merge.merged
            symbols[right] = -1
            next[position] = next[right]
            if next[right] >= 0 { previous[next[right]] = position }
            if previous[position] >= 0 { consider(previous[position]) }
            consider(position)
        }
        var result: [Int32] = []
        result.reserveCapacity(count)
        var position = 0
        while position >= 0 {
            result.append(symbols[position])
            position = next[position]
        }
        return result
    }
}
