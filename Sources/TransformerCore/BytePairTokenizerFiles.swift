import Foundation
import JSON

/// Reading and writing tokenizers in the formats the field uses: GPT-2's `vocab.json` and
/// `merges.txt`, a GGUF file's `tokenizer.ggml.*` metadata, and Hugging Face's `tokenizer.json`.
extension BytePairTokenizer {
    /// Loads a GPT-2 style vocabulary (`vocab.json`: token → id) and merges (`merges.txt`).
    /// Tokens of the form `<|...|>` are special: never produced by merges, matched whole.
    public convenience init(vocabularyPath: String, mergesPath: String) throws {
        guard let vocabularyData = FileManager.default.contents(atPath: vocabularyPath) else {
            throw CheckpointError("\(vocabularyPath): cannot read the vocabulary file", kind: .unreadable)
        }
        let parsed: JSONValue
        do { parsed = try JSONParser.parse(Array(vocabularyData)) } catch {
            throw CheckpointError("\(vocabularyPath): not valid JSON (\(error))")
        }
        guard case .object(let entries) = parsed else { throw CheckpointError("\(vocabularyPath): expected a JSON object of token to id") }
        let tokens = try Self.tokenStrings(entries, source: vocabularyPath)
        guard let mergesText = FileManager.default.contents(atPath: mergesPath).flatMap({ String(data: $0, encoding: .utf8) }) else {
            throw CheckpointError("\(mergesPath): cannot read the merges file as UTF-8", kind: .unreadable)
        }
        let lines = mergesText.split(separator: "\n", omittingEmptySubsequences: false)
        let merges = try Self.mergePairs(lines.map(String.init)) { "\(mergesPath), line \($0 + 1)" }
        try self.init(spellings: tokens, special: Set(tokens.indices.filter { tokens[$0].hasPrefix("<|") && tokens[$0].hasSuffix("|>") }),
                      merges: merges, preTokenization: .gpt2, vocabularySource: vocabularyPath)
    }

    /// The tokenizer a GGUF file carries in its metadata (`tokenizer.ggml.*`): byte-level BPE
    /// (model `gpt2`, with merges and the pre-tokenizer named by `tokenizer.ggml.pre`), or
    /// SentencePiece's BPE (model `llama`, Llama 2's and TinyLlama's: pieces with scores, from
    /// which the merges follow). Control and user-defined tokens are special.
    public convenience init(gguf file: GGUFFile) throws {
        let model = try file.required("tokenizer.ggml.model").string
        guard model == "gpt2" || model == "llama" else {
            throw CheckpointError("\(file.path): tokenizer.ggml.model is \(file.metadata["tokenizer.ggml.model"].map { "\($0)" } ?? "absent"); Tally reads byte-level BPE ('gpt2') and SentencePiece's BPE ('llama')", kind: .unsupported)
        }
        guard let tokens = try file.required("tokenizer.ggml.tokens").array?.compactMap(\.string) else {
            throw CheckpointError("\(file.path): tokenizer.ggml.tokens must be an array of strings")
        }
        let types = file.metadata["tokenizer.ggml.token_type"]?.array?.map { $0.integer ?? 1 } ?? []
        // llama.cpp's token types: 2 unknown, 3 control, 4 user-defined.
        let special = Set(types.indices.filter { types[$0] == 3 || types[$0] == 4 })
        if model == "llama" {
            try self.init(sentencePieceGGUF: file, tokens: tokens, types: types, special: special)
            return
        }
        guard let mergeLines = try file.required("tokenizer.ggml.merges").array?.compactMap(\.string) else {
            throw CheckpointError("\(file.path): tokenizer.ggml.merges must be an array of strings")
        }
        let preTokenization: PreTokenization
        switch file.metadata["tokenizer.ggml.pre"]?.string ?? "gpt2" {
        case "gpt2", "default": preTokenization = .gpt2
        case "smollm", "starcoder", "refact": preTokenization = .individualDigits
        case "llama3", "llama-v3", "llama-bpe": preTokenization = .llama3
        case let other: throw CheckpointError("\(file.path): the pre-tokenizer '\(other)' is not one Tally knows (gpt2, smollm, llama-bpe)", kind: .unsupported)
        }
        let merges = try Self.mergePairs(mergeLines) { "\(file.path) (tokenizer.ggml.merges[\($0)])" }
        // llama.cpp ignores merges for Llama 3's vocabulary, as its tokenizer.json asks.
        try self.init(spellings: tokens, special: special, merges: merges, preTokenization: preTokenization,
                      ignoresMerges: preTokenization == .llama3, vocabularySource: file.path + " (tokenizer.ggml.tokens)")
    }

