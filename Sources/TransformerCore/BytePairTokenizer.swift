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
    private let byteTokens: [Int32]
    /// Pieces already encoded: text repeats its words, so most pieces are looked up, not merged.
    private var cache: [String: [Int32]] = [:]
    private let cacheLock = NSLock()
    private static let maxCachedPieces = 100_000

    public var vocabularySize: Int { tokenBytes.count }

    init(tokenBytes: [[UInt8]], orderedMerges: [(Int32, Int32)], specialTokens: [String: Int32]) throws {
        self.tokenBytes = tokenBytes
        var idsByBytes: [[UInt8]: Int32] = [:]
        for (id, bytes) in tokenBytes.enumerated() where idsByBytes[bytes] == nil { idsByBytes[bytes] = Int32(id) }
        self.idsByBytes = idsByBytes
        var byteTokens: [Int32] = []
        for byte in 0...255 {
            guard let id = idsByBytes[[UInt8(byte)]] else { throw CheckpointError("the vocabulary has no token for the byte \(byte)") }
            byteTokens.append(id)
        }
        self.byteTokens = byteTokens
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
        var tokenBytes = [[UInt8]?](repeating: nil, count: entries.count)
        var specialTokens: [String: Int32] = [:]
        var idsByString: [String: Int32] = [:]
        for (token, value) in entries {
            guard case .integer(let id) = value, id >= 0, id < entries.count else {
                throw CheckpointError("\(vocabularyPath): token \(token.debugDescription) has id \(value), not one from 0 to \(entries.count - 1)")
            }
            guard tokenBytes[Int(id)] == nil else { throw CheckpointError("\(vocabularyPath): id \(id) is used twice") }
            if token.hasPrefix("<|"), token.hasSuffix("|>") {
                specialTokens[token] = Int32(id)
                tokenBytes[Int(id)] = Array(token.utf8)
            } else {
                var bytes: [UInt8] = []
                for character in token {
                    guard let byte = Self.characterToByte[character] else {
                        throw CheckpointError("\(vocabularyPath): token \(token.debugDescription) has a character outside GPT-2's byte alphabet")
                    }
                    bytes.append(byte)
                }
                tokenBytes[Int(id)] = bytes
            }
            idsByString[token] = Int32(id)
        }
        guard let mergesText = FileManager.default.contents(atPath: mergesPath).flatMap({ String(data: $0, encoding: .utf8) }) else {
            throw CheckpointError("\(mergesPath): cannot read the merges file as UTF-8")
        }
        var orderedMerges: [(Int32, Int32)] = []
        for (lineIndex, line) in mergesText.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            if line.hasPrefix("#version") || line.isEmpty { continue }
            let parts = line.split(separator: " ")
            guard parts.count == 2, let left = idsByString[String(parts[0])], let right = idsByString[String(parts[1])] else {
                throw CheckpointError("\(mergesPath), line \(lineIndex + 1): expected two tokens of the vocabulary separated by a space")
            }
            orderedMerges.append((left, right))
        }
        try self.init(tokenBytes: tokenBytes.map { $0 ?? [] }, orderedMerges: orderedMerges, specialTokens: specialTokens)
    }

    /// Writes `vocab.json` and `merges.txt` into `directory` in GPT-2's format.
    public func save(toDirectory directory: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let special = Dictionary(uniqueKeysWithValues: specialTokens.map { ($0.value, $0.key) })
        let members: [(key: String, value: JSONValue)] = tokenBytes.enumerated().map { id, bytes in
            (special[Int32(id)] ?? String(bytes.map { Self.byteToCharacter[Int($0)] }), .integer(Int64(id)))
        }
        var vocabulary: [UInt8] = []
        JSONWriter.write(.object(members), into: &vocabulary)
        try Data(vocabulary).write(to: URL(fileURLWithPath: directory + "/vocab.json"))
        var merges = "#version: 0.2\n"
        for (left, right) in orderedMerges {
            merges += String(tokenBytes[Int(left)].map { Self.byteToCharacter[Int($0)] }) + " "
                + String(tokenBytes[Int(right)].map { Self.byteToCharacter[Int($0)] }) + "\n"
        }
        try Data(merges.utf8).write(to: URL(fileURLWithPath: directory + "/merges.txt"))
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
                for piece in PreTokenizer.split(String(piece)) { ids.append(contentsOf: encodePiece(String(piece))) }
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

    private func splitOnSpecialTokens(_ text: String, allowed: Bool) -> [Segment] {
        guard allowed, !specialTokens.isEmpty, text.contains("<|") else { return [.text(text[...])] }
        var segments: [Segment] = []
        var rest = text[...]
        while let start = rest.range(of: "<|") {
            var matched: (String, Int32)?
            for (token, id) in specialTokens where rest[start.lowerBound...].hasPrefix(token) {
                if matched == nil || token.count > matched!.0.count { matched = (token, id) }
            }
            if let (token, id) = matched {
                if start.lowerBound > rest.startIndex { segments.append(.text(rest[..<start.lowerBound])) }
                segments.append(.special(id))
                rest = rest[rest.index(start.lowerBound, offsetBy: token.count)...]
            } else {
                let next = rest.index(after: start.lowerBound)
                segments.append(.text(rest[..<next]))
                rest = rest[next...]
            }
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
        var symbols = piece.utf8.map { byteTokens[Int($0)] }
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
