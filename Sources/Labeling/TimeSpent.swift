/// The seconds a labeler's screen measured on one task, as a submission reports them: from 0 to
/// a day. A larger figure is a broken client, and summed into the statistics and quality reports
/// it would overflow them (1e308 twice is infinity, which JSON cannot carry).
public enum TimeSpent {
    public static let maximumSeconds = 86_400.0

    /// Throws when `seconds` is outside the range, naming the field.
    public static func check(_ seconds: Double?, field: String = "secondsSpent") throws {
        guard let seconds else { return }
        guard seconds.isFinite, (0...maximumSeconds).contains(seconds) else {
            throw LabelingError("field '\(field)' must be from 0 to \(Int(maximumSeconds)) seconds (a day), not \(seconds)")
        }
    }
}
