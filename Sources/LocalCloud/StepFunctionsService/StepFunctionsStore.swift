import AWSProtocol
import Foundation
import GRDB
import JSONCore
import LocalCloud
import States
import Synchronization

/// State machines, executions and their histories, in SQLite: every event is written as it happens, with the
/// execution's latest snapshot, so that a restarted server resumes running executions where they stood.
struct StepFunctionsStore: Sendable {
    let database: CloudDatabase
    /// The state machines read so far, by ARN. Every StartExecution reads its machine; this process is the only
    /// writer of the table, so the copy is kept exact by ``insert(_:)``, ``update(_:)`` and ``deleteMachine(_:)``.
    private let machines = ReadThroughCache<String, Machine>()

    struct Machine: Sendable {
        var arn: String
        var account: String
        var region: String
        var name: String
        var definition: String
        var roleArn: String
        var type: SFNAPI.StateMachineType
        var created: Date
        var updated: Date
        var description: String?
        var revisionId: String
        /// ACTIVE, or DELETING while executions started before DeleteStateMachine finish.
        var status = SFNAPI.StateMachineStatus.active
        /// LoggingConfiguration, TracingConfiguration and EncryptionConfiguration as given (botocore shapes).
        var logging: JSON? = nil
        var tracing: JSON? = nil
        var encryption: JSON? = nil
    }

    struct Execution: Sendable {
        var arn: String
        var account: String
        var region: String
        var machineArn: String
        var name: String
        var status: SFNAPI.ExecutionStatus
        var input: String
        var output: String?
        var error: String?
        var cause: String?
        var started: Date
        var stopped: Date?
        var definition: String
        var roleArn: String
        var snapshot: String?
        /// The version and alias the execution was started through, if any.
        var versionArn: String? = nil
        var aliasArn: String? = nil
        var redriveCount = 0
        var redriveDate: Date? = nil
        /// The revision of the machine (or version) the execution runs.
        var revisionId: String? = nil
    }

    static func registerMigrations(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("stepfunctions-v1") { db in
            try db.create(table: "sfn_state_machines") { t in
                t.primaryKey("arn", .text)
                t.column("account", .text).notNull()
                t.column("region", .text).notNull()
                t.column("name", .text).notNull()
                t.column("definition", .text).notNull()
                t.column("role_arn", .text).notNull()
                t.column("type", .text).notNull()
                t.column("created", .double).notNull()
                t.column("updated", .double).notNull()
                t.column("description", .text)
                t.column("revision_id", .text).notNull()
                t.column("tags", .text).notNull()
            }
            try db.create(table: "sfn_executions") { t in
                t.primaryKey("arn", .text)
                t.column("account", .text).notNull()
                t.column("region", .text).notNull()
                t.column("machine_arn", .text).notNull().indexed()
                t.column("name", .text).notNull()
                t.column("status", .text).notNull().indexed()
                t.column("input", .text).notNull()
                t.column("output", .text)
                t.column("error", .text)
                t.column("cause", .text)
                t.column("started", .double).notNull()
                t.column("stopped", .double)
                t.column("definition", .text).notNull()
                t.column("role_arn", .text).notNull()
                t.column("snapshot", .text)
            }
            try db.create(table: "sfn_history") { t in
                t.column("execution_arn", .text).notNull()
                t.column("id", .integer).notNull()
                t.column("event", .text).notNull()
                t.primaryKey(["execution_arn", "id"])
            }
        }
        registerCatalogMigrations(&migrator)
        migrator.registerMigration("stepfunctions-v5-execution-listing-index") { db in
            // ListExecutions' order (see ``executionsPage``), so that a page is a seek and a short walk of the index.
            try db.execute(sql: "CREATE INDEX sfn_executions_listing ON sfn_executions (machine_arn, \(startedMicros) DESC, arn)")
        }
        migrator.registerMigration("stepfunctions-v6-fewer-execution-indexes") { db in
            // Every execution written updates each index of the table. The listing index begins with the machine,
            // so the index on the machine alone served nothing; the status is looked up only for the running
            // executions to resume, which a partial index holds alone: an execution that ends adds nothing to it.
            try db.execute(
                sql: """
                    DROP INDEX sfn_executions_on_machine_arn;
                    DROP INDEX sfn_executions_on_status;
                    CREATE INDEX sfn_executions_running ON sfn_executions (started) WHERE status = 'RUNNING';
                    """)
        }
        migrator.registerMigration("stepfunctions-v7-resource-tags") { db in
            // The tags of state machines and activities move to the core's table, under the same ARNs.
            try db.execute(
                sql: """
                    INSERT OR REPLACE INTO resource_tags (arn, key, value)
                    SELECT m.arn, t.key, t.value FROM sfn_state_machines m, json_each(m.tags) t WHERE json_valid(m.tags);
                    INSERT OR REPLACE INTO resource_tags (arn, key, value)
                    SELECT a.arn, t.key, t.value FROM sfn_activities a, json_each(a.tags) t WHERE json_valid(a.tags);
                    ALTER TABLE sfn_state_machines DROP COLUMN tags;
                    ALTER TABLE sfn_activities DROP COLUMN tags;
                    """)
        }
    }

