import Foundation
import JSON
import Labeling
import Storage

/// An export as a Hugging Face dataset folder: one JSON Lines file per split and a `README.md`
/// dataset card whose YAML header is what the Hub and `datasets.load_dataset(folder)` read
/// (`configs` with each split's file, `dataset_info.features`, `license`, `task_categories`,
/// `size_categories`), with the filter, counts, source and each file's SHA-256 in its body.
///
/// The splits are the prompts' (`train`, `validation`, `test`); with `heldOutLabelersApart`,
/// the held-out labelers' labels go to a split of their own, `held_out_labelers`, whatever
/// their prompts' split, so an evaluation against them never trains on them. The folder is
/// written beside its destination and renamed into place once whole: a failed export leaves
/// nothing behind.
public struct DatasetFolder: Sendable {
    public struct Split: Sendable, Equatable {
        public let name: String
        public let manifest: ExportManifest
    }

    public struct Written: Sendable {
        public let splits: [Split]
        public let card: String
    }

    public let format: ExportFormat
    public let projectID: Int
    public let filter: RankingFilter
    public let options: ExportOptions
    public let heldOutLabelersApart: Bool
    /// The card's `license` (an SPDX id, or `other`): the labels' license is the project's to say.
    public let license: String

    public init(format: ExportFormat, projectID: Int, filter: RankingFilter, options: ExportOptions, heldOutLabelersApart: Bool, license: String) {
        (self.format, self.projectID, self.filter, self.options, self.heldOutLabelersApart, self.license) =
            (format, projectID, filter, options, heldOutLabelersApart, license)
    }

    public struct Refusal: Error, CustomStringConvertible {
        public let description: String
    }

    /// Writes the folder at `path`, which must not exist; all in one read transaction.
    public func write(to path: String, in database: Database) throws -> Written {
        guard format != .ratingsCSV else { throw Refusal(description: "a dataset folder holds JSON Lines; export ratings-csv as a file instead") }
        guard !FileManager.default.fileExists(atPath: path) else { throw Refusal(description: "\(path) exists already; name a new folder") }
        guard let project = try ProjectRepository().find(id: projectID, in: database) else { throw Refusal(description: "there is no project \(projectID)") }
        let staging = path + ".partial-\(ProcessInfo.processInfo.processIdentifier)"
        try? FileManager.default.removeItem(atPath: staging)
        try FileManager.default.createDirectory(atPath: staging, withIntermediateDirectories: true)
        do {
            var splits: [Split] = [], features = FeatureInference()
            var parts: [(name: String, filter: RankingFilter)] = []
            for split in ["train", "validation", "test"] {
                var part = filter
                part.split = split
                if heldOutLabelersApart { part.labelerGroup = "training" }
                parts.append((split, part))
            }
            if heldOutLabelersApart {
                var part = filter
                part.labelerGroup = "held_out"
                parts.append(("held_out_labelers", part))
            }
            for (name, part) in parts {
                let file = staging + "/\(name).jsonl"
                _ = FileManager.default.createFile(atPath: file, contents: nil)
                let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: file))
                let manifest = try RankingExporter.export(format, projectID: projectID, filter: part, options: options, from: database) { page in
                    try handle.write(contentsOf: page)
                    for line in page.split(separator: UInt8(ascii: "\n")) where !line.isEmpty { features.add(try JSONParser.parse(Array(line))) }
                }
                try handle.close()
                if manifest.records == 0 { try FileManager.default.removeItem(atPath: file) } else { splits.append(Split(name: name, manifest: manifest)) }
            }
            guard !splits.isEmpty else { throw Refusal(description: "project \(projectID) has nothing to export as \(format.rawValue) with this filter") }
            let card = Self.card(project: project, format: format, filter: filter, options: options, splits: splits, features: features, license: license)
            try Data(card.utf8).write(to: URL(fileURLWithPath: staging + "/README.md"))
            try FileManager.default.moveItem(atPath: staging, toPath: path)
            return Written(splits: splits, card: card)
        } catch {
            try? FileManager.default.removeItem(atPath: staging)
            throw error
        }
    }

    static func card(project: Project, format: ExportFormat, filter: RankingFilter, options: ExportOptions, splits: [Split],
                     features: FeatureInference, license: String) -> String {
        let records = splits.reduce(0) { $0 + $1.manifest.records }
        let size = records < 1_000 ? "n<1K" : records < 10_000 ? "1K<n<10K" : records < 100_000 ? "10K<n<100K" : records < 1_000_000 ? "100K<n<1M" : "1M<n<10M"
        var yaml = ["---", "license: \(license)", "task_categories:", "- text-generation", "tags:", "- rlhf", "- tally",
                    format.isDemonstrations ? "- sft" : "- preference", "size_categories:", "- \(size)", "configs:", "- config_name: default",
                    "  data_files:"]
        for split in splits { yaml += ["  - split: \(split.name)", "    path: \(split.name).jsonl"] }
        yaml += ["dataset_info:", "  features:"] + features.yaml(indent: "  ") + ["  splits:"]
        for split in splits { yaml += ["  - name: \(split.name)", "    num_bytes: \(split.manifest.bytes)", "    num_examples: \(split.manifest.records)"] }
        yaml += ["---", ""]
        let what = format.isDemonstrations ? "demonstrations" : "rankings"
        var body = [
            "# \(project.name): \(format.rawValue)", "",
            "Exported by Tally from project \(project.id), `\(project.name)`, as `\(format.rawValue)` (\(options.promptForm.rawValue) prompts\(options.margin.map { ", margin on the \($0.rawValue) scale" } ?? "")).",
            "Labels in force until \(filter.until ?? "the export"); a ranking corrected later is in its original form.", "",
            "| split | \(what) | records | bytes | SHA-256 |", "|---|---:|---:|---:|---|",
        ]
        for split in splits {
            let count = format.isDemonstrations ? split.manifest.demonstrations : split.manifest.rankings
            body.append("| \(split.name) | \(count) | \(split.manifest.records) | \(split.manifest.bytes) | `\(split.manifest.sha256)` |")
        }
        body += ["", "Filter: `\(String(decoding: (try? JSONEncoder.sorted.encode(filter)) ?? Data(), as: UTF8.self))`.", ""]
        if !format.isDemonstrations {
            body += ["Each ranking of K answers gives its K(K-1)/2 untied pairs (InstructGPT's comparisons); ties are left out.", ""]
        }
        return (yaml + body).joined(separator: "\n")
    }
}

