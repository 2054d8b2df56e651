import Glibc

/// A fixed-size, 64-byte-aligned, zero-initialized block of floats that owns its memory. All of
/// a model's parameters live in one (so do their gradients and optimizer moments), in the order
/// of `ParameterLayout`, as in llm.c.
///
/// A large buffer is mapped straight from the kernel, whose fresh pages read as zero: it costs
/// memory only where it is written, and is not written twice (once with zeros, once with its
/// values) the first time; it asks for huge pages. Activation memory, sized for the largest pass
/// so far, relies on it.
public final class FloatBuffer: @unchecked Sendable {
    public let count: Int
    public let pointer: UnsafeMutablePointer<Float>
    /// The bytes mapped, or 0 for a buffer from the allocator.
    private let mappedBytes: Int

    /// Buffers of at least this many bytes are mapped.
    static let mappingThreshold = 1 << 20

    public init(count: Int) {
        self.count = count
        let bytes = max(1, count) * MemoryLayout<Float>.stride
        if bytes >= Self.mappingThreshold, let mapped = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), mapped != MAP_FAILED {
            mappedBytes = bytes
            // Huge pages where the system allows them on request (transparent huge pages in
            // "madvise" mode): a 2 MiB page faults in once for 512 small ones, and the products
            // over the weights miss the TLB less.
            _ = madvise(mapped, bytes, MADV_HUGEPAGE)
            pointer = mapped.bindMemory(to: Float.self, capacity: max(1, count))
        } else {
            mappedBytes = 0
            let raw = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
            pointer = raw.bindMemory(to: Float.self, capacity: max(1, count))
            pointer.initialize(repeating: 0, count: max(1, count))
        }
    }

    deinit {
        if mappedBytes > 0 { munmap(UnsafeMutableRawPointer(pointer), mappedBytes) } else { UnsafeMutableRawPointer(pointer).deallocate() }
    }

    public func zero() { pointer.update(repeating: 0, count: count) }

    public var buffer: UnsafeMutableBufferPointer<Float> { UnsafeMutableBufferPointer(start: pointer, count: count) }

    /// One buffer cut into consecutive pieces of the given sizes: the pointers to their starts.
    /// `previous` is reused whenever it holds enough floats: passes whose shapes change every
    /// step (training on sequences of varying length) then fault in no new pages (fresh pages
    /// had been a sixth of a reward model's training time). The pieces of a reused buffer hold
    /// old values: their users overwrite or zero what they read.
    static func carved(into sizes: [Int], reusing previous: FloatBuffer? = nil) -> (buffer: FloatBuffer, pieces: [UnsafeMutablePointer<Float>]) {
        let total = sizes.reduce(0, +)
        // A new buffer grows by half at least: a mapped buffer's unwritten part costs nothing,
        // and passes that grow a little at a time then fault in their pages once, not each time.
        let buffer = previous.flatMap { $0.count >= total ? $0 : nil } ?? FloatBuffer(count: max(total, (previous?.count ?? 0) * 3 / 2))
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