    /// An execution's start in whole microseconds: the listing's order and its page key (``PageKey/time(_:)``).
    static let startedMicros = "CAST(ROUND(started * 1000000) AS INTEGER)"

    // MARK: State machines

    func machine(_ arn: String) async throws -> Machine? {
        let (cached, generation) = machines.value(for: arn)
        if let cached { return cached }
        let machine = try await database.read { db in
            try db.fetchOneCached("SELECT * FROM sfn_state_machines WHERE arn = ?", arguments: [arn], Self.machine)
        }
        if let machine { machines.keep(machine, for: arn, readAt: generation) }
        return machine
    }

    static func machine(_ row: Row) -> Machine {
        Machine(
            arn: row["arn"], account: row["account"], region: row["region"], name: row["name"], definition: row["definition"],
            roleArn: row["role_arn"], type: .init(rawValue: row["type"]), created: Date(timeIntervalSince1970: row["created"]),
            updated: Date(timeIntervalSince1970: row["updated"]), description: row["description"], revisionId: row["revision_id"],
            status: .init(rawValue: row["status"] ?? "ACTIVE"), logging: json(row["logging"]), tracing: json(row["tracing"]),
            encryption: json(row["encryption"]))
    }

    static func json(_ text: String?) -> JSON? {
        text.flatMap { try? JSON(parsing: $0) }
    }

    /// Inserts the machine with its tags unless one with its ARN exists, and says whether it did: two
    /// CreateStateMachine calls for one name may both find no machine before either inserts, and the one that loses
    /// must answer as AWS does for an existing machine rather than fail on the primary key.
    func insertIfAbsent(_ m: Machine, tags: [SFNAPI.Tag]) async throws -> Bool {
        let inserted = try await database.write { db in
            try db.execute(
                sql: """
                    INSERT INTO sfn_state_machines (arn, account, region, name, definition, role_arn, type, created, updated, description, revision_id,
                    status, logging, tracing, encryption)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT (arn) DO NOTHING
                    """,
                arguments: [
                    m.arn, m.account, m.region, m.name, m.definition, m.roleArn, m.type.rawValue, m.created.timeIntervalSince1970,
                    m.updated.timeIntervalSince1970, m.description, m.revisionId, m.status.rawValue,
                    m.logging?.serialized(), m.tracing?.serialized(), m.encryption?.serialized(),
                ])
            guard db.changesCount > 0 else { return false }
            try ResourceTags.replace(db, arn: m.arn, with: Self.resourceTags(tags), rules: Self.tagRules)
            return true
        }
        if inserted { machines.store(m, for: m.arn) }
        return inserted
    }

    func update(_ m: Machine) async throws {
        try await database.write { db in
            try db.execute(
                sql: """
                    UPDATE sfn_state_machines SET definition = ?, role_arn = ?, updated = ?, description = ?, revision_id = ?, status = ?,
                    logging = ?, tracing = ?, encryption = ? WHERE arn = ?
                    """,
                arguments: [
                    m.definition, m.roleArn, m.updated.timeIntervalSince1970, m.description, m.revisionId, m.status.rawValue,
                    m.logging?.serialized(), m.tracing?.serialized(), m.encryption?.serialized(), m.arn,
                ])
        }
        // Re-read rather than trust `m`: an update may name a machine another request just deleted.
        machines.remove(m.arn)
    }

