/// The split rules of byte-level tokenizers, written out by hand (Swift has no
/// Unicode-property regular expressions on Linux). At each position the alternatives are
/// tried in order, as the regular expression engine would.
enum PreTokenizer {
    /// GPT-2's rule, from its `encoder.py`:
    /// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`.
    static func split(_ text: String) -> [Substring.UnicodeScalarView] {
        pieces(of: text) { scalars, index in
            matchContraction(scalars, at: index, caseInsensitive: false)
                ?? matchRun(scalars, at: index, where: isLetter)
                ?? matchRun(scalars, at: index, where: isNumber)
                ?? matchRun(scalars, at: index, where: { !isWhitespace($0) && !isLetter($0) && !isNumber($0) })
                ?? matchWhitespace(scalars, at: index)
        }
    }

    /// Llama 3's rule (its tokenizer.json's Split pattern, tiktoken's cl100k family):
    /// `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`.
    /// Unlike GPT-2's, a letter run takes any one leading non-letter but a line break, numbers
    /// come in threes, and line breaks end a run of spaces.
    static func splitLlama3(_ text: String) -> [Substring.UnicodeScalarView] {
        pieces(of: text) { scalars, index in
            matchContraction(scalars, at: index, caseInsensitive: true)
                ?? matchLettersAfterOneOther(scalars, at: index)
                ?? matchNumbers(scalars, at: index, longest: 3)
                ?? matchSymbolsThenLineBreaks(scalars, at: index)
                ?? matchThroughLastLineBreak(scalars, at: index)
                ?? matchWhitespace(scalars, at: index)
        }
    }

    private static func pieces(of text: String, match: (String.UnicodeScalarView, String.Index) -> String.Index) -> [Substring.UnicodeScalarView] {
        let scalars = text.unicodeScalars
        var pieces: [Substring.UnicodeScalarView] = []
        var index = scalars.startIndex
        while index < scalars.endIndex {
            let end = match(scalars, index)
            pieces.append(scalars[index..<end])
            index = end
        }
        return pieces
    }

    /// 's 't 're 've 'm 'll 'd (ASCII apostrophe; GPT-2 lowercase only, Llama 3 any case).
    private static func matchContraction(_ scalars: String.UnicodeScalarView, at index: String.Index, caseInsensitive: Bool) -> String.Index? {
        guard scalars[index] == "'" else { return nil }
        for suffix in ["s", "t", "re", "ve", "m", "ll", "d"] {
            var cursor = scalars.index(after: index)
            var matched = true
            for character in suffix.unicodeScalars {
                guard cursor < scalars.endIndex else { matched = false; break }
                let next = scalars[cursor]
                let same = next == character || (caseInsensitive && next.value == character.value - 0x20)
                guard same else { matched = false; break }
                cursor = scalars.index(after: cursor)
            }
            if matched { return cursor }
        }
        return nil
    }

    /// ` ?X+`: an optional single space, then one or more scalars of class X.
    private static func matchRun(_ scalars: String.UnicodeScalarView, at index: String.Index,
                                 where isMember: (Unicode.Scalar) -> Bool) -> String.Index? {
        var cursor = index
        if scalars[cursor] == " " { cursor = scalars.index(after: cursor) }
        return matchRun(scalars, from: cursor, where: isMember)
    }

    /// `X+` from `cursor`; nil when no scalar of X is there.
    private static func matchRun(_ scalars: String.UnicodeScalarView, from start: String.Index, where isMember: (Unicode.Scalar) -> Bool) -> String.Index? {
        var cursor = start
        while cursor < scalars.endIndex, isMember(scalars[cursor]) { cursor = scalars.index(after: cursor) }
        return cursor > start ? cursor : nil
    }

    /// `[^\r\n\p{L}\p{N}]?\p{L}+`: letters, with any one scalar before them that is not a line
    /// break, a letter or a number.
    private static func matchLettersAfterOneOther(_ scalars: String.UnicodeScalarView, at index: String.Index) -> String.Index? {
        let first = scalars[index]
        if !isLineBreak(first) && !isLetter(first) && !isNumber(first),
           let end = matchRun(scalars, from: scalars.index(after: index), where: isLetter) {
            return end
        }
        return matchRun(scalars, from: index, where: isLetter)
    }

    /// `\p{N}{1,longest}`.
    private static func matchNumbers(_ scalars: String.UnicodeScalarView, at index: String.Index, longest: Int) -> String.Index? {
        var cursor = index, count = 0
        while count < longest, cursor < scalars.endIndex, isNumber(scalars[cursor]) { cursor = scalars.index(after: cursor); count += 1 }
        return count > 0 ? cursor : nil
    }

    /// ` ?[^\s\p{L}\p{N}]+[\r\n]*`: symbols, with an optional space before and line breaks after.
    private static func matchSymbolsThenLineBreaks(_ scalars: String.UnicodeScalarView, at index: String.Index) -> String.Index? {
        guard let end = matchRun(scalars, at: index, where: { !isWhitespace($0) && !isLetter($0) && !isNumber($0) }) else { return nil }
        return matchRun(scalars, from: end, where: isLineBreak) ?? end
    }

