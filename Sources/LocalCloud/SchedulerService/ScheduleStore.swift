import AWSProtocol
import Foundation
import GRDB
import JSONCore
import LocalCloud
import TargetDelivery

/// The Scheduler tables: schedule groups, schedules (the whole `GetSchedule` document plus its next fire
/// time, so a restart rebuilds the timer queue with one query) and the ClientTokens schedules were created with,
/// keyed by account, region, group and name. The tags of groups are kept in the core's ``ResourceTags``. Every
/// statement of the service is here; its handlers call these functions.
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
        migrator.registerMigration("scheduler-v3-resource-tags") { db in
            // Group tags move to the core's table, under the same ARNs.
            try db.execute(
                sql: """
                    INSERT OR REPLACE INTO resource_tags (arn, key, value) SELECT arn, key, value FROM scheduler_tag;
                    DROP TABLE scheduler_tag;
                    """)
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
        try String.fetchOne(
            db,
            sql: """
                SELECT document FROM scheduler_schedule WHERE account = ? AND region = ? AND group_name = ? AND name = ?
                """, arguments: [key.account, key.region, key.group, key.name])
    }

    /// Sets only the next fire time, and only while the schedule is still `document` (no UpdateSchedule since it
    /// was read); returns whether it did. A fire must not write back a schedule an update has replaced.
    static func setNextFire(_ db: Database, key: ScheduleKey, nextFire: Date?, ifDocument document: String) throws -> Bool {
        try db.execute(
            sql: """
                UPDATE scheduler_schedule SET next_fire = ?
                WHERE account = ? AND region = ? AND group_name = ? AND name = ? AND document = ?
                """, arguments: [nextFire?.timeIntervalSince1970, key.account, key.region, key.group, key.name, document])
        return db.changesCount > 0
    }

    static func clientToken(_ db: Database, key: ScheduleKey) throws -> (String, String)? {
        try Row.fetchOne(
            db,
            sql: """
                SELECT token, request FROM scheduler_client_token WHERE account = ? AND region = ? AND group_name = ? AND name = ?
                """, arguments: [key.account, key.region, key.group, key.name]
        ).map { ($0["token"], $0["request"]) }
    }

    static func setClientToken(_ db: Database, key: ScheduleKey, token: String, request: String) throws {
        try db.execute(
            sql: """
                INSERT OR REPLACE INTO scheduler_client_token (account, region, group_name, name, token, request) VALUES (?, ?, ?, ?, ?, ?)
                """, arguments: [key.account, key.region, key.group, key.name, token, request])
    }

    static func save(_ db: Database, key: ScheduleKey, schedule: SchedulerAPI.GetScheduleOutput, nextFire: Date?) throws {
        try db.execute(
            sql: """
                INSERT OR REPLACE INTO scheduler_schedule (account, region, group_name, name, state, next_fire, document)
                VALUES (?, ?, ?, ?, ?, ?, ?)
                """,
            arguments: [
                key.account, key.region, key.group, key.name, (schedule.state ?? .enabled).rawValue,
                nextFire?.timeIntervalSince1970, schedule.json().serialized(),
            ])
    }

    static func delete(_ db: Database, key: ScheduleKey) throws {
        try db.execute(
            sql: "DELETE FROM scheduler_schedule WHERE account = ? AND region = ? AND group_name = ? AND name = ?",
            arguments: [key.account, key.region, key.group, key.name])
        try db.execute(
            sql: "DELETE FROM scheduler_client_token WHERE account = ? AND region = ? AND group_name = ? AND name = ?",
            arguments: [key.account, key.region, key.group, key.name])
        try ResourceTags.removeAll(db, arn: key.arn)
    }

    /// The schedules of an account and region, by group and name, filtered as ListSchedules filters them, after
    /// (`group`, `name`) `after`, at most `limit`.
    static func schedules(
        _ db: Database, account: String, region: String, group: String?, namePrefix: String?, state: String?,
        after: (group: String, name: String)?, limit: Int
    ) throws -> [SchedulerAPI.GetScheduleOutput] {
        var sql = "SELECT document FROM scheduler_schedule WHERE account = ? AND region = ?"
        var arguments: StatementArguments = [account, region]
        if let group { sql += " AND group_name = ?"; _ = arguments.append(contentsOf: [group]) }
        if let namePrefix { sql += " AND substr(name, 1, ?) = ?"; _ = arguments.append(contentsOf: [namePrefix.count, namePrefix]) }
        if let state { sql += " AND state = ?"; _ = arguments.append(contentsOf: [state]) }
        if let after { sql += " AND (group_name, name) > (?, ?)"; _ = arguments.append(contentsOf: [after.group, after.name]) }
        sql += " ORDER BY group_name, name LIMIT ?"
        _ = arguments.append(contentsOf: [limit])
        return try String.fetchAll(db, sql: sql, arguments: arguments).map(decodeSchedule)
    }

    /// An enabled schedule with a next fire, as a restart finds it.
    struct QueuedSchedule {
        var key: ScheduleKey
        var nextFire: Double
        /// The stored `GetSchedule` document of a schedule already due at the time asked (nil for the others).
        var document: String?
    }

    /// Every enabled schedule with a next fire, in every account and region; the documents of those due before `now`.
    static func enabledSchedules(_ db: Database, documentsDueBefore now: Date) throws -> [QueuedSchedule] {
        try Row.fetchAll(
            db,
            sql: """
                SELECT account, region, group_name, name, next_fire, document FROM scheduler_schedule
                WHERE state = 'ENABLED' AND next_fire IS NOT NULL
                """
        ).map { row in
            let due: Double = row["next_fire"]
            return QueuedSchedule(
                key: ScheduleKey(account: row["account"], region: row["region"], group: row["group_name"], name: row["name"]),
                nextFire: due, document: due < now.timeIntervalSince1970 ? row["document"] : nil)
        }
    }

    // MARK: Groups

    static func insertGroup(_ db: Database, account: String, region: String, name: String, created: Date) throws {
        try db.execute(
            sql: "INSERT INTO scheduler_group (account, region, name, created) VALUES (?, ?, ?, ?)",
            arguments: [account, region, name, created.timeIntervalSince1970])
    }

    /// The groups made by CreateScheduleGroup (not the default group), unordered.
    static func groups(_ db: Database, account: String, region: String) throws -> [(name: String, created: Double)] {
        try Row.fetchAll(
            db, sql: "SELECT name, created FROM scheduler_group WHERE account = ? AND region = ?", arguments: [account, region]
        )
        .map { ($0["name"], $0["created"]) }
    }

    /// Deletes a group, its schedules (with their ClientTokens) and its tags; returns the names of the schedules.
    static func deleteGroup(_ db: Database, account: String, region: String, name: String, arn: String) throws -> [String] {
        let names = try String.fetchAll(
            db, sql: "SELECT name FROM scheduler_schedule WHERE account = ? AND region = ? AND group_name = ?",
            arguments: [account, region, name])
        try db.execute(
            sql: "DELETE FROM scheduler_schedule WHERE account = ? AND region = ? AND group_name = ?", arguments: [account, region, name])
        try db.execute(
            sql: "DELETE FROM scheduler_client_token WHERE account = ? AND region = ? AND group_name = ?",
            arguments: [account, region, name])
        try db.execute(
            sql: "DELETE FROM scheduler_group WHERE account = ? AND region = ? AND name = ?", arguments: [account, region, name])
        try ResourceTags.removeAll(db, arn: arn)
        return names
    }

    static func groupExists(_ db: Database, account: String, region: String, name: String) throws -> Bool {
        if name == "default" { return true }
        return try Bool.fetchOne(
            db, sql: "SELECT 1 FROM scheduler_group WHERE account = ? AND region = ? AND name = ?",
            arguments: [account, region, name]) ?? false
    }

    // MARK: Tags

    /// The Scheduler's answer to tags that break AWS's tag rules. A schedule group holds up to 200 tags, the most
    /// TagResource and CreateScheduleGroup take ("Maximum number of 200 items"), rather than the 50 of most services.
    static let tagRules = TagRules(maximumTags: 200) { violation in
        switch violation {
        case .tooMany(_, let maximum): SchedulerAPI.Errors.validationException("A resource can have at most \(maximum) tags.")
        default: SchedulerAPI.Errors.validationException(violation.message)
        }
    }

    static func tags(_ db: Database, arn: String) throws -> [SchedulerAPI.Tag] {
        try ResourceTags.tags(db, arn: arn).map { SchedulerAPI.Tag(key: $0.key, value: $0.value) }
    }

    static func addTags(_ db: Database, arn: String, _ tags: [SchedulerAPI.Tag]) throws {
        try ResourceTags.add(db, arn: arn, tags.map { ResourceTag(key: $0.key, value: $0.value) }, rules: tagRules)
    }

    static func removeTags(_ db: Database, arn: String, keys: [String]) throws {
        try ResourceTags.remove(db, arn: arn, keys: keys)
    }
}

extension ScheduleKey {
    /// The ARN of the schedule the key names.
    var arn: String { ARN(service: "scheduler", region: region, account: account, resource: "schedule/\(group)/\(name)").description }
}
