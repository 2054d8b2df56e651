import Foundation

/// Requests answered and how long each took, by method, route pattern and status, written in
/// the Prometheus text format (version 0.0.4). Routes are their patterns (`/api/prompts/{id}`),
/// never the paths a client sent, so the series stay few whatever is requested: a path no route
/// matches counts as `unmatched`, a static file as `static`.
public final class RequestMetrics: @unchecked Sendable {
    /// Upper bounds of the latency histogram, in seconds.
    public static let buckets: [Double] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

    private struct Series: Hashable { let method: String; let route: String }
    private struct Histogram { var counts = [Int](repeating: 0, count: RequestMetrics.buckets.count); var sum = 0.0; var count = 0 }

    private let lock = NSLock()
    private var answered: [Series: [String: Int]] = [:]
    private var latencies: [Series: Histogram] = [:]

    public init() {}

    public func record(method: String, route: String, status: String, seconds: Double) {
        let series = Series(method: method, route: route)
        lock.withLock {
            answered[series, default: [:]][status, default: 0] += 1
            var histogram = latencies[series] ?? Histogram()
            if let bucket = Self.buckets.firstIndex(where: { seconds <= $0 }) { histogram.counts[bucket] += 1 }
            histogram.sum += seconds
            histogram.count += 1
            latencies[series] = histogram
        }
    }

    /// The two metric families, `tally_http_requests_total` and `tally_http_request_duration_seconds`.
    public func prometheusText() -> String {
        let (answered, latencies) = lock.withLock { (self.answered, self.latencies) }
        var text = "# HELP tally_http_requests_total HTTP requests answered, by method, route pattern and status.\n"
        text += "# TYPE tally_http_requests_total counter\n"
        for series in answered.keys.sorted(by: Self.order) {
            for (status, count) in answered[series]!.sorted(by: { $0.key < $1.key }) {
                text += "tally_http_requests_total\(Self.labels([("method", series.method), ("route", series.route), ("status", status)])) \(count)\n"
            }
        }
        text += "# HELP tally_http_request_duration_seconds Seconds from a request's arrival at its handler to its answer, by method and route pattern.\n"
        text += "# TYPE tally_http_request_duration_seconds histogram\n"
        for series in latencies.keys.sorted(by: Self.order) {
            let histogram = latencies[series]!
            let base = [("method", series.method), ("route", series.route)]
            var cumulative = 0
            for (bound, count) in zip(Self.buckets, histogram.counts) {
                cumulative += count
                text += "tally_http_request_duration_seconds_bucket\(Self.labels(base + [("le", Self.number(bound))])) \(cumulative)\n"
            }
            text += "tally_http_request_duration_seconds_bucket\(Self.labels(base + [("le", "+Inf")])) \(histogram.count)\n"
            text += "tally_http_request_duration_seconds_sum\(Self.labels(base)) \(Self.number(histogram.sum))\n"
            text += "tally_http_request_duration_seconds_count\(Self.labels(base)) \(histogram.count)\n"
        }
        return text
    }

    /// One gauge or counter family: its help, type and each labelled value.
    public static func family(_ name: String, type: String, help: String, _ values: [(labels: [(String, String)], value: Double)]) -> String {
        var text = "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
        for value in values { text += "\(name)\(labels(value.labels)) \(number(value.value))\n" }
        return text
    }

    static func labels(_ pairs: [(String, String)]) -> String {
        guard !pairs.isEmpty else { return "" }
        return "{" + pairs.map { "\($0.0)=\"\(escaped($0.1))\"" }.joined(separator: ",") + "}"
    }

    /// A label value as the text format quotes it: backslash, double quote and line feed escaped.
    static func escaped(_ value: String) -> String {
        value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"").replacingOccurrences(of: "\n", with: "\\n")
    }

    static func number(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(value)
    }

    private static func order(_ a: Series, _ b: Series) -> Bool { (a.route, a.method) < (b.route, b.method) }
}
