import Foundation

/// Matrix products with a handful of rows against output-major weights ([OC,C]: the Llama
/// family's linear layers and every tied output head): decoding a few sequences one token at a
/// time. They are bound by reading the weights, and cblas_sgemm with few rows first packs the
/// whole weight matrix (reading it and writing a copy), which doubles that traffic. This reads
/// each weight row once for four input rows at a time, eight floats per step, with the sums in
/// registers; the output columns are split over the cores. (GPT-2's input-major `Conv1D`
/// weights would be read in strides here; sgemm's packing serves them better, measured.)
extension Kernels {
    /// The most rows these kernels take; more rows amortize sgemm's packing.
    static let skinnyRowLimit = 16

    /// out[N,OC] = input[N,C] · weight[OC,C]^T (PyTorch's layout, `linearForward`).
    static func skinnyLinearForward(_ out: FloatPointer, _ input: UnsafePointer<Float>, _ weight: UnsafePointer<Float>, rows N: Int, C: Int, OC: Int) {
        precondition(N <= skinnyRowLimit)
        let vectors = C / 8
        MatrixProductClock.shared.measure {
            parallelColumns(OC) { columns in
                for o in columns {
                    let w = UnsafeRawPointer(weight + o * C)
                    // Four rows at a time, their sums held in registers; a last group of fewer
                    // rows repeats row `first` in the missing places and ignores their sums.
                    for first in stride(from: 0, to: N, by: 4) {
                        func row(_ r: Int) -> UnsafeRawPointer { UnsafeRawPointer(input + min(first + r, N - 1) * C) }
                        let (x0, x1, x2, x3) = (row(0), row(1), row(2), row(3))
                        var (s0, s1, s2, s3) = (SIMD8<Float>.zero, SIMD8<Float>.zero, SIMD8<Float>.zero, SIMD8<Float>.zero)
                        // Wrapping offsets: the loop is the whole cost of decoding, and overflow
                        // checks on `v * 32` cannot fail here (v < C / 8).
                        var offset = 0
                        let end = vectors &* 32
                        while offset < end {
                            let weights = w.loadUnaligned(fromByteOffset: offset, as: SIMD8<Float>.self)
                            s0 += weights * x0.loadUnaligned(fromByteOffset: offset, as: SIMD8<Float>.self)
                            s1 += weights * x1.loadUnaligned(fromByteOffset: offset, as: SIMD8<Float>.self)
                            s2 += weights * x2.loadUnaligned(fromByteOffset: offset, as: SIMD8<Float>.self)
                            s3 += weights * x3.loadUnaligned(fromByteOffset: offset, as: SIMD8<Float>.self)
                            offset &+= 32
                        }
                        for r in 0..<min(4, N - first) {
                            let n = first + r
                            var total = (r == 0 ? s0 : r == 1 ? s1 : r == 2 ? s2 : s3).sum()
                            for c in (vectors * 8)..<C { total += weight[o * C + c] * input[n * C + c] }
                            out[n * OC + o] = total
                        }
                    }
                }
            }
        }
    }

    /// Splits `count` output columns into one block per core, in multiples of 16.
    static func parallelColumns(_ count: Int, _ body: (Range<Int>) -> Void) {
        let workers = ProcessInfo.processInfo.activeProcessorCount
        let chunk = ((count + workers - 1) / workers + 15) / 16 * 16
        guard workers > 1, count >= 256 else { return body(0..<count) }
        parallelRows((count + chunk - 1) / chunk) { part in body((part * chunk)..<min(count, (part + 1) * chunk)) }
    }
}
