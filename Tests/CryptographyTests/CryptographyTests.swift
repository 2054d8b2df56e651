import Testing
@testable import Cryptography

@Suite("Cryptography")
struct CryptographyTests {
    /// The whole of Django's list is refused (its first, its last and one deep inside, in any
    /// case), and a long passphrase of common words is not.
    @Test func passwordsFromTheBreachListAreRefused() {
        for password in ["12345678", "Rabat1945", "FREEDOM12", "z1234567", "tally-demo"] {
            #expect(PasswordRules.problem(password: password, username: "nora")?.contains("attackers try first") == true, "\(password)")
        }
        #expect(PasswordRules.common.count > 8_000)
        #expect(PasswordRules.common.allSatisfy { $0.count >= PasswordRules.minimumLength && $0 == $0.lowercased() })
        #expect(PasswordRules.problem(password: "correct horse battery", username: "nora") == nil)
    }

    @Test func sha256MatchesTheStandardVectors() {
        // FIPS 180-2 examples.
        #expect(SHA256.hexDigest("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(SHA256.hexDigest("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        let hasher = SHA256Hasher()
        hasher.update(Array("a".utf8))
        hasher.update(Array("bc".utf8))
        #expect(Hex.encode(hasher.finalize()) == SHA256.hexDigest("abc"))
    }

    @Test func randomBytesDifferAndTokensAreURLSafe() {
        #expect(SecureRandom.bytes(count: 32) != SecureRandom.bytes(count: 32))
        let token = SecureRandom.token()
        #expect(token.count == 43)
        #expect(token.allSatisfy { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" })
        #expect(Base64URL.decode(token)?.count == 32)
    }

    @Test func passwordHashesVerifyAndUseSalt() {
        let hasher = PasswordHasher(iterations: 1000)
        let first = hasher.hash("correct horse battery staple")
        let second = hasher.hash("correct horse battery staple")
        #expect(first != second)
        #expect(first.hasPrefix("pbkdf2-sha256$1000$"))
        #expect(hasher.verify("correct horse battery staple", against: first))
        #expect(!hasher.verify("wrong", against: first))
        #expect(!hasher.verify("anything", against: "not-a-hash"))
        #expect(!hasher.verify("anything", against: "pbkdf2-sha256$0$AAAA$AAAA"))
    }

    @Test func pbkdf2MatchesRFC7914TestVector() {
        // RFC 7914 section 11: PBKDF2-HMAC-SHA256("passwd", "salt", c=1, dkLen=64), first 32 bytes.
        let stored = "pbkdf2-sha256$1$\(Base64URL.encode(Array("salt".utf8)))$\(Base64URL.encode(Hex.decode("55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc")!))"
        #expect(PasswordHasher().verify("passwd", against: stored))
    }

    @Test func defaultIterationsFollowOWASP() {
        #expect(PasswordHasher().iterations >= 600_000)
    }

    @Test func hexRoundTrips() {
        #expect(Hex.decode("00ff10") == [0, 255, 16])
        #expect(Hex.decode("0") == nil)
        #expect(Hex.decode("zz") == nil)
        #expect(Hex.encode([0, 255, 16]) == "00ff10")
    }
}
