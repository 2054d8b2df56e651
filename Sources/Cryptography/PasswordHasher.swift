import COpenSSL

/// Password hashing with PBKDF2-HMAC-SHA256 and a per-password random salt.
///
/// A stored hash reads `pbkdf2-sha256$<iterations>$<salt, base64url>$<key, base64url>`, so the
/// iteration count can be raised later without invalidating existing hashes. The default of
/// 600,000 iterations is OWASP's 2023 recommendation for PBKDF2-HMAC-SHA256.
public struct PasswordHasher: Sendable {
    public static let defaultIterations = 600_000
    private static let scheme = "pbkdf2-sha256"
    private static let saltByteCount = 16
    private static let keyByteCount = 32

    public let iterations: Int

    public init(iterations: Int = PasswordHasher.defaultIterations) {
        precondition(iterations > 0, "PBKDF2 needs at least one iteration")
        self.iterations = iterations
    }

    public func hash(_ password: String) -> String {
        let salt = SecureRandom.bytes(count: Self.saltByteCount)
        let key = Self.deriveKey(password: password, salt: salt, iterations: iterations)
        return [Self.scheme, String(iterations), Base64URL.encode(salt), Base64URL.encode(key)].joined(separator: "$")
    }

    /// Whether `password` matches `storedHash`; a malformed stored hash never matches.
    public func verify(_ password: String, against storedHash: String) -> Bool {
        let parts = storedHash.split(separator: "$", omittingEmptySubsequences: false)
        guard parts.count == 4, parts[0] == Self.scheme,
              let storedIterations = Int(parts[1]), storedIterations > 0,
              let salt = Base64URL.decode(String(parts[2])),
              let expected = Base64URL.decode(String(parts[3])), expected.count == Self.keyByteCount
        else { return false }
        let key = Self.deriveKey(password: password, salt: salt, iterations: storedIterations)
        return ConstantTime.equal(key, expected)
    }

    private static func deriveKey(password: String, salt: [UInt8], iterations: Int) -> [UInt8] {
        var key = [UInt8](repeating: 0, count: keyByteCount)
        let passwordBytes = Array(password.utf8)
        let succeeded = passwordBytes.withUnsafeBufferPointer { passwordBuffer in
            passwordBuffer.withMemoryRebound(to: CChar.self) { passwordCharacters in
                PKCS5_PBKDF2_HMAC(passwordCharacters.baseAddress, Int32(passwordBytes.count),
                                  salt, Int32(salt.count), Int32(iterations), EVP_sha256(),
                                  Int32(keyByteCount), &key)
            }
        }
        precondition(succeeded == 1, "PKCS5_PBKDF2_HMAC failed")
        return key
    }
}

/// Comparisons whose duration does not depend on where two secrets first differ.
public enum ConstantTime {
    public static func equal(_ left: [UInt8], _ right: [UInt8]) -> Bool {
        guard left.count == right.count else { return false }
        return CRYPTO_memcmp(left, right, left.count) == 0
    }
}
