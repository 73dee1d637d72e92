import AWSProtocol
import Foundation
import GRDB
import JSONCore
import LocalCloud

/// Activities, published versions and aliases of state machines, and what redriving an execution changes.
extension StepFunctionsStore {
    struct Activity: Sendable {
        var arn: String
        var account: String
        var region: String = ""
        var name: String
        var created: Date
    }

    struct Version: Sendable {
        var arn: String
        var machineArn: String
        var number: Int
        var definition: String
        var roleArn: String
        var description: String?
        var revisionId: String
        var created: Date
        /// The machine's logging and tracing configuration when the version was published.
        var logging: JSON? = nil
        var tracing: JSON? = nil
    }

    struct Alias: Sendable {
        var arn: String
        var machineArn: String
        var name: String
        var description: String?
        /// (version ARN, weight) pairs; weights add up to 100.
        var routing: [(String, Int)]
        var created: Date
        var updated: Date
    }

    static func registerCatalogMigrations(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("stepfunctions-v2-activities-versions-aliases-redrive") { db in
            try db.create(table: "sfn_activities") { t in
                t.primaryKey("arn", .text)
                t.column("account", .text).notNull()
                t.column("region", .text).notNull()
                t.column("name", .text).notNull()
                t.column("created", .double).notNull()
                t.column("tags", .text).notNull()
            }
            try db.create(table: "sfn_versions") { t in
                t.primaryKey("arn", .text)
                t.column("machine_arn", .text).notNull().indexed()
                t.column("number", .integer).notNull()
                t.column("definition", .text).notNull()
                t.column("role_arn", .text).notNull()
                t.column("description", .text)
                t.column("revision_id", .text).notNull()
                t.column("created", .double).notNull()
            }
            try db.create(table: "sfn_aliases") { t in
                t.primaryKey("arn", .text)
                t.column("machine_arn", .text).notNull().indexed()
                t.column("name", .text).notNull()
                t.column("description", .text)
                t.column("routing", .text).notNull()
                t.column("created", .double).notNull()
                t.column("updated", .double).notNull()
            }
            try db.alter(table: "sfn_executions") { t in
                t.add(column: "version_arn", .text)
                t.add(column: "alias_arn", .text)
                t.add(column: "redrive_count", .integer).notNull().defaults(to: 0)
                t.add(column: "redrive_date", .double)
            }
            // The highest version number ever published per machine: numbers are not reused after a delete.
            try db.create(table: "sfn_version_counters") { t in
                t.primaryKey("machine_arn", .text)
                t.column("value", .integer).notNull()
            }
        }
        registerBranchMigrations(&migrator)
    }

    static func registerBranchMigrations(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("stepfunctions-v3-branch-progress") { db in
            try db.create(table: "sfn_branches") { t in
                t.column("execution_arn", .text).notNull()
                t.column("key", .text).notNull()
                t.column("progress", .text).notNull()
                t.primaryKey(["execution_arn", "key"])
            }
        }
        registerResumeMigrations(&migrator)
    }

    // MARK: Map iterations and Parallel branches

    func saveBranch(_ arn: String, key: String, progress: String) async throws {
        try await database.writeGrouped { db in
            try db.executeCached(
                "INSERT OR REPLACE INTO sfn_branches (execution_arn, key, progress) VALUES (?, ?, ?)", arguments: [arn, key, progress])
        }
    }

    func clearBranches(_ arn: String) async throws {
        try await database.writeGrouped { db in
            try db.executeCached("DELETE FROM sfn_branches WHERE execution_arn = ?", arguments: [arn])
        }
    }

    func branches(_ arn: String) async throws -> [String: String] {
        try await database.read { db in
            var result: [String: String] = [:]
            try Row.fetchCursor(db.cachedStatement(sql: "SELECT key, progress FROM sfn_branches WHERE execution_arn = ?"), arguments: [arn])
                .forEach { row in
                    result[row["key"]] = row["progress"]
                }
            return result
        }
    }

    // MARK: Activities

    static func activity(_ row: Row) -> Activity {
        Activity(
            arn: row["arn"], account: row["account"], region: row["region"], name: row["name"],
            created: Date(timeIntervalSince1970: row["created"]))
    }

    func activity(_ arn: String) async throws -> Activity? {
        try await database.read { db in try db.fetchOneCached("SELECT * FROM sfn_activities WHERE arn = ?", arguments: [arn], Self.activity)
        }
    }

    func insert(_ a: Activity, region: String, tags: [SFNAPI.Tag]) async throws {
        try await database.write { db in
            try db.execute(
                sql: "INSERT INTO sfn_activities (arn, account, region, name, created) VALUES (?, ?, ?, ?, ?)",
                arguments: [a.arn, a.account, region, a.name, a.created.timeIntervalSince1970])
            try ResourceTags.replace(db, arn: a.arn, with: Self.resourceTags(tags), rules: Self.tagRules)
        }
    }

    func deleteActivity(_ arn: String) async throws {
        try await database.write { db in
            try db.executeCached("DELETE FROM sfn_activities WHERE arn = ?", arguments: [arn])
            try ResourceTags.removeAll(db, arn: arn)
        }
    }

    func activities(account: String, region: String) async throws -> [Activity] {
        try await database.read { db in
            try db.fetchAllCached(
                "SELECT * FROM sfn_activities WHERE account = ? AND region = ? ORDER BY created, name",
                arguments: [account, region], Self.activity)
        }
    }

    // MARK: Versions

    static func version(_ row: Row) -> Version {
        Version(
            arn: row["arn"], machineArn: row["machine_arn"], number: row["number"], definition: row["definition"], roleArn: row["role_arn"],
            description: row["description"], revisionId: row["revision_id"], created: Date(timeIntervalSince1970: row["created"]),
            logging: (row["logging"] as String?).flatMap { try? JSON(parsing: $0) },
            tracing: (row["tracing"] as String?).flatMap { try? JSON(parsing: $0) })
    }