    func deleteMachine(_ arn: String) async throws {
        try await database.write { db in
            try db.executeCached("DELETE FROM sfn_state_machines WHERE arn = ?", arguments: [arn])
            try ResourceTags.removeAll(db, arn: arn)
        }
        machines.remove(arn)
    }

    func machines(account: String, region: String) async throws -> [Machine] {
        try await database.read { db in
            try db.fetchAllCached(
                "SELECT * FROM sfn_state_machines WHERE account = ? AND region = ? ORDER BY created, name", arguments: [account, region],
                Self.machine)
        }
    }

    // MARK: Executions

    static func execution(_ row: Row) -> Execution {
        Execution(
            arn: row["arn"], account: row["account"], region: row["region"], machineArn: row["machine_arn"], name: row["name"],
            status: .init(rawValue: row["status"]), input: row["input"], output: row["output"], error: row["error"], cause: row["cause"],
            started: Date(timeIntervalSince1970: row["started"]),
            stopped: (row["stopped"] as Double?).map { Date(timeIntervalSince1970: $0) },
            definition: row["definition"], roleArn: row["role_arn"], snapshot: row["snapshot"],
            versionArn: row["version_arn"], aliasArn: row["alias_arn"], redriveCount: row["redrive_count"] ?? 0,
            redriveDate: (row["redrive_date"] as Double?).map { Date(timeIntervalSince1970: $0) }, revisionId: row["revision_id"])
    }

    func execution(_ arn: String) async throws -> Execution? {
        try await database.read { db in
            try db.fetchOneCached("SELECT * FROM sfn_executions WHERE arn = ?", arguments: [arn], Self.execution)
        }
    }

    func insert(_ e: Execution) async throws {
        try await database.writeGrouped { db in
            try db.executeCached(
                """
                INSERT INTO sfn_executions (arn, account, region, machine_arn, name, status, input, started, definition, role_arn, version_arn, alias_arn,
                revision_id)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """,
                arguments: [
                    e.arn, e.account, e.region, e.machineArn, e.name, e.status.rawValue, e.input, e.started.timeIntervalSince1970,
                    e.definition, e.roleArn,
                    e.versionArn, e.aliasArn, e.revisionId,
                ])
        }
    }

    /// Inserts an execution that has already ended, with its history (written by `history` in the same
    /// transaction): one write for an execution run to its end at once. Fails like ``insert(_:)`` when the
    /// name is taken, writing nothing.
    func insertEnded(_ e: Execution, history: @escaping @Sendable (Database) throws -> Void) async throws {
        try await database.writeGrouped { db in
            try db.executeCached(
                """
                INSERT INTO sfn_executions (arn, account, region, machine_arn, name, status, input, output, error, cause, started, stopped, definition,
                role_arn, snapshot, version_arn, alias_arn, revision_id)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """,
                arguments: [
                    e.arn, e.account, e.region, e.machineArn, e.name, e.status.rawValue, e.input, e.output, e.error, e.cause,
                    e.started.timeIntervalSince1970, e.stopped?.timeIntervalSince1970, e.definition, e.roleArn, e.snapshot,
                    e.versionArn, e.aliasArn, e.revisionId,
                ])
            try history(db)
        }
    }

    func finish(_ arn: String, status: SFNAPI.ExecutionStatus, output: String?, error: String?, cause: String?, stopped: Date) async throws
    {
        try await database.writeGrouped { db in
            try db.executeCached(
                """
                UPDATE sfn_executions SET status = ?, output = ?, error = ?, cause = ?, stopped = ?,
                snapshot = CASE WHEN ? = 'SUCCEEDED' THEN NULL ELSE snapshot END WHERE arn = ? AND status = 'RUNNING'
                """, arguments: [status.rawValue, output, error, cause, stopped.timeIntervalSince1970, status.rawValue, arn])
            // The last snapshot of a failed, timed-out or aborted execution stays: RedriveExecution resumes from it.
            if status == .succeeded { try db.executeCached("DELETE FROM sfn_branches WHERE execution_arn = ?", arguments: [arn]) }
            // Deadlines only matter while the execution runs (a redrive waits its Wait states anew).
            try db.executeCached("DELETE FROM sfn_timers WHERE execution_arn = ?", arguments: [arn])
        }
    }

