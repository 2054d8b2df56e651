import BackgroundTraining
import Cryptography
import Foundation
import HTTP
import Logging
import Storage

/// The web application: its routes and middleware over one database pool.
public struct TallyApplication: Sendable {
    public static let version = "0.1.0"

    public struct Options: Sendable {
        /// Adds `POST /bench/echo`, which parses a JSON body and answers a summary of it: the
        /// route `make bench-http` measures. Off in normal use.
        public var benchmarkRoutes = false
        /// PBKDF2 iterations for new passwords; tests lower it, nothing else should.
        public var passwordIterations = PasswordHasher.defaultIterations
        /// Seconds a browser session lasts.
        public var sessionLifetime = 12 * 60 * 60
        /// Seconds a request may wait for a handler thread while `/health/ready` still says ready.
        public var readinessMaximumWait = 2.0
        /// Seconds between a job's event stream's looks at the database.
        public var jobEventInterval = 1.0
        /// The OpenAI-compatible routes' generation: its queue, threads and loaded models.
        public var generation = ChatGenerator.Configuration()
        public init() {}
    }

    let database: DatabasePool
    let staticFiles: StaticFiles
    let logger: Logger
    let options: Options
    let startedAt = Date()
    let rateLimiter = LoginRateLimiter()
    /// Twenty applications per address an hour: enough for a classroom behind one address.
    let applicationLimiter = LoginRateLimiter(maximumFailures: 20, window: 60 * 60)
    /// Labelers' submissions share transactions (see `GroupCommit`): durable and fast.
    let submissions: GroupCommit
    /// Chat completions for `/v1` (see `OpenAIRoutes`).
    let generator: ChatGenerator
    /// OpenRLHF's remote reward requests (see `OpenRLHFRoutes`).
    let rewardScorer = RemoteRewardScorer()
    /// Requests answered and their latency by route, for `GET /metrics`.
    let requestMetrics = RequestMetrics()

    public init(database: DatabasePool, publicDirectory: String, logger: Logger, options: Options = Options()) throws {
        self.database = database
        self.submissions = GroupCommit(pool: database)
        self.generator = ChatGenerator(configuration: options.generation)
        self.staticFiles = try StaticFiles(root: publicDirectory)
        self.logger = logger
        self.options = options
    }

    /// Finishes the submissions already received and refuses new ones; call after the server
    /// has stopped and before the database closes.
    public func stop() {
        generator.stop()
        rewardScorer.stop()
        submissions.stop()
    }

    public var middleware: [Middleware] {
        [StandardMiddleware.requestID()]
    }

    public var router: Router {
        var router = Router()
        router.metrics = requestMetrics
        let startedAt = startedAt
        router.get("/health", mayBlock: false) { _ in
            try Response.json(Health(status: "ok", version: Self.version, uptimeSeconds: Int(Date().timeIntervalSince(startedAt))))
        }
        let database = database
        let readinessWait = options.readinessMaximumWait
        router.get("/health/ready") { request in
            // Ready means a request gets a handler thread in time and the database answers a
            // query, not only that the process is up: this route runs where the blocking routes
            // run, so it waits as they wait.
            let waited = Double(DispatchTime.now().uptimeNanoseconds &- request.receivedAt) / 1e9
            guard request.receivedAt == 0 || waited <= readinessWait else {
                throw HTTPError(.serviceUnavailable, code: "overloaded",
                                message: "Requests wait \((waited * 10).rounded() / 10) s for a handler (at most \(readinessWait) s is ready).")
            }
            do {
                _ = try database.read { try $0.queryScalarInt("SELECT count(*) FROM schema_migrations") }
            } catch {
                throw HTTPError(.serviceUnavailable, code: "database_unavailable", message: "The database does not answer a query.")
            }
            return try Response.json(Health(status: "ready", version: Self.version, uptimeSeconds: Int(Date().timeIntervalSince(startedAt))))
        }
        if options.benchmarkRoutes {
            router.post("/bench/echo", mayBlock: false) { request in
                let body = try request.decodeJSON(EchoRequest.self)
                return try Response.json(EchoResponse(name: body.name, count: body.values.count, sum: body.values.reduce(0, +)))
            }
        }
        ProjectRoutes(database: database, authenticator: Authenticator(database: database)).register(in: &router)
        QueueRoutes(database: database, submissions: submissions, authenticator: Authenticator(database: database)).register(in: &router)
        CorrectionRoutes(database: database, submissions: submissions, authenticator: Authenticator(database: database)).register(in: &router)
        EvaluationRoutes(database: database, submissions: submissions, authenticator: Authenticator(database: database)).register(in: &router)
        ExportRoutes(database: database, authenticator: Authenticator(database: database)).register(in: &router)
        QualityRoutes(database: database, authenticator: Authenticator(database: database)).register(in: &router)
        PromptBrowserRoutes(database: database, authenticator: Authenticator(database: database)).register(in: &router)
        ScreeningRoutes(database: database, authenticator: Authenticator(database: database)).register(in: &router)
        JobRoutes(database: database, authenticator: Authenticator(database: database), eventInterval: options.jobEventInterval).register(in: &router)
        OpenAIRoutes(database: database, authenticator: Authenticator(database: database), generator: generator).register(in: &router)
        ConversationRoutes(database: database, submissions: submissions, authenticator: Authenticator(database: database), generator: generator).register(in: &router)
        OpenRLHFRoutes(database: database, authenticator: Authenticator(database: database), scorer: rewardScorer).register(in: &router)
        ModelEndpointRoutes(database: database, authenticator: Authenticator(database: database)).register(in: &router)
        MetricsRoutes(database: database, authenticator: Authenticator(database: database), requests: requestMetrics, submissions: submissions,
                      generator: generator, rewardScorer: rewardScorer).register(in: &router)
        let passwordHasher = PasswordHasher(iterations: options.passwordIterations)
        AccountRoutes(database: database, authenticator: Authenticator(database: database), passwordHasher: passwordHasher, rateLimiter: rateLimiter,
                      sessionLifetime: options.sessionLifetime).register(in: &router)
        RegistrationRoutes(database: database, authenticator: Authenticator(database: database), passwordHasher: passwordHasher,
                           sessionStarter: SessionStarter(database: database, sessionLifetime: options.sessionLifetime),
                           applicationLimiter: applicationLimiter).register(in: &router)
        let staticFiles = staticFiles
        router.fallback = { request in try staticFiles.respond(to: request) }
        return router
    }
}

struct Health: Encodable {
    let status: String
    let version: String
    let uptimeSeconds: Int
}

struct EchoRequest: Decodable {
    let name: String
    let values: [Int]
}

struct EchoResponse: Encodable {
    let name: String
    let count: Int
    let sum: Int
}
