import Foundation
import Testing
@testable import Storage

@Suite("Migrator")
struct MigratorTests {
    private let first = "CREATE TABLE prompts (id INTEGER PRIMARY KEY, text TEXT NOT NULL) STRICT;"
    private let second = "ALTER TABLE prompts ADD COLUMN category TEXT;"

    @Test func appliesAFreshDatabaseInOrderAndRecordsChecksums() throws {
        let directory = try makeMigrationsDirectory(["0001_prompts.sql": first, "0002_category.sql": second])
        let migrator = Migrator(migrations: try Migration.load(from: directory))
        let database = try Database(path: try temporaryDatabasePath())
        let applied = try migrator.migrate(database)
        #expect(applied.map(\.version) == [1, 2])
        try database.execute("INSERT INTO prompts (text, category) VALUES ('hi', 'chat')")
        let rows = try database.query("SELECT version, name, checksum FROM schema_migrations ORDER BY version")
        #expect(rows.map { $0["name"].text } == ["prompts", "category"])
        #expect(rows[0]["checksum"].text == Migration(version: 1, name: "prompts", sql: first).checksum)
        #expect(try migrator.migrate(database).isEmpty)
        #expect(try migrator.status(of: database).allSatisfy { $0.state == .applied })
    }

    @Test func appliesOnlyWhatIsNew() throws {
        let path = try temporaryDatabasePath()
        let database = try Database(path: path)
        let old = try makeMigrationsDirectory(["0001_prompts.sql": first])
        try Migrator(migrations: try Migration.load(from: old)).migrate(database)
        let new = try makeMigrationsDirectory(["0001_prompts.sql": first, "0002_category.sql": second])
        let migrator = Migrator(migrations: try Migration.load(from: new))
        #expect(try migrator.status(of: database).map(\.state) == [.applied, .pending])
        #expect(try migrator.migrate(database).map(\.version) == [2])
    }

    @Test func refusesWhenAnAppliedMigrationChanged() throws {
        let database = try Database(path: try temporaryDatabasePath())
        try Migrator(migrations: try Migration.load(from: try makeMigrationsDirectory(["0001_prompts.sql": first]))).migrate(database)
        let tampered = try makeMigrationsDirectory(["0001_prompts.sql": first + "\n-- edited", "0002_category.sql": second])
        let migrator = Migrator(migrations: try Migration.load(from: tampered))
        #expect(try migrator.status(of: database).first?.state == .changed)
        #expect { try migrator.migrate(database) } throws: { "\($0)".contains("0001_prompts.sql has changed") }
        // Nothing after the tampered migration was applied.
        #expect(try database.queryOne("SELECT * FROM pragma_table_info('prompts') WHERE name = 'category'") == nil)
    }

    @Test func refusesADatabaseNewerThanTheCode() throws {
        let database = try Database(path: try temporaryDatabasePath())
        try Migrator(migrations: try Migration.load(from: try makeMigrationsDirectory(["0001_prompts.sql": first, "0002_category.sql": second]))).migrate(database)
        let older = Migrator(migrations: try Migration.load(from: try makeMigrationsDirectory(["0001_prompts.sql": first])))
        #expect { try older.migrate(database) } throws: { "\($0)".contains("newer Tally") }
    }

