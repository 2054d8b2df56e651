import JSON

/// The longest texts Tally stores, in code points (as the database counts them, and as the UI's
/// counters count them): long enough for any real prompt, answer or demonstration, short enough
/// that one submission cannot fill the disk or stall an export. A longer text is refused with a
/// 400 naming the field (413 only when the whole body is over the server's limit).
public enum TextLimits {
    /// A prompt's text (each turn of a conversation), a candidate answer, a demonstration.
    public static let content = 100_000
    /// A labeler's comment on a ranking or a verdict.
    public static let comment = 10_000

    /// Throws when `text` is longer than `limit`, naming the field.
    public static func check(_ text: String?, field: String, limit: Int) throws {
        guard let text else { return }
        let length = StoredText.length(text)
        guard length <= limit else { throw LabelingError("field '\(field)' must have at most \(limit) characters, not \(length)") }
    }

    /// What `check` would say, for importers that gather problems.
    public static func problem(_ text: String, limit: Int) -> String? {
        let length = StoredText.length(text)
        return length > limit ? "must have at most \(limit) characters, not \(length)" : nil
    }
}
