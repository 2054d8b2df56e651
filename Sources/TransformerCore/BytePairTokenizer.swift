import Foundation
import JSON

/// Byte-level BPE compatible with GPT-2 (Radford et al. 2019; Sennrich et al. 2016 for BPE):
/// text is split by GPT-2's pre-tokenizer, each piece's UTF-8 bytes start as one token each,
/// and the lowest-ranked adjacent pair is merged until no learned merge applies. Every byte has
/// a token, so any text encodes, and decoding returns it byte for byte.
///
/// Loads GPT-2's files (`vocab.json` or `encoder.json`, and `merges.txt` or `vocab.bpe`), trains
/// a new vocabulary from a corpus, and saves in the same format, so Hugging Face reads it too.
public final class BytePairTokenizer: @unchecked Sendable {
    /// Token id to its bytes.
    public private(set) var tokenBytes: [[UInt8]]
    private var idsByBytes: [[UInt8]: Int32]
    /// (left id << 32 | right id) to (rank, merged id).
    private var merges: [UInt64: (rank: Int32, merged: Int32)]
    /// The merges in rank order, as saved in merges.txt.
    private var orderedMerges: [(Int32, Int32)]
    public private(set) var specialTokens: [String: Int32]
    /// How text is split into the pieces merges work within.
    public let preTokenization: PreTokenization
    /// Each byte's token, or -1 where the vocabulary has none.
    private let byteTokens: [Int32]
    /// Pieces already encoded: text repeats its words, so most pieces are looked up, not merged.
    private var cache: [String: [Int32]] = [:]
    private let cacheLock = NSLock()
    private static let maxCachedPieces = 100_000

    public var vocabularySize: Int { tokenBytes.count }

    init(tokenBytes: [[UInt8]], orderedMerges: [(Int32, Int32)], specialTokens: [String: Int32], preTokenization: PreTokenization = .gpt2) throws {
        self.tokenBytes = tokenBytes
        self.preTokenization = preTokenization
        var idsByBytes: [[UInt8]: Int32] = [:]
        for (id, bytes) in tokenBytes.enumerated() where idsByBytes[bytes] == nil { idsByBytes[bytes] = Int32(id) }
        self.idsByBytes = idsByBytes
        // Some vocabularies (SmolLM2's) lack tokens for bytes their corpus never held; such a
        // byte is dropped when encoding, as Hugging Face's byte-level BPE without an unknown
        // token drops it.
        // A vocabulary without printable ASCII is broken, not frugal.
        if let missing = (0x20...0x7E).first(where: { idsByBytes[[UInt8($0)]] == nil }) {
            throw CheckpointError("the vocabulary has no token for the byte \(missing) (\(Character(Unicode.Scalar(UInt8(missing))).debugDescription))")
        }
        self.byteTokens = (0...255).map { idsByBytes[[UInt8($0)]] ?? -1 }
        var merges: [UInt64: (rank: Int32, merged: Int32)] = [:]
        for (rank, (left, right)) in orderedMerges.enumerated() {
            guard let merged = idsByBytes[tokenBytes[Int(left)] + tokenBytes[Int(right)]] else {
                throw CheckpointError("merge \(rank + 1) makes a token that is not in the vocabulary")
            }
            let key = UInt64(UInt32(left)) << 32 | UInt64(UInt32(right))
            if merges[key] == nil { merges[key] = (Int32(rank), merged) }
        }
        self.merges = merges
        self.orderedMerges = orderedMerges
        self.specialTokens = specialTokens
    }

    // MARK: GPT-2's files

    /// GPT-2 writes each byte as a printable character: bytes that print stay themselves, the
    /// others (controls, space, a few more) map to U+0100 and up, so a space is "Ġ".
    static let byteToCharacter: [Character] = {
        var printable = Array(33...126) + Array(161...172) + Array(174...255)
        var codes = printable
        var extra = 0
        for byte in 0...255 where !printable.contains(byte) {
            printable.append(byte)
            codes.append(256 + extra)
            extra += 1
        }
        var table = [Character](repeating: " ", count: 256)
        for (byte, code) in zip(printable, codes) { table[byte] = Character(Unicode.Scalar(UInt32(code))!) }
        return table
    }()