    /// SentencePiece's BPE from a GGUF file. SentencePiece merges the adjacent pair whose joined
    /// piece scores highest; as merges in rank order (what Hugging Face's converter writes, and
    /// what `tokenizer.json` holds for these models) that is every split of every piece into
    /// two pieces of the vocabulary, by the joined piece's score, highest first, then longer
    /// left parts, then longer right parts. Spaces and the "▁" in front follow Hugging Face's
    /// Llama 2 tokenizer (a "▁" before each run of text between special tokens).
    private convenience init(sentencePieceGGUF file: GGUFFile, tokens: [String], types: [Int], special: Set<Int>) throws {
        guard let scores = try file.required("tokenizer.ggml.scores").array?.compactMap(\.number), scores.count == tokens.count else {
            throw CheckpointError("\(file.path): tokenizer.ggml.scores must hold one number per token")
        }
        if file.metadata["tokenizer.ggml.add_space_prefix"]?.integer == 0 {
            throw CheckpointError("\(file.path): tokenizer.ggml.add_space_prefix is false; Tally reproduces SentencePiece with the space in front", kind: .unsupported)
        }
        var idsBySpelling: [String: Int] = [:]
        for (id, token) in tokens.enumerated() where idsBySpelling[token] == nil { idsBySpelling[token] = id }
        var candidates: [(left: String, right: String, score: Double, leftLength: Int, rightLength: Int)] = []
        for (id, piece) in tokens.enumerated() {
            let scalars = Array(piece.unicodeScalars)
            guard scalars.count > 1 else { continue }
            var local: [(left: String, right: String, leftID: Int, rightID: Int)] = []
            for split in 1..<scalars.count {
                var left = "", right = ""
                left.unicodeScalars.append(contentsOf: scalars[..<split])
                right.unicodeScalars.append(contentsOf: scalars[split...])
                if let leftID = idsBySpelling[left], let rightID = idsBySpelling[right] { local.append((left, right, leftID, rightID)) }
            }
            local.sort { ($0.leftID, $0.rightID) < ($1.leftID, $1.rightID) }
            for merge in local {
                candidates.append((merge.left, merge.right, scores[id], merge.left.unicodeScalars.count, merge.right.unicodeScalars.count))
            }
        }
        // A stable sort keeps the order above among equals, as Python's sorted does.
        let ordered = candidates.enumerated().sorted { first, second in
            let (a, b) = (first.element, second.element)
            if a.score != b.score { return a.score > b.score }
            if a.leftLength != b.leftLength { return a.leftLength > b.leftLength }
            if a.rightLength != b.rightLength { return a.rightLength > b.rightLength }
            return first.offset < second.offset
        }
        let merges: [MergeSpelling] = ordered.map { ($0.element.left, $0.element.right, { "\(file.path) (tokenizer.ggml.scores)" }) }
        let unknownID = file.metadata["tokenizer.ggml.unknown_token_id"]?.integer ?? types.firstIndex(of: 2)
        try self.init(spellings: tokens, special: special, merges: merges, preTokenization: .sentencePiece(prefixEverySegment: true),
                      alphabet: .charactersWithByteFallback, unknownSpelling: unknownID.flatMap { tokens.indices.contains($0) ? tokens[$0] : nil },
                      vocabularySource: file.path + " (tokenizer.ggml.tokens)")
    }

