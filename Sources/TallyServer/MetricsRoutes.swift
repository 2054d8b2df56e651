import BackgroundTraining
import HTTP
import Labeling
import Storage

/// `GET /metrics` in the Prometheus text format (Docs/operations.md): requests and latency by
/// route, the group commit's transactions and writes (their ratio is the batch size), the
/// queues (submissions waiting, generations waiting, reward requests waiting), jobs by kind
/// and status, and each running job's training speed (the worker's latest report, read from the
/// database, so a `tally worker` in another process is seen too). Admins only, with a session or an API token (Prometheus sends it as
/// `authorization: {credentials: ...}`): route names and counts are not for everyone.
struct MetricsRoutes: Sendable {
    let database: DatabasePool
    let authenticator: Authenticator
    let requests: RequestMetrics
    let submissions: GroupCommit
    let generator: ChatGenerator
    let rewardScorer: RemoteRewardScorer

    func register(in router: inout Router) {
        let routes = self
        router.get("/metrics", authenticator.require([.admin]) { _, _ in
            Response(contentType: "text/plain; version=0.0.4; charset=utf-8", body: Array(try routes.text().utf8))
        })
    }

    private func text() throws -> String {
        let commits = submissions.statistics
        let jobs = try database.read { database in
            try database.query("SELECT kind, status, count(*) AS n FROM jobs GROUP BY kind, status ORDER BY kind, status").map {
                (labels: [("kind", try $0.string("kind")), ("status", try $0.string("status"))], value: Double(try $0.int("n")))
            }
        }
        // Each running job's latest report of each speed, by job and kind.
        let speeds = try database.read { database in
            try database.query("""
                SELECT m.name, j.id, j.kind, m.value FROM jobs j
                JOIN job_metrics m ON m.job_id = j.id AND m.phase = 'train' AND m.name IN ('tokens_per_second', 'episodes_per_second')
                WHERE j.status = 'running'
                  AND m.step = (SELECT max(step) FROM job_metrics l WHERE l.job_id = j.id AND l.phase = 'train' AND l.name = m.name)
                ORDER BY j.id
                """).map { (name: try $0.string("name"), labels: [("job", String(try $0.int("id"))), ("kind", try $0.string("kind"))], value: try $0.double("value")) }
        }
        let speed = { (name: String) in speeds.filter { $0.name == name }.map { (labels: $0.labels, value: $0.value) } }
        return requests.prometheusText()
            + RequestMetrics.family("tally_training_tokens_per_second", type: "gauge", help: "Tokens per second of each running training job, at its latest report.",
                                    speed("tokens_per_second"))
            + RequestMetrics.family("tally_training_episodes_per_second", type: "gauge", help: "Episodes (answers) per second of each running RL job, at its latest report.",
                                    speed("episodes_per_second"))
            + RequestMetrics.family("tally_group_commit_transactions_total", type: "counter", help: "Group-commit transactions committed.",
                                    [([], Double(commits.transactions))])
            + RequestMetrics.family("tally_group_commit_writes_total", type: "counter", help: "Writes (submissions, assignments) those transactions held.",
                                    [([], Double(commits.writes))])
            + RequestMetrics.family("tally_group_commit_waiting", type: "gauge", help: "Writes waiting for the next group transaction.",
                                    [([], Double(commits.waiting))])
            + RequestMetrics.family("tally_generation_queue_length", type: "gauge", help: "Chat completions waiting beside the one being generated.",
                                    [([], Double(generator.waitingCount))])
            + RequestMetrics.family("tally_remote_reward_queue_length", type: "gauge", help: "OpenRLHF reward requests waiting to be scored.",
                                    [([], Double(rewardScorer.waitingCount))])
            + RequestMetrics.family("tally_jobs", type: "gauge", help: "Jobs in the queue and done, by kind and status.", jobs)
    }
}
