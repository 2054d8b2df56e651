import Foundation
import Testing
@testable import TransformerCore

@Suite("Byte-level BPE tokenizer")
struct TokenizerTests {
    static let fixtures = Bundle.module.url(forResource: "Fixtures", withExtension: nil)!.path

    static let gpt2: BytePairTokenizer = {
        try! BytePairTokenizer(vocabularyPath: fixtures + "/gpt2-bpe/encoder.json", mergesPath: fixtures + "/gpt2-bpe/vocab.bpe")
    }()

    struct ReferenceCase: Decodable {
        let text: String
        let ids: [Int32]
    }

    /// Every case of gpt2-bpe-reference.json, computed by tiktoken (see make_bpe_fixture.py).
    @Test func matchesTiktokenOnEveryReferenceCase() throws {
        struct Reference: Decodable { let cases: [ReferenceCase] }
        let data = try Data(contentsOf: URL(fileURLWithPath: Self.fixtures + "/gpt2-bpe-reference.json"))
        let reference = try JSONDecoder().decode(Reference.self, from: data)
        #expect(reference.cases.count >= 19)
        for item in reference.cases {
            #expect(Self.gpt2.encode(item.text) == item.ids, "\(item.text.debugDescription)")
            #expect(Self.gpt2.decode(item.ids) == item.text)
        }
    }

    @Test func knownAnswers() {
        #expect(Self.gpt2.vocabularySize == 50257)
        #expect(Self.gpt2.encode("Hello world") == [15496, 995])
        #expect(Self.gpt2.specialTokens["<|endoftext|>"] == 50256)
    }

    @Test func specialTokensOnlyWhenAllowed() {
        let text = "a<|endoftext|>b"
        #expect(Self.gpt2.encode(text, allowSpecialTokens: true).contains(50256))
        #expect(!Self.gpt2.encode(text).contains(50256))
        #expect(Self.gpt2.decode(Self.gpt2.encode(text, allowSpecialTokens: true)) == text)
    }

    @Test func randomUnicodeRoundTrips() {
        var random = SeededRandom(seed: 5)
        let alphabet = Array("abcXYZ 019 \n\t.,!?'s'll — é ß ж 中 🚀 👨‍👩‍👧 \u{0301}\u{00a0}")
        for _ in 0..<200 {
            let text = String((0..<Int(random.next() % 40)).map { _ in alphabet[Int(random.next() % UInt64(alphabet.count))] })
            #expect(Self.gpt2.decode(Self.gpt2.encode(text)) == text)
        }
    }

    @Test func trainsADeterministicVocabularyThatRoundTripsAndSaves() throws {
        let corpus = String(repeating: "the cat sat on the mat. the dog sat on the log. ", count: 50) + "unseen words ünïcödé 🚀"
        let tokenizer = try BytePairTrainer.train(corpus: corpus, vocabularySize: 300)
        #expect(tokenizer.vocabularySize == 300)
        #expect(tokenizer.specialTokens["<|endoftext|>"] == 299)
        // Frequent words become single tokens; any text still round-trips through bytes.
        #expect(tokenizer.encode(" the").count == 1)
        #expect(tokenizer.encode(" sat").count == 1)
        for text in [corpus, "never seen: qzx 中文 \n\n", ""] { #expect(tokenizer.decode(tokenizer.encode(text)) == text) }
        let again = try BytePairTrainer.train(corpus: corpus, vocabularySize: 300)
        #expect(again.tokenBytes == tokenizer.tokenBytes)

        let directory = NSTemporaryDirectory() + "tally-bpe-" + UUID().uuidString
        try tokenizer.save(toDirectory: directory)
        let loaded = try BytePairTokenizer(vocabularyPath: directory + "/vocab.json", mergesPath: directory + "/merges.txt")
        #expect(loaded.tokenBytes == tokenizer.tokenBytes)
        #expect(loaded.encode(corpus) == tokenizer.encode(corpus))
    }

    @Test func badFilesAreNamed() throws {
        let directory = NSTemporaryDirectory() + "tally-bpe-bad-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try "{\"a\": 0}".write(toFile: directory + "/vocab.json", atomically: true, encoding: .utf8)
        try "#version: 0.2\n".write(toFile: directory + "/merges.txt", atomically: true, encoding: .utf8)
        #expect { try BytePairTokenizer(vocabularyPath: directory + "/vocab.json", mergesPath: directory + "/merges.txt") } throws: {
            "\($0)".contains("no token for the byte")
        }
        #expect { try BytePairTokenizer(vocabularyPath: directory + "/missing.json", mergesPath: directory + "/merges.txt") } throws: {
            "\($0)".contains("missing.json")
        }
        try "#version: 0.2\nĠ nonexistent\n".write(toFile: directory + "/merges.txt", atomically: true, encoding: .utf8)
        #expect { try BytePairTokenizer(vocabularyPath: Self.fixtures + "/gpt2-bpe/encoder.json", mergesPath: directory + "/merges.txt") } throws: {
            "\($0)".contains("merges.txt, line 2")
        }
    }
}