    /// The executions of a machine with the columns a listing shows: not the input, output, definition or
    /// snapshot of every execution.
    static let listingSelect = """
        SELECT arn, account, region, machine_arn, name, status, '' AS input, started, stopped, '' AS definition, role_arn,
        version_arn, alias_arn, redrive_count, redrive_date, revision_id FROM sfn_executions WHERE machine_arn = ?
        """

    /// The executions of a machine, newest first, as a listing shows them: without input, output, definition or
    /// snapshot (fetch one with ``execution(_:)`` for those).
    func executions(machineArn: String, status: SFNAPI.ExecutionStatus?) async throws -> [Execution] {
        try await database.read { db in
            var sql = Self.listingSelect
            var arguments: StatementArguments = [machineArn]
            if let status {
                sql += " AND status = ?"
                arguments += [status.rawValue]
            }
            sql += " ORDER BY started DESC, rowid DESC"
            return try db.fetchAllCached(sql, arguments: arguments, Self.execution)
        }
    }

    /// What a ListExecutions page is filtered by, besides its machine.
    struct ExecutionFilter: Sendable {
        var status: SFNAPI.ExecutionStatus?
        /// Started through this version or alias.
        var versionArn: String?
        var aliasArn: String?
        /// Redriven at least once (true) or never (false).
        var redriven: Bool?
    }

    /// One page of a machine's executions as a listing shows them (see ``executions(machineArn:status:)``),
    /// newest first and by ARN among those started in the same microsecond: the `limit` after the one started at
    /// `after.micros` with ARN `after.arn`. Paged by SQLite along the `sfn_executions_listing` index, so that a
    /// page costs the same however many executions the machine has.
    func executionsPage(
        machineArn: String, filter: ExecutionFilter, after: (micros: Int, arn: String)?, limit: Int
    ) async throws -> [Execution] {
        try await database.read { db in
            let micros = Self.startedMicros
            var sql = Self.listingSelect
            var arguments: StatementArguments = [machineArn]
            if let status = filter.status {
                sql += " AND status = ?"
                arguments += [status.rawValue]
            }
            if let version = filter.versionArn {
                sql += " AND version_arn = ?"
                arguments += [version]
            }
            if let alias = filter.aliasArn {
                sql += " AND alias_arn = ?"
                arguments += [alias]
            }
            if let redriven = filter.redriven {
                sql += redriven ? " AND COALESCE(redrive_count, 0) > 0" : " AND COALESCE(redrive_count, 0) = 0"
            }
            if let after {
                // The first term bounds the index range (a seek); the second skips the ARNs already listed.
                sql += " AND \(micros) <= ? AND (\(micros) < ? OR arn > ?)"
                arguments += [after.micros, after.micros, after.arn]
            }
            sql += " ORDER BY \(micros) DESC, arn LIMIT ?"
            arguments += [limit]
            return try db.fetchAllCached(sql, arguments: arguments, Self.execution)
        }
    }

    func runningExecutions() async throws -> [Execution] {
        try await database.read { db in
            try db.fetchAllCached("SELECT * FROM sfn_executions WHERE status = 'RUNNING' ORDER BY started", Self.execution)
        }
    }

    // MARK: History

    /// Writes one row of an execution's history: an event, or an array of consecutive events under the last one's id.
    static let insertHistoryRow = "INSERT OR REPLACE INTO sfn_history (execution_arn, id, event) VALUES (?, ?, ?)"

    /// Queues a history event without waiting for its commit: the snapshot or status written durably after it
    /// commits it too, and an event lost in a crash after the last snapshot is recorded again on resume.
    func append(event: JSON, id: Int, to arn: String) async {
        let text = event.serialized()
        await database.queueGrouped { db in
            try db.executeCached(Self.insertHistoryRow, arguments: [arn, id, text])
        }
    }

