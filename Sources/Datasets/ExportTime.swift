import Foundation

/// The times an export's `since` and `until` take, from the API and from `tally export` alike.
public enum ExportTime {
    /// A UTC time written exactly as `2026-01-31T00:00:00Z` (fractional seconds allowed): a
    /// date that does not exist (`2026-02-30`) or text after the `Z` is refused, where the
    /// ISO 8601 parser would roll it over or stop early.
    public static func parse(_ text: String) -> Date? {
        guard text.wholeMatch(of: /\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z/) != nil,
              let date = (try? Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(text)) ?? (try? Date.ISO8601FormatStyle().parse(text)),
              date.formatted(Date.ISO8601FormatStyle()).prefix(19) == text.prefix(19) else { return nil }
        return date
    }

    /// The time as exports store it, with milliseconds.
    public static func format(_ date: Date) -> String { date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true)) }
}
