import COpenSSL

/// Cryptographically secure random bytes from OpenSSL's DRBG (RAND_bytes).
public enum SecureRandom {
    public static func bytes(count: Int) -> [UInt8] {
        var output = [UInt8](repeating: 0, count: count)
        guard count > 0 else { return output }
        let succeeded = output.withUnsafeMutableBytes { RAND_bytes($0.baseAddress, Int32(count)) }
        // RAND_bytes fails only when the generator cannot be seeded; continuing would hand out
        // predictable session tokens, so stopping is the only safe answer.
        precondition(succeeded == 1, "OpenSSL RAND_bytes failed: the random generator is not seeded")
        return output
    }

    /// A random token of `byteCount` bytes written as URL-safe base64 without padding.
    public static func token(byteCount: Int = 32) -> String {
        Base64URL.encode(bytes(count: byteCount))
    }
}