    /// Hugging Face's `tokenizer.json` for a BPE model: `model.vocab`, `model.merges` (strings
    /// "a b" or pairs), `added_tokens` (special ones matched whole), and a normalizer and
    /// pre-tokenizer Tally reproduces exactly (`preTokenization(of:normalizer:path:)`); any
    /// other is refused rather than tokenized differently.
    public convenience init(huggingFaceTokenizerPath path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else { throw CheckpointError("\(path): cannot read the tokenizer file", kind: .unreadable) }
        let root: JSONValue
        do { root = try JSONParser.parse(Array(data)) } catch { throw CheckpointError("\(path): not valid JSON (\(error))") }
        guard let model = root["model"], model["type"] == .string("BPE"),
              case .object(let vocabulary)? = model["vocab"], case .array(let mergeValues)? = model["merges"] else {
            throw CheckpointError("\(path): expected a BPE model with 'vocab' and 'merges' under 'model'")
        }
        for name in ["continuing_subword_prefix", "end_of_word_suffix"] {
            if let value = model[name], value != .null, value != .string("") {
                throw CheckpointError("\(path): model.\(name) is \(JSONWriter.string(value)); Tally reads BPE without subword markers", kind: .unsupported)
            }
        }
        if let dropout = model["dropout"], dropout != .null, dropout != .double(0), dropout != .integer(0) {
            throw CheckpointError("\(path): model.dropout is \(JSONWriter.string(dropout)); BPE dropout is for training a tokenizer, and Tally encodes deterministically", kind: .unsupported)
        }
        var tokens = try Self.tokenStrings(vocabulary, source: path + " (model.vocab)")
        var special = Set<Int>()
        if case .array(let added)? = root["added_tokens"] {
            for (index, token) in added.enumerated() {
                guard case .integer(let id)? = token["id"], id >= 0, id < 1 << 24, case .string(let content)? = token["content"] else {
                    throw CheckpointError("\(path): added_tokens[\(index)] needs an 'id' and a 'content'")
                }
                if Int(id) >= tokens.count { tokens += [String](repeating: "", count: Int(id) + 1 - tokens.count) }
                tokens[Int(id)] = content
                if token["special"] == .bool(true) { special.insert(Int(id)) }
            }
        }
        let merges = try mergeValues.enumerated().map { index, value -> MergeSpelling in
            switch value {
            case .string(let text):
                return try Self.mergePairs([text]) { _ in "\(path) (model.merges[\(index)])" }[0]
            case .array(let pair) where pair.count == 2:
                if case .string(let left) = pair[0], case .string(let right) = pair[1] { return (left, right, { "\(path) (model.merges[\(index)])" }) }
                fallthrough
            default: throw CheckpointError("\(path): model.merges[\(index)] is neither \"a b\" nor a pair of strings")
            }
        }
        let preTokenization = try Self.preTokenization(of: root["pre_tokenizer"] ?? .null, normalizer: root["normalizer"] ?? .null, path: path)
        var alphabet = Alphabet.bytes
        var unknown: String?
        if case .sentencePiece = preTokenization {
            alphabet = .charactersWithByteFallback
            if case .string(let text)? = model["unk_token"] { unknown = text }
        }
        try self.init(spellings: tokens, special: special, merges: merges, preTokenization: preTokenization, alphabet: alphabet,
                      unknownSpelling: unknown, ignoresMerges: model["ignore_merges"] == .bool(true),
                      vocabularySource: path + " (model.vocab)")
    }

    /// Llama 3's split rule as its tokenizer.json writes it.
    static let llama3Pattern = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#