private let tokenizerToolPython: String = {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    return root.appendingPathComponent(".build-python/test/bin/python").path
}()

/// Hugging Face's `tokenizer.json` (byte-level BPE behind the individual-digits pre-tokenizer,
/// with added special tokens), written by the `tokenizers` library itself, encodes in Tally
/// exactly as that library encodes it.
@Suite("Hugging Face tokenizer.json", .enabled(if: FileManager.default.isExecutableFile(atPath: tokenizerToolPython),
                                               "needs the test tools' Python environment; `make test` creates .build-python/test"))
struct HuggingFaceTokenizerTests {
    @Test func encodesAsTheTokenizersLibraryDoes() throws {
        let folder = NSTemporaryDirectory() + "tally-tokenizer-json-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tokenizerToolPython)
        let tools = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Tools").path
        let bpe = TokenizerTests.fixtures + "/gpt2-bpe"
        process.arguments = [tools + "/make_tokenizer_json.py", bpe + "/encoder.json", bpe + "/vocab.bpe", folder]
        try process.run()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        let tokenizer = try BytePairTokenizer(huggingFaceTokenizerPath: folder + "/tokenizer.json")
        #expect(tokenizer.preTokenization == .individualDigits && tokenizer.specialTokens["<|im_end|>"] == 50258)
        let expected = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: folder + "/expected.json"))) as! [String: Any]
        let texts = expected["texts"] as! [String], ids = expected["ids"] as! [[Int]]
        for (text, want) in zip(texts, ids) {
            let got = tokenizer.encode(text, allowSpecialTokens: true).map(Int.init)
            #expect(got == want, "\(text.debugDescription)")
            #expect(tokenizer.decode(got.map(Int32.init)) == text)
        }
        #expect { try BytePairTokenizer(huggingFaceTokenizerPath: folder + "/expected.json") } throws: { "\($0)".contains("expected.json") }
        // A pre-tokenizer Tally does not reproduce (Llama 3's own split rule) is refused, not approximated.
        var document = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: folder + "/tokenizer.json"))) as! [String: Any]
        document["pre_tokenizer"] = ["type": "Sequence", "pretokenizers": [["type": "Split", "pattern": ["Regex": "\\p{N}{1,3}"], "behavior": "Isolated"],
                                                                          ["type": "ByteLevel", "use_regex": false]]]
        try JSONSerialization.data(withJSONObject: document).write(to: URL(fileURLWithPath: folder + "/llama3-style.json"))
        #expect { try BytePairTokenizer(huggingFaceTokenizerPath: folder + "/llama3-style.json") } throws: {
            "\($0)".contains("llama3-style.json") && "\($0)".contains("pre-tokenizer")
        }

        // Saved by Tally with a ChatML template, it reads back in Tally and in Hugging Face's code alike.
        let saved = folder + "/saved"
        let template = ChatTemplate.chatML(defaultSystemPrompt: "You are a careful assistant.")
        try LlamaCheckpoint.saveTokenizer(tokenizer, chatTemplate: template, stopToken: "<|im_end|>", to: saved)
        let reloaded = try BytePairTokenizer(huggingFaceTokenizerPath: saved + "/tokenizer.json")
        #expect(reloaded.tokenBytes == tokenizer.tokenBytes && reloaded.specialTokens == tokenizer.specialTokens && reloaded.preTokenization == .individualDigits)
        #expect(try LlamaCheckpoint.chatTemplate(in: saved) == template)
        let messages = [ChatTemplate.Message(role: "user", content: "What is 12 + 30?"), .init(role: "assistant", content: "42."),
                        .init(role: "user", content: "And 7 × 6?")]
        let chatIDs = try template.tokens(messages, tokenizer: tokenizer)
        let savedExpected: [String: Any] = [
            "texts": texts, "ids": texts.map { tokenizer.encode($0, allowSpecialTokens: true).map(Int.init) },
            "messages": messages.map { ["role": $0.role, "content": $0.content] }, "chat_ids": chatIDs.map(Int.init),
        ]
        try JSONSerialization.data(withJSONObject: savedExpected).write(to: URL(fileURLWithPath: saved + "/expected.json"))
        let check = Process()
        check.executableURL = URL(fileURLWithPath: tokenizerToolPython)
        check.arguments = [tools + "/check_saved_tokenizer.py", saved]
        check.environment = ["HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PATH": "/usr/bin:/bin"]
        let output = Pipe()
        check.standardOutput = output
        check.standardError = output
        try check.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        check.waitUntilExit()
        #expect(check.terminationStatus == 0 && text.contains("OK:"), "\(text)")
    }
}
