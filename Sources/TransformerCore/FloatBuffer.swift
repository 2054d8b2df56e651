/// A fixed-size, 64-byte-aligned, zero-initialized block of floats that owns its memory. All of
/// a model's parameters live in one (so do their gradients and optimizer moments), in the order
/// of `ParameterLayout`, as in llm.c.
public final class FloatBuffer: @unchecked Sendable {
    public let count: Int
    public let pointer: UnsafeMutablePointer<Float>

    public init(count: Int) {
        self.count = count
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(1, count) * MemoryLayout<Float>.stride, alignment: 64)
        pointer = raw.bindMemory(to: Float.self, capacity: max(1, count))
        pointer.initialize(repeating: 0, count: max(1, count))
    }

    deinit { UnsafeMutableRawPointer(pointer).deallocate() }

    public func zero() { pointer.update(repeating: 0, count: count) }

    public var buffer: UnsafeMutableBufferPointer<Float> { UnsafeMutableBufferPointer(start: pointer, count: count) }

    /// One buffer cut into consecutive pieces of the given sizes: the pointers to their starts.
    /// `previous` is reused whenever it holds enough floats: passes whose shapes change every
    /// step (training on sequences of varying length) then fault in no new pages (fresh pages
    /// had been a sixth of a reward model's training time). The pieces of a reused buffer hold
    /// old values: their users overwrite or zero what they read.
    static func carved(into sizes: [Int], reusing previous: FloatBuffer? = nil) -> (buffer: FloatBuffer, pieces: [UnsafeMutablePointer<Float>]) {
        let total = sizes.reduce(0, +)
        let buffer = previous.flatMap { $0.count >= total ? $0 : nil } ?? FloatBuffer(count: total)
        var offset = 0
        var pieces: [UnsafeMutablePointer<Float>] = []
        for size in sizes {
            pieces.append(buffer.pointer + offset)
            offset += size
        }
        return (buffer, pieces)
    }

    public subscript(range: Range<Int>) -> UnsafeMutableBufferPointer<Float> {
        UnsafeMutableBufferPointer(start: pointer + range.lowerBound, count: range.count)
    }
}