    /// The pre-tokenization a `tokenizer.json` describes, when it is one Tally reproduces:
    /// - ByteLevel with GPT-2's rule, alone or after Digits with individual digits;
    /// - Llama 3's Split rule, then ByteLevel without its own;
    /// - SentencePiece's spaces: the `Prepend("▁")` and `Replace(" ", "▁")` normalizer with no
    ///   pre-tokenizer, or a `Metaspace` pre-tokenizer with prepend scheme "first" that does not split.
    private static func preTokenization(of value: JSONValue, normalizer: JSONValue, path: String) throws -> PreTokenization {
        func isByteLevel(_ value: JSONValue, withItsRule: Bool) -> Bool {
            guard value["type"] == .string("ByteLevel"), value["add_prefix_space"] != .bool(true) else { return false }
            return (value["use_regex"] != .bool(false)) == withItsRule
        }
        let steps: [JSONValue]
        if value["type"] == .string("Sequence"), case .array(let list)? = value["pretokenizers"] { steps = list } else { steps = [] }
        func describe(_ value: JSONValue) -> String { String(JSONWriter.string(value).prefix(200)) }
        let metaspace = JSONValue.string(PreTokenization.metaspace)
        if normalizer != .null {
            // Llama 2's converted tokenizer: Sequence [Prepend("▁"), Replace(" " → "▁")], and no pre-tokenizer.
            if normalizer["type"] == .string("Sequence"), case .array(let parts)? = normalizer["normalizers"], parts.count == 2,
               parts[0]["type"] == .string("Prepend"), parts[0]["prepend"] == metaspace,
               parts[1]["type"] == .string("Replace"), parts[1]["content"] == metaspace, parts[1]["pattern"]?["String"] == .string(" "),
               value == .null {
                return .sentencePiece(prefixEverySegment: true)
            }
            throw CheckpointError("\(path): the normalizer \(describe(normalizer)) is not one Tally reproduces (none, or SentencePiece's Prepend and Replace of spaces)", kind: .unsupported)
        }
        if isByteLevel(value, withItsRule: true) { return .gpt2 }
        if steps.count == 2, steps[0]["type"] == .string("Digits"), steps[0]["individual_digits"] == .bool(true), isByteLevel(steps[1], withItsRule: true) {
            return .individualDigits
        }
        if steps.count == 2, steps[0]["type"] == .string("Split"), steps[0]["pattern"]?["Regex"] == .string(llama3Pattern),
           steps[0]["behavior"] == .string("Isolated"), steps[0]["invert"] != .bool(true), isByteLevel(steps[1], withItsRule: false) {
            return .llama3
        }
        if value["type"] == .string("Metaspace"), value["replacement"] == metaspace, value["split"] == .bool(false), value["prepend_scheme"] == .string("first") {
            return .sentencePiece(prefixEverySegment: false)
        }
        throw CheckpointError("\(path): the pre-tokenizer \(describe(value)) is not one Tally reproduces (ByteLevel with GPT-2's rule, optionally after Digits with individual digits; Llama 3's Split rule then ByteLevel; SentencePiece's spaces)", kind: .unsupported)
    }

    /// Token strings by id from a token → id object; every id from 0 must be used once.
    private static func tokenStrings(_ entries: [(String, JSONValue)], source: String) throws -> [String] {
        var tokens = [String?](repeating: nil, count: entries.count)
        for (token, value) in entries {
            guard case .integer(let id) = value, id >= 0, id < entries.count else {
                throw CheckpointError("\(source): token \(token.debugDescription) has id \(value), not one from 0 to \(entries.count - 1)")
            }
            guard tokens[Int(id)] == nil else { throw CheckpointError("\(source): id \(id) is used twice") }
            tokens[Int(id)] = token
        }
        return tokens.map { $0 ?? "" }
    }

    /// A merge as the vocabulary spells it, and where it was read (for errors).
    private typealias MergeSpelling = (left: String, right: String, location: () -> String)