    static let characterToByte: [Character: UInt8] = {
        var table: [Character: UInt8] = [:]
        for (byte, character) in byteToCharacter.enumerated() { table[character] = UInt8(byte) }
        return table
    }()

    /// Loads a GPT-2 style vocabulary (`vocab.json`: token → id) and merges (`merges.txt`).
    /// Tokens of the form `<|...|>` are special: never produced by merges, matched whole.
    public convenience init(vocabularyPath: String, mergesPath: String) throws {
        guard let vocabularyData = FileManager.default.contents(atPath: vocabularyPath) else {
            throw CheckpointError("\(vocabularyPath): cannot read the vocabulary file")
        }
        let parsed: JSONValue
        do { parsed = try JSONParser.parse(Array(vocabularyData)) } catch {
            throw CheckpointError("\(vocabularyPath): not valid JSON (\(error))")
        }
        guard case .object(let entries) = parsed else { throw CheckpointError("\(vocabularyPath): expected a JSON object of token to id") }
        let tokens = try Self.tokenStrings(entries, source: vocabularyPath)
        guard let mergesText = FileManager.default.contents(atPath: mergesPath).flatMap({ String(data: $0, encoding: .utf8) }) else {
            throw CheckpointError("\(mergesPath): cannot read the merges file as UTF-8")
        }
        let merges = mergesText.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        try self.init(tokens: tokens, special: Set(tokens.indices.filter { tokens[$0].hasPrefix("<|") && tokens[$0].hasSuffix("|>") }),
                      merges: merges, preTokenization: .gpt2, vocabularySource: vocabularyPath, mergesSource: mergesPath)
    }

    /// The tokenizer a GGUF file carries in its metadata (`tokenizer.ggml.*`, model `gpt2`):
    /// control and user-defined tokens are special; the pre-tokenizer named by
    /// `tokenizer.ggml.pre` must be one Tally knows.
    public convenience init(gguf file: GGUFFile) throws {
        guard try file.required("tokenizer.ggml.model").string == "gpt2" else {
            throw CheckpointError("\(file.path): tokenizer.ggml.model is \(file.metadata["tokenizer.ggml.model"].map { "\($0)" } ?? "absent"); Tally reads byte-level BPE ('gpt2') only")
        }
        guard let tokens = try file.required("tokenizer.ggml.tokens").array?.compactMap(\.string),
              let merges = try file.required("tokenizer.ggml.merges").array?.compactMap(\.string) else {
            throw CheckpointError("\(file.path): tokenizer.ggml.tokens and tokenizer.ggml.merges must be arrays of strings")
        }
        let types = file.metadata["tokenizer.ggml.token_type"]?.array?.map { $0.integer ?? 1 } ?? []
        // llama.cpp's token types: 3 control, 4 user-defined.
        let special = Set(types.indices.filter { types[$0] == 3 || types[$0] == 4 })
        let preTokenization: PreTokenization
        switch file.metadata["tokenizer.ggml.pre"]?.string ?? "gpt2" {
        case "gpt2", "default": preTokenization = .gpt2
        case "smollm", "starcoder", "refact": preTokenization = .individualDigits
        case let other: throw CheckpointError("\(file.path): the pre-tokenizer '\(other)' is not one Tally knows (gpt2, smollm)")
        }
        try self.init(tokens: tokens, special: special, merges: merges, preTokenization: preTokenization,
                      vocabularySource: file.path + " (tokenizer.ggml.tokens)", mergesSource: file.path + " (tokenizer.ggml.merges)")
    }

