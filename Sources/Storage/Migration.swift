import Foundation

/// One numbered schema change, read from `Migrations/NNNN_name.sql`.
public struct Migration: Sendable, Equatable {
    public let version: Int
    public let name: String
    public let sql: String
    /// Detects edits to a migration after it was applied. FNV-1a over the file's bytes: it
    /// guards against accidents, not adversaries, as Flyway's CRC-32 does.
    public let checksum: String

    /// The first line a migration starts with to run with foreign keys off (checked before its
    /// commit): one that rebuilds a table other tables reference, which would otherwise cascade
    /// the old table's deletion into them.
    public static let foreignKeysOffDirective = "-- migrator: foreign keys off"

    public var rebuildsReferencedTables: Bool { sql.hasPrefix(Self.foreignKeysOffDirective) }

    public init(version: Int, name: String, sql: String) {
        self.version = version
        self.name = name
        self.sql = sql
        self.checksum = Self.checksum(of: sql)
    }

    static func checksum(of sql: String) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in sql.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        let hex = String(hash, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }

    /// Every `NNNN_name.sql` file in `directory`, in version order.
    /// - Throws: naming the file, when a name does not follow the pattern or two share a version.
    public static func load(from directory: String) throws -> [Migration] {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: directory)
        } catch {
            throw StorageError("cannot read the migrations directory \(directory): \(error.localizedDescription)")
        }
        var migrations: [Migration] = []
        for fileName in names.sorted() where fileName.hasSuffix(".sql") {
            let stem = fileName.dropLast(4)
            guard let underscore = stem.firstIndex(of: "_"),
                  let version = Int(stem[..<underscore]), version > 0,
                  stem[..<underscore].allSatisfy(\.isNumber),
                  stem.index(after: underscore) < stem.endIndex else {
                throw StorageError("\(directory)/\(fileName): a migration file must be named NNNN_name.sql")
            }
            if let clash = migrations.first(where: { $0.version == version }) {
                throw StorageError("\(directory)/\(fileName): version \(version) is also used by \(clash.name)")
            }
            let path = directory + "/" + fileName
            guard let data = FileManager.default.contents(atPath: path), let sql = String(data: data, encoding: .utf8) else {
                throw StorageError("\(path): cannot read the file as UTF-8")
            }
            migrations.append(Migration(version: version, name: String(stem[stem.index(after: underscore)...]), sql: sql))
        }
        return migrations
    }
}
