import Foundation
import JSON

/// BPE (Sennrich et al. 2016) as GPT-2 and its successors tokenize (Radford et al. 2019):
/// text is split into pieces by a pre-tokenizer, each piece starts as one symbol per unit of
/// its alphabet, and the lowest-ranked adjacent pair is merged until no learned merge applies.
///
/// Two alphabets cover the models Tally loads. Byte-level BPE (GPT-2, SmolLM2, Llama 3) starts
/// from UTF-8 bytes: every byte has a token, so any text encodes and decodes byte for byte.
/// SentencePiece's BPE, as Hugging Face converts it (Llama 2, TinyLlama, Mistral), starts from
/// characters, with spaces written "▁"; a character the vocabulary lacks falls back to its
/// bytes' tokens `<0x..>`.
///
/// Loads GPT-2's files (`vocab.json` or `encoder.json`, and `merges.txt` or `vocab.bpe`), a
/// GGUF file's tokenizer and Hugging Face's `tokenizer.json`; trains a new byte-level
/// vocabulary from a corpus; saves in GPT-2's format and as `tokenizer.json`.
public final class BytePairTokenizer: @unchecked Sendable {
    /// One merge of the vocabulary: two adjacent tokens and the token they become.
    struct Merge {
        let left: Int32, right: Int32, merged: Int32
    }

    /// What the symbols merging starts from are.
    public enum Alphabet: Sendable, Equatable {
        /// UTF-8 bytes, each written as a printable character in the vocabulary (GPT-2's "Ġ").
        case bytes
        /// Unicode characters, falling back to byte tokens `<0x..>` for characters the
        /// vocabulary lacks (SentencePiece's byte fallback).
        case charactersWithByteFallback
    }

    /// Token id to the bytes it decodes to.
    public private(set) var tokenBytes: [[UInt8]]
    private var idsByBytes: [[UInt8]: Int32]
    /// Applies the merges, in rank order, to a piece's symbols.
    private let merger: PieceMerger
    /// The merges in rank order, as saved in merges.txt.
    let orderedMerges: [Merge]
    public private(set) var specialTokens: [String: Int32]
    /// How text is split into the pieces merges work within.
    public let preTokenization: PreTokenization
    public let alphabet: Alphabet
    /// Hugging Face's `ignore_merges` (Llama 3): a piece that is a token whole is that token,
    /// whatever the merges would make of it.
    public let ignoresMerges: Bool
    /// Each byte's token, or -1 where the vocabulary has none: the start of every piece in the
    /// byte alphabet, and the fallback of characters in the character alphabet.
    private let byteTokens: [Int32]
    /// Tokens as the vocabulary spells them in the character alphabet ("▁the", "<0x0A>"); empty
    /// in the byte alphabet, whose spelling follows from the bytes.
    let spellings: [String]
    /// Ids by spelling: single characters start pieces, and whole pieces are looked up under
    /// `ignoresMerges`.
    private let idsBySpelling: [String: Int32]
    /// The token of text that has none (SentencePiece's `<unk>`), when the vocabulary has one.
    let unknownToken: Int32?
    /// Pieces already encoded: text repeats its words, so most pieces are looked up, not merged.
    private var cache: [String: [Int32]] = [:]
    private let cacheLock = NSLock()
    private static let maxCachedPieces = 100_000
    /// Pieces longer than this are merged, not cached (SentencePiece's whole-text pieces).
    private static let maxCachedPieceLength = 64

    public var vocabularySize: Int { tokenBytes.count }

    init(tokenBytes: [[UInt8]], merges orderedMerges: [Merge], specialTokens: [String: Int32], preTokenization: PreTokenization = .gpt2,
         alphabet: Alphabet = .bytes, spellings: [String] = [], unknownToken: Int32? = nil, ignoresMerges: Bool = false) throws {
        self.tokenBytes = tokenBytes
        self.preTokenization = preTokenization
        self.alphabet = alphabet
        self.ignoresMerges = ignoresMerges
        self.unknownToken = unknownToken
        var idsByBytes: [[UInt8]: Int32] = [:]
        for (id, bytes) in tokenBytes.enumerated() where idsByBytes[bytes] == nil { idsByBytes[bytes] = Int32(id) }
        self.idsByBytes = idsByBytes
        var idsBySpelling: [String: Int32] = [:]
        for (id, spelling) in spellings.enumerated() where idsBySpelling[spelling] == nil { idsBySpelling[spelling] = Int32(id) }
        self.idsBySpelling = idsBySpelling
        self.spellings = spellings
        switch alphabet {
        case .bytes:
            // Some vocabularies (SmolLM2's) lack tokens for bytes their corpus never held; such a
            // byte is dropped when encoding, as Hugging Face's byte-level BPE without an unknown
            // token drops it. A vocabulary without printable ASCII is broken, not frugal.
            if let missing = (0x20...0x7E).first(where: { idsByBytes[[UInt8($0)]] == nil }) {
                throw CheckpointError("the vocabulary has no token for the byte \(missing) (\(Character(Unicode.Scalar(UInt8(missing))).debugDescription))")
            }
            byteTokens = (0...255).map { idsByBytes[[UInt8($0)]] ?? -1 }
        case .charactersWithByteFallback:
            guard spellings.count == tokenBytes.count else { throw CheckpointError("a character vocabulary needs every token's spelling") }
            byteTokens = (0...255).map { idsBySpelling[Self.byteFallbackSpelling(UInt8($0))] ?? -1 }
        }
        var merges: [UInt64: (rank: Int32, merged: Int32)] = [:]
        for (rank, merge) in orderedMerges.enumerated() {
            let key = PieceMerger.pairKey(merge.left, merge.right)
            if merges[key] == nil { merges[key] = (Int32(rank), merge.merged) }
        }
        self.merger = PieceMerger(merges: merges)
        self.orderedMerges = orderedMerges
        self.specialTokens = specialTokens
    }

