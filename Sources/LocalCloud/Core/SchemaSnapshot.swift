import GRDB

/// The schema a list of migrations leaves in an empty database, as SQLite keeps it: the statements of
/// `sqlite_master` in the order they were made, the table of applied migrations among them.
///
/// Why: a new database (every `--in-memory` start, and the first start on a state directory) would otherwise run
/// every migration of every service, and SQLite reads the whole schema again after each `ALTER TABLE ... ADD
/// COLUMN`: the migrations took 10-11.5 ms of a 22 ms start-up when this was written, where replaying the 35
/// statements takes SQLite under 2 ms (`skiff up` listened 5 ms sooner). A database that has any table follows the
/// migrations as before, so no existing state takes this path.
///
/// A snapshot is valid for one list of migrations only: ``CloudDatabase/migrate(_:freshSchema:)`` ignores it for
/// any other. The one `skiff up` uses is generated, and a test fails when it no longer matches the migrations.
public struct SchemaSnapshot: Sendable, Equatable {
    /// The identifiers of the migrations the statements stand for, in the order they are registered.
    public var migrations: [String]
    /// `CREATE` statements, in the order SQLite recorded them.
    public var statements: [String]

    public init(migrations: [String], statements: [String]) {
        self.migrations = migrations
        self.statements = statements
    }

    /// The schema of `db` (made by `migrations`). Indexes SQLite makes for constraints have no statement of their
    /// own and come back with their tables, as do SQLite's internal tables.
    public static func capture(_ db: Database, migrations: [String]) throws -> SchemaSnapshot {
        let statements = try String.fetchAll(
            db,
            sql: """
                SELECT sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY rowid
                """)
        return SchemaSnapshot(migrations: migrations, statements: statements)
    }

    /// Makes the schema in `db` and records its migrations as applied, if `db` has no schema at all; returns
    /// whether it did. The caller's transaction makes it all or nothing.
    func apply(to db: Database) throws -> Bool {
        guard try Int.fetchOne(db, sql: "SELECT count(*) FROM sqlite_master") == 0 else { return false }
        for statement in statements { try db.execute(sql: statement) }
        for identifier in migrations {
            try db.execute(sql: "INSERT INTO grdb_migrations (identifier) VALUES (?)", arguments: [identifier])
        }
        return true
    }
}
