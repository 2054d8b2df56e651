/// One file of a handed-off job's folder.
struct HandoffFile {
    let path: String
    let contents: String
    var isExecutable = false
}

/// Settings written as YAML: one `key: value` line each, values in JSON's syntax (which YAML
/// reads as the same strings, numbers, booleans and lists), so no string needs YAML's quoting rules.
struct YAMLSettings {
    private(set) var lines: [String] = []

    mutating func comment(_ text: String) { lines.append("# " + text) }
    mutating func set(_ key: String, _ value: String) { lines.append("\(key): \(Self.quoted(value))") }
    mutating func set(_ key: String, _ value: Int) { lines.append("\(key): \(value)") }
    mutating func set(_ key: String, _ value: Double) { lines.append("\(key): \(Self.number(value))") }
    mutating func set(_ key: String, _ value: Float) { set(key, Double(value)) }
    mutating func set(_ key: String, _ value: Bool) { lines.append("\(key): \(value)") }
    mutating func set(_ key: String, _ values: [String]) { lines.append("\(key): [\(values.map(Self.quoted).joined(separator: ", "))]") }

    var text: String { lines.joined(separator: "\n") + "\n" }

    static func quoted(_ text: String) -> String {
        var result = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": result += "\\\""
            case "\\": result += "\\\\"
            case "\n": result += "\\n"
            case "\t": result += "\\t"
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result + "\""
    }

    /// A number as Python and YAML read it back exactly (no "1e-05" surprises: YAML 1.1 reads
    /// "1e-05" as a string, so a mantissa always has its point).
    static func number(_ value: Double) -> String {
        if value == value.rounded(), abs(value) < 1e15 { return String(format: "%.1f", value) }
        let text = "\(value)"
        guard let e = text.firstIndex(where: { $0 == "e" || $0 == "E" }) else { return text }
        let mantissa = text[..<e].contains(".") ? String(text[..<e]) : String(text[..<e]) + ".0"
        return mantissa + "e" + text[text.index(after: e)...]
    }
}

/// A command line in a shell script: the program's words, then one option (and its value) per
/// line, every word quoted for the shell where it needs it.
func shellCommand(_ program: [String], _ options: [(flag: String, value: String?)]) -> String {
    func quoted(_ word: String) -> String {
        // A shell expansion the script means ("$GPUS", "$TRAIN_BATCH") stays as written.
        if word.hasPrefix("\"$") { return word }
        return word.allSatisfy { $0.isLetter || $0.isNumber || "-_./=:,+@%".contains($0) } ? word : "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
    let lines = [program.map(quoted).joined(separator: " ")] + options.map { "  " + quoted($0.flag) + ($0.value.map { " " + quoted($0) } ?? "") }
    return lines.joined(separator: " \\\n")
}