    /// Hugging Face's `tokenizer.json` for a byte-level BPE model: `model.vocab`, `model.merges`
    /// (strings "a b" or pairs), `added_tokens` (special ones matched whole) and a
    /// pre-tokenizer of ByteLevel, optionally after Digits with individual digits.
    public convenience init(huggingFaceTokenizerPath path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else { throw CheckpointError("\(path): cannot read the tokenizer file") }
        let root: JSONValue
        do { root = try JSONParser.parse(Array(data)) } catch { throw CheckpointError("\(path): not valid JSON (\(error))") }
        guard case .object(let fields) = root, case .object(let model)? = fields.first(where: { $0.0 == "model" })?.1,
              case .string("BPE")? = model.first(where: { $0.0 == "type" })?.1,
              case .object(let vocabulary)? = model.first(where: { $0.0 == "vocab" })?.1,
              case .array(let mergeValues)? = model.first(where: { $0.0 == "merges" })?.1 else {
            throw CheckpointError("\(path): expected a BPE model with 'vocab' and 'merges' under 'model'")
        }
        var tokens = try Self.tokenStrings(vocabulary, source: path)
        var special = Set<Int>()
        if case .array(let added)? = fields.first(where: { $0.0 == "added_tokens" })?.1 {
            for case .object(let token) in added {
                guard case .integer(let id)? = token.first(where: { $0.0 == "id" })?.1, case .string(let content)? = token.first(where: { $0.0 == "content" })?.1 else { continue }
                if Int(id) >= tokens.count { tokens += [String](repeating: "", count: Int(id) + 1 - tokens.count) }
                tokens[Int(id)] = content
                if case .bool(true)? = token.first(where: { $0.0 == "special" })?.1 { special.insert(Int(id)) }
            }
        }
        let merges = try mergeValues.enumerated().map { index, value -> String in
            switch value {
            case .string(let text): return text
            case .array(let pair) where pair.count == 2:
                if case .string(let left) = pair[0], case .string(let right) = pair[1] { return left + " " + right }
                fallthrough
            default: throw CheckpointError("\(path): model.merges[\(index)] is neither \"a b\" nor a pair of strings")
            }
        }
        let preTokenization = try Self.preTokenization(of: fields.first(where: { $0.0 == "pre_tokenizer" })?.1 ?? .null, path: path)
        try self.init(tokens: tokens, special: special, merges: merges, preTokenization: preTokenization,
                      vocabularySource: path + " (model.vocab)", mergesSource: path + " (model.merges)")
    }