    /// "left right" lines as pairs; `#version` lines and blank lines are skipped.
    private static func mergePairs(_ lines: [String], location: @escaping (Int) -> String) throws -> [MergeSpelling] {
        var pairs: [MergeSpelling] = []
        for (index, line) in lines.enumerated() where !line.hasPrefix("#version") && !line.isEmpty {
            let parts = line.split(separator: " ", omittingEmptySubsequences: false)
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
                throw CheckpointError("\(location(index)): expected two tokens separated by one space")
            }
            pairs.append((String(parts[0]), String(parts[1]), { location(index) }))
        }
        return pairs
    }

    /// The common path of every loader: tokens as the vocabulary spells them (special tokens as
    /// plain text) and merges as pairs of spellings.
    private convenience init(spellings tokens: [String], special: Set<Int>, merges pairs: [MergeSpelling], preTokenization: PreTokenization,
                             alphabet: Alphabet = .bytes, unknownSpelling: String? = nil, ignoresMerges: Bool = false, vocabularySource: String) throws {
        var tokenBytes: [[UInt8]] = []
        var specialTokens: [String: Int32] = [:]
        var idsBySpelling: [String: Int32] = [:]
        tokenBytes.reserveCapacity(tokens.count)
        for (id, token) in tokens.enumerated() {
            if special.contains(id) {
                specialTokens[token] = Int32(id)
                tokenBytes.append(Array(token.utf8))
            } else {
                switch alphabet {
                case .bytes:
                    var bytes: [UInt8] = []
                    for character in token {
                        guard let byte = Self.characterToByte[character] else {
                            throw CheckpointError("\(vocabularySource): token \(token.debugDescription) has a character outside GPT-2's byte alphabet")
                        }
                        bytes.append(byte)
                    }
                    tokenBytes.append(bytes)
                case .charactersWithByteFallback:
                    tokenBytes.append(Self.byteFallbackValue(token).map { [$0] } ?? Array(PreTokenization.replacing(PreTokenization.metaspaceScalar, with: " ", in: token).utf8))
                }
            }
            if idsBySpelling[token] == nil { idsBySpelling[token] = Int32(id) }
        }
        var merges: [Merge] = []
        merges.reserveCapacity(pairs.count)
        for (left, right, location) in pairs {
            guard let leftID = idsBySpelling[left], let rightID = idsBySpelling[right] else {
                throw CheckpointError("\(location()): the merge \(left.debugDescription) \(right.debugDescription) names a token that is not in \(vocabularySource)")
            }
            guard let merged = idsBySpelling[left + right] else {
                throw CheckpointError("\(location()): the merge makes \((left + right).debugDescription), which is not in \(vocabularySource)")
            }
            merges.append(Merge(left: leftID, right: rightID, merged: merged))
        }
        var unknownToken: Int32?
        if let unknownSpelling {
            guard let id = idsBySpelling[unknownSpelling] else { throw CheckpointError("\(vocabularySource): the unknown token \(unknownSpelling.debugDescription) is not in the vocabulary") }
            unknownToken = id
        }
        try self.init(tokenBytes: tokenBytes, merges: merges, specialTokens: specialTokens, preTokenization: preTokenization, alphabet: alphabet,
                      spellings: alphabet == .bytes ? [] : tokens, unknownToken: unknownToken, ignoresMerges: ignoresMerges)
    }

    /// The byte of a fallback token's spelling (`<0x0A>` is 10); nil for any other spelling.
    static func byteFallbackValue(_ spelling: String) -> UInt8? {
        guard spelling.utf8.count == 6, spelling.hasPrefix("<0x"), spelling.hasSuffix(">") else { return nil }
        return UInt8(spelling.dropFirst(3).prefix(2), radix: 16)
    }

    // MARK: Writing

    /// Writes `vocab.json` and `merges.txt` into `directory` in GPT-2's format.
    public func save(toDirectory directory: String) throws {
        guard alphabet == .bytes else { throw CheckpointError("GPT-2's vocab.json and merges.txt hold byte-level vocabularies; save this one as tokenizer.json") }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var vocabulary: [UInt8] = []
        JSONWriter.write(vocabularyJSON, into: &vocabulary)
        try Data(vocabulary).write(to: URL(fileURLWithPath: directory + "/vocab.json"))
        let merges = "#version: 0.2\n" + mergeLines.map { $0 + "\n" }.joined()
        try Data(merges.utf8).write(to: URL(fileURLWithPath: directory + "/merges.txt"))
    }

    /// Writes Hugging Face's `tokenizer.json` into `directory`: the same vocabulary and merges,
    /// the special tokens as added tokens, and this tokenizer's normalizer, pre-tokenizer and
    /// decoder, so `tokenizers` (and transformers' fast tokenizers) encode as Tally does.
    public func saveHuggingFaceTokenizer(toDirectory directory: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        func object(_ fields: [(String, JSONValue)]) -> JSONValue { .object(fields) }
        func byteLevel(useRegex: Bool) -> JSONValue {
            object([("type", .string("ByteLevel")), ("add_prefix_space", .bool(false)), ("trim_offsets", .bool(true)), ("use_regex", .bool(useRegex))])
        }
        let metaspace = JSONValue.string(PreTokenization.metaspace)
        var normalizer = JSONValue.null, preTokenizer = JSONValue.null
        var decoder = object([("type", .string("ByteLevel")), ("add_prefix_space", .bool(true)), ("trim_offsets", .bool(true)), ("use_regex", .bool(true))])
        switch preTokenization {
        case .gpt2: preTokenizer = byteLevel(useRegex: true)
        case .individualDigits:
            preTokenizer = object([("type", .string("Sequence")), ("pretokenizers", .array([
                object([("type", .string("Digits")), ("individual_digits", .bool(true))]), byteLevel(useRegex: true)]))])
        case .llama3:
            preTokenizer = object([("type", .string("Sequence")), ("pretokenizers", .array([
                object([("type", .string("Split")), ("pattern", object([("Regex", .string(Self.llama3Pattern))])), ("behavior", .string("Isolated")), ("invert", .bool(false))]),
                byteLevel(useRegex: false)]))])
        case .sentencePiece(let prefixEverySegment):
            if prefixEverySegment {
                normalizer = object([("type", .string("Sequence")), ("normalizers", .array([
                    object([("type", .string("Prepend")), ("prepend", metaspace)]),
                    object([("type", .string("Replace")), ("pattern", object([("String", .string(" "))])), ("content", metaspace)])]))])
            } else {
                preTokenizer = object([("type", .string("Metaspace")), ("replacement", metaspace), ("prepend_scheme", .string("first")), ("split", .bool(false))])
            }
            // transformers' LlamaConverter writes this decoder for both forms.
            decoder = object([("type", .string("Sequence")), ("decoders", .array([
                object([("type", .string("Replace")), ("pattern", object([("String", metaspace)])), ("content", .string(" "))]),
                object([("type", .string("ByteFallback"))]), object([("type", .string("Fuse"))]),
                object([("type", .string("Strip")), ("content", .string(" ")), ("start", .integer(1)), ("stop", .integer(0))])]))])
        }
        let added: [JSONValue] = specialTokens.sorted { $0.value < $1.value }.map { token, id in
            object([("id", .integer(Int64(id))), ("content", .string(token)), ("single_word", .bool(false)), ("lstrip", .bool(false)),
                    ("rstrip", .bool(false)), ("normalized", .bool(false)), ("special", .bool(true))])
        }
        let characters = alphabet == .charactersWithByteFallback
        let model = object([
            ("type", .string("BPE")), ("dropout", .null), ("unk_token", unknownToken.map { .string(spelling(of: $0)) } ?? .null),
            ("continuing_subword_prefix", .null), ("end_of_word_suffix", .null), ("fuse_unk", .bool(characters)),
            ("byte_fallback", .bool(characters)), ("ignore_merges", .bool(ignoresMerges)),
            ("vocab", vocabularyJSON), ("merges", .array(orderedMerges.map { .array([.string(spelling(of: $0.left)), .string(spelling(of: $0.right))]) })),
        ])
        let document = object([
            ("version", .string("1.0")), ("truncation", .null), ("padding", .null), ("added_tokens", .array(added)),
            ("normalizer", normalizer), ("pre_tokenizer", preTokenizer), ("post_processor", .null), ("decoder", decoder), ("model", model),
        ])
        var bytes: [UInt8] = []
        JSONWriter.write(document, into: &bytes)
        try Data(bytes).write(to: URL(fileURLWithPath: directory + "/tokenizer.json"))
    }

    /// How the vocabulary spells the ordinary token `id`: in GPT-2's byte alphabet, or as
    /// loaded for SentencePiece's (special tokens are spelled as their text).
    func spelling(of id: Int32) -> String {
        if alphabet == .charactersWithByteFallback { return spellings[Int(id)] }
        return String(tokenBytes[Int(id)].map { Self.byteToCharacter[Int($0)] })
    }

    /// Spelling → id.
    private var vocabularyJSON: JSONValue {
        let special = Dictionary(uniqueKeysWithValues: specialTokens.map { ($0.value, $0.key) })
        return .object(tokenBytes.indices.map { id in
            (special[Int32(id)] ?? spelling(of: Int32(id)), .integer(Int64(id)))
        })
    }

    /// The merges in rank order as "left right" lines (GPT-2's merges.txt).
    private var mergeLines: [String] {
        orderedMerges.map { spelling(of: $0.left) + " " + spelling(of: $0.right) }
    }
}
