/// GPT-2's pre-tokenizer: splits text into the pieces BPE merges within, by the rule of GPT-2's
/// `encoder.py`, `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`,
/// written out by hand (Swift has no Unicode-property regular expressions on Linux). At each
/// position the alternatives are tried in order, as the regular expression engine would.
enum PreTokenizer {
    static func split(_ text: String) -> [Substring.UnicodeScalarView] {
        let scalars = text.unicodeScalars
        var pieces: [Substring.UnicodeScalarView] = []
        var index = scalars.startIndex
        while index < scalars.endIndex {
            let end = matchContraction(scalars, at: index)
                ?? matchRun(scalars, at: index, where: isLetter)
                ?? matchRun(scalars, at: index, where: isNumber)
                ?? matchRun(scalars, at: index, where: { !isWhitespace($0) && !isLetter($0) && !isNumber($0) })
                ?? matchWhitespace(scalars, at: index)
            pieces.append(scalars[index..<end])
            index = end
        }
        return pieces
    }

    /// 's 't 're 've 'm 'll 'd (ASCII apostrophe, lowercase, as GPT-2 has it).
    private static func matchContraction(_ scalars: String.UnicodeScalarView, at index: String.Index) -> String.Index? {
        guard scalars[index] == "'" else { return nil }
        for suffix in ["s", "t", "re", "ve", "m", "ll", "d"] {
            var cursor = scalars.index(after: index)
            var matched = true
            for character in suffix.unicodeScalars {
                guard cursor < scalars.endIndex, scalars[cursor] == character else { matched = false; break }
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
        guard cursor < scalars.endIndex, isMember(scalars[cursor]) else { return nil }
        while cursor < scalars.endIndex, isMember(scalars[cursor]) { cursor = scalars.index(after: cursor) }
        return cursor
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
}

/// How a tokenizer splits text before merging.
public enum PreTokenization: String, Sendable, Codable {
    /// GPT-2's rule (`PreTokenizer`).
    case gpt2
    /// Each digit a piece of its own, then GPT-2's rule on the text between (Hugging Face's
    /// `Digits(individual_digits=True)` before `ByteLevel`; SmolLM2's and StarCoder's tokenizers).
    case individualDigits

    func split(_ text: String) -> [Substring.UnicodeScalarView] {
        switch self {
        case .gpt2:
            return PreTokenizer.split(text)
        case .individualDigits:
            var pieces: [Substring.UnicodeScalarView] = []
            let scalars = text.unicodeScalars
            var start = scalars.startIndex, index = scalars.startIndex
            while index < scalars.endIndex {
                // Rust's char::is_numeric, which Hugging Face's Digits uses: every number category.
                if [.decimalNumber, .letterNumber, .otherNumber].contains(scalars[index].properties.generalCategory) {
                    if start < index { pieces += PreTokenizer.split(String(scalars[start..<index])) }
                    pieces.append(Substring(text)[index..<scalars.index(after: index)].unicodeScalars)
                    start = scalars.index(after: index)
                }
                index = scalars.index(after: index)
            }
            if start < scalars.endIndex { pieces += PreTokenizer.split(String(scalars[start...])) }
            return pieces
        }
    }
}
