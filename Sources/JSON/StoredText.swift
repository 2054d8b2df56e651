/// What text Tally stores, decided in one place: any Unicode text but the control characters
/// other than tab, line feed and carriage return. A NUL would end the text for SQLite's
/// `length()` and C string readers, and the other controls are never a label's content.
public enum StoredText {
    /// The first control character of `text` that Tally refuses, if any.
    public static func forbiddenCharacter(in text: String) -> Unicode.Scalar? {
        text.unicodeScalars.first { isForbidden($0) }
    }

    public static func isForbidden(_ scalar: Unicode.Scalar) -> Bool {
        (scalar.value < 0x20 && scalar != "\t" && scalar != "\n" && scalar != "\r") || scalar.value == 0x7F
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
    public func forbiddenTextProblem(path: String = "") -> String? {
        func named(_ path: String) -> String { path.isEmpty ? "the body" : "field '\(path)'" }
        switch self {
        case .string(let text): return StoredText.problem(in: text, field: named(path))
        case .array(let elements):
            for (index, element) in elements.enumerated() {
                if let problem = element.forbiddenTextProblem(path: path + "[\(index)]") { return problem }
            }
            return nil
        case .object(let members):
            for member in members {
                let child = path.isEmpty ? member.key : path + "." + member.key
                if let problem = StoredText.problem(in: member.key, field: "the member name '\(member.key.debugDescription.dropFirst().dropLast())'") { return problem }
                if let problem = member.value.forbiddenTextProblem(path: child) { return problem }
            }
            return nil
        default: return nil
        }
    }
}

private extension String {
    func leftPadded(to width: Int) -> String { String(repeating: "0", count: max(0, width - count)) + self }
}
