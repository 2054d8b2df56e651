import Foundation

/// Where tests write their files: one folder for the whole test process, under the system's
/// temporary folder, removed when the process exits (after every test, passed or failed), so a
/// run of `make test` leaves nothing behind. Each test takes a fresh path inside it.
public enum TemporaryFiles {
    /// The process's folder, made on first use; its removal is registered with `atexit`.
    public static let root: String = {
        let path = NSTemporaryDirectory() + "tally-tests-\(getpid())-" + UUID().uuidString.prefix(8)
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        TemporaryFilesCleanup.path = path
        atexit { TemporaryFilesCleanup.removeAll() }
        return path
    }()

    /// A unique path inside `root` that does not exist yet; `name` ends it, for readable failures.
    public static func path(_ name: String) -> String {
        root + "/" + UUID().uuidString.prefix(8) + "-" + name
    }

    /// A fresh empty folder inside `root`.
    public static func directory(_ name: String) throws -> String {
        let path = path(name)
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }
}

/// What the `atexit` handler removes (a C function pointer cannot capture the path).
enum TemporaryFilesCleanup {
    nonisolated(unsafe) static var path: String?
    static func removeAll() {
        if let path { try? FileManager.default.removeItem(atPath: path) }
    }
}
