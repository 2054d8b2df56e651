import Foundation
import TallyTestSupport
import Testing
@testable import TallyServer

/// `GET /metrics`: what Prometheus scrapes, for admins only, with requests counted under their
/// route patterns (never the paths clients sent) and latency histograms that add up.
@Suite("Prometheus metrics")
struct MetricsTests {
    @Test func requestsQueuesAndJobsInThePrometheusFormat() throws {
        let app = try TallyTestServer()
        let ada = try signIn(app.port, "ada"), lena = try signIn(app.port, "lena")
        for _ in 0..<3 { #expect(try call(app.port, "GET", "/api/projects", headers: ["Cookie": lena.cookie]).status == 200) }
        #expect(try call(app.port, "GET", "/api/prompts/12345", headers: ["Cookie": lena.cookie]).status == 404)
        #expect(try call(app.port, "GET", "/no/such/route/\(UUID())").status == 404)
        #expect(try call(app.port, "GET", "/metrics").status == 401)
        #expect(try call(app.port, "GET", "/metrics", headers: ["Cookie": lena.cookie]).status == 403)
        // A running reward job whose worker reported twice: the gauge is its latest speed.
        try app.database.write { database in
            try database.execute("INSERT INTO projects (name, flags) VALUES ('Speed', '[]')")
            try database.execute("""
                INSERT INTO model_versions (name, kind, architecture, checkpoint_path, checkpoint_sha256, parameter_count)
                VALUES ('base', 'policy', 'llama', '/nowhere', ?, 1)
                """, [String(repeating: "0", count: 64)])
            try database.execute("INSERT INTO jobs (project_id, kind, status, base_model_id, worker, heartbeat_at) VALUES (1, 'reward', 'running', 1, 'w', 0)")
            try database.execute("INSERT INTO job_metrics (job_id, phase, step, name, value) VALUES (1, 'train', 1, 'tokens_per_second', 900), (1, 'train', 2, 'tokens_per_second', 1250.5)")
        }
        let scraped = try call(app.port, "GET", "/metrics", headers: ["Cookie": ada.cookie])
        #expect(scraped.status == 200 && scraped.header("Content-Type")?.hasPrefix("text/plain; version=0.0.4") == true)
        let lines = scraped.body.split(separator: "\n").map(String.init)
        #expect(lines.contains(#"tally_http_requests_total{method="GET",route="/api/projects",status="200"} 3"#), "\(scraped.body.prefix(2000))")
        #expect(lines.contains(#"tally_http_requests_total{method="GET",route="/api/prompts/{id}",status="404"} 1"#))
        #expect(lines.contains { $0.hasPrefix(#"tally_http_requests_total{method="GET",route="static",status="404"}"#) }, "an unknown path is not its own series")
        #expect(!scraped.body.contains("12345") && !scraped.body.contains("/no/such"))
        #expect(lines.contains(#"tally_http_request_duration_seconds_bucket{method="GET",route="/api/projects",le="+Inf"} 3"#))
        #expect(lines.contains(#"tally_http_request_duration_seconds_count{method="GET",route="/api/projects"} 3"#))
        #expect(lines.contains(#"tally_training_tokens_per_second{job="1",kind="reward"} 1250.5"#), "\(lines.filter { $0.contains("training") })")
        for family in ["tally_group_commit_transactions_total", "tally_group_commit_writes_total", "tally_generation_queue_length", "tally_remote_reward_queue_length", "tally_jobs",
                       "tally_training_tokens_per_second", "tally_training_episodes_per_second"] {
            #expect(lines.contains("# TYPE \(family) " + (family.hasSuffix("_total") ? "counter" : "gauge")), "\(family)")
        }
        // Every sample line is `name{labels} value`, buckets never decrease.
        let sample = /^[a-z_]+(\{[a-z_]+="[^"]*"(,[a-z_]+="[^"]*")*\})? -?[0-9.]+(e[+-]?[0-9]+)?$/
        for line in lines where !line.hasPrefix("#") { #expect(line.wholeMatch(of: sample) != nil, "\(line)") }
        let buckets = lines.filter { $0.hasPrefix(#"tally_http_request_duration_seconds_bucket{method="GET",route="/api/projects","#) }.compactMap { Int($0.split(separator: " ").last!) }
        #expect(buckets.count == 14 && buckets == buckets.sorted(), "\(buckets)")
    }
}
