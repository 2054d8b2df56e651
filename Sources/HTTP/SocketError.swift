import Glibc

/// A failed system call on a socket, with the errno it set.
public struct SocketError: Error, CustomStringConvertible, Sendable {
    public let operation: String
    public let errorNumber: Int32

    init(_ operation: String, errorNumber: Int32 = errno) {
        self.operation = operation
        self.errorNumber = errorNumber
    }

    public var description: String {
        "\(operation) failed: \(String(cString: strerror(errorNumber))) (errno \(errorNumber))"
    }
}
