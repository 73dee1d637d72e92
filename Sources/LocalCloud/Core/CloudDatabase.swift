import Foundation
import GRDB

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The local cloud's SQLite database: one file under the state directory (WAL mode), or memory for tests.
///
/// Each service registers its own migrations; its tables carry `account` and `region` columns, because every
/// AWS resource lives in one account and one region.
public final class CloudDatabase: Sendable {
    public let writer: any DatabaseWriter
    /// The database file, or nil in memory.
    public let path: String?
    private let groupCommit: GroupCommit

    /// Opens (creating if needed) `<stateDirectory>/skiff.sqlite`, or an in-memory database when nil. A folder
    /// that cannot be made or used throws a ``StateDirectoryError``.
    public init(stateDirectory: String?) throws {
        var configuration = Configuration()
        configuration.busyMode = .timeout(10)
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
        }
        if let stateDirectory {
            let path = (stateDirectory as NSString).appendingPathComponent("skiff.sqlite")
            try Self.makePrivate(stateDirectory: stateDirectory, database: path)
            self.path = path
            writer = try DatabasePool(path: path, configuration: configuration)  // WAL by default
        } else {
            path = nil
            writer = try DatabaseQueue(configuration: configuration)
        }
        groupCommit = GroupCommit(writer: writer)
    }

    /// Creates the state directory readable by its owner only (0700) and the database file 0600, and makes an
    /// existing database so: the database holds task environments, which often carry secrets. SQLite gives its log
    /// and shared-memory files the database file's mode. An existing directory is made 0700 only when it already
    /// holds a database of Skiff's: `--state-dir /tmp` must not close /tmp to others.
    static func makePrivate(stateDirectory: String, database: String) throws(StateDirectoryError) {
        let files = FileManager.default
        var isDirectory: ObjCBool = false
        if !files.fileExists(atPath: stateDirectory, isDirectory: &isDirectory) {
            do {
                try files.createDirectory(atPath: stateDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            } catch {
                throw StateDirectoryError(path: stateDirectory, error)
            }
        } else if !isDirectory.boolValue {
            throw StateDirectoryError(path: stateDirectory, reason: "it is a file, not a folder")
        } else if files.fileExists(atPath: database), chmod(stateDirectory, 0o700) != 0 {
            throw StateDirectoryError(path: stateDirectory, errno: errno)
        }
        for suffix in ["", "-wal", "-shm"] where files.fileExists(atPath: database + suffix) {
            guard chmod(database + suffix, 0o600) == 0 else { throw StateDirectoryError(path: database + suffix, errno: errno) }
        }
        if !files.fileExists(atPath: database) {
            let descriptor = open(database, O_CREAT | O_WRONLY | O_CLOEXEC, 0o600)
            guard descriptor >= 0 else { throw StateDirectoryError(path: database, errno: errno) }
            _ = closeFile(descriptor)
        }
    }

    /// Writes the write-ahead log back into the database file (leaving it empty) and closes every connection, so
    /// that the file of a stopped local cloud holds all its state and can be copied alone. A killed local cloud
    /// leaves its log behind; SQLite replays it at the next start.
    public func close() throws {
        if let pool = writer as? DatabasePool {
            _ = try pool.writeWithoutTransaction { try $0.checkpoint(.truncate) }
            try pool.close()
        }
    }

    /// Applies the migrations of every service, in order. An empty database whose migrations are those of
    /// `freshSchema` is given that schema at once instead (see ``SchemaSnapshot``); returns whether it was.
    @discardableResult
    public func migrate(_ services: [any LocalService], freshSchema: SchemaSnapshot? = nil) throws -> Bool {
        let migrator = Self.migrator(services)
        var snapshotApplied = false
        if let freshSchema, freshSchema.migrations == migrator.migrations {
            snapshotApplied = try writer.write { db in try freshSchema.apply(to: db) }
        }
        // Nothing is left to do after the snapshot; run anyway, so a database it did not apply to is migrated.
        try migrator.migrate(writer)
        return snapshotApplied
    }

    /// The migrations of skiff's own tables and of `services`, in the order they apply.
    public static func migrator(_ services: [any LocalService]) -> DatabaseMigrator {
        // Skiff's tables declare no foreign keys, so the foreign-key check GRDB runs after each migration (every
        // table scanned, every migration) would only cost start-up time.
        var migrator = DatabaseMigrator().disablingDeferredForeignKeyChecks()
        migrator.registerMigration("skiff-v1") { db in
            try db.create(table: "skiff_metadata", ifNotExists: true) { t in
                t.primaryKey("key", .text)
                t.column("value", .text).notNull()
            }
        }
        ResourceTags.registerMigration(&migrator)
        for service in services { service.registerMigrations(&migrator) }
        return migrator
    }

    public func read<T: Sendable>(_ body: @Sendable (Database) throws -> T) async throws -> T {
        if path == nil {
            // In memory there is one connection (a DatabaseQueue), and GRDB guards each of its reads by setting
            // and clearing `PRAGMA query_only`; SQLite expires every prepared statement of a connection whenever
            // such a flag changes, so each read made every cached statement compile again at its next use
            // (465K of the 884K instructions of a ListStateMachines). The queue runs one closure at a time, so a
            // read needs neither guard nor transaction to see one consistent state.
            return try await writer.writeWithoutTransaction(body)
        }
        return try await writer.read(body)
    }

    public func write<T: Sendable>(_ body: @Sendable (Database) throws -> T) async throws -> T {
        try await writer.write(body)
    }

    /// A small write committed together with the other writes queued at the same time (see ``GroupCommit``):
    /// for frequent appends from many concurrent tasks, such as execution history. Returns once committed.
    public func writeGrouped(_ body: @escaping @Sendable (Database) throws -> Void) async throws {
        try await groupCommit.write(body)
    }

    /// A small write queued for the next group commit without waiting for it: for records whose loss in a
    /// crash is repaired by what is written durably after them (history events past the last snapshot are
    /// recorded again when the execution resumes from it). Committed in order with ``writeGrouped(_:)``.
    public func queueGrouped(_ body: @escaping @Sendable (Database) throws -> Void) async {
        await groupCommit.queue(body)
    }
}

/// Why the state directory or its database file cannot be used: the path and the system's reason, in one line.
public struct StateDirectoryError: Error, CustomStringConvertible {
    public let path: String
    public let reason: String

    public init(path: String, reason: String) {
        self.path = path
        self.reason = reason
    }

    init(path: String, errno code: Int32) {
        self.init(path: path, reason: String(cString: strerror(code)))
    }

    /// From a Foundation file error: the POSIX reason underneath it where there is one.
    init(path: String, _ error: any Error) {
        let underlying = ((error as NSError).userInfo[NSUnderlyingErrorKey] as? any Error).map { $0 as NSError }
        if let underlying, underlying.domain == NSPOSIXErrorDomain {
            self.init(path: path, errno: Int32(clamping: underlying.code))
        } else {
            self.init(path: path, reason: (error as NSError).localizedDescription)
        }
    }

    public var description: String { "\(path): \(reason)" }
}

/// The system's `close`, which `CloudDatabase.close()` hides inside the class.
private func closeFile(_ descriptor: Int32) -> Int32 { close(descriptor) }