    @Test func aFailingMigrationRollsBackWhole() throws {
        let database = try Database(path: try temporaryDatabasePath())
        let directory = try makeMigrationsDirectory([
            "0001_prompts.sql": first,
            "0002_broken.sql": "CREATE TABLE half (a INTEGER); INSERT INTO nowhere VALUES (1);",
        ])
        #expect { try Migrator(migrations: try Migration.load(from: directory)).migrate(database) } throws: {
            "\($0)".contains("0002_broken.sql failed and was rolled back")
        }
        #expect(try database.queryOne("SELECT name FROM sqlite_master WHERE name = 'half'") == nil)
        #expect(try database.queryScalarInt("SELECT count(*) FROM schema_migrations") == 1)
    }

    @Test(arguments: ["1_no_padding_ok.sql.txt", "abc_prompts.sql", "0001.sql", "0001_.sql"])
    func refusesBadFileNames(name: String) throws {
        let directory = try makeMigrationsDirectory([name: first])
        if name.hasSuffix(".sql") {
            #expect(throws: StorageError.self) { try Migration.load(from: directory) }
        } else {
            #expect(try Migration.load(from: directory).isEmpty)
        }
    }

    @Test func refusesDuplicateVersions() throws {
        let directory = try makeMigrationsDirectory(["0001_a.sql": first, "001_b.sql": second])
        #expect { try Migration.load(from: directory) } throws: { "\($0)".contains("version 1 is also used") }
    }

    /// A rebuild of a table others reference: with the directive, its rows' children survive
    /// the old table's drop (no cascade runs) and still refer to it; a rebuild that loses a
    /// referenced row is refused and rolled back whole. Without the directive, the drop cascades.
    @Test func aRebuildWithForeignKeysOffKeepsTheChildrenAndChecksThem() throws {
        let parent = """
            CREATE TABLE jobs (id INTEGER PRIMARY KEY, kind TEXT NOT NULL CHECK (kind IN ('a'))) STRICT;
            CREATE TABLE job_log (job_id INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE, line TEXT NOT NULL) STRICT;
            INSERT INTO jobs (id, kind) VALUES (1, 'a'); INSERT INTO job_log VALUES (1, 'hello');
            """
        func rebuild(copying rows: String, directive: Bool) -> String {
            (directive ? Migration.foreignKeysOffDirective + "\n" : "") + """
                CREATE TABLE new_jobs (id INTEGER PRIMARY KEY, kind TEXT NOT NULL CHECK (kind IN ('a', 'b'))) STRICT;
                INSERT INTO new_jobs SELECT * FROM jobs \(rows);
                DROP TABLE jobs;
                ALTER TABLE new_jobs RENAME TO jobs;
                """
        }
        let kept = try Database(path: try temporaryDatabasePath())
        try Migrator(migrations: try Migration.load(from: try makeMigrationsDirectory(["0001_jobs.sql": parent, "0002_rebuild.sql": rebuild(copying: "", directive: true)]))).migrate(kept)
        #expect(try kept.queryScalarInt("SELECT count(*) FROM job_log") == 1)
        try kept.execute("INSERT INTO jobs (kind) VALUES ('b')")
        #expect(throws: (any Error).self) { try kept.execute("INSERT INTO job_log VALUES (99, 'orphan')") }

        let lost = try Database(path: try temporaryDatabasePath())
        try Migrator(migrations: try Migration.load(from: try makeMigrationsDirectory(["0001_jobs.sql": parent]))).migrate(lost)
        let losing = Migrator(migrations: try Migration.load(from: try makeMigrationsDirectory(["0001_jobs.sql": parent, "0002_rebuild.sql": rebuild(copying: "WHERE id > 1", directive: true)])))
        #expect { try losing.migrate(lost) } throws: { "\($0)".contains("job_log referring to a missing row of jobs") }
        #expect(try lost.queryScalarInt("SELECT count(*) FROM jobs") == 1 && lost.queryScalarInt("SELECT count(*) FROM job_log") == 1, "rolled back whole")
        #expect(try lost.queryScalarInt("PRAGMA foreign_keys") == 1, "foreign keys are on again after")

        let cascaded = try Database(path: try temporaryDatabasePath())
        try Migrator(migrations: try Migration.load(from: try makeMigrationsDirectory(["0001_jobs.sql": parent, "0002_rebuild.sql": rebuild(copying: "", directive: false)]))).migrate(cascaded)
        #expect(try cascaded.queryScalarInt("SELECT count(*) FROM job_log") == 0, "what the directive prevents")
    }

    @Test func theShippedMigrationsApplyToAFreshDatabase() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let migrations = try Migration.load(from: root.appendingPathComponent("Migrations").path)
        #expect(!migrations.isEmpty)
        let database = try Database(path: try temporaryDatabasePath())
        try Migrator(migrations: migrations).migrate(database)
        #expect(try database.integrityCheck() == ["ok"])
        #expect(try database.query("PRAGMA foreign_key_check").isEmpty)
    }
}
