import ArgumentParser
import BackgroundTraining
import Cryptography
import Dispatch
import Foundation
import HTTP
import Logging
import Storage
import TallyServer

struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve the labeling UI and the JSON API.",
        discussion: "Applies pending migrations first. Stops gracefully on SIGINT or SIGTERM: it stops accepting, lets requests in flight finish, then closes the database.")

    @OptionGroup var databaseOptions: DatabaseOptions

    @Option(help: ArgumentHelp("The address to listen on. (env: TALLY_HOST; default: 127.0.0.1)", valueName: "address"))
    var host: String?

    @Option(help: ArgumentHelp("The TCP port. (env: TALLY_PORT; default: 8080)", valueName: "port"))
    var port: String?

    @Option(name: .customLong("public"), help: ArgumentHelp("The folder of the web UI's files. (env: TALLY_PUBLIC; default: found beside Tally)", valueName: "path"))
    var publicDirectory: String?

    @Option(help: ArgumentHelp("A PEM certificate chain; with --tls-key, Tally serves HTTPS. (env: TALLY_TLS_CERTIFICATE)", valueName: "path"))
    var tlsCertificate: String?

    @Option(help: ArgumentHelp("The PEM private key of --tls-certificate. (env: TALLY_TLS_KEY)", valueName: "path"))
    var tlsKey: String?

    @Option(help: ArgumentHelp("Seconds a keep-alive connection may stay idle. (default: 75)", valueName: "seconds"))
    var idleTimeout: Double?

    @Option(help: ArgumentHelp("Open connections at most; more are answered 503. (default: 16000)", valueName: "count"))
    var maxConnections: Int?

    @Option(help: ArgumentHelp("Open connections one client address may hold; more are answered 503. (default: an eighth of --max-connections)", valueName: "count"))
    var maxConnectionsPerClient: Int?

    @Option(name: .customLong("trusted-proxy"), help: ArgumentHelp("A reverse proxy (an address or a CIDR range) whose X-Forwarded-For names the client; repeat for more. (env: TALLY_TRUSTED_PROXIES, comma-separated; default: none)", valueName: "address"))
    var trustedProxies: [String] = []

    @Option(help: ArgumentHelp("Event-loop threads serving connections. (default: one per core)", valueName: "count"))
    var eventLoops: Int?

    @Flag(help: "Add POST /bench/echo, the route `make bench-http` measures.")
    var benchmarkRoutes = false

    @Option(help: ArgumentHelp("Chat completions (/v1) that may wait beside the one running; more are answered 429. (default: 8)", valueName: "count"))
    var generationQueue: Int?

    @Option(help: ArgumentHelp("Model versions /v1 keeps loaded. (default: 2)", valueName: "count"))
    var loadedModels: Int?

    @OptionGroup var workerOptions: WorkerOptions

    @Flag(help: "Run no training worker in this process (run `tally worker` beside it, or none).")
    var noWorker = false

    func run() throws {
        let logger = try databaseOptions.bootstrapLogging()
        var configuration = ServerConfiguration()
        configuration.host = setting(host, "TALLY_HOST") ?? configuration.host
        if let portText = setting(port, "TALLY_PORT") {
            guard let port = Int(portText), (0...65535).contains(port) else {
                throw ValidationError("the port '\(portText)' is not a number from 0 to 65535 (from --port or TALLY_PORT)")
            }
            configuration.port = port
        }
        if let idleTimeout {
            guard idleTimeout > 0 else { throw ValidationError("--idle-timeout must be positive") }
            configuration.idleTimeout = idleTimeout
        }
        if let maxConnections {
            guard maxConnections > 0 else { throw ValidationError("--max-connections must be positive") }
            configuration.maxConnections = maxConnections
        }
        configuration.maxConnectionsPerClient = max(1, configuration.maxConnections / 8)
        if let maxConnectionsPerClient {
            guard maxConnectionsPerClient > 0 else { throw ValidationError("--max-connections-per-client must be positive") }
            configuration.maxConnectionsPerClient = maxConnectionsPerClient
        }
        let proxies = trustedProxies.isEmpty ? (setting(nil, "TALLY_TRUSTED_PROXIES") ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            : trustedProxies
        do {
            configuration.trustedProxies = try TrustedProxies(proxies.filter { !$0.isEmpty })
        } catch {
            throw ValidationError("--trusted-proxy (or TALLY_TRUSTED_PROXIES): \(error)")
        }
        if let eventLoops {
            guard (1...256).contains(eventLoops) else { throw ValidationError("--event-loops must be from 1 to 256") }
            configuration.eventLoopCount = eventLoops
        }
        let tlsContext = try makeTLSContext()
        // Over TLS, browsers are told to come back over TLS only, for a year.
        if tlsContext != nil { configuration.defaultResponseHeaders.append((name: "Strict-Transport-Security", value: "max-age=31536000")) }
        let publicPath = try ResourceLocator().locate("Public", explicitPath: setting(publicDirectory, "TALLY_PUBLIC"))

        let database = try databaseOptions.openMigratedDatabase(logger: logger)
        var options = TallyApplication.Options()
        options.benchmarkRoutes = benchmarkRoutes
        if let generationQueue {
            guard (0...10_000).contains(generationQueue) else { throw ValidationError("--generation-queue must be from 0 to 10000") }
            options.generation.queueCapacity = generationQueue
        }
        if let loadedModels {
            guard (1...64).contains(loadedModels) else { throw ValidationError("--loaded-models must be from 1 to 64") }
            options.generation.loadedModels = loadedModels
        }
        let application = try TallyApplication(database: database, publicDirectory: publicPath, logger: logger, options: options)
        let server = Server(configuration: configuration, router: application.router, middleware: application.middleware,
                            tlsContext: tlsContext, logger: logger)
        try server.start()
        let worker = noWorker ? nil : try Worker(database: database, configuration: try workerOptions.configuration(databasePath: databaseOptions.databasePath), logger: logger)
        worker?.start()
        let scheme = tlsContext == nil ? "http" : "https"
        // Written straight to the descriptor: scripts wait for this line, and stdio would buffer it.
        let banner = "Tally \(TallyApplication.version) is serving \(scheme)://\(configuration.host):\(server.port)/ (database: \(databaseOptions.databasePath), UI: \(publicPath))\nPress Ctrl+C to stop.\n"
        FileHandle.standardOutput.write(Data(banner.utf8))

        let signals = [SIGINT, SIGTERM].map { signalNumber -> DispatchSourceSignal in
            signal(signalNumber, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: .global())
            source.setEventHandler {
                logger.info("signal received; shutting down", metadata: ["signal": "\(signalNumber)"])
                server.shutdown()
            }
            source.activate()
            return source
        }
        // The signal sources must live until the server stops, or no signal is ever handled.
        withExtendedLifetime(signals) { server.waitUntilStopped() }
        worker?.stop()
        application.stop()
        database.close()
        logger.info("database closed")
    }

    private func makeTLSContext() throws -> TLSContext? {
        let certificate = setting(tlsCertificate, "TALLY_TLS_CERTIFICATE")
        let key = setting(tlsKey, "TALLY_TLS_KEY")
        switch (certificate, key) {
        case (nil, nil): return nil
        case (let certificate?, let key?):
            do {
                return try TLSContext(certificateChainPath: certificate, privateKeyPath: key)
            } catch {
                throw ValidationError("cannot set up TLS: \(error)")
            }
        default:
            throw ValidationError("HTTPS needs both --tls-certificate and --tls-key")
        }
    }
}
