import CKernels
import Testing
@testable import TransformerCore

/// The few-row product of decoding (CKernels: AVX2, SSE or plain C by processor) against a plain
/// double-precision product: every row count up to the limit (groups of four and the rest),
/// widths that are and are not multiples of eight, and column counts below and above the
/// split over cores.
@Suite("Few-row products")
struct SkinnyProductTests {
    @Test(arguments: [(37, 40), (64, 300), (576, 1536), (9, 17)])
    func matchesAPlainProduct(C: Int, OC: Int) {
        Self.check(C: C, OC: OC) { out, input, weights, rows in
            Kernels.skinnyLinearForward(out, input, weights, rows: rows, C: C, OC: OC)
        }
    }

    /// Each instruction set's kernel on its own (the processor running the tests picks one for
    /// the product; the others must be right too, for the processors that pick them).
    @Test(arguments: [tally_portable, tally_sse, tally_avx2_fma])
    func eachInstructionSetMatchesAPlainProduct(set: tally_instruction_set) throws {
        try #require(tally_runs(set) != 0, "this processor does not run \(set)")
        for (C, OC) in [(37, 40), (576, 300)] {
            Self.check(C: C, OC: OC) { out, input, weights, rows in
                for first in stride(from: 0, to: rows, by: 4) {
                    tally_skinny_columns_with(set, out + first * OC, OC, input + first * C, min(4, rows - first), weights, C, 0, OC)
                }
            }
        }
    }

    static func check(C: Int, OC: Int, product: (FloatPointer, UnsafePointer<Float>, UnsafePointer<Float>, Int) -> Void) {
        var random = SeededRandom(seed: UInt64(C * 1000 + OC))
        let weights = (0..<(C * OC)).map { _ in random.nextNormal() }
        for rows in 1...Kernels.skinnyRowLimit {
            let input = (0..<(rows * C)).map { _ in random.nextNormal() }
            var out = [Float](repeating: .nan, count: rows * OC)
            out.withUnsafeMutableBufferPointer { out in product(out.baseAddress!, input, weights, rows) }
            var worst = 0.0
            for n in 0..<rows {
                for o in 0..<OC {
                    var expected = 0.0, magnitude = 0.0
                    for c in 0..<C {
                        let term = Double(input[n * C + c]) * Double(weights[o * C + c])
                        expected += term
                        magnitude += abs(term)
                    }
                    // Float32 sums in another order differ by a few ulps of the terms' magnitude.
                    worst = max(worst, abs(Double(out[n * OC + o]) - expected) / magnitude)
                }
            }
            #expect(worst < 1e-6, "rows \(rows): error \(worst) of the terms' magnitude")
        }
    }
}
