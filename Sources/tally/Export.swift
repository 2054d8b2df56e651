import ArgumentParser
import Datasets
import Foundation
import Labeling
import Storage

/// `tally export`: a project's labels as a Hugging Face dataset folder that
/// `datasets.load_dataset(folder)` and TRL read as they are.
struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a project's rankings or demonstrations as a dataset folder: a JSON Lines file per split and a README.md dataset card.",
        discussion: """
            The splits are the prompts' (train, validation, test; empty ones are left out). The card's YAML header is what \
            Hugging Face reads (configs, dataset_info.features, license, task_categories, size_categories); its body gives the \
            filter, counts and each file's SHA-256. The folder must not exist; it is written whole or not at all. \
            See Docs/formats.md.
            """)

    @OptionGroup var databaseOptions: DatabaseOptions

    @Option(name: .long, help: "The project's id.")
    var project: Int

    @Option(name: .long, help: ArgumentHelp("comparisons, hh-rlhf, rankings, sft-messages or sft-prompt-completion.", valueName: "format"))
    var format: String = ExportFormat.comparisons.rawValue

    @Option(name: .long, help: ArgumentHelp("The folder to write; it must not exist.", valueName: "path"))
    var output: String

    @Option(name: .long, help: ArgumentHelp("text or conversational (default: conversational when the project has a conversation prompt).", valueName: "form"))
    var form: String?

    @Option(name: .long, help: ArgumentHelp("Write TRL's margin on this scale: rank-distance or strength (default: no margin).", valueName: "scale"))
    var margin: String?

    @Option(name: .long, help: ArgumentHelp("Only labels in force at this UTC time, e.g. 2026-01-31T00:00:00Z (default: now).", valueName: "time"))
    var until: String?

    @Flag(name: .long, help: "Put the held-out labelers' labels in a split of their own, held_out_labelers.")
    var heldOutLabelersApart = false

    @Option(name: .long, help: ArgumentHelp("The card's license, an SPDX id such as cc-by-4.0.", valueName: "id"))
    var license = "other"

    func validate() throws {
        guard let chosen = ExportFormat(rawValue: format) else {
            throw ValidationError("--format must be one of \(ExportFormat.allCases.map(\.rawValue).joined(separator: ", ")), not '\(format)'")
        }
        guard chosen != .ratingsCSV else { throw ValidationError("--format ratings-csv is a CSV file, not a dataset folder; download it from the API") }
        if let form, PromptForm(rawValue: form) == nil { throw ValidationError("--form must be text or conversational, not '\(form)'") }
        if let margin, MarginScale(rawValue: margin) == nil { throw ValidationError("--margin must be rank-distance or strength, not '\(margin)'") }
        if let until, ExportTime.parse(until) == nil { throw ValidationError("--until must be a UTC time such as 2026-01-31T00:00:00Z, not '\(until)'") }
        guard license.wholeMatch(of: /[A-Za-z0-9.+-]{1,64}/) != nil else { throw ValidationError("--license must be an SPDX id such as cc-by-4.0 or 'other', not '\(license)'") }
    }

    func run() throws {
        let logger = try databaseOptions.bootstrapLogging()
        let pool = try databaseOptions.openMigratedDatabase(logger: logger, readerCount: 1)
        defer { pool.close() }
        let written = try pool.read { database -> DatasetFolder.Written in
            var filter = RankingFilter()
            // Bound to one time, as the API's exports are, so the card says what the folder holds.
            filter.until = try until.flatMap(ExportTime.parse).map(ExportTime.format)
                ?? database.queryScalarText("SELECT strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '+0.001 seconds')")
            let options = ExportOptions(promptForm: try form.flatMap(PromptForm.init(rawValue:)) ?? ExportOptions.defaultPromptForm(projectID: project, in: database),
                                        margin: margin.flatMap(MarginScale.init(rawValue:)))
            if options.margin == .strength, try ExportOptions.rankingsWithoutStrength(projectID: project, in: database) > 0 {
                throw ValidationError("--margin strength needs a strength on every ranking; \(try ExportOptions.rankingsWithoutStrength(projectID: project, in: database)) have none (use rank-distance)")
            }
            let folder = DatasetFolder(format: ExportFormat(rawValue: format)!, projectID: project, filter: filter, options: options,
                                       heldOutLabelersApart: heldOutLabelersApart, license: license)
            do {
                return try folder.write(to: output, in: database)
            } catch let refusal as DatasetFolder.Refusal {
                throw ValidationError(refusal.description)
            }
        }
        for split in written.splits {
            print("\(output)/\(split.name).jsonl: \(split.manifest.records) records, \(split.manifest.bytes) bytes, sha256 \(split.manifest.sha256)")
        }
        print("\(output)/README.md: the dataset card; load it with datasets.load_dataset(\"\(output)\")")
    }
}
