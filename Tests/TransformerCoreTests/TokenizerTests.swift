import Foundation
import TallyTestSupport
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

        let directory = TemporaryFiles.path("tally-bpe")
        try tokenizer.save(toDirectory: directory)
        let loaded = try BytePairTokenizer(vocabularyPath: directory + "/vocab.json", mergesPath: directory + "/merges.txt")
        #expect(loaded.tokenBytes == tokenizer.tokenBytes)
        #expect(loaded.encode(corpus) == tokenizer.encode(corpus))
    }

    @Test func badFilesAreNamed() throws {
        let directory = TemporaryFiles.path("tally-bpe-bad")
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

let tokenizerToolPython: String = {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    return root.appendingPathComponent(".build-python/test/bin/python").path
}()

/// Hugging Face's `tokenizer.json` in each form Tally reads, written by the `tokenizers` library
/// itself, encodes and decodes in Tally exactly as that library does, on edge cases and 300
/// random strings; the chat template the family ships gives the ids transformers'
/// `apply_chat_template` gives; and what Tally saves reads back in Tally and in Hugging Face's code alike.
@Suite("Hugging Face tokenizer.json", .enabled(if: FileManager.default.isExecutableFile(atPath: tokenizerToolPython),
                                               "needs the test tools' Python environment; `make test` creates .build-python/test"))
struct HuggingFaceTokenizerTests {
    static let tools = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Tools").path

    /// A new folder holding the tokenizer.json of `style` and expected.json, written by
    /// Tools/make_tokenizer_json.py; returns the folder and the expectations.
    static func makeTokenizerJSON(style: String, folderPrefix: String = "tally-tokenizer-json-") throws -> (folder: String, expected: [String: Any]) {
        let folder = TemporaryFiles.path(folderPrefix)
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let bpe = TokenizerTests.fixtures + "/gpt2-bpe"
        let made = try runTool([tools + "/make_tokenizer_json.py", style, bpe + "/encoder.json", bpe + "/vocab.bpe", folder])
        try #require(made.status == 0, "\(made.output)")
        let expected = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: folder + "/expected.json"))) as! [String: Any]
        return (folder, expected)
    }

    /// Runs a tool of Tools/ with the test environment's Python; returns what it printed.
    static func runTool(_ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tokenizerToolPython)
        process.arguments = arguments
        process.environment = ["HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PATH": "/usr/bin:/bin"]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, text)
    }

    @Test(arguments: [
        ("smollm", PreTokenization.individualDigits, "<|im_end|>"),
        ("llama3", PreTokenization.llama3, "<|eot_id|>"),
        ("sentencepiece", PreTokenization.sentencePiece(prefixEverySegment: true), "</s>"),
        ("sentencepiece-first", PreTokenization.sentencePiece(prefixEverySegment: false), "</s>"),
    ])
    func encodesAsTheTokenizersLibraryDoes(style: String, preTokenization: PreTokenization, endOfTurn: String) throws {
        let (folder, expected) = try Self.makeTokenizerJSON(style: style)
        let tokenizer = try BytePairTokenizer(huggingFaceTokenizerPath: folder + "/tokenizer.json")
        #expect(tokenizer.preTokenization == preTokenization && tokenizer.specialTokens[endOfTurn] != nil)
        let texts = expected["texts"] as! [String], ids = expected["ids"] as! [[Int]], decoded = expected["decoded"] as! [String]
        var mismatches = 0
        for (index, text) in texts.enumerated() {
            let got = tokenizer.encode(text, allowSpecialTokens: true).map(Int.init)
            if got != ids[index] || tokenizer.decode(got.map(Int32.init)) != decoded[index] { mismatches += 1 }
            if mismatches <= 3 {
                #expect(got == ids[index], "\(text.debugDescription)")
                #expect(tokenizer.decode(got.map(Int32.init)) == decoded[index], "\(text.debugDescription)")
            }
        }
        #expect(mismatches == 0, "\(mismatches) of \(texts.count) texts differ")

        // The family's own chat template is recognised and renders as transformers renders it.
        let messages = (expected["messages"] as! [[String: String]]).map { ChatTemplate.Message(role: $0["role"]!, content: $0["content"]!) }
        let template = try #require(ChatTemplate(jinja: expected["template"] as! String))
        #expect(template.endOfTurnMarker == endOfTurn)
        #expect(try template.tokens(messages, tokenizer: tokenizer).map(Int.init) == expected["template_ids"] as! [Int])

        // Saved by Tally, it reads back in Tally and in Hugging Face's code alike.
        let saved = folder + "/saved"
        try LlamaCheckpoint.saveTokenizer(tokenizer, chatTemplate: template, stopToken: endOfTurn, to: saved)
        let reloaded = try BytePairTokenizer(huggingFaceTokenizerPath: saved + "/tokenizer.json")
        #expect(reloaded.tokenBytes == tokenizer.tokenBytes && reloaded.specialTokens == tokenizer.specialTokens && reloaded.preTokenization == preTokenization)
        #expect(texts.allSatisfy { reloaded.encode($0, allowSpecialTokens: true) == tokenizer.encode($0, allowSpecialTokens: true) })
        #expect(try LlamaCheckpoint.chatTemplate(in: saved) == template)
        let savedExpected: [String: Any] = [
            "texts": texts, "ids": ids, "messages": messages.map { ["role": $0.role, "content": $0.content] },
            "chat_ids": try template.tokens(messages, tokenizer: tokenizer).map(Int.init),
        ]
        try JSONSerialization.data(withJSONObject: savedExpected).write(to: URL(fileURLWithPath: saved + "/expected.json"))
        let check = try Self.runTool([Self.tools + "/check_saved_tokenizer.py", saved])
        #expect(check.status == 0 && check.output.contains("OK:"), "\(check.output)")
    }

    /// Forms of tokenizer.json Tally does not reproduce are refused by name, not approximated.
    @Test func refusesWhatItDoesNotReproduce() throws {
        let folder = try Self.makeTokenizerJSON(style: "smollm").folder
        #expect { try BytePairTokenizer(huggingFaceTokenizerPath: folder + "/expected.json") } throws: { "\($0)".contains("expected.json") }
        let original = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: folder + "/tokenizer.json"))) as! [String: Any]
        let variants: [(String, (inout [String: Any]) -> Void, String)] = [
            ("other-split", { $0["pre_tokenizer"] = ["type": "Sequence", "pretokenizers": [["type": "Split", "pattern": ["Regex": "\\p{N}{1,3}"], "behavior": "Isolated"],
                                                                                         ["type": "ByteLevel", "use_regex": false]]] }, "pre-tokenizer"),
            ("nfkc", { $0["normalizer"] = ["type": "NFKC"] }, "normalizer"),
            ("prefix-space", { $0["pre_tokenizer"] = ["type": "ByteLevel", "add_prefix_space": true, "use_regex": true] }, "pre-tokenizer"),
            ("dropout", { var model = $0["model"] as! [String: Any]; model["dropout"] = 0.1; $0["model"] = model }, "dropout"),
            ("bad-merge", { var model = $0["model"] as! [String: Any]; model["merges"] = ["Ġ nonexistent"]; $0["model"] = model }, "model.merges[0]"),
        ]
        for (name, change, reason) in variants {
            var document = original
            change(&document)
            try JSONSerialization.data(withJSONObject: document).write(to: URL(fileURLWithPath: folder + "/\(name).json"))
            #expect { try BytePairTokenizer(huggingFaceTokenizerPath: folder + "/\(name).json") } throws: {
                "\($0)".contains("\(name).json") && "\($0)".contains(reason)
            }
        }
    }
}
