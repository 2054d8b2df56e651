import CBLAS
import Foundation

/// The layers the Llama family adds to the core, in the same convention as `Kernels`: outputs
/// first, then inputs, then sizes; backward functions accumulate (+=).
extension Kernels {
    // MARK: Token embedding without positions

    /// out[N,C] = wte[tokens[n]]: the Llama family has no learned positions (RoPE rotates the
    /// queries and keys instead).
    static func embeddingForward(_ out: FloatPointer, _ tokens: UnsafePointer<Int32>, _ wte: UnsafePointer<Float>, rows N: Int, C: Int) {
        for n in 0..<N { (out + n * C).update(from: wte + Int(tokens[n]) * C, count: C) }
    }

    static func embeddingBackward(_ dwte: FloatPointer, _ dout: UnsafePointer<Float>, _ tokens: UnsafePointer<Int32>, rows N: Int, C: Int) {
        for n in 0..<N {
            let row = dwte + Int(tokens[n]) * C, g = dout + n * C
            for i in 0..<C { row[i] += g[i] }
        }
    }

    // MARK: RMSNorm

    /// out[N,C] = x * rstd * weight with rstd = 1 / sqrt(mean(x^2) + epsilon), per row; keeps
    /// rstd[N] for backward.
    static func rmsNormForward(_ out: FloatPointer, _ rstd: FloatPointer, _ input: UnsafePointer<Float>, _ weight: UnsafePointer<Float>,
                               rows N: Int, C: Int, epsilon: Float) {
        parallelRows(N, splittingFrom: lightRowsToSplit) { row in
            let x = input + row * C, y = out + row * C
            var squares: Float = 0
            for i in 0..<C { squares += x[i] * x[i] }
            let s = 1 / (squares / Float(C) + epsilon).squareRoot()
            for i in 0..<C { y[i] = x[i] * s * weight[i] }
            rstd[row] = s
        }
    }

    /// With n = x * rstd and dn = dout * weight: dx = rstd * (dn - n * mean(dn * n)),
    /// dweight += dout * n.
    static func rmsNormBackward(_ dinput: FloatPointer, _ dweight: FloatPointer, _ dout: UnsafePointer<Float>, _ input: UnsafePointer<Float>,
                                _ weight: UnsafePointer<Float>, _ rstd: UnsafePointer<Float>, rows N: Int, C: Int) {
        parallelRows(N, splittingFrom: lightRowsToSplit) { row in
            let g = dout + row * C, x = input + row * C, dx = dinput + row * C
            let s = rstd[row]
            var meanOfProduct: Float = 0
            for i in 0..<C { meanOfProduct += weight[i] * g[i] * x[i] * s }
            meanOfProduct /= Float(C)
            for i in 0..<C { dx[i] += s * (weight[i] * g[i] - x[i] * s * meanOfProduct) }
        }
        for row in 0..<N {
            let g = dout + row * C, x = input + row * C
            let s = rstd[row]
            for i in 0..<C { dweight[i] += g[i] * x[i] * s }
        }
    }

    // MARK: Linear layers with PyTorch's weight layout

