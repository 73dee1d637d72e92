import AWSProtocol
import Foundation
import GRDB
import JSONCore
import TargetDelivery

/// The Scheduler tables: schedule groups, schedules (the whole `GetSchedule` document plus its next fire
/// time, so a restart rebuilds the timer queue with one query) and tags by ARN.
enum ScheduleStore {
    static func registerMigrations(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("scheduler-v1") { db in
            try db.create(table: "scheduler_group") { t in
                t.column("account", .text).notNull()
                t.column("region", .text).notNull()
                t.column("name", .text).notNull()
                t.column("created", .double).notNull()
                t.primaryKey(["account", "region", "name"])
            }
            try db.create(table: "scheduler_schedule") { t in
                t.column("account", .text).notNull()
                t.column("region", .text).notNull()
                t.column("group_name", .text).notNull()
                t.column("name", .text).notNull()
                t.column("state", .text).notNull()
                /// Epoch seconds of the next due time, or NULL when the schedule will not fire again.
                t.column("next_fire", .double)
                t.column("document", .text).notNull()
                t.primaryKey(["account", "region", "group_name", "name"])
            }
            try db.create(table: "scheduler_tag") { t in
                t.column("arn", .text).notNull()
                t.column("key", .text).notNull()
                t.column("value", .text).notNull()
                t.primaryKey(["arn", "key"])
            }
        }
        migrator.registerMigration("scheduler-v2-client-token") { db in
            // The ClientToken a schedule was created with, and the request it stood for, kept as long as the
            // schedule: the retry of a CreateSchedule that succeeded gets the same answer instead of a conflict.
            try db.create(table: "scheduler_client_token") { t in
                t.column("account", .text).notNull()
                t.column("region", .text).notNull()
                t.column("group_name", .text).notNull()
                t.column("name", .text).notNull()
                t.column("token", .text).notNull()
                t.column("request", .text).notNull()
                t.primaryKey(["account", "region", "group_name", "name"])
            }
        }
    }

    static func decodeSchedule(_ text: String) throws -> SchedulerAPI.GetScheduleOutput {
        var decoder = ShapeDecoder()
        return try SchedulerAPI.GetScheduleOutput(json: try JSON(parsing: Array(text.utf8)), decoder: &decoder, path: "")
    }

    static func schedule(_ db: Database, key: ScheduleKey) throws -> SchedulerAPI.GetScheduleOutput? {
        try document(db, key: key).map(decodeSchedule)
    }

    /// The stored `GetSchedule` document, as text: what a fire compares to see whether the schedule changed.
    static func document(_ db: Database, key: ScheduleKey) throws -> String? {
        try String.fetchOne(db, sql: """
            SELECT document FROM scheduler_schedule WHERE account = ? AND region = ? AND group_name = ? AND name = ?
            """, arguments: [key.account, key.region, key.group, key.name])
    }

    /// Sets only the next fire time, and only while the schedule is still `document` (no UpdateSchedule since it
    /// was read); returns whether it did. A fire must not write back a schedule an update has replaced.
    static func setNextFire(_ db: Database, key: ScheduleKey, nextFire: Date?, ifDocument document: String) throws -> Bool {
        try db.execute(sql: """
            UPDATE scheduler_schedule SET next_fire = ?
            WHERE account = ? AND region = ? AND group_name = ? AND name = ? AND document = ?
            """, arguments: [nextFire?.timeIntervalSince1970, key.account, key.region, key.group, key.name, document])
        return db.changesCount > 0
    }

    static func clientToken(_ db: Database, key: ScheduleKey) throws -> (String, String)? {
        try Row.fetchOne(db, sql: """
            SELECT token, request FROM scheduler_client_token WHERE account = ? AND region = ? AND group_name = ? AND name = ?
            """, arguments: [key.account, key.region, key.group, key.name]).map { ($0["token"], $0["request"]) }
    }

    static func setClientToken(_ db: Database, key: ScheduleKey, token: String, request: String) throws {
        try db.execute(sql: """
            INSERT OR REPLACE INTO scheduler_client_token (account, region, group_name, name, token, request) VALUES (?, ?, ?, ?, ?, ?)
            """, arguments: [key.account, key.region, key.group, key.name, token, request])
    }

    static func save(_ db: Database, key: ScheduleKey, schedule: SchedulerAPI.GetScheduleOutput, nextFire: Date?) throws {
        try db.execute(sql: """
            INSERT OR REPLACE INTO scheduler_schedule (account, region, group_name, name, state, next_fire, document)
            VALUES (?, ?, ?, ?, ?, ?, ?)
            """, arguments: [key.account, key.region, key.group, key.name, (schedule.state ?? .enabled).rawValue,
                             nextFire?.timeIntervalSince1970, schedule.json().serialized()])
    }

    static func delete(_ db: Database, key: ScheduleKey) throws {
        try db.execute(sql: "DELETE FROM scheduler_schedule WHERE account = ? AND region = ? AND group_name = ? AND name = ?",
                       arguments: [key.account, key.region, key.group, key.name])
        try db.execute(sql: "DELETE FROM scheduler_client_token WHERE account = ? AND region = ? AND group_name = ? AND name = ?",
                       arguments: [key.account, key.region, key.group, key.name])
        try db.executeCached("DELETE FROM scheduler_tag WHERE arn = ?", arguments: [key.arn])
    }

    static func groupExists(_ db: Database, account: String, region: String, name: String) throws -> Bool {
        if name == "default" { return true }
        return try Bool.fetchOne(db, sql: "SELECT 1 FROM scheduler_group WHERE account = ? AND region = ? AND name = ?",
                                 arguments: [account, region, name]) ?? false
    }

    static func tags(_ db: Database, arn: String) throws -> [SchedulerAPI.Tag] {
        try Row.fetchAll(db.cachedStatement(sql: "SELECT key, value FROM scheduler_tag WHERE arn = ? ORDER BY key"), arguments: [arn])
            .map { SchedulerAPI.Tag(key: $0["key"], value: $0["value"]) }
    }

    static func setTags(_ db: Database, arn: String, tags: [SchedulerAPI.Tag]) throws {
        for tag in tags {
            try db.execute(sql: "INSERT OR REPLACE INTO scheduler_tag (arn, key, value) VALUES (?, ?, ?)",
                           arguments: [arn, tag.key, tag.value])
        }
    }
}

extension ScheduleKey {
    /// The ARN of the schedule the key names.
    var arn: String { ARN(service: "scheduler", region: region, account: account, resource: "schedule/\(group)/\(name)").description }
}
