import CBLAS
import Foundation

/// The layers of the transformer, each a forward and a backward function over raw float
/// pointers, in llm.c's convention: outputs first, then inputs, then sizes. Shapes are in the
/// doc comments; B is the batch, T the sequence length, C the width, OC an output width.
/// Backward functions accumulate (+=) into gradients, so shared parameters (the tied token
/// embedding) sum their contributions.
typealias FloatPointer = UnsafeMutablePointer<Float>

enum Kernels {
    // MARK: Embeddings

    /// out[B,T,C] = wte[tokens[b,t]] + wpe[positions[b,t]] (positions default to t).
    static func encoderForward(_ out: FloatPointer, _ tokens: UnsafePointer<Int32>, _ positions: UnsafePointer<Int32>?,
                               _ wte: FloatPointer, _ wpe: FloatPointer, B: Int, T: Int, C: Int) {
        for b in 0..<B {
            for t in 0..<T {
                let destination = out + (b * T + t) * C
                let token = wte + Int(tokens[b * T + t]) * C
                let position = wpe + Int(positions?[b * T + t] ?? Int32(t)) * C
                for i in 0..<C { destination[i] = token[i] + position[i] }
            }
        }
    }

    static func encoderBackward(_ dwte: FloatPointer, _ dwpe: FloatPointer, _ dout: FloatPointer, _ tokens: UnsafePointer<Int32>,
                                _ positions: UnsafePointer<Int32>?, B: Int, T: Int, C: Int) {
        for b in 0..<B {
            for t in 0..<T {
                let gradient = dout + (b * T + t) * C
                let token = dwte + Int(tokens[b * T + t]) * C
                let position = dwpe + Int(positions?[b * T + t] ?? Int32(t)) * C
                for i in 0..<C {
                    token[i] += gradient[i]
                    position[i] += gradient[i]
                }
            }
        }
    }

    // MARK: LayerNorm

    /// out[N,C] = (x - mean) * rstd * weight + bias, per row; keeps mean[N] and rstd[N] for backward.
    static func layerNormForward(_ out: FloatPointer, _ mean: FloatPointer, _ rstd: FloatPointer,
                                 _ input: FloatPointer, _ weight: FloatPointer, _ bias: FloatPointer,
                                 rows N: Int, C: Int, epsilon: Float) {
        parallelRows(N, splittingFrom: lightRowsToSplit) { row in
            let x = input + row * C
            var sum: Float = 0
            for i in 0..<C { sum += x[i] }
            let m = sum / Float(C)
            var variance: Float = 0
            for i in 0..<C { let d = x[i] - m; variance += d * d }
            let s = 1 / (variance / Float(C) + epsilon).squareRoot()
            let y = out + row * C
            for i in 0..<C { y[i] = (x[i] - m) * s * weight[i] + bias[i] }
            mean[row] = m
            rstd[row] = s
        }
    }

    static func layerNormBackward(_ dinput: FloatPointer, _ dweight: FloatPointer, _ dbias: FloatPointer,
                                  _ dout: FloatPointer, _ input: FloatPointer, _ weight: FloatPointer,
                                  _ mean: FloatPointer, _ rstd: FloatPointer, rows N: Int, C: Int) {
        // Input gradients are independent per row: parallel. Weight gradients sum over rows: serial.
        parallelRows(N, splittingFrom: lightRowsToSplit) { row in
            let g = dout + row * C, x = input + row * C, dx = dinput + row * C
            let m = mean[row], s = rstd[row]
            var meanOfGradient: Float = 0, meanOfGradientTimesNorm: Float = 0
            for i in 0..<C {
                let norm = (x[i] - m) * s
                let dnorm = weight[i] * g[i]
                meanOfGradient += dnorm
                meanOfGradientTimesNorm += dnorm * norm
            }
            meanOfGradient /= Float(C)
            meanOfGradientTimesNorm /= Float(C)
            for i in 0..<C {
                let norm = (x[i] - m) * s
                dx[i] += (weight[i] * g[i] - meanOfGradient - norm * meanOfGradientTimesNorm) * s
            }
        }
        for row in 0..<N {
            let g = dout + row * C, x = input + row * C
            let m = mean[row], s = rstd[row]
            for i in 0..<C {
                dbias[i] += g[i]
                dweight[i] += (x[i] - m) * s * g[i]
            }
        }
    }

