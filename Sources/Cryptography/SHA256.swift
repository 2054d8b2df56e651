import COpenSSL

/// SHA-256 digests through OpenSSL's EVP interface.
public enum SHA256 {
    /// The 32-byte digest of `bytes`.
    public static func digest(_ bytes: some Collection<UInt8>) -> [UInt8] {
        var output = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        let contiguous = Array(bytes)
        let succeeded = contiguous.withUnsafeBytes { input in
            EVP_Digest(input.baseAddress, input.count, &output, &length, EVP_sha256(), nil)
        }
        precondition(succeeded == 1, "EVP_Digest with SHA-256 cannot fail on valid input")
        return Array(output.prefix(Int(length)))
    }

    /// The digest of the UTF-8 bytes of `text`, as 64 lowercase hexadecimal digits.
    public static func hexDigest(_ text: String) -> String {
        Hex.encode(digest(Array(text.utf8)))
    }

    /// The digest of `bytes`, as 64 lowercase hexadecimal digits.
    public static func hexDigest(_ bytes: some Collection<UInt8>) -> String {
        Hex.encode(digest(bytes))
    }
}

/// Incremental SHA-256, for content too large to hold at once (streamed exports).
public final class SHA256Hasher {
    private let context: OpaquePointer

    public init() {
        context = EVP_MD_CTX_new()
        EVP_DigestInit_ex(context, EVP_sha256(), nil)
    }

    deinit { EVP_MD_CTX_free(context) }

    public func update(_ bytes: some Collection<UInt8>) {
        let contiguous = Array(bytes)
        contiguous.withUnsafeBytes { input in
            _ = EVP_DigestUpdate(context, input.baseAddress, input.count)
        }
    }

    /// Finishes the digest; the hasher must not be used afterwards.
    public func finalize() -> [UInt8] {
        var output = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        EVP_DigestFinal_ex(context, &output, &length)
        return Array(output.prefix(Int(length)))
    }
}
