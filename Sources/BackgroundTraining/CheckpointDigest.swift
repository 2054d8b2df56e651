import Cryptography
import Foundation
import Storage

/// The SHA-256 a model version records of its checkpoint: of the file (GGUF), or of a Hugging
/// Face folder's files' names and digests, one line each in name order, so that any change to
/// the weights, the configuration or the tokenizer changes it.
public enum CheckpointDigest {
    public static func of(_ path: String) throws -> String {
        try isFolder(path) ? ofFolder(path) : ofFile(path)
    }

    public static func ofFolder(_ path: String) throws -> String {
        let names: [String]
        do { names = try FileManager.default.contentsOfDirectory(atPath: path).sorted() } catch {
            throw StorageError("\(path): cannot list the model folder")
        }
        var lines = ""
        for name in names where !isFolder(path + "/" + name) { lines += "\(name) \(try ofFile(path + "/" + name))\n" }
        return SHA256.hexDigest(lines)
    }

    public static func ofFile(_ path: String) throws -> String {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw StorageError("\(path): cannot read the model file") }
        defer { try? handle.close() }
        let hasher = SHA256Hasher()
        while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty { hasher.update(chunk) }
        return Hex.encode(hasher.finalize())
    }

    public static func isFolder(_ path: String) -> Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue
    }
}