    // MARK: Linear layers (cblas_sgemm)

    /// out[N,OC] = input[N,C] · weight[C,OC] + bias[OC]
    static func matmulForward(_ out: FloatPointer, _ input: FloatPointer, _ weight: FloatPointer, _ bias: FloatPointer?,
                              rows N: Int, C: Int, OC: Int) {
        if N == 1 {
            // One row (decoding one sequence) is a matrix-vector product, bound by reading the
            // weights: sgemv reads the matrix as it is, where sgemm would pack it first.
            if let bias { out.update(from: bias, count: OC) }
            gemvSplit(weight, rows: C, columns: OC, input, out, beta: bias == nil ? 0 : 1, transposed: true)
            return
        }
        if let bias {
            for row in 0..<N { (out + row * OC).update(from: bias, count: OC) }
        }
        gemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(N), Int32(OC), Int32(C),
                    1, input, Int32(C), weight, Int32(OC), bias == nil ? 0 : 1, out, Int32(OC))
    }

    static func matmulBackward(_ dinput: FloatPointer, _ dweight: FloatPointer, _ dbias: FloatPointer?,
                               _ dout: FloatPointer, _ input: FloatPointer, _ weight: FloatPointer,
                               rows N: Int, C: Int, OC: Int) {
        // dinput[N,C] += dout[N,OC] · weight^T
        gemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(N), Int32(C), Int32(OC),
                    1, dout, Int32(OC), weight, Int32(OC), 1, dinput, Int32(C))
        // dweight[C,OC] += input^T · dout
        gemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(C), Int32(OC), Int32(N),
                    1, input, Int32(C), dout, Int32(OC), 1, dweight, Int32(OC))
        if let dbias {
            for row in 0..<N {
                let g = dout + row * OC
                for o in 0..<OC { dbias[o] += g[o] }
            }
        }
    }

    /// The language-model head tied to the token embedding: logits[N,V] = input[N,C] · wte[V,C]^T
    static func tiedHeadForward(_ logits: FloatPointer, _ input: FloatPointer, _ wte: FloatPointer, rows N: Int, C: Int, V: Int) {
        if N == 1 {
            gemvSplit(wte, rows: V, columns: C, input, logits, beta: 0, transposed: false)
            return
        }
        if N <= skinnyRowLimit { return skinnyLinearForward(logits, input, wte, rows: N, C: C, OC: V) }
        gemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(N), Int32(V), Int32(C),
                    1, input, Int32(C), wte, Int32(C), 0, logits, Int32(V))
    }

    static func tiedHeadBackward(_ dinput: FloatPointer, _ dwte: FloatPointer, _ dlogits: FloatPointer,
                                 _ input: FloatPointer, _ wte: FloatPointer, rows N: Int, C: Int, V: Int) {
        gemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(N), Int32(C), Int32(V),
                    1, dlogits, Int32(V), wte, Int32(C), 1, dinput, Int32(C))
        gemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(V), Int32(C), Int32(N),
                    1, dlogits, Int32(V), input, Int32(C), 1, dwte, Int32(C))
    }

    // MARK: Causal self-attention

    /// Where a batch's queries, keys or values lie: rows of `stride` floats, one per position
    /// ([B,T] rows), with the heads' `headSize` slices side by side from `base`. GPT-2's fused
    /// qkv[B,T,3C] is three views of one buffer (stride 3C, bases 0, C and 2C); the Llama
    /// family's separate projections are one view each.
    struct HeadsView {
        let base: FloatPointer
        let stride: Int
        func head(batch b: Int, head h: Int, T: Int, headSize hs: Int) -> FloatPointer { base + b * T * stride + h * hs }
    }

    /// GPT-2's attention: out[B,T,C] from qkv[B,T,3C] (query, key, value side by side); keeps
    /// the attention weights att[B,NH,T,T] for backward.
    static func attentionForward(_ out: FloatPointer, _ att: FloatPointer, _ qkv: FloatPointer, _ keyMask: UnsafePointer<UInt8>?,
                                 B: Int, T: Int, C: Int, NH: Int) {
        attentionForward(out: HeadsView(base: out, stride: C), att, queries: HeadsView(base: qkv, stride: 3 * C),
                         keys: HeadsView(base: qkv + C, stride: 3 * C), values: HeadsView(base: qkv + 2 * C, stride: 3 * C),
                         keyMask, B: B, T: T, headCount: NH, keyValueHeadCount: NH, headSize: C / NH)
    }

    /// Causal attention with `headCount` query heads sharing `keyValueHeadCount` key/value heads
    /// (grouped-query attention: query head h reads key/value head h / (headCount /
    /// keyValueHeadCount); equal counts are ordinary multi-head attention). Keeps the attention
    /// weights att[B,NH,T,T] for backward. Each (batch, head) pair is two sgemm calls and a masked
    /// softmax: scores = Q·K^T / sqrt(hs), att = softmax over the positions t2 <= t that
    /// `AttentionMask.isVisible` lets query t see, out = att·V. A query with no visible key
    /// (a left-padding position) gets zero weights and a zero output. Backward reads the kept
    /// weights, so any mask's zeros carry through it unchanged.
    static func attentionForward(out: HeadsView, _ att: FloatPointer, queries: HeadsView, keys: HeadsView, values: HeadsView,
                                 _ keyMask: UnsafePointer<UInt8>?, B: Int, T: Int, headCount NH: Int, keyValueHeadCount KVH: Int, headSize hs: Int) {
        let scale = 1 / Float(hs).squareRoot()
        let group = NH / KVH
        parallelRows(B * NH) { pair in
            let b = pair / NH, h = pair % NH
            let q = queries.head(batch: b, head: h, T: T, headSize: hs)
            let k = keys.head(batch: b, head: h / group, T: T, headSize: hs), v = values.head(batch: b, head: h / group, T: T, headSize: hs)
            let weights = att + pair * T * T
            gemmUnsplit(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(T), Int32(T), Int32(hs),
                        scale, q, Int32(queries.stride), k, Int32(keys.stride), 0, weights, Int32(T))
            let mask = keyMask.map { $0 + b * T }
            for t in 0..<T {
                let row = weights + t * T
                let query = mask?[t] ?? 1
                var maximum = -Float.infinity
                for t2 in 0...t where AttentionMask.isVisible(key: mask?[t2] ?? 1, query: query) && row[t2] > maximum { maximum = row[t2] }
                var sum: Float = 0
                for t2 in 0...t {
                    if !AttentionMask.isVisible(key: mask?[t2] ?? 1, query: query) {
                        row[t2] = 0
                        continue
                    }
                    let e = expf(row[t2] - maximum)
                    row[t2] = e
                    sum += e
                }
                let inverse: Float = sum > 0 ? 1 / sum : 0
                for t2 in 0...t { row[t2] *= inverse }
                for t2 in (t + 1)..<max(t + 1, T) { row[t2] = 0 }
            }
            gemmUnsplit(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(T), Int32(hs), Int32(T),
                        1, weights, Int32(T), v, Int32(values.stride), 0, out.head(batch: b, head: h, T: T, headSize: hs), Int32(out.stride))
        }
    }

    /// GPT-2's attention backward. `scratch` holds T*T floats per core: each worker's d(weights).
    static func attentionBackward(_ dqkv: FloatPointer, _ dout: FloatPointer, _ qkv: FloatPointer, _ att: FloatPointer,
                                  scratch: FloatPointer, B: Int, T: Int, C: Int, NH: Int) {
        attentionBackward(dqueries: HeadsView(base: dqkv, stride: 3 * C), dkeys: HeadsView(base: dqkv + C, stride: 3 * C),
                          dvalues: HeadsView(base: dqkv + 2 * C, stride: 3 * C), dout: HeadsView(base: dout, stride: C),
                          queries: HeadsView(base: qkv, stride: 3 * C), keys: HeadsView(base: qkv + C, stride: 3 * C),
                          values: HeadsView(base: qkv + 2 * C, stride: 3 * C), att, scratch: scratch,
                          B: B, T: T, headCount: NH, keyValueHeadCount: NH, headSize: C / NH)
    }

    /// Accumulates the gradients of queries, keys and values. The query heads sharing a key/value
    /// head run on one worker, one after another, since they add into the same key and value
    /// gradients. `scratch` holds T*T floats per core.
    static func attentionBackward(dqueries: HeadsView, dkeys: HeadsView, dvalues: HeadsView, dout: HeadsView,
                                  queries: HeadsView, keys: HeadsView, values: HeadsView, _ att: FloatPointer, scratch: FloatPointer,
                                  B: Int, T: Int, headCount NH: Int, keyValueHeadCount KVH: Int, headSize hs: Int) {
        let scale = 1 / Float(hs).squareRoot()
        let group = NH / KVH
        parallelRows(B * KVH) { pair, worker in
            let b = pair / KVH, kvHead = pair % KVH
            let k = keys.head(batch: b, head: kvHead, T: T, headSize: hs), v = values.head(batch: b, head: kvHead, T: T, headSize: hs)
            let dk = dkeys.head(batch: b, head: kvHead, T: T, headSize: hs), dv = dvalues.head(batch: b, head: kvHead, T: T, headSize: hs)
            let dweights = scratch + worker * T * T
            for h in (kvHead * group)..<((kvHead + 1) * group) {
                let q = queries.head(batch: b, head: h, T: T, headSize: hs), dq = dqueries.head(batch: b, head: h, T: T, headSize: hs)
                let g = dout.head(batch: b, head: h, T: T, headSize: hs)
                let weights = att + (b * NH + h) * T * T
                // d(weights) = dout · V^T
                gemmUnsplit(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(T), Int32(T), Int32(hs),
                            1, g, Int32(dout.stride), v, Int32(values.stride), 0, dweights, Int32(T))
                // dV += weights^T · dout
                gemmUnsplit(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(T), Int32(hs), Int32(T),
                            1, weights, Int32(T), g, Int32(dout.stride), 1, dv, Int32(dvalues.stride))
                // Softmax backward in place: d(score) = w * (dw - sum(w * dw)), zero above the diagonal.
                for t in 0..<T {
                    let w = weights + t * T, dw = dweights + t * T
                    var dot: Float = 0
                    for t2 in 0...t { dot += w[t2] * dw[t2] }
                    for t2 in 0...t { dw[t2] = w[t2] * (dw[t2] - dot) }
                    for t2 in (t + 1)..<max(t + 1, T) { dw[t2] = 0 }
                }
                // dQ += scale * d(score) · K ; dK += scale * d(score)^T · Q
                gemmUnsplit(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(T), Int32(hs), Int32(T),
                            scale, dweights, Int32(T), k, Int32(keys.stride), 1, dq, Int32(dqueries.stride))
                gemmUnsplit(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(T), Int32(hs), Int32(T),
                            scale, dweights, Int32(T), q, Int32(queries.stride), 1, dk, Int32(dkeys.stride))
            }
        }
    }

    // MARK: GELU (tanh approximation) and residuals

    private static let geluScale = Float((2.0 / Double.pi).squareRoot())

    /// out[N] = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
    static func geluForward(_ out: FloatPointer, _ input: FloatPointer, count N: Int) {
        parallelChunks(N) { range in
            for i in range {
                let x = input[i]
                out[i] = 0.5 * x * (1 + fastTanh(geluScale * (x + 0.044715 * x * x * x)))
            }
        }
    }

    static func geluBackward(_ dinput: FloatPointer, _ input: FloatPointer, _ dout: FloatPointer, count N: Int) {
        parallelChunks(N) { range in
            for i in range {
                let x = input[i]
                let inner = geluScale * (x + 0.044715 * x * x * x)
                let tanhInner = fastTanh(inner)
                let sech2 = 1 - tanhInner * tanhInner
                let local = 0.5 * (1 + tanhInner) + 0.5 * x * sech2 * geluScale * (1 + 3 * 0.044715 * x * x)
                dinput[i] += local * dout[i]
            }
        }
    }

    /// tanh through one expf: 1 - 2 / (e^(2x) + 1). libm's tanhf goes through expm1f and was
    /// a tenth of a training step; this agrees with it to a few units in the last place, and
    /// saturates correctly for large |x| (expf overflows to infinity, giving 1).
    @inline(__always)
    static func fastTanh(_ x: Float) -> Float {
        1 - 2 / (expf(2 * x) + 1)
    }

    static func residualForward(_ out: FloatPointer, _ first: FloatPointer, _ second: FloatPointer, count N: Int) {
        for i in 0..<N { out[i] = first[i] + second[i] }
    }

    static func residualBackward(_ dfirst: FloatPointer, _ dsecond: FloatPointer, _ dout: FloatPointer, count N: Int) {
        for i in 0..<N {
            dfirst[i] += dout[i]
            dsecond[i] += dout[i]
        }
    }

    // MARK: Softmax and cross-entropy

    /// probabilities[N,V] = softmax(logits) per row; losses[n] = -log p[target] where a target
    /// is given (targets[n] >= 0), else 0. Returns the number of positions with a target.
    static func crossEntropyForward(_ losses: FloatPointer, _ probabilities: FloatPointer, _ logits: FloatPointer,
                                    _ targets: UnsafePointer<Int32>, rows N: Int, V: Int) {
        parallelRows(N) { row in
            let x = logits + row * V, p = probabilities + row * V
            var maximum = -Float.infinity
            for i in 0..<V where x[i] > maximum { maximum = x[i] }
            var sum: Float = 0
            for i in 0..<V {
                let e = expf(x[i] - maximum)
                p[i] = e
                sum += e
            }
            let inverse = 1 / sum
            for i in 0..<V { p[i] *= inverse }
            let target = Int(targets[row])
            losses[row] = target >= 0 ? -logf(max(p[target], Float.leastNormalMagnitude)) : 0
        }
    }

    /// log p(target) of each row under softmax(logits / temperature), 0 for rows without a
    /// target, summed in double precision per row.
    static func targetLogProbabilities(_ out: FloatPointer, _ logits: UnsafePointer<Float>, _ targets: UnsafePointer<Int32>,
                                       temperature: Float, rows N: Int, V: Int) {
        let inverseTemperature = 1 / temperature
        parallelRows(N) { row in
            let target = Int(targets[row])
            guard target >= 0 else { out[row] = 0; return }
            let x = logits + row * V
            var maximum = -Float.infinity
            for i in 0..<V where x[i] > maximum { maximum = x[i] }
            var sum: Double = 0
            for i in 0..<V { sum += Double(expf((x[i] - maximum) * inverseTemperature)) }
            out[row] = (x[target] - maximum) * inverseTemperature - Float(log(sum))
        }
    }

    /// The entropy of softmax(logits / temperature) of each row named in `rows` ([N] indices
    /// into [*, V] logits): log sum exp(z) - sum p z, with z the scaled logits less their maximum.
    static func entropies(_ out: FloatPointer, _ logits: UnsafePointer<Float>, _ rows: UnsafePointer<Int>,
                          temperature: Float, rows N: Int, V: Int) {
        let inverseTemperature = 1 / temperature
        parallelRows(N) { index in
            let x = logits + rows[index] * V
            var maximum = -Float.infinity
            for i in 0..<V where x[i] > maximum { maximum = x[i] }
            var sum: Double = 0, weighted: Double = 0
            for i in 0..<V {
                let z = (x[i] - maximum) * inverseTemperature
                let e = Double(expf(z))
                sum += e
                weighted += e * Double(z)
            }
            out[index] = Float(log(sum) - weighted / sum)
        }
    }

    /// Writes d loss / d logits into `out` ([N,V]) for a loss whose gradient with respect to
    /// log p(target) at `temperature` is `gradients[n]` per row: with q = softmax(logits / T),
    /// d log q[target] / d logits[i] = (onehot(target)[i] - q[i]) / T. Rows without a target or
    /// with a zero gradient get zero. Cross-entropy's mean is the case gradients = -1/count.
    static func logProbabilityBackward(_ out: FloatPointer, _ logits: UnsafePointer<Float>, _ targets: UnsafePointer<Int32>,
                                       _ gradients: UnsafePointer<Float>, temperature: Float, rows N: Int, V: Int) {
        let inverseTemperature = 1 / temperature
        parallelRows(N) { row in
            let d = out + row * V
            let target = Int(targets[row]), gradient = gradients[row]
            guard target >= 0, gradient != 0 else {
                d.update(repeating: 0, count: V)
                return
            }
            let x = logits + row * V
            var maximum = -Float.infinity
            for i in 0..<V where x[i] > maximum { maximum = x[i] }
            var sum: Float = 0
            for i in 0..<V {
                let e = expf((x[i] - maximum) * inverseTemperature)
                d[i] = e
                sum += e
            }
            let scale = -gradient * inverseTemperature / sum
            for i in 0..<V { d[i] *= scale }
            d[target] += gradient * inverseTemperature
        }
    }

    /// Turns probabilities[N,V] into d loss / d logits in place: (p - onehot(target)) * lossScale
    /// for rows with a target, zero for the others. The probabilities are not needed after the
    /// loss, and reusing their buffer saves a [N,V] gradient (the largest activation of all).
    static func crossEntropyBackwardInPlace(_ probabilities: FloatPointer, _ targets: UnsafePointer<Int32>,
                                            lossScale: Float, rows N: Int, V: Int) {
        parallelRows(N) { row in
            let p = probabilities + row * V
            let target = Int(targets[row])
            guard target >= 0 else {
                p.update(repeating: 0, count: V)
                return
            }
            for i in 0..<V { p[i] *= lossScale }
            p[target] -= lossScale
        }
    }

    // MARK: BLAS calls, timed when asked

    /// A matrix product split over the compute threads by rows of the result, each part one
    /// single-threaded cblas_sgemm: Tally does its own parallelism (see `BLASThreads`).
    static func gemm(_ order: CBLAS_ORDER, _ transposeA: CBLAS_TRANSPOSE, _ transposeB: CBLAS_TRANSPOSE,
                     _ m: Int32, _ n: Int32, _ k: Int32, _ alpha: Float, _ a: UnsafePointer<Float>, _ lda: Int32,
                     _ b: UnsafePointer<Float>, _ ldb: Int32, _ beta: Float, _ c: FloatPointer, _ ldc: Int32) {
        let threads = ComputeThreads.current
        let workers = threads.count
        let rows = Int(m)
        // Splitting pays only for products large enough to keep each core busy.
        guard workers > 1, Int(m) * Int(n) * Int(k) >= 1 << 20 else {
            gemmUnsplit(order, transposeA, transposeB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
            return
        }
        guard rows >= 2 * 32 else {
            // Few rows (decoding a handful of sequences): split the columns instead.
            let columns = Int(n)
            let chunk = ((columns + workers - 1) / workers + 15) / 16 * 16
            let pointers = UnsafeSendable((a, b, c))
            MatrixProductClock.shared.measure {
                threads.forEach((columns + chunk - 1) / chunk) { part in
                    let (a, b, c) = pointers.value
                    let first = part * chunk
                    let count = min(chunk, columns - first)
                    // Column `first` of op(B): a column of B, or a row of B when B is transposed.
                    let bPart = transposeB == CblasNoTrans ? b + first : b + first * Int(ldb)
                    cblas_sgemm(order, transposeA, transposeB, m, Int32(count), k, alpha, a, lda, bPart, ldb, beta, c + first, ldc)
                }
            }
            return
        }
        let chunk = ((rows + workers - 1) / workers + 7) / 8 * 8
        let pointers = UnsafeSendable((a, b, c))
        MatrixProductClock.shared.measure {
            threads.forEach((rows + chunk - 1) / chunk) { part in
                let (a, b, c) = pointers.value
                let first = part * chunk
                let count = min(chunk, rows - first)
                // Row `first` of op(A): a row of A, or a column of A when A is transposed.
                let aPart = transposeA == CblasNoTrans ? a + first * Int(lda) : a + first
                cblas_sgemm(order, transposeA, transposeB, Int32(count), n, k, alpha, aPart, lda, b, ldb, beta, c + first * Int(ldc), ldc)
            }
        }
    }

    /// cblas_sgemm on the calling thread, for callers already running in parallel.
    static func gemmUnsplit(_ order: CBLAS_ORDER, _ transposeA: CBLAS_TRANSPOSE, _ transposeB: CBLAS_TRANSPOSE,
                            _ m: Int32, _ n: Int32, _ k: Int32, _ alpha: Float, _ a: UnsafePointer<Float>, _ lda: Int32,
                            _ b: UnsafePointer<Float>, _ ldb: Int32, _ beta: Float, _ c: FloatPointer, _ ldc: Int32) {
        MatrixProductClock.shared.measure {
            cblas_sgemm(order, transposeA, transposeB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
        }
    }

    /// y = A · x (`transposed` false, A [rows, columns]) or y = A^T · x (`transposed` true), plus
    /// beta · y, with A row-major; the outputs are split over the compute threads, one sgemv each.
    static func gemvSplit(_ a: UnsafePointer<Float>, rows: Int, columns: Int, _ x: UnsafePointer<Float>, _ y: FloatPointer,
                          beta: Float, transposed: Bool) {
        let threads = ComputeThreads.current
        let workers = threads.count
        let outputs = transposed ? columns : rows
        let chunk = ((outputs + workers - 1) / workers + 15) / 16 * 16
        let pointers = UnsafeSendable((a, x, y))
        MatrixProductClock.shared.measure {
            threads.forEach(workers > 1 && outputs >= 1024 ? (outputs + chunk - 1) / chunk : 1) { part in
                let (a, x, y) = pointers.value
                let first = workers > 1 && outputs >= 1024 ? part * chunk : 0
                let count = workers > 1 && outputs >= 1024 ? min(chunk, outputs - first) : outputs
                if transposed {
                    // Columns first..<first+count of A^T x: the sub-matrix A[:, first...] with A's row stride.
                    cblas_sgemv(CblasRowMajor, CblasTrans, Int32(rows), Int32(count), 1, a + first, Int32(columns), x, 1, beta, y + first, 1)
                } else {
                    cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(count), Int32(columns), 1, a + first * columns, Int32(columns), x, 1, beta, y + first, 1)
                }
            }
        }
    }

    // MARK: Parallel loops

    /// Rows of a light kernel (a norm or a rotation of one row of width C) below which waking
    /// the other cores costs more than it saves: decoding a few sequences runs such kernels
    /// hundreds of times per token.
    static let lightRowsToSplit = 32

    /// Runs `body` for each row, split over the compute threads when there are at least `splittingFrom` rows.
    static func parallelRows(_ count: Int, splittingFrom minimum: Int = 2, _ body: (Int) -> Void) {
        parallelRows(count, splittingFrom: minimum) { row, _ in body(row) }
    }

    /// Runs `body(row, worker)` for each row; `worker` (below `ComputeThreads.maximumCount`)
    /// lets a body use scratch memory of its own.
    static func parallelRows(_ count: Int, splittingFrom minimum: Int = 2, _ body: (Int, Int) -> Void) {
        let threads = ComputeThreads.current
        let workers = threads.count
        if count < max(2, minimum) || workers < 2 {
            for row in 0..<count { body(row, 0) }
            return
        }
        threads.forEach(min(workers, count)) { worker in
            var row = worker
            while row < count {
                body(row, worker)
                row += workers
            }
        }
    }

    /// The sum of `body` over consecutive chunks of 0..<count, each chunk on a compute thread.
    static func parallelSum(_ count: Int, _ body: (Range<Int>) -> Double) -> Double {
        let threads = ComputeThreads.current
        let workers = threads.count
        if count < 16_384 || workers < 2 { return body(0..<count) }
        let chunk = (count + workers - 1) / workers
        var partial = [Double](repeating: 0, count: workers)
        partial.withUnsafeMutableBufferPointer { sums in
            threads.forEach(workers) { worker in
                let start = worker * chunk
                sums[worker] = start < count ? body(start..<min(count, start + chunk)) : 0
            }
        }
        return partial.reduce(0, +)
    }

    static func parallelChunks(_ count: Int, _ body: (Range<Int>) -> Void) {
        let threads = ComputeThreads.current
        let workers = threads.count
        if count < 16_384 || workers < 2 {
            body(0..<count)
            return
        }
        let chunk = (count + workers - 1) / workers
        threads.forEach(workers) { worker in
            let start = worker * chunk
            body(start..<min(count, start + chunk))
        }
    }
}

/// Pointers handed to the compute threads; each thread touches only its own rows.
private struct UnsafeSendable<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
