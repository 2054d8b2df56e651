import Cryptography
import JSON
import Labeling
import OutgoingHTTP

/// What an endpoint answers when asked for its model list (OpenAI's `GET {base}/models`), so a
/// wrong address, key or model name shows before a job fails on it.
public struct EndpointCheck: Encodable, Sendable {
    public let reachable: Bool
    /// Whether the list names the endpoint's model (nil when no list could be read).
    public let modelServed: Bool?
    /// The models the server lists, the first 100.
    public let models: [String]
    public let message: String

    /// Asks, waiting at most `timeoutSeconds` (or the endpoint's own timeout, when shorter).
    public init(_ endpoint: ModelEndpoint, apiKey: String?, timeoutSeconds: Double) throws {
        let url = (endpoint.baseUrl.hasSuffix("/") ? String(endpoint.baseUrl.dropLast()) : endpoint.baseUrl) + "/models"
        let client = HTTPClient(timeoutSeconds: min(timeoutSeconds, endpoint.timeoutSeconds), maximumResponseBytes: 4 << 20, tls: try TLSClientContext())
        let response: HTTPClientResponse
        do {
            response = try client.send("GET", url, headers: apiKey.map { [("Authorization", "Bearer \($0)")] } ?? [])
        } catch {
            (reachable, modelServed, models, message) = (false, nil, [], "\(url) could not be reached: \(error)")
            return
        }
        reachable = true
        guard (200...299).contains(response.status) else {
            (modelServed, models) = (nil, [])
            message = "\(url) answered \(response.status)" + (ChatCompletionsClient.errorMessage(response).map { ": \($0)" } ?? "")
            return
        }
        guard let list = try? JSONParser.parse(response.body), case .array(let data)? = list["data"] else {
            (modelServed, models, message) = (nil, [], "\(url) answered without OpenAI's model list ('data')")
            return
        }
        let listed = data.compactMap { entry -> String? in if case .string(let id)? = entry["id"] { id } else { nil } }
        modelServed = listed.contains(endpoint.model)
        models = Array(listed.prefix(100))
        message = modelServed == true ? "\(url) lists \(endpoint.model)." : "\(url) answers, but its model list does not name \(endpoint.model)."
    }
}