private extension JSONEncoder {
    static var sorted: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }
}

/// The Hugging Face `features` of JSON records, inferred from every record: a field is the
/// merge of its values (an integer field with one fractional value is a float; null fits any
/// type), objects are structs and arrays lists, as `datasets` itself reads JSON Lines.
struct FeatureInference: Sendable {
    indirect enum Feature: Sendable {
        case null, bool, int64, float64, string
        case list(Feature)
        case structure([(String, Feature)])

        /// The feature both fit, or nil when they cannot be one column.
        func merged(with other: Feature) -> Feature? {
            switch (self, other) {
            case (.null, _): return other
            case (_, .null): return self
            case (.int64, .float64), (.float64, .int64): return .float64
            case (.list(let a), .list(let b)): return a.merged(with: b).map(Feature.list)
            case (.structure(let a), .structure(let b)):
                var fields = a
                for (name, feature) in b {
                    if let index = fields.firstIndex(where: { $0.0 == name }) {
                        guard let merged = fields[index].1.merged(with: feature) else { return nil }
                        fields[index].1 = merged
                    } else {
                        fields.append((name, feature))
                    }
                }
                return .structure(fields)
            case (.bool, .bool), (.int64, .int64), (.float64, .float64), (.string, .string): return self
            default: return nil
            }
        }

        init(_ value: JSONValue) {
            switch value {
            case .null: self = .null
            case .bool: self = .bool
            case .integer: self = .int64
            case .double: self = .float64
            case .string: self = .string
            case .array(let elements): self = .list(elements.map(Feature.init).reduce(Feature.null) { $0.merged(with: $1) ?? .string })
            case .object(let members): self = .structure(members.map { ($0.key, Feature($0.value)) })
            }
        }
    }

    private(set) var record = Feature.null

    mutating func add(_ value: JSONValue) {
        // A field that is a string in one record and a number in another is written as a string:
        // `datasets` would refuse the file otherwise, and the exporters never do it.
        record = record.merged(with: Feature(value)) ?? .string
    }

    /// The YAML lines of `features`, a list of named fields.
    func yaml(indent: String) -> [String] {
        guard case .structure(let fields) = record else { return [] }
        return fields.flatMap { Self.lines(name: $0.0, $0.1, indent: indent) }
    }

    /// A named field: its `dtype`, or how its values nest.
    private static func lines(name: String, _ feature: Feature, indent: String) -> [String] {
        ["\(indent)- name: \(name)"] + body(feature, indent: indent + "  ")
    }

    /// What follows a field's name: `dtype: int64`, `sequence: string`, a `list:` of the fields
    /// of a list of objects, a `struct:` of an object's fields, or a sequence of sequences.
    private static func body(_ feature: Feature, indent: String) -> [String] {
        switch feature {
        case .null, .bool, .int64, .float64, .string:
            return ["\(indent)dtype: \(scalarName(feature))"]
        case .list(.structure(let fields)):
            return ["\(indent)list:"] + fields.flatMap { lines(name: $0.0, $0.1, indent: indent + "  ") }
        case .list(.list(let inner)):
            return ["\(indent)sequence:"] + body(.list(inner), indent: indent + "  ")
        case .list(let element):
            return ["\(indent)sequence: \(scalarName(element))"]
        case .structure(let fields):
            return ["\(indent)struct:"] + fields.flatMap { lines(name: $0.0, $0.1, indent: indent + "  ") }
        }
    }

    private static func scalarName(_ feature: Feature) -> String {
        switch feature { case .bool: "bool"; case .int64: "int64"; case .float64: "float64"; case .null: "\"null\""; default: "string" }
    }
}
