import Foundation
import JSON
import Training

/// Prints a trainer's reports: a progress bar redrawn in place on a terminal (step of total,
/// loss, accuracy, tokens per second, time left), one line per report otherwise, or one JSON
/// object per report with --json. Every report also goes to the run's log, which the output
/// folder keeps as training_log.jsonl.
final class TrainingReporter {
    private let json: Bool
    private let isTerminal = isatty(STDERR_FILENO) != 0
    private(set) var log: [JSONValue] = []

    init(json: Bool) { self.json = json }

    func report(_ progress: TrainingProgress) {
        let record = progress.record
        log.append(record)
        if json {
            print(JSONWriter.string(record))
            return
        }
        let line: String
        switch progress.phase {
        case .training:
            let width = 24, done = progress.totalSteps > 0 ? progress.step * width / progress.totalSteps : 0
            let bar = String(repeating: "#", count: done) + String(repeating: ".", count: width - done)
            let perStep = progress.elapsedSeconds / Double(max(1, progress.step))
            var parts = ["[\(bar)] \(progress.step)/\(progress.totalSteps)"]
            if let loss = progress.metric("loss") { parts.append(String(format: "loss %.4f", loss)) }
            if let accuracy = progress.metric("accuracy") ?? progress.metric("rewards/accuracies") { parts.append(String(format: "accuracy %.3f", accuracy)) }
            if let reward = progress.metric("reward") ?? progress.metric("objective/scores") { parts.append(String(format: "reward %.3f", reward)) }
            if let kl = progress.metric("kl_per_answer") { parts.append(String(format: "KL %.2f", kl)) }
            if let speed = progress.metric("tokens_per_second") { parts.append(String(format: "%.0f tok/s", speed)) }
            parts.append("\(Self.duration(perStep * Double(progress.totalSteps - progress.step))) left")
            line = parts.joined(separator: "  ")
        case .validation:
            line = "validation at step \(progress.step): " + progress.metrics.map { String(format: "%@ %.4f", $0.name, $0.value) }.joined(separator: ", ")
                + progress.samples.map { String(format: "\n  [reward %.3f%@] %@ -> %@", $0.reward, $0.ended ? "" : ", cut", Self.shortened($0.prompt), Self.shortened($0.answer)) }.joined()
        }
        if isTerminal, progress.phase == .training {
            FileHandle.standardError.write(Data("\r\u{1B}[K\(line)".utf8))
        } else {
            FileHandle.standardError.write(Data(((isTerminal ? "\r\u{1B}[K" : "") + line + "\n").utf8))
        }
    }

    func finish() {
        if isTerminal, !json { FileHandle.standardError.write(Data("\n".utf8)) }
    }

    /// The log as JSON Lines.
    var logLines: Data {
        Data(log.map { JSONWriter.string($0) + "\n" }.joined().utf8)
    }

    /// One line of at most 100 characters.
    static func shortened(_ text: String) -> String {
        let line = text.replacingOccurrences(of: "\n", with: " ")
        return line.count <= 100 ? line : String(line.prefix(99)) + "…"
    }

    static func duration(_ seconds: Double) -> String {
        let total = Int(seconds.rounded())
        return total >= 3600 ? "\(total / 3600)h\(total % 3600 / 60)m" : total >= 60 ? "\(total / 60)m\(total % 60)s" : "\(total)s"
    }
}
