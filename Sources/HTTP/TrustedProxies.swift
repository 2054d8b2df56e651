import Foundation
import Glibc

/// The reverse proxies (nginx, Caddy, a load balancer) whose `X-Forwarded-For` Tally believes,
/// as addresses or CIDR ranges (`10.0.0.7`, `10.0.0.0/8`, `fd00::/8`). A request from anyone
/// else is its socket's peer, whatever its headers say: a client cannot choose the address its
/// sign-in attempts are counted under.
public struct TrustedProxies: Sendable, Equatable {
    struct Range: Sendable, Equatable {
        let bytes: [UInt8]
        let prefixLength: Int

        func contains(_ address: [UInt8]) -> Bool {
            guard address.count == bytes.count else { return false }
            var remaining = prefixLength
            for (index, byte) in bytes.enumerated() where remaining > 0 {
                let bits = min(8, remaining)
                let mask = UInt8(truncatingIfNeeded: 0xFF << (8 - bits))
                if address[index] & mask != byte & mask { return false }
                remaining -= bits
            }
            return true
        }
    }

    let ranges: [Range]

    public static let none = TrustedProxies(ranges: [])

    init(ranges: [Range]) { self.ranges = ranges }

    /// - Throws: naming the entry, when one is neither an address nor a CIDR range.
    public init(_ entries: [String]) throws {
        ranges = try entries.map { entry in
            let parts = entry.split(separator: "/", maxSplits: 1).map(String.init)
            guard let bytes = parts.first.flatMap(Self.addressBytes) else {
                throw TrustedProxyError("'\(entry)' is not an IP address or a CIDR range (10.0.0.0/8, fd00::/8)")
            }
            var length = bytes.count * 8
            if parts.count == 2 {
                guard let given = Int(parts[1]), (0...length).contains(given) else {
                    throw TrustedProxyError("'\(entry)': the prefix length must be from 0 to \(length)")
                }
                length = given
            }
            return Range(bytes: bytes, prefixLength: length)
        }
    }

    public var isEmpty: Bool { ranges.isEmpty }

    /// Whether `host` (an address without its port) is one of the proxies.
    public func contains(_ host: String) -> Bool {
        guard !ranges.isEmpty, let bytes = Self.addressBytes(host) else { return false }
        return ranges.contains { $0.contains(bytes) }
    }

    /// The client a request comes from: its socket's peer, unless the peer is a trusted proxy,
    /// then the right-most address of `X-Forwarded-For` that is not one (each proxy appends the
    /// address it received from; entries left of the first untrusted one could be anyone's).
    public func client(peer: String, forwardedFor: String?) -> String {
        guard contains(peer), let forwardedFor else { return peer }
        let hops = forwardedFor.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        for hop in hops.reversed() {
            guard Self.addressBytes(hop) != nil else { return peer }
            if !contains(hop) { return hop }
        }
        return hops.first ?? peer
    }

    /// The 4 or 16 bytes of an IPv4 or IPv6 address in text (brackets allowed), or nil.
    static func addressBytes(_ text: String) -> [UInt8]? {
        var host = text
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        var v4 = in_addr()
        if inet_pton(AF_INET, host, &v4) == 1 { return withUnsafeBytes(of: &v4) { Array($0) } }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, host, &v6) == 1 { return withUnsafeBytes(of: &v6) { Array($0) } }
        return nil
    }
}

public struct TrustedProxyError: Error, CustomStringConvertible, Sendable {
    public let description: String
    init(_ description: String) { self.description = description }
}
