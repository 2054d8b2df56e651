import ArgumentParser
import BackgroundTraining
import Dispatch
import Foundation
import Logging
import Storage

/// Options of the background worker, shared by `tally serve` (which runs one) and `tally worker`.
struct WorkerOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The folder of job checkpoints and trained models. (env: TALLY_MODELS; default: tally-models beside the database)", valueName: "path"))
    var models: String?

    @Option(name: .long, help: ArgumentHelp("Compute threads for training, at background priority. (default: all cores but one)", valueName: "count"))
    var workerThreads: Int?

    @Option(name: .long, help: ArgumentHelp("Seconds after which a running job whose worker stopped renewing its lease is resumed by another. (default: 60)", valueName: "seconds"))
    var jobLeaseSeconds: Double?

    @Option(name: .long, help: ArgumentHelp("Gigabytes a project's job checkpoints may take before failed jobs' checkpoints are pruned. (default: 20)", valueName: "gigabytes"))
    var checkpointBudget: Double?

    func modelsDirectory(databasePath: String) -> String {
        setting(models, "TALLY_MODELS") ?? URL(fileURLWithPath: databasePath).deletingLastPathComponent().appendingPathComponent("tally-models").path
    }

    func configuration(databasePath: String) throws -> Worker.Configuration {
        var configuration = Worker.Configuration(modelsDirectory: modelsDirectory(databasePath: databasePath))
        if let workerThreads {
            guard (1...256).contains(workerThreads) else { throw ValidationError("--worker-threads must be from 1 to 256, got \(workerThreads)") }
            configuration.threads = workerThreads
        }
        if let jobLeaseSeconds {
            guard jobLeaseSeconds >= 0.2, jobLeaseSeconds <= 3600 else { throw ValidationError("--job-lease-seconds must be from 0.2 to 3600, got \(jobLeaseSeconds)") }
            configuration.leaseSeconds = jobLeaseSeconds
            configuration.pollSeconds = min(configuration.pollSeconds, jobLeaseSeconds / 2)
        }
        if let checkpointBudget {
            guard checkpointBudget > 0, checkpointBudget <= 1_000_000 else { throw ValidationError("--checkpoint-budget must be above 0 and at most 1000000 (gigabytes), got \(checkpointBudget)") }
            configuration.checkpointBudgetBytes = Int64(checkpointBudget * 1e9)
        }
        return configuration
    }
}

struct WorkerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Run training jobs from the database's queue in a process of its own.",
        discussion: """
            The same worker `tally serve` runs (unless --no-worker), as its own process against the same \
            database: jobs are claimed one at a time and held by a lease, so several workers share a queue \
            safely, and a job whose worker is killed resumes from its last checkpoint in the next one. Stops \
            on SIGINT or SIGTERM after saving the running job's checkpoint. See Docs/jobs.md.
            """
    )

    @OptionGroup var databaseOptions: DatabaseOptions
    @OptionGroup var workerOptions: WorkerOptions

    @Flag(name: .long, help: "Run the queued jobs, then exit once the queue is empty.")
    var once = false

    func run() throws {
        let logger = try databaseOptions.bootstrapLogging()
        let database = try databaseOptions.openMigratedDatabase(logger: logger, readerCount: 2)
        let worker = try Worker(database: database, configuration: try workerOptions.configuration(databasePath: databaseOptions.databasePath), logger: logger)
        if once {
            while try worker.runNextJob() {}
            database.close()
            return
        }
        let stopped = DispatchSemaphore(value: 0)
        let signals = [SIGINT, SIGTERM].map { signalNumber -> DispatchSourceSignal in
            signal(signalNumber, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: .global())
            source.setEventHandler { stopped.signal() }
            source.activate()
            return source
        }
        worker.start()
        FileHandle.standardOutput.write(Data("Tally worker \(worker.configuration.identity) is running jobs from \(databaseOptions.databasePath).\n".utf8))
        withExtendedLifetime(signals) { stopped.wait() }
        logger.info("stopping the worker; the running job saves a checkpoint")
        worker.stop()
        database.close()
    }
}
