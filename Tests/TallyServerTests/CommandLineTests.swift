import Foundation
import TallyTestSupport
import Glibc
import Testing
import TransformerCore

/// The `tally` executable end to end: a real process, a real SQLite file, real sockets.
@Suite("tally command line", .serialized)
struct CommandLineTests {
    /// The `tally` binary beside the test bundle in the build folder.
    static let executable: String = {
        var folder = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for _ in 0..<3 {
            let candidate = folder.appendingPathComponent("tally").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            folder = folder.deletingLastPathComponent()
        }
        return URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent(".build/debug/tally").path
    }()

    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    struct Result {
        let status: Int32
        let output: String
        let errorOutput: String
    }

    /// Runs tally to completion in the package root.
    static func tally(_ arguments: [String], environment: [String: String] = [:]) throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: packageRoot)
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let output = Pipe(), errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        let outputData = output.fileHandleForReading.readDataToEndOfFile()
        let errorData = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Result(status: process.terminationStatus, output: String(decoding: outputData, as: UTF8.self),
                      errorOutput: String(decoding: errorData, as: UTF8.self))
    }

    static func temporaryDatabase() throws -> String {
        let directory = TemporaryFiles.path("tally-cli")
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        return directory + "/tally.sqlite"
    }

    /// Starts `tally serve` on a free port over `database`; returns the process and the port its
    /// banner line names.
    static func startServing(database: String, logLevel: String = "warning", extra: [String] = []) throws -> (Process, Int) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = ["serve", "--database", database, "--port", "0", "--log-level", logLevel] + extra
        process.currentDirectoryURL = URL(fileURLWithPath: packageRoot)
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let banner = readFirstLine(of: output.fileHandleForReading)
        guard let port = banner.split(separator: ":").dropFirst(2).first.flatMap({ Int($0.prefix { $0.isNumber }) }) else {
            process.terminate()
            throw CocoaError(.fileReadCorruptFile)
        }
        return (process, port)
    }

    static let smolLM2 = packageRoot + "/.build-models/SmolLM2-135M-Instruct.Q4_1.gguf"

    /// `tally demo --policy` registers a real pretrained model as the base policy and adds its
    /// sampled answers as candidates; run again, it samples nothing new.
    @Test(.enabled(if: FileManager.default.fileExists(atPath: smolLM2), "needs SmolLM2: `make smollm2` fetches it (`make test` does)"))
    func demoRegistersTheBasePolicyAndAddsItsAnswers() throws {
        let database = try Self.temporaryDatabase()
        let arguments = ["demo", "--database", database, "--policy", Self.smolLM2, "--policy-prompts", "2", "--policy-tokens", "8", "--log-level", "warning"]
        let first = try Self.tally(arguments)
        #expect(first.status == 0, "\(first.errorOutput)")
        #expect(first.output.contains("Base policy 'SmolLM2-135M-Instruct.Q4_1' (134515008 parameters) registered; 2 of its answers added"), "\(first.output)")
        let again = try Self.tally(arguments)
        #expect(again.status == 0 && again.output.contains("0 of its answers added"), "\(again.output)")
        let bad = try Self.tally(["demo", "--database", database, "--policy", "/nonexistent.gguf"])
        #expect(bad.status != 0 && bad.errorOutput.contains("/nonexistent.gguf"))
        let badCount = try Self.tally(["demo", "--database", database, "--policy", Self.smolLM2, "--policy-prompts", "0"])
        #expect(badCount.status != 0 && badCount.errorOutput.contains("--policy-prompts"))
    }

    /// A Hugging Face folder works as the policy too (here SmolLM2 saved as one, as a user's
    /// SmolLM2-360M or Llama 3.2 folder would come); it is registered with its folder digest.
    @Test(.enabled(if: FileManager.default.fileExists(atPath: smolLM2), "needs SmolLM2: `make smollm2` fetches it (`make test` does)"))
    func demoTakesAHuggingFaceFolderAsThePolicy() throws {
        let folder = TemporaryFiles.path("tally-cli-policy") + "/smollm2-folder"
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let smol = try LlamaCheckpoint.load(gguf: Self.smolLM2)
        try LlamaCheckpoint.save(smol.model, to: folder)
        try LlamaCheckpoint.saveTokenizer(smol.tokenizer, chatTemplate: smol.chatTemplate, stopToken: "<|im_end|>", to: folder)
        let database = try Self.temporaryDatabase()
        let run = try Self.tally(["demo", "--database", database, "--policy", folder, "--policy-prompts", "1", "--policy-tokens", "6", "--log-level", "warning"])
        #expect(run.status == 0, "\(run.errorOutput)")
        #expect(run.output.contains("Base policy 'smollm2-folder' (134515008 parameters) registered; 1 of its answers added"), "\(run.output)")
        try FileManager.default.removeItem(atPath: folder + "/tokenizer.json")
        let broken = try Self.tally(["demo", "--database", try Self.temporaryDatabase(), "--policy", folder])
        #expect(broken.status != 0 && broken.errorOutput.contains("tokenizer.json"), "\(broken.errorOutput)")
    }

    @Test func migrateThenStatus() throws {
        let database = try Self.temporaryDatabase()
        let pending = try Self.tally(["migrate", "--status", "--database", database])
        #expect(pending.output.contains("pending"))
        let applied = try Self.tally(["migrate", "--database", database])
        #expect(applied.status == 0)
        #expect(applied.output.contains("Applied 0001 accounts"))
        let status = try Self.tally(["migrate", "--status", "--database", database])
        #expect(status.output.contains("applied"))
        #expect(status.output.contains("Up to date."))
        #expect(try Self.tally(["migrate", "--database", database]).output.contains("Up to date"))
    }

    @Test func userAddValidatesItsInput() throws {
        let database = try Self.temporaryDatabase()
        let created = try Self.tally(["user", "add", "ada", "--role", "admin", "--database", database], environment: ["TALLY_PASSWORD": "a long password"])
        #expect(created.status == 0)
        #expect(created.output.contains("Created admin 'ada'"))
        #expect(!created.output.contains("Password:"))
        let generated = try Self.tally(["user", "add", "grace", "--role", "labeler", "--database", database])
        #expect(generated.output.contains("Password: "))
        let duplicate = try Self.tally(["user", "add", "ADA", "--role", "labeler", "--password", "long enough", "--database", database])
        #expect(duplicate.status != 0)
        #expect(duplicate.errorOutput.contains("the username 'ADA' is taken"))
        let badRole = try Self.tally(["user", "add", "x", "--role", "boss", "--database", database])
        #expect(badRole.errorOutput.contains("the role 'boss' is not one of: admin, researcher, labeler"))
        let shortPassword = try Self.tally(["user", "add", "y", "--role", "labeler", "--password", "short", "--database", database])
        #expect(shortPassword.errorOutput.contains("at least 8 characters"))
        let badName = try Self.tally(["user", "add", "a b", "--role", "labeler", "--database", database])
        #expect(badName.errorOutput.contains("may hold only letters"))
        let list = try Self.tally(["user", "list", "--database", database])
        #expect(list.output.split(separator: "\n").count == 2)
    }

    @Test func badSettingsAreNamed() throws {
        let database = try Self.temporaryDatabase()
        let badPort = try Self.tally(["serve", "--database", database], environment: ["TALLY_PORT": "eighty"])
        #expect(badPort.status != 0)
        #expect(badPort.errorOutput.contains("the port 'eighty' is not a number"))
        let badLevel = try Self.tally(["migrate", "--log-level", "loud", "--database", database])
        #expect(badLevel.errorOutput.contains("the log level 'loud'"))
        let missingKey = try Self.tally(["serve", "--database", database, "--tls-certificate", "/tmp/x.pem"])
        #expect(missingKey.errorOutput.contains("HTTPS needs both"))
        let missingPublic = try Self.tally(["serve", "--database", database, "--public", "/nonexistent/public"])
        #expect(missingPublic.errorOutput.contains("cannot find the Public folder"))
        #expect(missingPublic.errorOutput.contains("/nonexistent/public"))
    }

    @Test func serveAnswersOverSocketsAndStopsGracefullyOnSIGTERM() throws {
        let database = try Self.temporaryDatabase()
        let (process, port) = try Self.startServing(database: database)
        defer { if process.isRunning { process.terminate() } }

        let health = try call(port, "GET", "/health/ready")
        #expect(health.status == 200)
        #expect(health.body.contains("\"status\":\"ready\""))
        #expect(health.header("Content-Security-Policy") != nil)
        let page = try call(port, "GET", "/")
        #expect(page.status == 200)
        #expect(page.body.contains("<title>Tally</title>"))

        let backupPath = database + ".backup"
        let backup = try Self.tally(["backup", backupPath, "--database", database])
        #expect(backup.status == 0)
        #expect(backup.output.contains("integrity check: ok"))

        kill(process.processIdentifier, SIGTERM)
        let deadline = Date().addingTimeInterval(10)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        #expect(!process.isRunning)
        #expect(process.terminationStatus == 0)
    }
}

