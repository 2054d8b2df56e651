/// What a new password must be, in one place (the API, registration and `tally user add`):
/// at least 8 characters (NIST SP 800-63B's minimum for a chosen secret), not one of the
/// passwords attackers try first, and not built from the username. Nothing else is asked (no
/// composition rules: they make passwords no stronger, as 800-63B says).
public enum PasswordRules {
    public static let minimumLength = 8

    /// The passwords attackers try first: Django's list of 20,000 common passwords (Royce
    /// Williams's, from published breach corpora; `ThirdParty/django-common-passwords`), those
    /// long enough to pass the length rule, and Tally's own demo password. Built at first use.
    static let common: Set<String> = {
        var passwords = Set(commonPasswordList.split(separator: "\n").map(String.init))
        passwords.insert("tally-demo")
        return passwords
    }()

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