    /// `\s*[\r\n]+`: the whitespace run up to and including its last line break.
    private static func matchThroughLastLineBreak(_ scalars: String.UnicodeScalarView, at index: String.Index) -> String.Index? {
        var cursor = index, end: String.Index?
        while cursor < scalars.endIndex, isWhitespace(scalars[cursor]) {
            let next = scalars.index(after: cursor)
            if isLineBreak(scalars[cursor]) { end = next }
            cursor = next
        }
        return end
    }

    /// `\s+(?!\S)|\s+`: a whitespace run; when a non-space follows, its last scalar is left to
    /// begin the next piece (so " word" keeps its space), unless the run is that one scalar.
    private static func matchWhitespace(_ scalars: String.UnicodeScalarView, at index: String.Index) -> String.Index {
        var cursor = index
        while cursor < scalars.endIndex, isWhitespace(scalars[cursor]) { cursor = scalars.index(after: cursor) }
        if cursor == index { return scalars.index(after: index) }  // unreachable for valid classes; never loop
        if cursor < scalars.endIndex {
            let lastWhitespace = scalars.index(before: cursor)
            if lastWhitespace > index { return lastWhitespace }
        }
        return cursor
    }

    static func isLetter(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return true
        default: return false
        }
    }

    static func isNumber(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.properties.generalCategory {
        case .decimalNumber, .letterNumber, .otherNumber: return true
        default: return false
        }
    }

    static func isWhitespace(_ scalar: Unicode.Scalar) -> Bool { scalar.properties.isWhitespace }

    static func isLineBreak(_ scalar: Unicode.Scalar) -> Bool { scalar == "\n" || scalar == "\r" }
}

/// How a tokenizer splits text before merging.
public enum PreTokenization: Sendable, Equatable {
    /// GPT-2's rule (`PreTokenizer.split`).
    case gpt2
    /// Each digit a piece of its own, then GPT-2's rule on the text between (Hugging Face's
    /// `Digits(individual_digits=True)` before `ByteLevel`; SmolLM2's and StarCoder's tokenizers).
    case individualDigits
    /// Llama 3's rule (`PreTokenizer.splitLlama3`), before `ByteLevel` without its own rule.
    case llama3
    /// SentencePiece's spaces, as Hugging Face converts Llama 2's tokenizer (TinyLlama, Mistral):
    /// each space becomes "▁", the text gets a "▁" in front, and it is one piece. Older
    /// conversions (a `Prepend` normalizer) put that "▁" before every run of text between
    /// special tokens; newer ones (`Metaspace`, prepend scheme "first") only before the text at
    /// the start of the input, and not when it already begins with a space.
    case sentencePiece(prefixEverySegment: Bool)

    /// The pieces of `text`, one run of text between special tokens; `isStartOfInput` says
    /// whether it opens the input (SentencePiece's "first" scheme prefixes only that one).
    func split(_ text: Substring, isStartOfInput: Bool) -> [String] {
        switch self {
        case .gpt2:
            return PreTokenizer.split(String(text)).map { String($0) }
        case .llama3:
            return PreTokenizer.splitLlama3(String(text)).map { String($0) }
        case .individualDigits:
            var pieces: [String] = []
            let scalars = text.unicodeScalars
            var start = scalars.startIndex, index = scalars.startIndex
            while index < scalars.endIndex {
                // Rust's char::is_numeric, which Hugging Face's Digits uses: every number category.
                if PreTokenizer.isNumber(scalars[index]) {
                    if start < index { pieces += PreTokenizer.split(String(scalars[start..<index])).map { String($0) } }
                    pieces.append(String(scalars[index]))
                    start = scalars.index(after: index)
                }
                index = scalars.index(after: index)
            }
            if start < scalars.endIndex { pieces += PreTokenizer.split(String(scalars[start...])).map { String($0) } }
            return pieces
        case .sentencePiece(let prefixEverySegment):
            guard !text.isEmpty else { return [] }
            let spaced = Self.replacing(" ", with: Self.metaspaceScalar, in: text)
            if prefixEverySegment { return [Self.metaspace + spaced] }
            return [isStartOfInput && spaced.unicodeScalars.first != Self.metaspaceScalar ? Self.metaspace + spaced : spaced]
        }
    }

    /// SentencePiece's visible space, U+2581.
    static let metaspace = "\u{2581}"
    static let metaspaceScalar: Unicode.Scalar = "\u{2581}"

    /// `text` with every `scalar` replaced, scalar by scalar: Swift's String replaces whole
    /// Characters, and a space followed by a combining mark is one Character.
    static func replacing(_ scalar: Unicode.Scalar, with replacement: Unicode.Scalar, in text: some StringProtocol) -> String {
        var result = ""
        result.unicodeScalars.append(contentsOf: text.unicodeScalars.lazy.map { $0 == scalar ? replacement : $0 })
        return result
    }
}
