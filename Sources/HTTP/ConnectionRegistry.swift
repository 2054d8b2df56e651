/// The open connections of a server, for the connection limits and for graceful shutdown: how
/// many are open in all, and how many each client address holds.
final class ConnectionRegistry: Sendable {
    private struct State {
        var connections: [Int: (connection: Connection, host: String)] = [:]
        var perHost: [String: Int] = [:]
    }

    private let state = Locked(State())

    var count: Int { state.withLock { $0.connections.count } }
    var all: [Connection] { state.withLock { $0.connections.values.map(\.connection) } }

    /// How many connections `host` holds.
    func count(of host: String) -> Int { state.withLock { $0.perHost[host] ?? 0 } }

    func insert(_ connection: Connection, host: String) {
        state.withLock {
            $0.connections[connection.id] = (connection, host)
            $0.perHost[host, default: 0] += 1
        }
    }

    func remove(_ connection: Connection) {
        state.withLock {
            guard let removed = $0.connections.removeValue(forKey: connection.id) else { return }
            let left = ($0.perHost[removed.host] ?? 1) - 1
            $0.perHost[removed.host] = left > 0 ? left : nil
        }
    }
}
