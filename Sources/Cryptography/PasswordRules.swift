/// What a new password must be, in one place (the API, registration and `tally user add`):
/// at least 8 characters (NIST SP 800-63B's minimum for a chosen secret), not one of the
/// passwords attackers try first, and not built from the username. Nothing else is asked (no
/// composition rules: they make passwords no stronger, as 800-63B says).
public enum PasswordRules {
    public static let minimumLength = 8

    /// The most often seen passwords of at least 8 characters in published breach lists (the
    /// top of lists such as the UK NCSC's "100,000 most used"), lower-cased.
    static let common: Set<String> = [
        "12345678", "123456789", "1234567890", "11111111", "00000000", "12341234", "87654321", "11223344", "123123123", "88888888",
        "password", "password1", "password12", "password123", "passw0rd", "p@ssw0rd", "qwertyui", "qwerty123", "qwertyuiop", "1q2w3e4r",
        "1qaz2wsx", "zaq12wsx", "asdfghjk", "asdfasdf", "iloveyou", "sunshine", "princess", "football", "baseball", "superman",
        "welcome1", "welcome123", "letmein1", "trustno1", "abcd1234", "abc12345", "computer", "michelle", "jennifer", "starwars",
        "whatever", "dragon123", "changeme", "administrator", "tally-demo",
    ]

    /// Why `password` may not be used for `username`, or nil when it may.
    public static func problem(password: String, username: String) -> String? {
        if password.count < minimumLength { return "must have at least \(minimumLength) characters" }
        let lowered = password.lowercased()
        if common.contains(lowered) { return "is one of the passwords attackers try first; choose another" }
        let name = username.lowercased()
        if name.count >= 3, lowered.contains(name) { return "must not contain the username" }
        return nil
    }
}