    func saveSnapshot(_ text: String, for arn: String) async throws {
        try await database.writeGrouped { db in
            try db.executeCached("UPDATE sfn_executions SET snapshot = ? WHERE arn = ? AND status = 'RUNNING'", arguments: [text, arn])
        }
    }

    /// One page of an execution's history, read from the rows it needs only, so that a page of a long history
    /// (up to 25,000 events) costs what a page of a short one does: the events after event `after`, oldest
    /// first, or with `newestFirst` the events before it (from the last when nil). Returns up to `limit + 1`
    /// events: one more than `limit` when there are more.
    ///
    /// A row holds one event, or an array of consecutive events stored under the id of its last (an execution
    /// run to its end at once writes its whole history as one row): the row holding event `n` is the first at or
    /// past `n`.
    func historyPage(_ arn: String, after: Int?, newestFirst: Bool, limit: Int) async throws -> [JSON] {
        try await database.read { db in
            var events: [JSON] = []
            let wanted = limit + 1
            /// Adds the events of one row that belong to the page; true once the page is full.
            func take(_ text: String) -> Bool {
                guard let parsed = try? JSON(parsing: text) else { return false }
                var run: [JSON]
                if case .array(let array) = parsed { run = array } else { run = [parsed] }
                if newestFirst { run.reverse() }
                for event in run {
                    let id = event["id"]?.intValue ?? 0
                    if let after, newestFirst ? id >= after : id <= after { continue }
                    events.append(event)
                    if events.count == wanted { return true }
                }
                return false
            }
            let rows: RowCursor
            if newestFirst {
                var top = Int.max
                if let after {
                    let holding = try Int.fetchOne(
                        db.cachedStatement(sql: "SELECT min(id) FROM sfn_history WHERE execution_arn = ? AND id >= ?"),
                        arguments: [arn, after - 1])
                    guard let holding else { return [] }
                    top = holding
                }
                rows = try Row.fetchCursor(
                    db.cachedStatement(sql: "SELECT event FROM sfn_history WHERE execution_arn = ? AND id <= ? ORDER BY id DESC"),
                    arguments: [arn, top])
            } else {
                rows = try Row.fetchCursor(
                    db.cachedStatement(sql: "SELECT event FROM sfn_history WHERE execution_arn = ? AND id > ? ORDER BY id"),
                    arguments: [arn, after ?? 0])
            }
            while let row = try rows.next() {
                if take(row[0]) { break }
            }
            return events
        }
    }

    // MARK: Tags of state machines and activities

    /// Step Functions' answers to tags that break AWS's tag rules.
    static let tagRules = TagRules { violation in
        switch violation {
        case .tooMany(let count, let maximum):
            SFNAPI.Errors.tooManyTags("Too many tags: a resource can have at most \(maximum) tags, this request would give it \(count)")
        default: AWSError.validation(violation.message)
        }
    }

    static func resourceTags(_ tags: [SFNAPI.Tag]) -> [ResourceTag] {
        tags.map { ResourceTag(key: $0.key ?? "", value: $0.value ?? "") }
    }

    func tags(_ arn: String) async throws -> [SFNAPI.Tag] {
        try await database.read { db in try ResourceTags.tags(db, arn: arn).map { SFNAPI.Tag(key: $0.key, value: $0.value) } }
    }

    func addTags(_ arn: String, _ tags: [SFNAPI.Tag]) async throws {
        try await database.write { db in try ResourceTags.add(db, arn: arn, Self.resourceTags(tags), rules: Self.tagRules) }
    }

    func removeTags(_ arn: String, keys: [String]) async throws {
        try await database.write { db in try ResourceTags.remove(db, arn: arn, keys: keys) }
    }
}

extension SFNAPI.ExecutionStatus {
    /// The API's name for how the engine ended an execution.
    init(_ status: States.ExecutionStatus) {
        switch status {
        case .running: self = .running
        case .succeeded: self = .succeeded
        case .failed: self = .failed
        case .timedOut: self = .timedOut
        case .aborted: self = .aborted
        }
    }
}
