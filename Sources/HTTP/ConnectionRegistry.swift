
/// The open connections of a server, for the connection limit and for graceful shutdown.
final class ConnectionRegistry: Sendable {
    private let connections = Locked<[Int: Connection]>([:])

    var count: Int { connections.withLock { $0.count } }
    var all: [Connection] { connections.withLock { Array($0.values) } }

    func insert(_ connection: Connection) { connections.withLock { $0[connection.id] = connection } }
    func remove(_ connection: Connection) { _ = connections.withLock { $0.removeValue(forKey: connection.id) } }
}
