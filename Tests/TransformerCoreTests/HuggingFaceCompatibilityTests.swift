import Foundation
import Testing
@testable import TransformerCore

/// The Python environment `make test` prepares with transformers, safetensors and numpy.
private let checkerPython: String = {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    return root.appendingPathComponent(".build-python/test/bin/python").path
}()

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
        let folder = NSTemporaryDirectory() + "tally-hf-" + UUID().uuidString
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

    /// A Tally Llama checkpoint (grouped-query attention, an untied head) read by transformers'
    /// LlamaConfig and the safetensors library, and run by an independent numpy forward pass.
    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: checkerPython),
                   "needs the checker's Python environment; `make test` creates .build-python/test"))
    func tallyLlamaCheckpointReadsInHuggingFaceCode() throws {
        var configuration = LlamaConfiguration()
        (configuration.vocabularySize, configuration.contextLength, configuration.width, configuration.intermediateSize) = (300, 64, 48, 128)
        (configuration.layerCount, configuration.headCount, configuration.keyValueHeadCount, configuration.headSize) = (2, 6, 2, 8)
        (configuration.ropeTheta, configuration.tiedOutputHead) = (500_000, false)
        let model = try LlamaModel(configuration: configuration)
        model.initializeParameters(seed: 5)
        for i in 0..<model.parameterCount { model.parameters.pointer[i] *= 8 }
        let folder = NSTemporaryDirectory() + "tally-hf-llama-" + UUID().uuidString
        try LlamaCheckpoint.save(model, to: folder)
        let ids: [Int32] = [5, 17, 250, 3, 99, 42, 7, 7, 1]
        try model.forward(tokens: ids, batchSize: 1, sequenceLength: ids.count)
        let expected: [String: Any] = ["ids": ids.map(Int.init), "logits": model.logits.map(Double.init)]
        try JSONSerialization.data(withJSONObject: expected).write(to: URL(fileURLWithPath: folder + "/expected.json"))
        let output = try runChecker("check_hf_llama_checkpoint.py", folder: folder)
        #expect(output.contains("OK:"), "\(output)")
    }

    /// Runs a checker script of Tools/ on a folder; returns what it printed, after expecting success.
    private func runChecker(_ script: String, folder: String) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: checkerPython)
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Tools/" + script).path
        process.arguments = [script, folder]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        process.environment = ["HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PATH": "/usr/bin:/bin"]
        try process.run()
        let text2 = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "\(text2)")
        return text2
    }
}
