import Foundation
import TallyTestSupport
import Testing
@testable import TallyServer

/// Anthropic-style graded pairwise comparison: a project of two answers on an 8-point scale,
/// stored as a ranking of two with its strength, exported as TRL's `margin` when asked, and
/// imported back (a TRL dataset's `margin` becomes a strength, never a gap in the ranks).
@Suite("Graded pairwise comparisons over HTTP", .serialized)
struct GradedPairTests {
    static let pairImport = """
        {"prompt": "Name a prime.", "candidates": [{"text": "7", "model": "m1"}, {"text": "9", "model": "m2"}]}
        {"prompt": "Name a colour.", "candidates": [{"text": "Blue.", "model": "m1"}, {"text": "Loud.", "model": "m2"}]}
        """

    private func lines(_ body: String) -> [[String: Any]] {
        body.split(separator: "\n").map { try! JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
    }

    @Test func aGradedPairProjectTakesTwoAnswersAndNoRatings() throws {
        let app = try TallyTestServer()
        let researcher = try signIn(app.port, "rita")
        let write = ["Cookie": researcher.cookie, "X-CSRF-Token": researcher.csrf]
        let created = try call(app.port, "POST", "/api/projects", headers: write, json: #"{"name": "Pairs", "comparisonStyle": "graded-pair"}"#)
        #expect(created.status == 201, "\(created.body)")
        #expect(created.json["comparisonStyle"] as? String == "graded-pair" && created.json["rankingSize"] as? Int == 2 && created.json["ratingsRequired"] as? Bool == false)
        let four = try call(app.port, "POST", "/api/projects", headers: write, json: #"{"name": "Four", "comparisonStyle": "graded-pair", "rankingSize": 4}"#)
        #expect(four.status == 400 && four.body.contains("'rankingSize' must be 2 for a graded-pair project"), "\(four.body)")
        let rated = try call(app.port, "POST", "/api/projects", headers: write, json: #"{"name": "Rated", "comparisonStyle": "graded-pair", "ratingsRequired": true}"#)
        #expect(rated.status == 400 && rated.body.contains("'ratingsRequired' cannot be true"), "\(rated.body)")
        let unknown = try call(app.port, "POST", "/api/projects", headers: write, json: #"{"name": "Odd", "comparisonStyle": "likert"}"#)
        #expect(unknown.status == 400 && unknown.body.contains("'comparisonStyle' must be 'rate-and-rank' or 'graded-pair', not 'likert'"), "\(unknown.body)")
        let id = try #require(created.json["id"] as? Int)
        let change = try call(app.port, "PATCH", "/api/projects/\(id)", headers: write, json: #"{"ratingsRequired": true}"#)
        #expect(change.status == 400 && change.body.contains("'ratingsRequired' cannot be true"), "\(change.body)")
        let restyle = try call(app.port, "PATCH", "/api/projects/\(id)", headers: write, json: #"{"comparisonStyle": "rate-and-rank"}"#)
        #expect(restyle.status == 400 && restyle.body.contains("comparisonStyle"), "\(restyle.body)")
    }

    @Test func aGradedChoiceNeedsItsStrengthAndAWinnerAndExportsItAsTheMargin() throws {
        let app = try TallyTestServer()
        let researcher = try signIn(app.port, "rita"), labeler = try signIn(app.port, "lena")
        let write = ["Cookie": researcher.cookie, "X-CSRF-Token": researcher.csrf]
        let project = try #require(try call(app.port, "POST", "/api/projects", headers: write, json: #"{"name": "Pairs", "comparisonStyle": "graded-pair"}"#).json["id"] as? Int)
        #expect(try call(app.port, "POST", "/api/projects/\(project)/imports/prompts", headers: write, rawBody: Self.pairImport).status == 200)
        let headers = ["Cookie": labeler.cookie, "X-CSRF-Token": labeler.csrf]
        func choice(_ prompt: Int, ranks: (Int, Int), strength: String?) -> String {
            let (a, b) = (prompt * 2 - 1, prompt * 2)
            let graded = strength.map { #", "strength": \#($0)"# } ?? ""
            return #"{"entries": [{"candidateId": \#(a), "rank": \#(ranks.0)}, {"candidateId": \#(b), "rank": \#(ranks.1)}], "shownOrder": [\#(a), \#(b)]\#(graded)}"#
        }
        let missing = try call(app.port, "POST", "/api/prompts/1/rankings", headers: headers, json: choice(1, ranks: (1, 2), strength: nil))
        #expect(missing.status == 400 && missing.body.contains("'strength' is missing"), "\(missing.body)")
        let outOfScale = try call(app.port, "POST", "/api/prompts/1/rankings", headers: headers, json: choice(1, ranks: (1, 2), strength: "5"))
        #expect(outOfScale.status == 400 && outOfScale.body.contains("'strength' must be from 1"), "\(outOfScale.body)")
        let tied = try call(app.port, "POST", "/api/prompts/1/rankings", headers: headers,
                            json: choice(1, ranks: (1, 1), strength: "1").replacingOccurrences(of: "}]", with: #"}], "allEqual": true"#))
        #expect(tied.status == 400 && tied.body.contains("a graded pair has no tie"), "\(tied.body)")
        #expect(try app.database.read { try $0.queryScalarInt("SELECT count(*) FROM rankings") } == 0)

        // B is better (3 of 4), then A negligibly better (1 of 4).
        #expect(try call(app.port, "POST", "/api/prompts/1/rankings", headers: headers, json: choice(1, ranks: (2, 1), strength: "3")).status == 201)
        #expect(try call(app.port, "POST", "/api/prompts/2/rankings", headers: headers, json: choice(2, ranks: (1, 2), strength: "1")).status == 201)
        #expect(try app.database.read { try $0.query("SELECT strength FROM rankings ORDER BY id").map { $0.optionalDouble("strength") } } == [3, 1])

        let export = try call(app.port, "GET", "/api/projects/\(project)/exports/comparisons?margin=strength", headers: ["Cookie": researcher.cookie])
        #expect(export.status == 200, "\(export.body)")
        let pairs = lines(export.body).map { "\($0["chosen"]!)>\($0["rejected"]!):\($0["margin"]!):\($0["strength"]!):\($0["rank_distance"]!)" }
        #expect(pairs == ["9>7:3:3:1", "Blue.>Loud.:1:1:1"], "\(pairs)")
        let raw = lines(try call(app.port, "GET", "/api/projects/\(project)/exports/rankings", headers: ["Cookie": researcher.cookie]).body)
        #expect(raw.map { $0["strength"] as? Int } == [3, 1])

        // A graded pair's strength is refused where the project rates and ranks, and such a
        // project has no strength to export as the margin.
        let ranked = try #require(try call(app.port, "POST", "/api/projects", headers: write, json: #"{"name": "Ranked", "ratingsRequired": false}"#).json["id"] as? Int)
        #expect(try call(app.port, "POST", "/api/projects/\(ranked)/imports/prompts", headers: write,
                         rawBody: #"{"prompt": "Say hi.", "candidates": [{"text": "Hi", "model": "m"}, {"text": "Bye", "model": "m"}]}"#).status == 200)
        let strayStrength = try call(app.port, "POST", "/api/prompts/3/rankings", headers: headers, json: choice(3, ranks: (1, 2), strength: "2"))
        #expect(strayStrength.status == 400 && strayStrength.body.contains("'strength' is for graded-pair projects only"), "\(strayStrength.body)")
        #expect(try call(app.port, "POST", "/api/prompts/3/rankings", headers: headers, json: choice(3, ranks: (1, 2), strength: nil)).status == 201)
        let noStrength = try call(app.port, "GET", "/api/projects/\(ranked)/exports/comparisons?margin=strength", headers: ["Cookie": researcher.cookie])
        #expect(noStrength.status == 400 && noStrength.body.contains("1 of this project's rankings have none"), "\(noStrength.body)")
    }

    @Test func importedMarginsBecomeStrengthsAndRanksStayDense() throws {
        let app = try TallyTestServer()
        let researcher = try signIn(app.port, "rita")
        let write = ["Cookie": researcher.cookie, "X-CSRF-Token": researcher.csrf]
        let project = try #require(try call(app.port, "POST", "/api/projects", headers: write, json: #"{"name": "Imported"}"#).json["id"] as? Int)
        let good = """
            {"prompt": "p", "chosen": "a", "rejected": "b", "margin": 2.5}
            {"prompt": "q", "chosen": "c", "rejected": "d", "rank_distance": 3}
            {"prompt": "r", "chosen": "e", "rejected": "f", "rank_distance": 1, "strength": 4, "margin": 4}
            {"prompt": "s", "chosen": "g", "rejected": "h", "ranking_id": 9, "rank_distance": 1}
            {"prompt": "s", "chosen": "g", "rejected": "i", "ranking_id": 9, "rank_distance": 3}
            {"prompt": "s", "chosen": "h", "rejected": "i", "ranking_id": 9, "rank_distance": 2}
            """
        let imported = try call(app.port, "POST", "/api/projects/\(project)/imports/comparisons?file=pairs.jsonl", headers: write, rawBody: good)
        #expect(imported.status == 200, "\(imported.body)")
        let stored = try app.database.read { database in
            try database.query("""
                SELECT p.content, group_concat(c.text || e.rank, ' ') AS ranks, r.strength FROM rankings r JOIN prompts p ON p.id = r.prompt_id
                JOIN ranking_entries e ON e.ranking_id = r.id JOIN candidates c ON c.id = e.candidate_id GROUP BY r.id ORDER BY r.id
                """).map { "\(try $0.string("content")): \(try $0.string("ranks")) \($0.optionalDouble("strength").map { String($0) } ?? "-")" }
        }
        // The margin is a strength; a rank distance of 3 over one pair (its middle filtered out
        // of an export) closes up to ranks 1 and 2, and a three-answer ranking keeps 1, 2, 3.
        #expect(stored == ["p: a1 b2 2.5", "q: c1 d2 -", "r: e1 f2 4.0", "s: g1 h2 i3 -"], "\(stored)")

        let bad = """
            {"prompt": "t", "chosen": "a", "rejected": "b", "margin": -1}
            {"prompt": "u", "chosen": "a", "rejected": "b", "ranking_id": 4, "strength": 2}
            {"prompt": "u", "chosen": "a", "rejected": "c", "ranking_id": 4}
            {"prompt": "v", "chosen": "a", "rejected": "b", "rank_distance": 2, "margin": 3}
            {"prompt": "w", "chosen": "a", "rejected": "b", "strength": "much"}
            """
        let refused = try call(app.port, "POST", "/api/projects/\(project)/imports/comparisons?file=bad.jsonl", headers: write, rawBody: bad)
        #expect(refused.status == 422, "\(refused.body)")
        let problems = try #require((refused.json["error"] as? [String: Any])?["problems"] as? [[String: Any]])
        let located = Set(problems.map { "\($0["line"] as! Int):\($0["field"] as! String)" })
        #expect(located == ["1:margin", "2:strength", "4:margin", "5:strength"], "\(located)")
        #expect(try app.database.read { try $0.queryScalarInt("SELECT count(*) FROM rankings") } == 4)
    }

    @Test func aGradedExportImportsIntoAFreshProjectWithItsStrengths() throws {
        let app = try TallyTestServer()
        let researcher = try signIn(app.port, "rita"), labeler = try signIn(app.port, "lena")
        let write = ["Cookie": researcher.cookie, "X-CSRF-Token": researcher.csrf]
        let project = try #require(try call(app.port, "POST", "/api/projects", headers: write, json: #"{"name": "Pairs", "comparisonStyle": "graded-pair"}"#).json["id"] as? Int)
        _ = try call(app.port, "POST", "/api/projects/\(project)/imports/prompts", headers: write, rawBody: Self.pairImport)
        #expect(try call(app.port, "POST", "/api/prompts/1/rankings", headers: ["Cookie": labeler.cookie, "X-CSRF-Token": labeler.csrf],
                         json: #"{"entries": [{"candidateId": 1, "rank": 1}, {"candidateId": 2, "rank": 2}], "shownOrder": [1, 2], "strength": 4}"#).status == 201)
        for query in ["", "?margin=strength", "?margin=rank-distance"] {
            let exported = try call(app.port, "GET", "/api/projects/\(project)/exports/comparisons\(query)", headers: ["Cookie": researcher.cookie]).body
            let copy = try #require(try call(app.port, "POST", "/api/projects", headers: write, json: #"{"name": "Copy\#(query)"}"#).json["id"] as? Int)
            let imported = try call(app.port, "POST", "/api/projects/\(copy)/imports/comparisons", headers: write, rawBody: exported)
            #expect(imported.status == 200, "\(query): \(imported.body)")
            let strength = try app.database.read {
                try $0.queryOne("SELECT r.strength FROM rankings r JOIN prompts p ON p.id = r.prompt_id WHERE p.project_id = ?", [copy])?.optionalDouble("strength")
            }
            #expect(strength == 4, "\(query): the strength came back")
        }
    }
}
