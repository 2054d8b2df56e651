import Foundation
import TallyTestSupport
import Testing
@testable import TransformerCore

private let toolPython: String = {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    return root.appendingPathComponent(".build-python/test/bin/python").path
}()

/// GGUF files written by llama.cpp's own writer (the `gguf` package, run by
/// Tools/make_tiny_gguf.py) from the Llama reference fixture's weights: read back exactly in
/// float32, within quantization error when quantized, with the tokenizer from the metadata, and
/// saved as a Hugging Face folder that computes the same function.
@Suite("GGUF", .serialized, .enabled(if: FileManager.default.isExecutableFile(atPath: toolPython),
                                     "needs the test tools' Python environment; `make test` creates .build-python/test"))
struct GGUFTests {
    /// The folder the tool wrote into, made once.
    static let folder: String = {
        let folder = TemporaryFiles.path("tally-gguf")
        try! FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: toolPython)
        let tool = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Tools/make_tiny_gguf.py").path
        let fixture = Bundle.module.url(forResource: "Fixtures/llama-tiny-reference", withExtension: "safetensors")!.path
        process.arguments = [tool, fixture, folder]
        try! process.run()
        process.waitUntilExit()
        return folder
    }()

    static func logits(_ model: LlamaModel) throws -> [Float] {
        let (tokens, _) = try GPT2ReferenceTests.batch(from: LlamaReferenceTests.fixture)
        try model.forward(tokens: tokens, batchSize: 4, sequenceLength: 32)
        return Array(model.logits)
    }

    @Test func float32FileMatchesTheReferenceInTheAdjacentPairLayout() throws {
        let loaded = try LlamaCheckpoint.load(gguf: Self.folder + "/tiny-f32.gguf")
        let model = loaded.model
        #expect(model.configuration.rotaryLayout == .adjacentPairs && model.configuration.keyValueHeadCount == 2)
        let fixture = LlamaReferenceTests.fixture
        let (tokens, targets) = try GPT2ReferenceTests.batch(from: fixture)
        let output = try model.forward(tokens: tokens, targets: targets, batchSize: 4, sequenceLength: 32)
        #expect(GPT2ReferenceTests.relativeError(model.logits, try fixture.doubles("logits")) < 1e-4)
        #expect(abs(Double(output.loss!) - (try fixture.doubles("loss")[0])) < 1e-4)
        // Backward through the adjacent-pair rotation: the query and key gradients come out in
        // GGUF's row order and match the reference once put back in Hugging Face's.
        model.zeroGradients()
        try model.backward()
        let gradients = try #require(model.gradients)
        let c = model.configuration
        for tensor in model.layout.tensors {
            var values = Array(gradients[tensor.range])
            if tensor.name.hasSuffix("q_proj.weight") || tensor.name.hasSuffix("k_proj.weight") {
                let heads = tensor.name.hasSuffix("q_proj.weight") ? c.headCount : c.keyValueHeadCount
                values = LlamaCheckpoint.rotateHalfOrder(values, heads: heads, headSize: c.headSize, columns: c.width)
            }
            let error = GPT2ReferenceTests.relativeError(values, try fixture.doubles("grad/" + tensor.name))
            #expect(error < 1e-3, "gradient of \(tensor.name): relative error \(error)")
        }
        let prompt = try fixture.integers("greedy/prompt").map(Int32.init)
        #expect(try model.greedyContinuation(of: prompt, newTokens: 24) == (try fixture.integers("greedy/output").map(Int32.init)))
    }

    @Test func savedAsAHuggingFaceFolderItComputesTheSameFunction() throws {
        let fromGGUF = try LlamaCheckpoint.load(gguf: Self.folder + "/tiny-f32.gguf").model
        let directory = Self.folder + "/saved"
        try LlamaCheckpoint.save(fromGGUF, to: directory)
        let (reloaded, _, _) = try LlamaCheckpoint.load(from: directory)
        #expect(reloaded.configuration.rotaryLayout == .rotateHalf)
        #expect(GPT2ReferenceTests.relativeError(try Self.logits(reloaded), try LlamaReferenceTests.fixture.doubles("logits")) < 1e-4)
        // And its tensors are the fixture's, under the same names.
        for tensor in reloaded.layout.tensors {
            #expect(Array(reloaded.parameters[tensor.range]) == (try LlamaReferenceTests.fixture.floats("param/" + tensor.name)), "\(tensor.name)")
        }
    }

    /// Llama 3's RoPE scaling as llama.cpp stores it (a table of per-pair divisors) computes
    /// what the rule it was written from computes, and differs from no scaling at all; such a
    /// model cannot be saved for transformers, and says so before writing anything.
    @Test func llama3RotaryTableMatchesTheRuleItWasWrittenFrom() throws {
        let table = try LlamaCheckpoint.load(gguf: Self.folder + "/tiny-llama3-rope.gguf").model
        guard case .frequencyDivisors(let divisors)? = table.configuration.rotaryScaling else {
            Issue.record("rope_freqs.weight was not read as the RoPE scaling")
            return
        }
        #expect(divisors.count == 8 && divisors.first == 1 && divisors.last == 8)
        let plain = try LlamaCheckpoint.load(gguf: Self.folder + "/tiny-f32.gguf").model
        var configuration = plain.configuration
        configuration.rotaryScaling = .llama3(factor: 8, lowFrequencyFactor: 1, highFrequencyFactor: 4, originalContextLength: 1024)
        let rule = try LlamaModel(configuration: configuration)
        rule.parameters.pointer.update(from: plain.parameters.pointer, count: plain.parameterCount)
        // Late positions, where the long wavelengths turn visibly.
        let (tokens, _) = try GPT2ReferenceTests.batch(from: LlamaReferenceTests.fixture)
        let positions = (0..<4).flatMap { row in (0..<32).map { Int32(row * 3 + $0 * 3) } }
        func logits(_ model: LlamaModel) throws -> [Float] {
            try model.forward(tokens: tokens, positionIDs: positions, batchSize: 4, sequenceLength: 32)
            return Array(model.logits)
        }
        let fromTable = try logits(table), fromRule = try logits(rule), unscaled = try logits(plain)
        #expect(GPT2ReferenceTests.relativeError(fromTable, fromRule.map(Double.init)) < 1e-5)
        #expect(GPT2ReferenceTests.relativeError(fromTable, unscaled.map(Double.init)) > 1e-3)
        let directory = Self.folder + "/llama3-rope-saved"
        #expect { try LlamaCheckpoint.save(table, to: directory) } throws: { "\($0)".contains("rope_freqs") }
        #expect(!FileManager.default.fileExists(atPath: directory))
    }

    /// The k-quants of llama.cpp's Q4_K_M and Q5_K_M files dequantize value for value as
    /// llama.cpp's reference code (`gguf.quants`) does, on random super-blocks.
    @Test(arguments: ["q4_k", "q5_k", "q6_k"])
    func kQuantsDequantizeExactly(name: String) throws {
        let file = try GGUFFile(path: Self.folder + "/kquants.gguf")
        let expected = try SafeTensorsFile(path: Self.folder + "/kquants-expected.safetensors")
        #expect(file.tensors[name]?.shape == [3, 512])
        let values = try file.floats(name), reference = try expected.floats(name)
        #expect(values.count == 1536 && values == reference && reference.contains { $0 != 0 })
    }

    @Test func quantizedFileDequantizesExactlyAndStaysWithinQuantizationError() throws {
        let quantized = try LlamaCheckpoint.load(gguf: Self.folder + "/tiny-quantized.gguf").model
        // Tally's dequantization equals llama.cpp's reference code's, value for value.
        let reference = try SafeTensorsFile(path: Self.folder + "/dequantized.safetensors")
        let c = quantized.configuration
        for tensor in quantized.layout.tensors {
            var values = Array(quantized.parameters[tensor.range])
            if tensor.name.hasSuffix("q_proj.weight") || tensor.name.hasSuffix("k_proj.weight") {
                let heads = tensor.name.hasSuffix("q_proj.weight") ? c.headCount : c.keyValueHeadCount
                values = LlamaCheckpoint.rotateHalfOrder(values, heads: heads, headSize: c.headSize, columns: c.width)
            }
            #expect(values == (try reference.floats(tensor.name)), "\(tensor.name)")
        }
        // The quantized file computes the original function up to quantization: exactly the
        // function of its dequantized weights in Hugging Face's layout.
        let dequantized = try LlamaModel(configuration: LlamaReferenceTests.configuration)
        for tensor in dequantized.layout.tensors { dequantized.parameters[tensor.range].update(fromContentsOf: try reference.floats(tensor.name)) }
        let actual = try Self.logits(quantized)
        #expect(GPT2ReferenceTests.relativeError(actual, try Self.logits(dequantized).map(Double.init)) < 1e-4)
        // How far quantization moved it (the fixture's weights are large, std 0.25, so Q4_1's 16
        // levels per block move the logits a lot: 42% of their root mean square, as a numpy
        // forward pass of the same dequantized weights also gives).
        let expected = try LlamaReferenceTests.fixture.doubles("logits")
        let squaredError = zip(actual, expected).reduce(0.0) { $0 + pow(Double($1.0) - $1.1, 2) }
        let relativeRMS = (squaredError / expected.reduce(0.0) { $0 + $1 * $1 }).squareRoot()
        #expect(relativeRMS > 0.01 && relativeRMS < 1, "relative RMS error \(relativeRMS)")
    }

    @Test func tokenizerComesFromTheMetadata() throws {
        let tokenizer = try LlamaCheckpoint.load(gguf: Self.folder + "/tiny-f32.gguf").tokenizer
        #expect(tokenizer.vocabularySize == 512 && tokenizer.specialTokens["<|endoftext|>"] == 511)
        // Tokens 0-255 are the bytes in order; "ab" and "cd" are merges 1 and 35 (ids 257 and 291); "q" has no merge.
        #expect(tokenizer.encode("abcdq") == [257, 291, 113])
        #expect(tokenizer.decode(tokenizer.encode("abc<|endoftext|>", allowSpecialTokens: true)) == "abc<|endoftext|>")
    }

    @Test func damagedFilesAreNamedNeverCrash() throws {
        let good = try Data(contentsOf: URL(fileURLWithPath: Self.folder + "/tiny-quantized.gguf"))
        for (bytes, expected) in [(good.prefix(good.count - 100), "truncated"), (good.prefix(20), "truncated"),
                                  (Data("GGUX".utf8) + good.dropFirst(4), "not a GGUF file"), (Data(), "truncated")] {
            #expect { try GGUFFile(data: Data(bytes), path: "damaged.gguf") } throws: { "\($0)".contains("damaged.gguf") && "\($0)".contains(expected) }
        }
        #expect { try LlamaCheckpoint.load(gguf: Self.folder + "/missing.gguf") } throws: { "\($0)".contains("missing.gguf") }
    }
}
