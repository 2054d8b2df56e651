import Foundation
import TallyTestSupport
import Testing
@testable import TransformerCore


@Suite("Hugging Face compatibility")
struct HuggingFaceCompatibilityTests {
    /// A Tally checkpoint and tokenizer, read by Hugging Face's code (transformers' GPT2Config
    /// and GPT2TokenizerFast, the safetensors library) and run by an independent numpy forward
    /// pass over the tensors by their Hugging Face names, must give Tally's tokens and logits.
    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: checkerPython),
                   "needs the checker's Python environment; `make test` creates .build-python/test"))
    func tallyCheckpointReadsInHuggingFaceCode() throws {
        let corpus = String(repeating: "the cat sat on the mat and the dog sat on the log. ", count: 40)
        let tokenizer = try BytePairTrainer.train(corpus: corpus, vocabularySize: 300)
        let model = try GPT2Model(configuration: GPT2Configuration(vocabularySize: 300, contextLength: 32, width: 32, layerCount: 2, headCount: 4))
        model.initializeParameters(seed: 12)
        // Larger weights than GPT-2's initialization, so every tensor visibly shapes the logits.
        for i in 0..<model.parameterCount where model.parameters.pointer[i] != 1 && model.parameters.pointer[i] != 0 {
            model.parameters.pointer[i] *= 10
        }
        let folder = TemporaryFiles.path("tally-hf")
        try GPT2Checkpoint.save(model, to: folder)
        try tokenizer.save(toDirectory: folder)
        let text = "the dog sat on the mat"
        let ids = tokenizer.encode(text)
        try model.forward(tokens: ids, batchSize: 1, sequenceLength: ids.count)
        let expected: [String: Any] = ["text": text, "ids": ids.map(Int.init), "logits": model.logits.map(Double.init)]
        try JSONSerialization.data(withJSONObject: expected).write(to: URL(fileURLWithPath: folder + "/expected.json"))

        let text2 = try runChecker("check_hf_checkpoint.py", folder: folder)
        #expect(text2.contains("OK:"), "\(text2)")
    }

    /// A Tally Llama checkpoint (grouped-query attention, an untied head, with and without
    /// Llama 3's RoPE scaling, in one file and in shards) read by transformers' LlamaConfig and
    /// the safetensors library, and run by an independent numpy forward pass at late positions.
    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: checkerPython),
                   "needs the checker's Python environment; `make test` creates .build-python/test"),
          arguments: [
            (nil, false),
            (RotaryScaling.llama3(factor: 32, lowFrequencyFactor: 1, highFrequencyFactor: 4, originalContextLength: 8192), true),
            (RotaryScaling.linear(factor: 4), false),
          ] as [(RotaryScaling?, Bool)])
    func tallyLlamaCheckpointReadsInHuggingFaceCode(scaling: RotaryScaling?, sharded: Bool) throws {
        var configuration = LlamaConfiguration()
        (configuration.vocabularySize, configuration.contextLength, configuration.width, configuration.intermediateSize) = (300, 4096, 48, 128)
        (configuration.layerCount, configuration.headCount, configuration.keyValueHeadCount, configuration.headSize) = (2, 6, 2, 8)
        (configuration.ropeTheta, configuration.tiedOutputHead, configuration.rotaryScaling) = (500_000, false, scaling)
        let model = try LlamaModel(configuration: configuration)
        model.initializeParameters(seed: 5)
        for i in 0..<model.parameterCount { model.parameters.pointer[i] *= 8 }
        let folder = TemporaryFiles.path("tally-hf-llama")
        try LlamaCheckpoint.save(model, to: folder)
        if sharded { try Self.shard(folder) }
        // Late positions: with theta 500,000 and heads of 8, the third pair's wavelength (about
        // 4,470) lies between Llama 3's bounds and the fourth beyond them.
        let ids: [Int32] = [5, 17, 250, 3, 99, 42, 7, 7, 1]
        let positions: [Int32] = [0, 1, 500, 1000, 1700, 2400, 3100, 3800, 4095]
        try model.forward(tokens: ids, positionIDs: positions, batchSize: 1, sequenceLength: ids.count)
        let logits = Array(model.logits)
        let expected: [String: Any] = ["ids": ids.map(Int.init), "positions": positions.map(Int.init), "logits": logits.map(Double.init)]
        try JSONSerialization.data(withJSONObject: expected).write(to: URL(fileURLWithPath: folder + "/expected.json"))
        let output = try runChecker("check_hf_llama_checkpoint.py", folder: folder)
        #expect(output.contains("OK:"), "\(output)")
        // Tally reads it back, shards and scaling included.
        let (reloaded, _, _) = try LlamaCheckpoint.load(from: folder)
        #expect(reloaded.configuration == configuration)
        try reloaded.forward(tokens: ids, positionIDs: positions, batchSize: 1, sequenceLength: ids.count)
        #expect(Array(reloaded.logits) == logits)
        if scaling != nil {
            // The scaling changes the function: a checker that ignored it would fail.
            var unscaledConfiguration = configuration
            unscaledConfiguration.rotaryScaling = nil
            let unscaled = try LlamaModel(configuration: unscaledConfiguration)
            unscaled.parameters.pointer.update(from: model.parameters.pointer, count: model.parameterCount)
            try unscaled.forward(tokens: ids, positionIDs: positions, batchSize: 1, sequenceLength: ids.count)
            #expect(GPT2ReferenceTests.relativeError(unscaled.logits, logits.map(Double.init)) > 1e-3)
        }
    }

    /// Damaged shard indexes are named, never half-loaded.
    @Test func brokenShardIndexesAreNamed() throws {
        var configuration = LlamaConfiguration()
        (configuration.vocabularySize, configuration.contextLength, configuration.width, configuration.intermediateSize) = (64, 32, 16, 32)
        (configuration.layerCount, configuration.headCount, configuration.keyValueHeadCount, configuration.headSize) = (1, 2, 1, 8)
        let model = try LlamaModel(configuration: configuration)
        model.initializeParameters(seed: 1)
        let folder = TemporaryFiles.path("tally-shards")
        try LlamaCheckpoint.save(model, to: folder)
        try Self.shard(folder)
        let index = folder + "/model.safetensors.index.json"
        let good = try String(contentsOfFile: index, encoding: .utf8)
        let cases: [(String, String)] = [
            (good.replacingOccurrences(of: "model-00002-of-00002.safetensors", with: "../elsewhere.safetensors"), "not the name of a file in the folder"),
            (good.replacingOccurrences(of: "model-00002-of-00002.safetensors", with: "model-00003-of-00002.safetensors"), "which is missing"),
            (good.replacingOccurrences(of: "model-00002-of-00002.safetensors", with: "model-00001-of-00002.safetensors"), "holds no tensor"),
            ("{\"weight_map\": 3}", "weight_map"),
            ("not json", "not valid JSON"),
        ]
        for (text, reason) in cases {
            try text.write(toFile: index, atomically: true, encoding: .utf8)
            #expect { try LlamaCheckpoint.load(from: folder) } throws: { "\($0)".contains(reason) && "\($0)".contains("model.safetensors") }
        }
    }

    /// Splits a saved folder's model.safetensors into two shards with an index, as transformers
    /// saves models above its shard size.
    static func shard(_ folder: String) throws {
        let file = try SafeTensorsFile(path: folder + "/model.safetensors")
        let names = file.tensors.keys.sorted()
        let halves = [Array(names.prefix(names.count / 2)), Array(names.dropFirst(names.count / 2))]
        var weightMap: [String: String] = [:]
        for (number, half) in halves.enumerated() {
            let shardName = "model-0000\(number + 1)-of-00002.safetensors"
            let buffers = try half.map { name -> FloatBuffer in
                let floats = try file.floats(name)
                let buffer = FloatBuffer(count: floats.count)
                _ = buffer.buffer.update(fromContentsOf: floats)
                return buffer
            }
            try withExtendedLifetime(buffers) {
                let tensors = zip(half, buffers).map { name, buffer in
                    SafeTensorsWriter.Tensor(name: name, shape: file.tensors[name]!.shape, values: UnsafeBufferPointer(buffer.buffer))
                }
                try SafeTensorsWriter.write(tensors, metadata: ["format": "pt"], to: folder + "/" + shardName)
            }
            for name in half { weightMap[name] = shardName }
        }
        let index: [String: Any] = ["metadata": ["total_size": 0], "weight_map": weightMap]
        try JSONSerialization.data(withJSONObject: index).write(to: URL(fileURLWithPath: folder + "/model.safetensors.index.json"))
        try FileManager.default.removeItem(atPath: folder + "/model.safetensors")
    }

    /// Runs a checker script of Tools/ on a folder; returns what it printed, after expecting success.
    private func runChecker(_ script: String, folder: String) throws -> String {
        let run = try TallyTestSupport.runChecker(script, besides: #filePath, [folder],
                                                  environment: ["HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PATH": "/usr/bin:/bin"])
        let text = String(decoding: run.output, as: UTF8.self) + run.errors
        #expect(run.status == 0, "\(text)")
        return text
    }
}
