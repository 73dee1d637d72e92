import Foundation
import GRDB
import JSONCore
import LocalCloud

/// What a restarted server needs to resume an execution as AWS would: the deadlines its Wait states and task
/// timeouts count to, and the tasks it had started (their tokens, and what each integration started for them),
/// so that a resumed task is re-attached rather than invoked again.
extension StepFunctionsStore {
    /// A task an integration started: a callback or activity (`id` is its task token) or a `.sync` job
    /// (`id` is internal, `handle` names what it started: an ECS task, a child execution).
    struct TaskRecord: Sendable, Equatable {
        var id: String
        var executionArn: String
        var key: String
        /// Whether `id` is a task token a worker completes (callbacks and activities).
        var callback: Bool
        var status: Status
        var handle: JSON?

        enum Status: String, Sendable {
            /// The integration is being called.
            case starting = "STARTING"
            /// Called; waiting for a callback, a worker or the job.
            case waiting = "WAITING"
            /// An activity worker took it.
            case started = "STARTED"
            /// The state stopped waiting for it.
            case closed = "CLOSED"
        }
    }

    static func registerResumeMigrations(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("stepfunctions-v4-timers-tasks-configuration") { db in
            try db.create(table: "sfn_timers") { t in
                t.column("execution_arn", .text).notNull()
                t.column("key", .text).notNull()
                t.column("deadline", .double).notNull()
                t.primaryKey(["execution_arn", "key"])
            }
            try db.create(table: "sfn_tasks") { t in
                t.primaryKey("id", .text)
                t.column("execution_arn", .text).notNull()
                t.column("key", .text).notNull()
                t.column("callback", .boolean).notNull()
                t.column("status", .text).notNull()
                t.column("handle", .text)
                t.column("updated", .double).notNull()
            }
            try db.create(index: "sfn_tasks_by_execution", on: "sfn_tasks", columns: ["execution_arn", "key"])
            try db.alter(table: "sfn_state_machines") { t in
                t.add(column: "status", .text).notNull().defaults(to: "ACTIVE")
                t.add(column: "logging", .text)
                t.add(column: "tracing", .text)
                t.add(column: "encryption", .text)
            }
            try db.alter(table: "sfn_versions") { t in
                t.add(column: "logging", .text)
                t.add(column: "tracing", .text)
            }
            try db.alter(table: "sfn_executions") { t in
                t.add(column: "revision_id", .text)
            }
        }
    }

    // MARK: Timers

    func saveTimer(_ arn: String, key: String, deadline: Date?) async throws {
        try await database.writeGrouped { db in
            if let deadline {
                try db.executeCached(
                    "INSERT OR REPLACE INTO sfn_timers (execution_arn, key, deadline) VALUES (?, ?, ?)",
                    arguments: [arn, key, deadline.timeIntervalSince1970])
            } else {
                try db.executeCached("DELETE FROM sfn_timers WHERE execution_arn = ? AND key = ?", arguments: [arn, key])
            }
        }
    }

    func timers(_ arn: String) async throws -> [String: Date] {
        try await database.read { db in
            var result: [String: Date] = [:]
            try Row.fetchCursor(db.cachedStatement(sql: "SELECT key, deadline FROM sfn_timers WHERE execution_arn = ?"), arguments: [arn])
                .forEach { row in
                    result[row["key"]] = Date(timeIntervalSince1970: row["deadline"])
                }
            return result
        }
    }

    // MARK: Tasks

    static func taskRecord(_ row: Row) -> TaskRecord {
        TaskRecord(
            id: row["id"], executionArn: row["execution_arn"], key: row["key"], callback: row["callback"],
            status: TaskRecord.Status(rawValue: row["status"]) ?? .closed,
            handle: (row["handle"] as String?).flatMap { try? JSON(parsing: $0) })
    }

    func saveTask(_ task: TaskRecord) async throws {
        try await database.writeGrouped { db in
            try db.executeCached(
                """
                INSERT OR REPLACE INTO sfn_tasks (id, execution_arn, key, callback, status, handle, updated) VALUES (?, ?, ?, ?, ?, ?, ?)
                """,
                arguments: [
                    task.id, task.executionArn, task.key, task.callback, task.status.rawValue, task.handle?.serialized(),
                    Date().timeIntervalSince1970,
                ])
        }
    }

    func setTaskStatus(_ id: String, _ status: TaskRecord.Status, handle: JSON? = nil) async throws {
        try await database.writeGrouped { db in
            if let handle {
                try db.executeCached(
                    "UPDATE sfn_tasks SET status = ?, handle = ?, updated = ? WHERE id = ?",
                    arguments: [status.rawValue, handle.serialized(), Date().timeIntervalSince1970, id])
            } else {
                try db.executeCached(
                    "UPDATE sfn_tasks SET status = ?, updated = ? WHERE id = ?",
                    arguments: [status.rawValue, Date().timeIntervalSince1970, id])
            }
        }
    }

    func task(_ id: String) async throws -> TaskRecord? {
        try await database.read { db in try db.fetchOneCached("SELECT * FROM sfn_tasks WHERE id = ?", arguments: [id], Self.taskRecord) }
    }

    /// The task under way for `key` of an execution (not closed), if any.
    func openTask(_ arn: String, key: String) async throws -> TaskRecord? {
        try await database.read { db in
            try db.fetchOneCached(
                "SELECT * FROM sfn_tasks WHERE execution_arn = ? AND key = ? AND status != 'CLOSED' ORDER BY updated DESC",
                arguments: [arn, key], Self.taskRecord)
        }
    }

    /// The tasks under way of an execution by key, with their tokens ("" for tasks without one).
    func openTasks(_ arn: String) async throws -> [String: String] {
        try await database.read { db in
            var result: [String: String] = [:]
            try Row.fetchCursor(
                db.cachedStatement(sql: "SELECT * FROM sfn_tasks WHERE execution_arn = ? AND status != 'CLOSED'"), arguments: [arn]
            ).forEach { row in
                let task = Self.taskRecord(row)
                result[task.key] = task.callback ? task.id : ""
            }
            return result
        }
    }

    // MARK: History

    /// The events recorded after `lastEventId`, in order: those a resumed execution records again from its snapshot
    /// (``HistoryRecorder`` keeps each one as first recorded, with its own time, while the run repeats it).
    func events(_ arn: String, after lastEventId: Int) async throws -> [JSON] {
        try await historyPage(arn, after: lastEventId, newestFirst: false, limit: Int.max - 1)
    }

    /// Drops the events recorded after `lastEventId`: what a resumed execution did not repeat must not outlive the
    /// resume, and event ids stay contiguous.
    func truncateHistory(_ arn: String, after lastEventId: Int) async throws {
        try await database.write { db in
            try db.executeCached("DELETE FROM sfn_history WHERE execution_arn = ? AND id > ?", arguments: [arn, lastEventId])
        }
    }
}
