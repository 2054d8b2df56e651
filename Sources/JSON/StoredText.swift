/// What text Tally stores, decided in one place: any Unicode text but the control characters
/// other than tab, line feed and carriage return. A NUL would end the text for SQLite's
/// `length()` and C string readers, and the other controls are never a label's content.
public enum StoredText {
    /// The first control character of `text` that Tally refuses, if any.
    public static func forbiddenCharacter(in text: String) -> Unicode.Scalar? {
        guard holdsForbiddenCharacter(text) else { return nil }
        return text.unicodeScalars.first { isForbidden($0) }
    }

    public static func isForbidden(_ scalar: Unicode.Scalar) -> Bool {
        (scalar.value < 0x20 && scalar != "\t" && scalar != "\n" && scalar != "\r") || scalar.value == 0x7F
    }

    /// Whether `text` holds a refused character, scanning its UTF-8 bytes: every refused
    /// character is one byte below 0x80, and no byte of a longer character is, so no scalar
    /// needs decoding. Every string of every request body passes here.
    static func holdsForbiddenCharacter(_ text: String) -> Bool {
        func refused(_ byte: UInt8) -> Bool { (byte < 0x20 && byte != 0x09 && byte != 0x0A && byte != 0x0D) || byte == 0x7F }
        if let found = text.utf8.withContiguousStorageIfAvailable({ $0.contains(where: refused) }) { return found }
        return text.utf8.contains(where: refused)
    }

    /// The length SQLite's `length()` gives a text, which a CHECK constraint compares: code
    /// points, not the characters Swift counts (`"e\u{301}"` is one character, two code points).
    public static func length(_ text: String) -> Int { text.unicodeScalars.count }

    /// Why `text` is refused, naming `field`, or nil when it may be stored.
    public static func problem(in text: String, field: String) -> String? {
        forbiddenCharacter(in: text).map { "\(field) holds the control character U+\(String($0.value, radix: 16, uppercase: true).leftPadded(to: 4)); text may hold tabs and line breaks but no other control characters" }
    }
}

extension JSONValue {
    /// The first string (a member name or a value) holding a control character Tally refuses,
    /// as a field path (`field 'entries[2].flags[0]'`) and why; nil when every string may be stored.
    /// The paths are built only once a refused string is known to be there: a valid body, the
    /// common case, costs one scan of its strings and no allocation.
    public func forbiddenTextProblem() -> String? {
        holdsForbiddenText ? locateForbiddenText(path: "") : nil
    }

    private var holdsForbiddenText: Bool {
        switch self {
        case .string(let text): return StoredText.holdsForbiddenCharacter(text)
        case .array(let elements): return elements.contains { $0.holdsForbiddenText }
        case .object(let members): return members.contains { StoredText.holdsForbiddenCharacter($0.key) || $0.value.holdsForbiddenText }
        default: return false
        }
    }

    private func locateForbiddenText(path: String) -> String? {
        func named(_ path: String) -> String { path.isEmpty ? "the body" : "field '\(path)'" }
        switch self {
        case .string(let text): return StoredText.problem(in: text, field: named(path))
        case .array(let elements):
            for (index, element) in elements.enumerated() where element.holdsForbiddenText {
                return element.locateForbiddenText(path: path + "[\(index)]")
            }
            return nil
        case .object(let members):
            for member in members {
                if let problem = StoredText.problem(in: member.key, field: "the member name '\(member.key.debugDescription.dropFirst().dropLast())'") { return problem }
                if member.value.holdsForbiddenText {
                    return member.value.locateForbiddenText(path: path.isEmpty ? member.key : path + "." + member.key)
                }
            }
            return nil
        default: return nil
        }
    }
}

private extension String {
    func leftPadded(to width: Int) -> String { String(repeating: "0", count: max(0, width - count)) + self }
}