    /// The pre-tokenization a `tokenizer.json` describes, when it is one Tally reproduces:
    /// ByteLevel with GPT-2's rule, alone or after Digits with individual digits. Any other
    /// (Llama 3's own split rule, Metaspace) is refused rather than tokenized differently.
    private static func preTokenization(of value: JSONValue, path: String) throws -> PreTokenization {
        func field(_ object: [(String, JSONValue)], _ name: String) -> JSONValue? { object.first { $0.0 == name }?.1 }
        func isGPT2ByteLevel(_ value: JSONValue) -> Bool {
            guard case .object(let object) = value, field(object, "type") == .string("ByteLevel") else { return false }
            return field(object, "use_regex") != .bool(false)
        }
        if isGPT2ByteLevel(value) { return .gpt2 }
        if case .object(let object) = value, field(object, "type") == .string("Sequence"), case .array(let steps)? = field(object, "pretokenizers"),
           steps.count == 2, case .object(let digits) = steps[0], field(digits, "type") == .string("Digits"),
           field(digits, "individual_digits") == .bool(true), isGPT2ByteLevel(steps[1]) {
            return .individualDigits
        }
        throw CheckpointError("\(path): the pre-tokenizer \(JSONWriter.string(value).prefix(200)) is not one Tally reproduces (ByteLevel with GPT-2's rule, optionally after Digits with individual digits)")
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

    /// The common path of every loader: token strings in GPT-2's byte alphabet (special tokens
    /// as plain text), and merges as "left right" lines.
    private convenience init(tokens: [String], special: Set<Int>, merges: [String], preTokenization: PreTokenization,
                             vocabularySource: String, mergesSource: String) throws {
        var tokenBytes: [[UInt8]] = []
        var specialTokens: [String: Int32] = [:]
        var idsByString: [String: Int32] = [:]
        tokenBytes.reserveCapacity(tokens.count)
        for (id, token) in tokens.enumerated() {
            if special.contains(id) {
                specialTokens[token] = Int32(id)
                tokenBytes.append(Array(token.utf8))
            } else {
                var bytes: [UInt8] = []
                for character in token {
                    guard let byte = Self.characterToByte[character] else {
                        throw CheckpointError("\(vocabularySource): token \(token.debugDescription) has a character outside GPT-2's byte alphabet")
                    }
                    bytes.append(byte)
                }
                tokenBytes.append(bytes)
            }
            if idsByString[token] == nil { idsByString[token] = Int32(id) }
        }
        var orderedMerges: [(Int32, Int32)] = []
        for (lineIndex, line) in merges.enumerated() {
            if line.hasPrefix("#version") || line.isEmpty { continue }
            let parts = line.split(separator: " ")
            guard parts.count == 2, let left = idsByString[String(parts[0])], let right = idsByString[String(parts[1])] else {
                throw CheckpointError("\(mergesSource), line \(lineIndex + 1): expected two tokens of the vocabulary separated by a space")
            }
            orderedMerges.append((left, right))
        }
        try self.init(tokenBytes: tokenBytes, orderedMerges: orderedMerges, specialTokens: specialTokens, preTokenization: preTokenization)
    }

    /// Writes `vocab.json` and `merges.txt` into `directory` in GPT-2's format.
    public func save(toDirectory directory: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var vocabulary: [UInt8] = []
        JSONWriter.write(vocabularyJSON, into: &vocabulary)
        try Data(vocabulary).write(to: URL(fileURLWithPath: directory + "/vocab.json"))
        let merges = "#version: 0.2\n" + mergeLines.map { $0 + "\n" }.joined()
        try Data(merges.utf8).write(to: URL(fileURLWithPath: directory + "/merges.txt"))
    }

    /// Writes Hugging Face's `tokenizer.json` into `directory`: the same vocabulary and merges as
    /// a byte-level BPE model, the special tokens as added tokens, and this tokenizer's
    /// pre-tokenizer, so `tokenizers` (and transformers' fast tokenizers) encode as Tally does.
    public func saveHuggingFaceTokenizer(toDirectory directory: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let byteLevel: JSONValue = .object([("type", .string("ByteLevel")), ("add_prefix_space", .bool(false)), ("trim_offsets", .bool(true)), ("use_regex", .bool(true))])
        let preTokenizer: JSONValue
        switch preTokenization {
        case .gpt2: preTokenizer = byteLevel
        case .individualDigits:
            preTokenizer = .object([("type", .string("Sequence")), ("pretokenizers", .array([
                .object([("type", .string("Digits")), ("individual_digits", .bool(true))]), byteLevel]))])
        }
        let added: [JSONValue] = specialTokens.sorted { $0.value < $1.value }.map { token, id in
            .object([("id", .integer(Int64(id))), ("content", .string(token)), ("single_word", .bool(false)), ("lstrip", .bool(false)),
                     ("rstrip", .bool(false)), ("normalized", .bool(false)), ("special", .bool(true))])
        }
        let model: JSONValue = .object([
            ("type", .string("BPE")), ("dropout", .null), ("unk_token", .null), ("continuing_subword_prefix", .null),
            ("end_of_word_suffix", .null), ("fuse_unk", .bool(false)), ("byte_fallback", .bool(false)), ("ignore_merges", .bool(false)),
            ("vocab", vocabularyJSON), ("merges", .array(mergeLines.map { .string($0) })),
        ])
        let document: JSONValue = .object([
            ("version", .string("1.0")), ("truncation", .null), ("padding", .null), ("added_tokens", .array(added)),
            ("normalizer", .null), ("pre_tokenizer", preTokenizer), ("post_processor", .null),
            ("decoder", .object([("type", .string("ByteLevel")), ("add_prefix_space", .bool(true)), ("trim_offsets", .bool(true)), ("use_regex", .bool(true))])),
            ("model", model),
        ])
        var bytes: [UInt8] = []
        JSONWriter.write(document, into: &bytes)
        try Data(bytes).write(to: URL(fileURLWithPath: directory + "/tokenizer.json"))
    }

    /// Token string → id in GPT-2's byte alphabet, special tokens as their text.
    private var vocabularyJSON: JSONValue {
        let special = Dictionary(uniqueKeysWithValues: specialTokens.map { ($0.value, $0.key) })
        return .object(tokenBytes.enumerated().map { id, bytes in
            (special[Int32(id)] ?? String(bytes.map { Self.byteToCharacter[Int($0)] }), .integer(Int64(id)))
        })
    }

    /// The merges in rank order as "left right" in GPT-2's byte alphabet.
    private var mergeLines: [String] {
        orderedMerges.map { left, right in
            String(tokenBytes[Int(left)].map { Self.byteToCharacter[Int($0)] }) + " " + String(tokenBytes[Int(right)].map { Self.byteToCharacter[Int($0)] })
        }
    }

    // MARK: Encoding and decoding

    /// The token ids of `text`. With `allowSpecialTokens`, special token strings in the text
    /// (`<|endoftext|>`) become their ids; without, they are encoded as ordinary text, so user
    /// input can never inject a control token.
    public func encode(_ text: String, allowSpecialTokens: Bool = false) -> [Int32] {
        var ids: [Int32] = []
        for segment in splitOnSpecialTokens(text, allowed: allowSpecialTokens) {
            switch segment {
            case .special(let id): ids.append(id)
            case .text(let piece):
                for piece in preTokenization.split(String(piece)) { ids.append(contentsOf: encodePiece(String(piece))) }
            }
        }
        return ids
    }

    public func decodeBytes(_ ids: [Int32]) -> [UInt8] {
        var bytes: [UInt8] = []
        for id in ids where id >= 0 && Int(id) < tokenBytes.count { bytes.append(contentsOf: tokenBytes[Int(id)]) }
        return bytes
    }

    /// The text of `ids`; bytes that do not form UTF-8 (a token sequence cut inside a character)
    /// become U+FFFD.
    public func decode(_ ids: [Int32]) -> String {
        String(decoding: decodeBytes(ids), as: UTF8.self)
    }

    private enum Segment {
        case text(Substring)
        case special(Int32)
    }

    /// The text cut around the special tokens it holds (the longest wins where two start at
    /// the same place).
    private func splitOnSpecialTokens(_ text: String, allowed: Bool) -> [Segment] {
        guard allowed, !specialTokens.isEmpty else { return [.text(text[...])] }
        var segments: [Segment] = []
        var rest = text[...]
        while !rest.isEmpty {
            var earliest: (range: Range<Substring.Index>, id: Int32)?
            for (token, id) in specialTokens {
                guard let range = rest.range(of: token) else { continue }
                if earliest == nil || range.lowerBound < earliest!.range.lowerBound
                    || (range.lowerBound == earliest!.range.lowerBound && range.upperBound > earliest!.range.upperBound) {
                    earliest = (range, id)
                }
            }
            guard let (range, id) = earliest else { break }
            if range.lowerBound > rest.startIndex { segments.append(.text(rest[..<range.lowerBound])) }
            segments.append(.special(id))
            rest = rest[range.upperBound...]
        }
        if !rest.isEmpty { segments.append(.text(rest)) }
        return segments
    }

    /// `symbols` with every occurrence of the pair (left, right), left to right, replaced by `merged`.
    static func merging(_ left: Int32, _ right: Int32, into merged: Int32, in symbols: [Int32]) -> [Int32] {
        var result: [Int32] = []
        result.reserveCapacity(symbols.count)
        var index = 0
        while index < symbols.count {
            if index + 1 < symbols.count, symbols[index] == left, symbols[index + 1] == right {
                result.append(merged)
                index += 2
            } else {
                result.append(symbols[index])
                index += 1
            }
        }
        return result
    }

    private func encodePiece(_ piece: String) -> [Int32] {
        if let cached = cacheLock.withLock({ cache[piece] }) { return cached }
        var symbols = piece.utf8.map { byteTokens[Int($0)] }.filter { $0 >= 0 }
        while symbols.count > 1 {
            var bestRank = Int32.max, bestIndex = -1, bestMerged: Int32 = 0
            for index in 0..<(symbols.count - 1) {
                let key = UInt64(UInt32(symbols[index])) << 32 | UInt64(UInt32(symbols[index + 1]))
                if let merge = merges[key], merge.rank < bestRank {
                    (bestRank, bestIndex, bestMerged) = (merge.rank, index, merge.merged)
                }
            }
            guard bestIndex >= 0 else { break }
            symbols = Self.merging(symbols[bestIndex], symbols[bestIndex + 1], into: bestMerged, in: symbols)
        }
        cacheLock.withLock {
            if cache.count >= Self.maxCachedPieces { cache.removeAll(keepingCapacity: true) }
            cache[piece] = symbols
        }
        return symbols
    }
}