    /// out[N,OC] = input[N,C] · weight[OC,C]^T: `nn.Linear` without a bias, whose weights are
    /// stored output-major (GPT-2's `Conv1D` stores them input-major, see `matmulForward`).
    static func linearForward(_ out: FloatPointer, _ input: UnsafePointer<Float>, _ weight: UnsafePointer<Float>, rows N: Int, C: Int, OC: Int) {
        if N == 1 {
            gemvSplit(weight, rows: OC, columns: C, input, out, beta: 0, transposed: false)
            return
        }
        if N <= skinnyRowLimit { return skinnyLinearForward(out, input, weight, rows: N, C: C, OC: OC) }
        gemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(N), Int32(OC), Int32(C), 1, input, Int32(C), weight, Int32(C), 0, out, Int32(OC))
    }

    static func linearBackward(_ dinput: FloatPointer, _ dweight: FloatPointer, _ dout: UnsafePointer<Float>, _ input: UnsafePointer<Float>,
                               _ weight: UnsafePointer<Float>, rows N: Int, C: Int, OC: Int) {
        // dinput[N,C] += dout[N,OC] · weight[OC,C]; dweight[OC,C] += dout^T · input
        gemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(N), Int32(C), Int32(OC), 1, dout, Int32(OC), weight, Int32(C), 1, dinput, Int32(C))
        gemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(OC), Int32(C), Int32(N), 1, dout, Int32(OC), input, Int32(C), 1, dweight, Int32(C))
    }

    // MARK: Rotary position embeddings

    /// Rotates each head's pairs of a row by the angles of its token's position, in place:
    /// x[N, heads * hs], cosines and sines [positions, hs/2] (angle position * theta^(-2i/hs)).
    /// `inverse` rotates back by the negative angle, which is the backward pass (a rotation's
    /// transpose is its inverse). The pairs are (i, i + hs/2) in Hugging Face's `rotate_half`
    /// layout and (2i, 2i + 1) in llama.cpp's, which GGUF files are written for.
    static func rotaryForward(_ x: FloatPointer, _ positions: UnsafePointer<Int32>, cosines: UnsafePointer<Float>, sines: UnsafePointer<Float>,
                              rows N: Int, heads: Int, headSize hs: Int, layout: RotaryLayout, inverse: Bool = false) {
        let half = hs / 2
        let direction: Float = inverse ? -1 : 1
        parallelRows(N, splittingFrom: lightRowsToSplit) { row in
            let angles = Int(positions[row]) * half
            for h in 0..<heads {
                let head = x + row * heads * hs + h * hs
                for i in 0..<half {
                    let (first, second) = layout == .rotateHalf ? (i, i + half) : (2 * i, 2 * i + 1)
                    let c = cosines[angles + i], s = direction * sines[angles + i]
                    let (a, b) = (head[first], head[second])
                    head[first] = a * c - b * s
                    head[second] = b * c + a * s
                }
            }
        }
    }

    /// The cosine and sine tables of `rotaryForward`: [positions, hs/2] each, for pair i turning
    /// `inverseFrequencies[i]` per position, computed in double precision (the angles of late
    /// positions are large, and float32 would lose their phase).
    static func rotaryTables(positions: Int, inverseFrequencies: [Double]) -> (cosines: [Float], sines: [Float]) {
        let half = inverseFrequencies.count
        var cosines = [Float](repeating: 0, count: positions * half), sines = cosines
        for position in 0..<positions {
            for i in 0..<half {
                let angle = Double(position) * inverseFrequencies[i]
                cosines[position * half + i] = Float(cos(angle))
                sines[position * half + i] = Float(sin(angle))
            }
        }
        return (cosines, sines)
    }

    // MARK: SwiGLU

    /// out[N] = silu(gate) * up, silu(a) = a * sigmoid(a): the Llama family's feed-forward gate.
    static func swigluForward(_ out: FloatPointer, _ gate: UnsafePointer<Float>, _ up: UnsafePointer<Float>, count N: Int) {
        parallelChunks(N) { range in
            for i in range {
                let a = gate[i]
                out[i] = a / (1 + expf(-a)) * up[i]
            }
        }
    }

    static func swigluBackward(_ dgate: FloatPointer, _ dup: FloatPointer, _ dout: UnsafePointer<Float>, _ gate: UnsafePointer<Float>,
                               _ up: UnsafePointer<Float>, count N: Int) {
        parallelChunks(N) { range in
            for i in range {
                let a = gate[i]
                let sigmoid = 1 / (1 + expf(-a))
                dup[i] += dout[i] * a * sigmoid
                dgate[i] += dout[i] * up[i] * sigmoid * (1 + a * (1 - sigmoid))
            }
        }
    }
}

/// Which coordinates of a head rotary position embeddings rotate together.
public enum RotaryLayout: String, Sendable, Codable {
    /// Hugging Face's `rotate_half`: coordinate i with i + headSize/2.
    case rotateHalf
    /// llama.cpp's and GGUF's: coordinate 2i with 2i + 1.
    case adjacentPairs
}