    /// SentencePiece's name of a byte's fallback token: `<0x0A>`.
    static func byteFallbackSpelling(_ byte: UInt8) -> String {
        let digits = String(byte, radix: 16, uppercase: true)
        return "<0x" + (digits.count == 1 ? "0" : "") + digits + ">"
    }

    // MARK: GPT-2's byte alphabet

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

    // MARK: Encoding and decoding

    /// The token ids of `text`. With `allowSpecialTokens`, special token strings in the text
    /// (`<|endoftext|>`) become their ids; without, they are encoded as ordinary text, so user
    /// input can never inject a control token.
    public func encode(_ text: String, allowSpecialTokens: Bool = false) -> [Int32] {
        var ids: [Int32] = []
        for (index, segment) in splitOnSpecialTokens(text, allowed: allowSpecialTokens).enumerated() {
            switch segment {
            case .special(let id): ids.append(id)
            case .text(let text): ids += encodeText(text, isStartOfInput: index == 0)
            }
        }
        return ids
    }

    /// The tokens of text with no special tokens in it; `isStartOfInput` says whether it opens
    /// the input (SentencePiece's "▁" in front depends on it).
    func encodeText(_ text: Substring, isStartOfInput: Bool) -> [Int32] {
        preTokenization.split(text, isStartOfInput: isStartOfInput).flatMap(encodePiece)
    }

    public func decodeBytes(_ ids: [Int32]) -> [UInt8] {
        var bytes: [UInt8] = []
        for id in ids where id >= 0 && Int(id) < tokenBytes.count { bytes.append(contentsOf: tokenBytes[Int(id)]) }
        return bytes
    }

    /// The text of `ids`; bytes that do not form UTF-8 (a token sequence cut inside a character)
    /// become U+FFFD. SentencePiece's "▁" in front of the text is dropped, as its decoder drops it.
    public func decode(_ ids: [Int32]) -> String {
        var bytes = decodeBytes(ids)
        if case .sentencePiece = preTokenization, bytes.first == UInt8(ascii: " ") { bytes.removeFirst() }
        return String(decoding: bytes, as: UTF8.self)
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
        let cacheable = piece.utf8.count <= Self.maxCachedPieceLength
        if cacheable, let cached = cacheLock.withLock({ cache[piece] }) { return cached }
        var symbols = initialSymbols(piece)
        if ignoresMerges, symbols.count > 1, let whole = alphabet == .bytes ? idsByBytes[Array(piece.utf8)] : idsBySpelling[piece] {
            symbols = [whole]
        }
        symbols = merger.merge(symbols)
        if cacheable {
            cacheLock.withLock {
                if cache.count >= Self.maxCachedPieces { cache.removeAll(keepingCapacity: true) }
                cache[piece] = symbols
            }
        }
        return symbols
    }

    /// The symbols merging starts from: the piece's bytes' tokens; or its characters' tokens,
    /// a missing character falling back to its bytes' tokens, else to one unknown token for a
    /// run of such characters (Hugging Face's `fuse_unk`). What has no token at all is dropped.
    private func initialSymbols(_ piece: String) -> [Int32] {
        switch alphabet {
        case .bytes:
            return piece.utf8.map { byteTokens[Int($0)] }.filter { $0 >= 0 }
        case .charactersWithByteFallback:
            var symbols: [Int32] = []
            var previousWasUnknown = false
            for scalar in piece.unicodeScalars {
                if let id = idsBySpelling[String(scalar)] {
                    symbols.append(id)
                    previousWasUnknown = false
                    continue
                }
                let fallback = String(scalar).utf8.map { byteTokens[Int($0)] }
                if !fallback.contains(-1) {
                    symbols += fallback
                    previousWasUnknown = false
                } else if let unknownToken, !previousWasUnknown {
                    symbols.append(unknownToken)
                    previousWasUnknown = true
                }
            }
            return symbols
        }
    }
}
