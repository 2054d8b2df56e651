import BackgroundTraining
import HTTP
import Labeling
import Storage

/// `GET /metrics` in the Prometheus text format (Docs/operations.md): requests and latency by
/// route, the group commit's transactions and writes (their ratio is the batch size), the
/// queues (submissions waiting, generations waiting, reward requests waiting), and jobs by kind
/// and status. Admins only, with a session or an API token (Prometheus sends it as
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
        return requests.prometheusText()
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
