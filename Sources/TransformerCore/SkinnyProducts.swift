import CKernels
import Foundation

/// Matrix products with a handful of rows against output-major weights ([OC,C]: the Llama
/// family's linear layers and every tied output head): decoding a few sequences one token at a
/// time. They are bound by reading the weights, and cblas_sgemm with few rows first packs the
/// whole weight matrix (reading it and writing a copy), which doubles that traffic. The C
/// kernel (CKernels) reads each weight row once for four input rows at a time, eight floats
/// per step, with the sums in registers: with AVX2 and FMA where the processor has them (Swift
/// cannot compile one function for an instruction set chosen at run time), with SSE
/// otherwise, and in plain C on processors other than x86-64. The output columns are split over the cores. (GPT-2's input-major `Conv1D`
/// weights would be read in strides here; sgemm's packing serves them better, measured.)
extension Kernels {
    /// The most rows these kernels take; more rows amortize sgemm's packing.
    static let skinnyRowLimit = 16

    /// out[N,OC] = input[N,C] · weight[OC,C]^T (PyTorch's layout, `linearForward`).
    static func skinnyLinearForward(_ out: FloatPointer, _ input: UnsafePointer<Float>, _ weight: UnsafePointer<Float>, rows N: Int, C: Int, OC: Int) {
        precondition(N <= skinnyRowLimit)
        MatrixProductClock.shared.measure {
            parallelColumns(OC) { columns in skinnyColumns(out, input, weight: weight, rows: N, C: C, OC: OC, columns: columns) }
        }
    }

    /// The output columns `columns` of `skinnyLinearForward`, on the calling thread, four input
    /// rows at a time (`tally_skinny_columns` in CKernels).
    static func skinnyColumns(_ out: FloatPointer, _ input: UnsafePointer<Float>, weight: UnsafePointer<Float>, rows N: Int, C: Int, OC: Int, columns: Range<Int>) {
        for first in stride(from: 0, to: N, by: 4) {
            tally_skinny_columns(out + first * OC, OC, input + first * C, min(4, N - first), weight, C, columns.lowerBound, columns.upperBound)
        }
    }

    /// Splits `count` output columns into one block per compute thread, in multiples of 16.
    static func parallelColumns(_ count: Int, _ body: (Range<Int>) -> Void) {
        let workers = ComputeThreads.current.count
        let chunk = ((count + workers - 1) / workers + 15) / 16 * 16
        guard workers > 1, count >= 256 else { return body(0..<count) }
        parallelRows((count + chunk - 1) / chunk) { part in body((part * chunk)..<min(count, (part + 1) * chunk)) }
    }
}
