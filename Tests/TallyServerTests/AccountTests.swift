import Cryptography
import Foundation
import TallyTestSupport
import Glibc
import HTTP
import Labeling
import Logging
import Storage
import Testing
@testable import TallyServer

@Suite("Accounts, sessions and roles over HTTP", .serialized)
struct AccountTests {
    @Test func signInSetsASafeCookieAndWrongPasswordsLookAlike() throws {
        let app = try TallyTestServer()
        let response = try call(app.port, "POST", "/api/session", json: #"{"username": "lena", "password": "correct horse battery"}"#)
        #expect(response.status == 200)
        let cookie = try #require(response.header("Set-Cookie"))
        #expect(cookie.hasPrefix("tally_session="))
        #expect(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict") && cookie.contains("Path=/"))
        #expect(!cookie.contains("Secure"))
        #expect((response.json["user"] as? [String: Any])?["role"] as? String == "labeler")
        #expect((response.json["csrfToken"] as? String)?.count == 43)
        let wrong = try call(app.port, "POST", "/api/session", json: #"{"username": "lena", "password": "nope nope"}"#)
        let unknown = try call(app.port, "POST", "/api/session", json: #"{"username": "nobody", "password": "nope nope"}"#)
        #expect(wrong.status == 401 && unknown.status == 401)
        #expect(wrong.body == unknown.body)
        let suspended = try call(app.port, "POST", "/api/session", json: #"{"username": "sam", "password": "correct horse battery"}"#)
        #expect(suspended.status == 403)
        let malformed = try call(app.port, "POST", "/api/session", json: #"{"username": "lena"}"#)
        #expect(malformed.status == 400)
        #expect(malformed.body.contains("field 'password' is missing"))
    }

    /// Every protected route against every role: 401 without credentials, 403 for the wrong role.
    @Test func routeByRoleTable() throws {
        let app = try TallyTestServer()
        let sessions = try ["admin": signIn(app.port, "ada"), "researcher": signIn(app.port, "rita"), "labeler": signIn(app.port, "lena")]
        let project = try #require(try call(app.port, "POST", "/api/projects", headers: ["Cookie": sessions["researcher"]!.cookie, "X-CSRF-Token": sessions["researcher"]!.csrf],
                                            json: #"{"name": "Roles"}"#).json["id"] as? Int)
        struct Case { let method: String; let path: String; let body: String?; let allowed: Set<String> }
        let cases = [
            Case(method: "GET", path: "/api/session", body: nil, allowed: ["admin", "researcher", "labeler"]),
            Case(method: "POST", path: "/api/tokens", body: #"{"name": "script"}"#, allowed: ["admin", "researcher"]),
            Case(method: "GET", path: "/api/users", body: nil, allowed: ["admin"]),
            Case(method: "POST", path: "/api/users", body: #"{"username": "new-UNIQUE", "role": "labeler", "password": "long enough"}"#, allowed: ["admin"]),
            Case(method: "GET", path: "/metrics", body: nil, allowed: ["admin"]),
            Case(method: "GET", path: "/v1/models", body: nil, allowed: ["admin", "researcher"]),
            Case(method: "GET", path: "/api/projects/\(project)/leaderboard", body: nil, allowed: ["admin", "researcher"]),
            Case(method: "GET", path: "/api/projects/\(project)/next-evaluation", body: nil, allowed: ["labeler"]),
            Case(method: "GET", path: "/api/projects/\(project)/prompts", body: nil, allowed: ["admin", "researcher"]),
            Case(method: "GET", path: "/api/model-endpoints", body: nil, allowed: ["admin", "researcher"]),
            Case(method: "POST", path: "/api/model-endpoints", body: #"{"name": "vllm-UNIQUE", "baseUrl": "http://127.0.0.1:9/v1", "model": "m"}"#,
                 allowed: ["admin", "researcher"]),
        ]
        for item in cases {
            #expect(try call(app.port, item.method, item.path, json: item.body).status == 401, "anonymous \(item.method) \(item.path)")
            for (role, session) in sessions {
                let body = item.body?.replacingOccurrences(of: "UNIQUE", with: role)
                let response = try call(app.port, item.method, item.path, headers: ["Cookie": session.cookie, "X-CSRF-Token": session.csrf], json: body)
                if item.allowed.contains(role) {
                    #expect((200..<300).contains(response.status), "\(role) \(item.method) \(item.path): \(response.status) \(response.body)")
                } else {
                    #expect(response.status == 403, "\(role) \(item.method) \(item.path): \(response.status)")
                    #expect(response.errorCode == "forbidden")
                }
            }
        }
    }

    @Test func csrfTokenIsRequiredForCookieWritesButNotForAPITokens() throws {
        let app = try TallyTestServer()
        let admin = try signIn(app.port, "ada")
        let body = #"{"username": "newbie", "role": "labeler", "password": "long enough"}"#
        let missing = try call(app.port, "POST", "/api/users", headers: ["Cookie": admin.cookie], json: body)
        #expect(missing.status == 403)
        #expect(missing.errorCode == "csrf_token_missing")
        let forged = try call(app.port, "POST", "/api/users", headers: ["Cookie": admin.cookie, "X-CSRF-Token": "forged"], json: body)
        #expect(forged.status == 403)
        #expect(try call(app.port, "GET", "/api/users", headers: ["Cookie": admin.cookie]).status == 200)

        let created = try call(app.port, "POST", "/api/tokens", headers: ["Cookie": admin.cookie, "X-CSRF-Token": admin.csrf], json: #"{"name": "import script"}"#)
        #expect(created.status == 201)
        let token = try #require(created.json["token"] as? String)
        #expect(token.hasPrefix("tally_"))
        let viaToken = try call(app.port, "POST", "/api/users", headers: ["Authorization": "Bearer \(token)"], json: body)
        #expect(viaToken.status == 201, "\(viaToken.body)")
        #expect(try call(app.port, "GET", "/api/users", headers: ["Authorization": "Bearer wrong"]).status == 401)
        #expect(try call(app.port, "GET", "/api/users", headers: ["Authorization": "Basic abc"]).status == 401)
        // The token is stored hashed, never in the clear.
        let stored = try app.database.read { try $0.queryScalarText("SELECT token_hash FROM api_tokens") }
        #expect(stored == SHA256.hexDigest(token))
    }

    @Test func signOutEndsTheSession() throws {
        let app = try TallyTestServer()
        let session = try signIn(app.port, "rita")
        #expect(try call(app.port, "GET", "/api/session", headers: ["Cookie": session.cookie]).status == 200)
        let signOut = try call(app.port, "DELETE", "/api/session", headers: ["Cookie": session.cookie, "X-CSRF-Token": session.csrf])
        #expect(signOut.status == 204)
        #expect(signOut.header("Set-Cookie")?.contains("Max-Age=0") == true)
        let after = try call(app.port, "GET", "/api/session", headers: ["Cookie": session.cookie])
        #expect(after.status == 401)
    }

    @Test func repeatedFailuresAreRateLimited() throws {
        let app = try TallyTestServer()
        for _ in 0..<5 {
            #expect(try call(app.port, "POST", "/api/session", json: #"{"username": "ada", "password": "guess guess"}"#).status == 401)
        }
        let limited = try call(app.port, "POST", "/api/session", json: #"{"username": "ada", "password": "correct horse battery"}"#)
        #expect(limited.status == 429)
        #expect(Int(limited.header("Retry-After") ?? "") ?? 0 > 0)
        #expect(limited.errorCode == "too_many_sign_in_attempts")
    }

    @Test func signInsAndAdminActionsAreAudited() throws {
        let app = try TallyTestServer()
        _ = try call(app.port, "POST", "/api/session", json: #"{"username": "ada", "password": "wrong wrong"}"#)
        let admin = try signIn(app.port, "ada")
        _ = try call(app.port, "POST", "/api/users", headers: ["Cookie": admin.cookie, "X-CSRF-Token": admin.csrf],
                     json: #"{"username": "audited", "role": "researcher", "password": "long enough"}"#)
        let actions = try app.database.read { try $0.query("SELECT action FROM audit_log ORDER BY id").compactMap { $0["action"].text } }
        #expect(actions == ["sign_in.failed", "sign_in", "user.create"])
    }

    @Test func responsesCarryAStrictContentSecurityPolicy() throws {
        let app = try TallyTestServer()
        let page = try call(app.port, "GET", "/")
        let policy = try #require(page.header("Content-Security-Policy"))
        #expect(policy.contains("script-src 'self'"))
        #expect(!policy.contains("unsafe-inline"))
        #expect(page.header("X-Frame-Options") == "DENY")
    }
}
