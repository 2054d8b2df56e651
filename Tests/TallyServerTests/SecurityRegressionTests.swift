import Foundation
import HTTP
import TallyTestSupport
import Testing
@testable import TallyServer

/// The faults a security probe found (issue 19), each kept from coming back: control characters
/// and lengths counted two ways gave 500s, a huge `secondsSpent` broke three read routes for
/// good, a body without a Content-Type allowed login CSRF, and CSV cells ran as formulas.
@Suite("Security regressions")
struct SecurityRegressionTests {
    private func headers(_ session: (cookie: String, csrf: String)) -> [String: String] { ["Cookie": session.cookie, "X-CSRF-Token": session.csrf] }

    @Test func controlCharactersAndLengthsAreRefusedWithTheField() throws {
        let app = try TallyTestServer()
        let rita = try signIn(app.port, "rita")
        for name in [#""\u0000x""#, #""a\u001bb""#, #""x\u007f""#] {
            let response = try call(app.port, "POST", "/api/projects", headers: headers(rita), json: #"{"name": \#(name)}"#)
            #expect(response.status == 400 && response.body.contains("field 'name' holds the control character U+00"), "\(name): \(response.status) \(response.body)")
        }
        // Tabs and line breaks are text.
        #expect(try call(app.port, "POST", "/api/projects", headers: headers(rita), json: #"{"name": "tab\there", "guidelines": "line\r\nbreak"}"#).status == 201)
        // Lengths as the database counts them: 150 "e" + combining accent is 300 code points.
        let accented = String(repeating: "e\u{301}", count: 150), flags = String(repeating: "🇫🇷", count: 120)
        for name in [accented, flags] {
            let response = try call(app.port, "POST", "/api/projects", headers: headers(rita), json: #"{"name": "\#(name)"}"#)
            #expect(response.status == 400 && response.body.contains("1 to 200 characters"), "\(response.status) \(response.body)")
        }
        #expect(try call(app.port, "POST", "/api/projects", headers: headers(rita), json: #"{"name": "\#(String(repeating: "e\u{301}", count: 100))"}"#).status == 201)

        // Imports name the line; nothing is stored.
        let project = try #require(try call(app.port, "POST", "/api/projects", headers: headers(rita), json: #"{"name": "Imports"}"#).json["id"] as? Int)
        let prompts = try call(app.port, "POST", "/api/projects/\(project)/imports/prompts", headers: headers(rita),
                               rawBody: #"{"prompt": "fine"}"# + "\n" + #"{"prompt": "bad\u0000"}"#)
        #expect(prompts.status == 422 && prompts.body.contains("control character U+0000") && prompts.body.contains("\"line\":2"), "\(prompts.body)")
        let comparisons = try call(app.port, "POST", "/api/projects/\(project)/imports/comparisons", headers: headers(rita),
                                   rawBody: #"{"prompt": "q", "chosen": "a\u0007", "rejected": "b"}"#)
        #expect(comparisons.status == 422 && comparisons.body.contains("control character U+0007"), "\(comparisons.body)")
        #expect(try app.database.read { try $0.queryScalarInt("SELECT count(*) FROM prompts") } == 0)
    }

    @Test func timeSpentHasARangeAndTheReadRoutesStayUp() throws {
        let app = try TallyTestServer()
        let rita = try signIn(app.port, "rita"), lena = try signIn(app.port, "lena")
        let project = try #require(try call(app.port, "POST", "/api/projects", headers: headers(rita), json: #"{"name": "Timing", "rankingSize": 2}"#).json["id"] as? Int)
        _ = try call(app.port, "POST", "/api/projects/\(project)/imports/prompts", headers: headers(rita),
                     rawBody: #"{"prompt": "q", "candidates": [{"text": "a", "model": "m"}, {"text": "b", "model": "m"}]}"#)
        let task = try call(app.port, "GET", "/api/projects/\(project)/next-ranking", headers: ["Cookie": lena.cookie])
        let prompt = try #require(task.json["prompt"] as? [String: Any])
        let ids = (prompt["candidates"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? Int }
        let ranking = #"{"entries": [{"candidateId": \#(ids[0]), "rank": 1, "rating": 6}, {"candidateId": \#(ids[1]), "rank": 2, "rating": 3}], "shownOrder": \#(ids), "secondsSpent": 1e308}"#
        let refused = try call(app.port, "POST", "/api/prompts/\(prompt["id"] as! Int)/rankings", headers: headers(lena), json: ranking)
        #expect(refused.status == 400 && refused.body.contains("field 'secondsSpent' must be from 0 to 86400"), "\(refused.body)")
        #expect(try call(app.port, "POST", "/api/prompts/\(prompt["id"] as! Int)/demonstrations", headers: headers(lena), json: #"{"text": "c", "secondsSpent": -1}"#).status == 400)
        // Every text has a limit, counted in code points (an accented e is two).
        let long = try call(app.port, "POST", "/api/prompts/\(prompt["id"] as! Int)/demonstrations", headers: headers(lena),
                            json: #"{"text": "\#(String(repeating: "e\u{301}", count: 50_001))"}"#)
        #expect(long.status == 400 && long.body.contains("field 'text' must have at most 100000 characters, not 100002"), "\(long.body.prefix(300))")
        for path in ["/api/projects/\(project)/statistics", "/api/projects/\(project)/quality"] {
            #expect(try call(app.port, "GET", path, headers: ["Cookie": rita.cookie]).status == 200, "\(path)")
        }
        #expect(try call(app.port, "GET", "/api/me/work", headers: ["Cookie": lena.cookie]).status == 200)
    }

    @Test func bodiesNeedJSONAndChangesComeFromTheServersOwnPages() throws {
        let app = try TallyTestServer()
        let credentials = #"{"username": "rita", "password": "\#(TallyTestServer.password)"}"#
        // A no-cors fetch from another page can send text/plain or no type: never JSON.
        for contentType in [nil, "text/plain"] {
            var request = "POST /api/session HTTP/1.1\r\nHost: test\r\nConnection: close\r\nContent-Length: \(credentials.utf8.count)\r\n"
            if let contentType { request += "Content-Type: \(contentType)\r\n" }
            let client = try RawClient(port: app.port, timeoutSeconds: 10)
            try client.send(request + "\r\n" + credentials)
            let answer = try client.readResponse()
            #expect(answer.statusCode == 415, "\(contentType ?? "no type"): \(answer.statusCode)")
        }
        let elsewhere = try call(app.port, "POST", "/api/session", headers: ["Origin": "http://test:1"], json: credentials)
        #expect(elsewhere.status == 403 && elsewhere.errorCode == "cross_origin", "\(elsewhere.body)")
        let rita = try signIn(app.port, "rita")
        let crossSite = try call(app.port, "POST", "/api/projects", headers: headers(rita).merging(["Sec-Fetch-Site": "same-site"]) { $1 }, json: #"{"name": "x"}"#)
        #expect(crossSite.status == 403 && crossSite.errorCode == "cross_origin", "\(crossSite.body)")
        let ownPage = try call(app.port, "POST", "/api/projects", headers: headers(rita).merging(["Sec-Fetch-Site": "same-origin", "Origin": "http://test"]) { $1 },
                               json: #"{"name": "from the page"}"#)
        #expect(ownPage.status == 201, "\(ownPage.body)")
    }

    @Test func csvCellsNeverRunAsFormulas() throws {
        let app = try TallyTestServer()
        let rita = try signIn(app.port, "rita"), lena = try signIn(app.port, "lena")
        let project = try #require(try call(app.port, "POST", "/api/projects", headers: headers(rita), json: #"{"name": "CSV", "rankingSize": 2}"#).json["id"] as? Int)
        _ = try call(app.port, "POST", "/api/projects/\(project)/imports/prompts", headers: headers(rita),
                     rawBody: #"{"prompt": "q", "candidates": [{"text": "a", "model": "@SUM(1+1)"}, {"text": "b", "model": "=HYPERLINK(\"x\")"}]}"#)
        let task = try call(app.port, "GET", "/api/projects/\(project)/next-ranking", headers: ["Cookie": lena.cookie])
        let prompt = try #require(task.json["prompt"] as? [String: Any])
        let ids = (prompt["candidates"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? Int }
        #expect(try call(app.port, "POST", "/api/prompts/\(prompt["id"] as! Int)/rankings", headers: headers(lena),
                         json: #"{"entries": [{"candidateId": \#(ids[0]), "rank": 1, "rating": 6}, {"candidateId": \#(ids[1]), "rank": 2, "rating": 3}], "shownOrder": \#(ids)}"#).status == 201)
        let csv = try call(app.port, "GET", "/api/projects/\(project)/exports/ratings-csv", headers: ["Cookie": rita.cookie]).body
        #expect(csv.contains(",'@SUM(1+1),") && csv.contains(#","'=HYPERLINK(""x"")","#) && !csv.contains(",@SUM") && !csv.contains(",=HYPER"), "\(csv)")
    }

    @Test func smallerDeviationsAndCaching() throws {
        let app = try TallyTestServer()
        let rita = try signIn(app.port, "rita")
        let project = try #require(try call(app.port, "POST", "/api/projects", headers: headers(rita), json: #"{"name": "Strict"}"#).json["id"] as? Int)
        let export = "/api/projects/\(project)/exports/comparisons"
        for query in ["until=2030-01-01T00:00:00Zgarbage", "since=2026-02-30T00:00:00Z", "until=2026-01-01", "split=train&split=test", "splt=train"] {
            let response = try call(app.port, "GET", export + "?" + query, headers: ["Cookie": rita.cookie])
            #expect(response.status == 400 && response.errorCode == "invalid_query", "\(query): \(response.status) \(response.body)")
        }
        #expect(try call(app.port, "GET", export + "?since=2026-02-28T23:59:59.5Z", headers: ["Cookie": rita.cookie]).status == 200)
        // What a signed-in user is answered is not cached; the UI's files revalidate.
        for path in ["/api/session", "/api/projects", export] {
            #expect(try call(app.port, "GET", path, headers: ["Cookie": rita.cookie]).header("Cache-Control") == "no-store", "\(path)")
        }
        #expect(try call(app.port, "GET", "/login.html").header("Cache-Control") == "no-cache")
        // No dot-files and no folder below a file.
        #expect(try call(app.port, "GET", "/index.html/").status == 404)
        #expect(try call(app.port, "GET", "/styles.css/").status == 404)
        #expect(try call(app.port, "GET", "/").status == 200)
    }

    /// Over TLS: HSTS on every answer, and the session cookie under the `__Host-` prefix (the
    /// only one read there, so a cookie planted over plain HTTP is no session).
    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/openssl") && FileManager.default.isExecutableFile(atPath: "/usr/bin/curl")))
    func tlsSessionsUseHostCookiesAndHSTS() throws {
        let directory = try TemporaryFiles.directory("tally-tls")
        let certificate = directory + "/certificate.pem", key = directory + "/key.pem"
        let made = try run("/usr/bin/openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-subj", "/CN=localhost",
                                                "-addext", "subjectAltName=IP:127.0.0.1", "-days", "1", "-keyout", key, "-out", certificate])
        try #require(made.status == 0)
        let database = try CommandLineTests.temporaryDatabase()
        #expect(try CommandLineTests.tally(["user", "add", "tess", "--role", "admin", "--password", "a long test password", "--database", database]).status == 0)
        let (server, port) = try CommandLineTests.startServing(database: database, extra: ["--tls-certificate", certificate, "--tls-key", key, "--no-worker"])
        defer { server.terminate(); server.waitUntilExit() }
        let signIn = try run("/usr/bin/curl", ["-sk", "-D", "-", "-o", "/dev/null", "-H", "Content-Type: application/json",
                                               "-d", #"{"username": "tess", "password": "a long test password"}"#, "https://127.0.0.1:\(port)/api/session"])
        let headers = signIn.output.lowercased()
        #expect(headers.contains("strict-transport-security: max-age=31536000"), "\(signIn.output)")
        let cookieLine = try #require(signIn.output.split(separator: "\r\n").first { $0.lowercased().hasPrefix("set-cookie:") }, "\(signIn.output)")
        #expect(cookieLine.contains(" __Host-tally_session=") && cookieLine.contains("Secure") && cookieLine.contains("Path=/") && !cookieLine.contains("Domain"), "\(cookieLine)")
        let token = String(cookieLine.split(separator: "=", maxSplits: 1)[1].prefix { $0 != ";" })
        func status(_ cookie: String) throws -> String {
            try run("/usr/bin/curl", ["-sk", "-o", "/dev/null", "-w", "%{http_code}", "-H", "Cookie: \(cookie)", "https://127.0.0.1:\(port)/api/session"]).output
        }
        #expect(try status("__Host-tally_session=\(token)") == "200")
        #expect(try status("tally_session=\(token)") == "401", "the plain cookie name is not read over TLS")
    }

    /// A malformed username is the request's fault (400); a taken one is a conflict (409).
    @Test func usernamesAreRefusedByWhatIsWrong() throws {
        let app = try TallyTestServer()
        let ada = try signIn(app.port, "ada")
        let malformed = try call(app.port, "POST", "/api/users", headers: headers(ada), json: #"{"username": "no spaces", "role": "labeler", "password": "long enough pass"}"#)
        #expect(malformed.status == 400 && malformed.errorCode == "invalid_account", "\(malformed.body)")
        let taken = try call(app.port, "POST", "/api/users", headers: headers(ada), json: #"{"username": "lena", "role": "labeler", "password": "long enough pass"}"#)
        #expect(taken.status == 409 && taken.errorCode == "username_taken", "\(taken.body)")
    }

    /// The HTTP parser's own refusals carry the security headers too.
    @Test func parserErrorsCarryTheSecurityHeaders() throws {
        let app = try TallyTestServer()
        let client = try RawClient(port: app.port, timeoutSeconds: 10)
        try client.send("GET / HTTP/1.1\r\nHost: test\r\nBad Header Line\r\n\r\n")
        let answer = try client.readResponse()
        #expect(answer.statusCode == 400)
        #expect(answer.header("X-Content-Type-Options") == "nosniff" && answer.header("X-Frame-Options") == "DENY" && answer.header("Content-Security-Policy") != nil)
    }

    /// Passwords: at least 8 characters, not a common one, not built from the username.
    @Test func commonPasswordsAndTheUsernameAreRefused() throws {
        let app = try TallyTestServer()
        let ada = try signIn(app.port, "ada")
        for (username, password, reason) in [("nora", "short", "at least 8 characters"), ("nora", "Password123", "attackers try first"),
                                             ("nora", "i am nora, ok?", "must not contain the username")] {
            let response = try call(app.port, "POST", "/api/users", headers: headers(ada), json: #"{"username": "\#(username)", "role": "labeler", "password": "\#(password)"}"#)
            #expect(response.status == 400 && response.body.contains(reason), "\(password): \(response.body)")
        }
        #expect(try call(app.port, "POST", "/api/users", headers: headers(ada), json: #"{"username": "nora", "role": "labeler", "password": "a fine long phrase"}"#).status == 201)
        let command = try CommandLineTests.tally(["user", "add", "otto", "--role", "labeler", "--password", "qwertyuiop", "--database", try CommandLineTests.temporaryDatabase()])
        #expect(command.status != 0 && command.errorOutput.contains("attackers try first"), "\(command.errorOutput)")
    }
}

/// Behind a reverse proxy every client shares the proxy's address: the sign-in limiter counts
/// the address the trusted proxy forwarded for, and from anyone else `X-Forwarded-For` counts
/// for nothing, so a client cannot pick the address its failures are counted under.
@Suite("The sign-in limiter behind a trusted proxy", .serialized)
struct TrustedProxySignInTests {
    private func attempt(_ app: TallyTestServer, _ username: String, _ password: String, forwardedFor: String) throws -> Int {
        try call(app.port, "POST", "/api/session", headers: ["X-Forwarded-For": forwardedFor],
                 json: #"{"username": "\#(username)", "password": "\#(password)"}"#).status
    }

    @Test func failuresAreCountedPerForwardedClientBehindATrustedProxy() throws {
        let app = try TallyTestServer { $0.trustedProxies = try! TrustedProxies(["127.0.0.0/8"]) }
        for index in 0..<5 { #expect(try attempt(app, "nobody\(index)", "guess guess", forwardedFor: "203.0.113.5") == 401) }
        #expect(try attempt(app, "rita", TallyTestServer.password, forwardedFor: "203.0.113.5") == 429, "that client is held off")
        #expect(try attempt(app, "rita", TallyTestServer.password, forwardedFor: "203.0.113.6") == 200, "another client behind the proxy is not")
        // A client's own entries left of the proxy's are not believed over the proxy's.
        #expect(try attempt(app, "lena", TallyTestServer.password, forwardedFor: "203.0.113.6, 203.0.113.5") == 429)
    }

    @Test func forwardedForFromAnUntrustedPeerIsIgnored() throws {
        let app = try TallyTestServer()
        for index in 0..<5 { #expect(try attempt(app, "nobody\(index)", "guess guess", forwardedFor: "198.51.100.\(index)") == 401) }
        #expect(try attempt(app, "rita", TallyTestServer.password, forwardedFor: "198.51.100.99") == 429, "a new forwarded address does not escape the limiter")
    }
}
