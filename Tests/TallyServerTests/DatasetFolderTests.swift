import Foundation
import TallyTestSupport
import Testing
@testable import TallyServer

/// `tally export`: a project's rankings as a dataset folder that `datasets.load_dataset` reads
/// with its splits as splits and the card's features as the files' own.
@Suite("Dataset folders")
struct DatasetFolderTests {
    @Test func exportWritesSplitsAndACardThatDatasetsLoads() throws {
        let app = try TallyTestServer()
        let rita = try signIn(app.port, "rita"), lena = try signIn(app.port, "lena")
        let write = ["Cookie": rita.cookie, "X-CSRF-Token": rita.csrf]
        let project = try #require(try call(app.port, "POST", "/api/projects", headers: write,
                                            json: #"{"name": "Folder", "rankingSize": 3, "ratingsRequired": false}"#).json["id"] as? Int)
        let lines = [("train", 1), ("train", 2), ("test", 3)].map { split, index in
            #"{"prompt": "Question \#(index)?", "split": "\#(split)", "candidates": [{"text": "a\#(index)", "model": "m"}, {"text": "b\#(index)", "model": "n"}, {"text": "c\#(index)", "model": "o"}]}"#
        }
        #expect(try call(app.port, "POST", "/api/projects/\(project)/imports/prompts", headers: write, rawBody: lines.joined(separator: "\n")).status == 200)
        for prompt in try app.database.read({ try $0.query("SELECT id FROM prompts WHERE project_id = ? ORDER BY id", [project]).map { try $0.int("id") } }) {
            let candidates = try app.database.read { try $0.query("SELECT id FROM candidates WHERE prompt_id = ? ORDER BY id", [prompt]).map { try $0.int("id") } }
            let entries = candidates.enumerated().map { #"{"candidateId": \#($1), "rank": \#($0 + 1)}"# }.joined(separator: ", ")
            #expect(try call(app.port, "POST", "/api/prompts/\(prompt)/rankings", headers: ["Cookie": lena.cookie, "X-CSRF-Token": lena.csrf],
                             json: #"{"entries": [\#(entries)], "shownOrder": \#(candidates)}"#).status == 201)
        }

        let folder = TemporaryFiles.path("dataset-folder")
        let exported = try CommandLineTests.tally(["export", "--database", app.databasePath, "--project", "\(project)", "--output", folder,
                                                   "--license", "cc-by-4.0", "--log-level", "warning"])
        #expect(exported.status == 0, "\(exported.errorOutput)")
        let files = try FileManager.default.contentsOfDirectory(atPath: folder).sorted()
        #expect(files == ["README.md", "test.jsonl", "train.jsonl"], "the empty validation split is left out: \(files)")
        let card = try String(contentsOfFile: folder + "/README.md", encoding: .utf8)
        #expect(card.hasPrefix("---\nlicense: cc-by-4.0\n") && card.contains("  - split: train\n    path: train.jsonl") && card.contains("num_examples: 6"), "\(card)")
        let run = try runChecker("check_dataset_folder.py", besides: #filePath, [folder])
        #expect(run.status == 0, "\(run.errors.suffix(3000))")
        let loaded = run.json as? [String: Any] ?? [:]
        // Two prompts of three answers in train (3 pairs each), one in test.
        #expect(loaded["splits"] as? [String: Int] == ["train": 6, "test": 3], "\(loaded)")
        #expect((loaded["declaredMatchesInferred"] as? [String: Bool])?.values.allSatisfy { $0 } == true, "the card's features are the files' own: \(loaded)")
        #expect((loaded["features"] as? [String: String])?["chosen"]?.contains("string") == true, "\(loaded)")

        // The API's form: the same folder as a tar archive, which `tar` unpacks and `datasets` loads.
        let download = try call(app.port, "GET", "/api/projects/\(project)/exports/comparisons/dataset?license=cc-by-4.0", headers: ["Cookie": rita.cookie])
        #expect(download.status == 200 && download.header("Content-Type") == "application/x-tar"
                && download.header("Content-Disposition") == "attachment; filename=\"project-\(project)-comparisons.tar\"", "\(download.status) \(download.body.prefix(300))")
        let archive = TemporaryFiles.path("dataset.tar"), unpacked = TemporaryFiles.path("dataset-unpacked")
        try Data(download.body.utf8).write(to: URL(fileURLWithPath: archive))
        try FileManager.default.createDirectory(atPath: unpacked, withIntermediateDirectories: true)
        let tar = Process()
        tar.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        tar.arguments = ["tar", "-xf", archive, "-C", unpacked]
        try tar.run()
        tar.waitUntilExit()
        #expect(tar.terminationStatus == 0)
        let fromAPI = unpacked + "/project-\(project)-comparisons"
        #expect(try FileManager.default.contentsOfDirectory(atPath: fromAPI).sorted() == ["README.md", "test.jsonl", "train.jsonl"])
        #expect(try Data(contentsOf: URL(fileURLWithPath: fromAPI + "/train.jsonl")) == Data(contentsOf: URL(fileURLWithPath: folder + "/train.jsonl")),
                "the API's folder holds what the command line's does")
        let apiRun = try runChecker("check_dataset_folder.py", besides: #filePath, [fromAPI])
        #expect(apiRun.status == 0 && (apiRun.json as? [String: Any])?["splits"] as? [String: Int] == ["train": 6, "test": 3], "\(apiRun.errors.suffix(3000))")
        let badQueries = [("split=train", "'split' is not one a dataset folder takes"), ("heldOutLabelersApart=yes", "'heldOutLabelersApart' must be true or false"),
                          ("license=a%20b", "'license' must be an SPDX id")]
        for (query, message) in badQueries {
            let refused = try call(app.port, "GET", "/api/projects/\(project)/exports/comparisons/dataset?\(query)", headers: ["Cookie": rita.cookie])
            #expect(refused.status == 400 && refused.body.contains(message), "\(query): \(refused.body)")
        }
        let nothing = try call(app.port, "GET", "/api/projects/\(project)/exports/sft-messages/dataset", headers: ["Cookie": rita.cookie])
        #expect(nothing.status == 400 && nothing.body.contains("nothing to export"), "\(nothing.body)")
        #expect(try call(app.port, "GET", "/api/projects/\(project)/exports/comparisons/dataset", headers: ["Cookie": lena.cookie]).status == 403)
        let leftBehind = try FileManager.default.contentsOfDirectory(atPath: NSTemporaryDirectory()).filter { $0.hasPrefix("tally-dataset-") }
        #expect(leftBehind.isEmpty, "every download's folder is removed: \(leftBehind)")

        // Raw rankings in the conversational form: nested lists of messages and of candidates
        // with their flags, and ratings that are all null, declared as `datasets` reads them.
        let raw = folder + "-rankings"
        let rawExport = try CommandLineTests.tally(["export", "--database", app.databasePath, "--project", "\(project)", "--output", raw,
                                                    "--format", "rankings", "--form", "conversational", "--log-level", "warning"])
        #expect(rawExport.status == 0, "\(rawExport.errorOutput)")
        let rawRun = try runChecker("check_dataset_folder.py", besides: #filePath, [raw])
        #expect(rawRun.status == 0, "\(rawRun.errors.suffix(3000))")
        let rawLoaded = rawRun.json as? [String: Any] ?? [:]
        #expect(rawLoaded["splits"] as? [String: Int] == ["train": 2, "test": 1], "\(rawLoaded)")
        #expect((rawLoaded["declaredMatchesInferred"] as? [String: Bool])?.values.allSatisfy { $0 } == true, "\(rawLoaded)")
        try? FileManager.default.removeItem(atPath: raw)

        // The folder is never overwritten, and a bad option is named.
        let again = try CommandLineTests.tally(["export", "--database", app.databasePath, "--project", "\(project)", "--output", folder, "--log-level", "warning"])
        #expect(again.status != 0 && again.errorOutput.contains("exists already"), "\(again.errorOutput)")
        let csv = try CommandLineTests.tally(["export", "--database", app.databasePath, "--project", "\(project)", "--output", folder + "-csv", "--format", "ratings-csv"])
        #expect(csv.status != 0 && csv.errorOutput.contains("not a dataset folder"), "\(csv.errorOutput)")
        let empty = try CommandLineTests.tally(["export", "--database", app.databasePath, "--project", "\(project)", "--output", folder + "-sft",
                                                "--format", "sft-messages", "--log-level", "warning"])
        #expect(empty.status != 0 && empty.errorOutput.contains("nothing to export") && !FileManager.default.fileExists(atPath: folder + "-sft"), "\(empty.errorOutput)")
        try? FileManager.default.removeItem(atPath: folder)
    }
}
