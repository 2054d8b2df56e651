import Foundation
import JSON

enum JSONHelpers {
    /// Sorted keys make responses stable for tests and diffs; ISO 8601 is what browsers parse.
    static let encoder = JSONValueEncoder()
}

extension Response {
    /// `value` encoded as JSON.
    public static func json(_ value: some Encodable, status: HTTPStatus = .ok) throws -> Response {
        Response(status: status, contentType: "application/json", body: try JSONHelpers.encoder.encode(value))
    }
}

extension Request {
    /// The body decoded as JSON; a body that does not fit `type` is answered with 400 and a
    /// message naming the field at fault. A member `type` does not take is refused by name
    /// (`unknown field 'x'`), so a misspelt setting never passes as accepted; `notWritable`
    /// names the top-level members that exist on the resource but that this route does not
    /// change (`field 'overlap' is not writable here`).
    public func decodeJSON<T: Decodable>(_ type: T.Type, notWritable: Set<String> = []) throws -> T {
        let value = try jsonBody()
        do {
            if case .object(let members) = value, let member = members.first(where: { notWritable.contains($0.key) }) {
                throw HTTPError.badRequest("field '\(member.key)' is not writable here.", code: "not_writable")
            }
            return try JSONValueDecoder(refusesUnknownMembers: true).decode(type, from: value)
        } catch let error as JSONSyntaxError {
            throw HTTPError.badRequest("The body is not valid JSON: \(error)", code: "invalid_json")
        } catch let error as JSONUnknownMember {
            throw HTTPError.badRequest("\(error).", code: "unknown_field")
        } catch let error as DecodingError {
            throw HTTPError.badRequest(Self.describe(error), code: "invalid_json")
        }
    }

    /// The body as JSON, for a route that reads it member by member: sent as
    /// `application/json` (415 otherwise, also when the type is missing: a page on another
    /// origin can send a body without one, but not with this one, without the browser asking
    /// first), valid (400 naming the line and column), and holding no text Tally refuses to store
    /// (400 naming the field; `StoredText`).
    public func jsonBody() throws -> JSONValue {
        guard let contentType = headers["Content-Type"], contentType.lowercased().hasPrefix("application/json") else {
            throw HTTPError(.unsupportedMediaType, code: "unsupported_media_type",
                            message: "Send the body as application/json\(headers["Content-Type"].map { ", not \($0)" } ?? " (the Content-Type header is missing)").")
        }
        let value: JSONValue
        do { value = try JSONParser.parse(body) } catch { throw HTTPError.badRequest("The body is not valid JSON: \(error)", code: "invalid_json") }
        if let problem = value.forbiddenTextProblem() { throw HTTPError.badRequest(problem + ".", code: "invalid_text") }
        return value
    }

    static func describe(_ error: DecodingError) -> String {
        func path(_ codingPath: [any CodingKey]) -> String {
            let names = codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }
            return names.isEmpty ? "the body" : "field '\(names.joined(separator: ".").replacingOccurrences(of: ".[", with: "["))'"
        }
        switch error {
        case .keyNotFound(let key, let context):
            return "\(path(context.codingPath + [key])) is missing."
        case .typeMismatch(let type, let context):
            return "\(path(context.codingPath)) should be \(describe(type))."
        case .valueNotFound(let type, let context):
            return "\(path(context.codingPath)) should be \(describe(type)), not null."
        case .dataCorrupted(let context):
            if context.codingPath.isEmpty { return context.debugDescription }
            return "\(path(context.codingPath)) is invalid: \(context.debugDescription)"
        @unknown default:
            return "The body does not match the expected JSON."
        }
    }

    private static func describe(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: return "a string"
        case is Int.Type, is Int64.Type, is Int32.Type: return "an integer"
        case is Double.Type, is Float.Type: return "a number"
        case is Bool.Type: return "true or false"
        default:
            let name = String(describing: type)
            if name.hasPrefix("Array") { return "an array" }
            if name.hasPrefix("Dictionary") { return "an object" }
            return "an object"
        }
    }
}