    func version(_ arn: String) async throws -> Version? {
        try await database.read { db in try db.fetchOneCached("SELECT * FROM sfn_versions WHERE arn = ?", arguments: [arn], Self.version) }
    }

    /// Newest first, as ListStateMachineVersions answers.
    func versions(of machineArn: String) async throws -> [Version] {
        try await database.read { db in
            try db.fetchAllCached(
                "SELECT * FROM sfn_versions WHERE machine_arn = ? ORDER BY number DESC", arguments: [machineArn], Self.version)
        }
    }

    /// Publishes the machine's current definition as the next version number (never reused, as in AWS: the
    /// number continues after deleted versions).
    func publishVersion(of machine: Machine, description: String?, at date: Date) async throws -> Version {
        try await database.write { db in
            let highest =
                try Int.fetchOne(
                    db.cachedStatement(sql: "SELECT max(number) FROM sfn_versions WHERE machine_arn = ?"), arguments: [machine.arn]) ?? 0
            let counter =
                try Int.fetchOne(
                    db.cachedStatement(sql: "SELECT value FROM sfn_version_counters WHERE machine_arn = ?"), arguments: [machine.arn]) ?? 0
            let number = max(highest, counter) + 1
            let version = Version(
                arn: "\(machine.arn):\(number)", machineArn: machine.arn, number: number, definition: machine.definition,
                roleArn: machine.roleArn, description: description, revisionId: machine.revisionId, created: date,
                logging: machine.logging, tracing: machine.tracing)
            try db.execute(
                sql: """
                    INSERT INTO sfn_versions (arn, machine_arn, number, definition, role_arn, description, revision_id, created, logging, tracing)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    version.arn, version.machineArn, number, version.definition, version.roleArn, description, version.revisionId,
                    date.timeIntervalSince1970, machine.logging?.serialized(), machine.tracing?.serialized(),
                ])
            try db.executeCached(
                "INSERT OR REPLACE INTO sfn_version_counters (machine_arn, value) VALUES (?, ?)", arguments: [machine.arn, number])
            return version
        }
    }

    func deleteVersion(_ arn: String) async throws {
        try await database.write { db in try db.executeCached("DELETE FROM sfn_versions WHERE arn = ?", arguments: [arn]) }
    }

    // MARK: Aliases

    static func alias(_ row: Row) -> Alias {
        let routing = (try? JSON(parsing: row["routing"] as String))?.arrayValue ?? []
        return Alias(
            arn: row["arn"], machineArn: row["machine_arn"], name: row["name"], description: row["description"],
            routing: routing.compactMap { pair in
                guard let arn = pair[0]?.stringValue, let weight = pair[1]?.intValue else { return nil }
                return (arn, weight)
            },
            created: Date(timeIntervalSince1970: row["created"]), updated: Date(timeIntervalSince1970: row["updated"]))
    }

    func alias(_ arn: String) async throws -> Alias? {
        try await database.read { db in try db.fetchOneCached("SELECT * FROM sfn_aliases WHERE arn = ?", arguments: [arn], Self.alias) }
    }

    func aliases(of machineArn: String) async throws -> [Alias] {
        try await database.read { db in
            try db.fetchAllCached(
                "SELECT * FROM sfn_aliases WHERE machine_arn = ? ORDER BY created, name", arguments: [machineArn], Self.alias)
        }
    }

    func save(_ alias: Alias) async throws {
        let routing = JSON.array(alias.routing.map { [.string($0.0), .number(Double($0.1))] }).serialized()
        try await database.write { db in
            try db.execute(
                sql: """
                    INSERT OR REPLACE INTO sfn_aliases (arn, machine_arn, name, description, routing, created, updated) VALUES (?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    alias.arn, alias.machineArn, alias.name, alias.description, routing, alias.created.timeIntervalSince1970,
                    alias.updated.timeIntervalSince1970,
                ])
        }
    }

    func deleteAlias(_ arn: String) async throws {
        try await database.write { db in try db.executeCached("DELETE FROM sfn_aliases WHERE arn = ?", arguments: [arn]) }
    }

    /// Deleting a state machine deletes its versions and aliases with it.
    func deleteVersionsAndAliases(of machineArn: String) async throws {
        try await database.write { db in
            try db.executeCached("DELETE FROM sfn_versions WHERE machine_arn = ?", arguments: [machineArn])
            try db.executeCached("DELETE FROM sfn_aliases WHERE machine_arn = ?", arguments: [machineArn])
            try db.executeCached("DELETE FROM sfn_version_counters WHERE machine_arn = ?", arguments: [machineArn])
        }
    }

    // MARK: Redrive

    /// Marks a stopped execution running again for a redrive; false if it was not in a redrivable status.
    func redrive(_ arn: String, at date: Date) async throws -> Bool {
        try await database.write { db in
            try db.execute(
                sql: """
                    UPDATE sfn_executions SET status = 'RUNNING', stopped = NULL, output = NULL, error = NULL, cause = NULL,
                    redrive_count = redrive_count + 1, redrive_date = ? WHERE arn = ? AND status IN ('FAILED', 'TIMED_OUT', 'ABORTED')
                    """, arguments: [date.timeIntervalSince1970, arn])
            return db.changesCount > 0
        }
    }

    func lastEventId(_ arn: String) async throws -> Int {
        try await database.read { db in
            try Int.fetchOne(db.cachedStatement(sql: "SELECT max(id) FROM sfn_history WHERE execution_arn = ?"), arguments: [arn]) ?? 0
        }
    }
}
