// `make bench-train`, Tally's side: tokens per second of a full training step (forward,
// backward, AdamW) and of sampling with the key/value cache, for one configuration, printed as
// one JSON line that bench_train.py sets beside the JAX peer's.
//
//   TrainBenchmark small|gpt2-124m|smollm2-135m [steps]
import Foundation
import TransformerCore

struct Setup {
    let makeModel: () throws -> any LanguageModel
    let vocabularySize: Int
    let batchSize: Int
    let sequenceLength: Int
}

/// SmolLM2-135M's architecture (its published sizes; weights initialized here, as for the others).
let smolLM2: LlamaConfiguration = {
    var configuration = LlamaConfiguration()
    configuration.contextLength = 256
    return configuration
}()

let setups: [String: Setup] = [
    "small": Setup(makeModel: {
        let model = try GPT2Model(configuration: GPT2Configuration(vocabularySize: 8192, contextLength: 256, width: 256, layerCount: 4, headCount: 4))
        model.initializeParameters(seed: 1)
        return model
    }, vocabularySize: 8192, batchSize: 8, sequenceLength: 256),
    "gpt2-124m": Setup(makeModel: {
        let model = try GPT2Model(configuration: GPT2Configuration(vocabularySize: 50257, contextLength: 256, width: 768, layerCount: 12, headCount: 12))
        model.initializeParameters(seed: 1)
        return model
    }, vocabularySize: 50257, batchSize: 4, sequenceLength: 256),
    "smollm2-135m": Setup(makeModel: {
        let model = try LlamaModel(configuration: smolLM2)
        model.initializeParameters(seed: 1)
        return model
    }, vocabularySize: smolLM2.vocabularySize, batchSize: 4, sequenceLength: 256),
]

let arguments = CommandLine.arguments
guard arguments.count >= 2, let setup = setups[arguments[1]] else {
    FileHandle.standardError.write(Data("usage: TrainBenchmark small|gpt2-124m|smollm2-135m [steps]\n".utf8))
    exit(2)
}
let steps = arguments.count > 2 ? Int(arguments[2]) ?? 5 : 5
let (B, T) = (setup.batchSize, setup.sequenceLength)
let V = setup.vocabularySize

let model = try setup.makeModel()
let optimizer = AdamW(model: model)
var random = SeededRandom(seed: 2)
let tokens = (0..<(B * T)).map { _ in Int32(random.next() % UInt64(V)) }
var targets = Array(tokens.dropFirst()) + [-1]
for b in 0..<B { targets[b * T + T - 1] = -1 }

@MainActor func trainingStep() throws -> Float {
    let loss = try model.forward(tokens: tokens, targets: targets, attentionMask: nil, positionIDs: nil, batchSize: B, sequenceLength: T, forBackward: true).loss!
    model.zeroGradients()
    try model.backward(finalHiddenGradient: nil)
    clipGradientNorm(model.gradients!, maximumNorm: 1)
    optimizer.update(parameters: model.parameters, gradients: model.gradients!, learningRate: 1e-4)
    return loss
}

// BENCH_SAMPLE_ONLY skips training, for profiling sampling alone.
let sampleOnly = ProcessInfo.processInfo.environment["BENCH_SAMPLE_ONLY"] != nil
if !sampleOnly { _ = try trainingStep() }  // warm-up: allocations, page faults
var stepSeconds: [Double] = sampleOnly ? [1] : []
var matrixSeconds = 0.0
var lastLoss: Float = 0
for _ in 0..<(sampleOnly ? 0 : steps) {
    MatrixProductClock.shared.start()
    let start = DispatchTime.now().uptimeNanoseconds
    lastLoss = try trainingStep()
    stepSeconds.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
    matrixSeconds += MatrixProductClock.shared.stop()
}
let medianStep = stepSeconds.sorted()[stepSeconds.count / 2]
// Parameters, gradients, two AdamW moments, and the activations (and their gradients) that a
// training step holds; measured here, before sampling replaces the activations.
let expectedBytes = Double(model.parameterCount) * 4 * 4 + Double(model.activationFloatCount) * 4

// Sampling: B prompts of 16 tokens, 64 new tokens each, temperature 1, with the cache.
let prompts = (0..<B).map { b in Array(tokens[(b * T)..<(b * T + 16)]) }
var options = SamplingOptions()
options.maximumNewTokens = 64
options.seed = 3
_ = try model.sample(prompts: prompts, options: options)
let sampleStart = DispatchTime.now().uptimeNanoseconds
let samples = try model.sample(prompts: prompts, options: options)
let sampleSeconds = Double(DispatchTime.now().uptimeNanoseconds - sampleStart) / 1e9
let sampledTokens = samples.map(\.tokens.count).reduce(0, +)
if ProcessInfo.processInfo.environment["BENCH_TRACE"] != nil {
    var single = options
    single.maximumNewTokens = 1
    let prefillStart = DispatchTime.now().uptimeNanoseconds
    _ = try model.sample(prompts: prompts, options: single)
    FileHandle.standardError.write(Data("prefill and one token: \(Double(DispatchTime.now().uptimeNanoseconds - prefillStart) / 1e9) s; all: \(sampleSeconds) s\n".utf8))
}

var usage = rusage()
getrusage(RUSAGE_SELF.rawValue, &usage)
let peakBytes = Double(usage.ru_maxrss) * 1024

let report: [String: Any] = [
    "implementation": "tally",
    "configuration": arguments[1],
    "parameters": model.parameterCount,
    "batch_size": B, "sequence_length": T,
    "step_seconds": medianStep,
    "train_tokens_per_second": Double(B * T) / medianStep,
    "gemm_share": matrixSeconds / stepSeconds.reduce(0, +),
    "sample_tokens_per_second": Double(sampledTokens) / sampleSeconds,
    "peak_memory_mb": peakBytes / 1e6,
    "expected_memory_mb": expectedBytes / 1e6,
    "loss": Double(lastLoss),
    "blas_core": BLASInformation.coreName,
    "blas_threads": BLASInformation.threadCount,
]
let json = try JSONSerialization.data(withJSONObject: report, options: [.sortedKeys])
print(String(decoding: json, as: UTF8.self))
