import AWSProtocol
import Foundation
import GRDB
import JSONCore
import LocalCloud
import TargetDelivery

/// EventBridge tables: buses, rules (their `DescribeRule` document) and targets (their `Target` document), keyed
/// by account, region, bus and name. The tags of rules and buses are kept in the core's ``ResourceTags``. Every
/// statement of the service is here; its handlers call these functions.
enum EventsStore {
    static func registerMigrations(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("events-v1") { db in
            try db.create(table: "events_bus") { t in
                t.column("account", .text).notNull()
                t.column("region", .text).notNull()
                t.column("name", .text).notNull()
                t.column("description", .text)
                t.column("created", .double).notNull()
                t.primaryKey(["account", "region", "name"])
            }
            try db.create(table: "events_rule") { t in
                t.column("account", .text).notNull()
                t.column("region", .text).notNull()
                t.column("bus", .text).notNull()
                t.column("name", .text).notNull()
                t.column("document", .text).notNull()
                /// Epoch seconds of a scheduled rule's next fire, NULL for pattern rules and disabled ones.
                t.column("next_fire", .double)
                t.primaryKey(["account", "region", "bus", "name"])
            }
            try db.create(table: "events_target") { t in
                t.column("account", .text).notNull()
                t.column("region", .text).notNull()
                t.column("bus", .text).notNull()
                t.column("rule", .text).notNull()
                t.column("id", .text).notNull()
                t.column("document", .text).notNull()
                t.primaryKey(["account", "region", "bus", "rule", "id"])
            }
            try db.create(table: "events_tag") { t in
                t.column("arn", .text).notNull()
                t.column("key", .text).notNull()
                t.column("value", .text).notNull()
                t.primaryKey(["arn", "key"])
            }
        }
        migrator.registerMigration("events-v2-resource-tags") { db in
            // Rule and bus tags move to the core's table, under the same ARNs.
            try db.execute(
                sql: """
                    INSERT OR REPLACE INTO resource_tags (arn, key, value) SELECT arn, key, value FROM events_tag;
                    DROP TABLE events_tag;
                    """)
        }
    }

    // MARK: Rules

    static func decode<S: ShapeDecodable>(_ text: String, as type: S.Type = S.self) throws -> S {
        var decoder = ShapeDecoder()
        return try S(json: try JSON(parsing: Array(text.utf8)), decoder: &decoder, path: "")
    }

    static func rule(_ db: Database, account: String, region: String, bus: String, name: String) throws -> EventsAPI.DescribeRuleResponse? {
        try storedRule(db, account: account, region: region, bus: bus, name: name)?.rule
    }

    /// A rule and its next fire (epoch seconds; nil for pattern rules and disabled ones).
    static func storedRule(
        _ db: Database, account: String, region: String, bus: String, name: String
    ) throws -> (rule: EventsAPI.DescribeRuleResponse, nextFire: Double?)? {
        guard
            let row = try Row.fetchOne(
                db.cachedStatement(
                    sql: "SELECT document, next_fire FROM events_rule WHERE account = ? AND region = ? AND bus = ? AND name = ?"),
                arguments: [account, region, bus, name])
        else { return nil }
        return (try decode(row["document"] as String), row["next_fire"])
    }

    /// Creates or replaces a rule (named by its document) with its next fire.
    static func saveRule(
        _ db: Database, account: String, region: String, bus: String, _ rule: EventsAPI.DescribeRuleResponse, nextFire: Date?
    ) throws {
        try db.execute(
            sql: "INSERT OR REPLACE INTO events_rule (account, region, bus, name, document, next_fire) VALUES (?, ?, ?, ?, ?, ?)",
            arguments: [account, region, bus, rule.name ?? "", rule.json().serialized(), nextFire?.timeIntervalSince1970])
    }

    /// The rules of `bus` named after `after` and beginning with `prefix`, by name, at most `limit`.
    static func rules(
        _ db: Database, account: String, region: String, bus: String, after: String, prefix: String, limit: Int
    ) throws -> [EventsAPI.DescribeRuleResponse] {
        try String.fetchAll(
            db,
            sql: """
                SELECT document FROM events_rule WHERE account = ? AND region = ? AND bus = ? AND name > ?
                AND substr(name, 1, ?) = ? ORDER BY name LIMIT ?
                """, arguments: [account, region, bus, after, prefix.count, prefix, limit]
        ).map { try decode($0) }
    }

    /// Every rule of `bus`.
    static func allRules(_ db: Database, account: String, region: String, bus: String) throws -> [EventsAPI.DescribeRuleResponse] {
        try String.fetchAll(
            db.cachedStatement(sql: "SELECT document FROM events_rule WHERE account = ? AND region = ? AND bus = ?"),
            arguments: [account, region, bus]
        ).map { try decode($0) }
    }

    static func ruleCount(_ db: Database, account: String, region: String, bus: String) throws -> Int {
        try Int.fetchOne(
            db, sql: "SELECT count(*) FROM events_rule WHERE account = ? AND region = ? AND bus = ?", arguments: [account, region, bus])
            ?? 0
    }

    /// Deletes a rule, its targets and its tags.
    static func deleteRule(_ db: Database, account: String, region: String, bus: String, name: String, arn: String) throws {
        try db.execute(
            sql: "DELETE FROM events_target WHERE account = ? AND region = ? AND bus = ? AND rule = ?",
            arguments: [account, region, bus, name])
        try db.execute(
            sql: "DELETE FROM events_rule WHERE account = ? AND region = ? AND bus = ? AND name = ?",
            arguments: [account, region, bus, name])
        try ResourceTags.removeAll(db, arn: arn)
    }

    /// A scheduled rule that has a next fire, as a restart finds it.
    struct ScheduledRule {
        var key: ScheduleKey
        var nextFire: Double
        /// Nil when the stored document no longer reads.
        var rule: EventsAPI.DescribeRuleResponse?
    }

    /// Every rule with a next fire, in every account and region.
    static func scheduledRules(_ db: Database) throws -> [ScheduledRule] {
        try Row.fetchAll(db, sql: "SELECT account, region, bus, name, next_fire, document FROM events_rule WHERE next_fire IS NOT NULL").map
        { row in
            ScheduledRule(
                key: ScheduleKey(account: row["account"], region: row["region"], group: row["bus"], name: row["name"]),
                nextFire: row["next_fire"], rule: try? decode(row["document"] as String))
        }
    }

    /// Sets a rule's next fire (the key's group is its bus); with `previous`, only while the rule's next fire is still that.
    static func setNextFire(_ db: Database, key: ScheduleKey, _ nextFire: Date?, ifPrevious previous: Double? = nil) throws {
        if let previous {
            try db.execute(
                sql: "UPDATE events_rule SET next_fire = ? WHERE account = ? AND region = ? AND bus = ? AND name = ? AND next_fire = ?",
                arguments: [nextFire?.timeIntervalSince1970, key.account, key.region, key.group, key.name, previous])
        } else {
            try db.execute(
                sql: "UPDATE events_rule SET next_fire = ? WHERE account = ? AND region = ? AND bus = ? AND name = ?",
                arguments: [nextFire?.timeIntervalSince1970, key.account, key.region, key.group, key.name])
        }
    }

    // MARK: Targets

    static func targets(_ db: Database, account: String, region: String, bus: String, rule: String) throws -> [EventsAPI.Target] {
        try String.fetchAll(
            db.cachedStatement(
                sql: "SELECT document FROM events_target WHERE account = ? AND region = ? AND bus = ? AND rule = ? ORDER BY id"),
            arguments: [account, region, bus, rule]
        ).map { try decode($0) }
    }

    static func targetCount(_ db: Database, account: String, region: String, bus: String, rule: String) throws -> Int {
        try Int.fetchOne(
            db, sql: "SELECT count(*) FROM events_target WHERE account = ? AND region = ? AND bus = ? AND rule = ?",
            arguments: [account, region, bus, rule]) ?? 0
    }

    /// Creates or replaces a target of a rule (named by its Id).
    static func saveTarget(_ db: Database, account: String, region: String, bus: String, rule: String, _ target: EventsAPI.Target) throws {
        try db.execute(
            sql: "INSERT OR REPLACE INTO events_target (account, region, bus, rule, id, document) VALUES (?, ?, ?, ?, ?, ?)",
            arguments: [account, region, bus, rule, target.id, target.json().serialized()])
    }

    static func deleteTarget(_ db: Database, account: String, region: String, bus: String, rule: String, id: String) throws {
        try db.execute(
            sql: "DELETE FROM events_target WHERE account = ? AND region = ? AND bus = ? AND rule = ? AND id = ?",
            arguments: [account, region, bus, rule, id])
    }

    /// The names of the rules of `bus` with a target of ARN `targetArn`, after `after`, by name, at most `limit`.
    static func ruleNames(
        _ db: Database, account: String, region: String, bus: String, targetArn: String, after: String, limit: Int
    ) throws -> [String] {
        try String.fetchAll(
            db,
            sql: """
                SELECT DISTINCT rule FROM events_target
                WHERE account = ? AND region = ? AND bus = ? AND json_extract(document, '$.Arn') = ? AND rule > ?
                ORDER BY rule LIMIT ?
                """, arguments: [account, region, bus, targetArn, after, limit])
    }

    // MARK: Buses

    static func busExists(_ db: Database, account: String, region: String, name: String) throws -> Bool {
        if name == "default" { return true }
        return try Bool.fetchOne(
            db.cachedStatement(sql: "SELECT 1 FROM events_bus WHERE account = ? AND region = ? AND name = ?"),
            arguments: [account, region, name]) ?? false
    }

    static func insertBus(_ db: Database, account: String, region: String, name: String, description: String?, created: Date) throws {
        try db.execute(
            sql: "INSERT INTO events_bus (account, region, name, description, created) VALUES (?, ?, ?, ?, ?)",
            arguments: [account, region, name, description, created.timeIntervalSince1970])
    }

    /// The buses made by CreateEventBus (not the default bus), unordered.
    static func buses(_ db: Database, account: String, region: String) throws -> [(name: String, description: String?, created: Double)] {
        try Row.fetchAll(
            db, sql: "SELECT name, description, created FROM events_bus WHERE account = ? AND region = ?", arguments: [account, region]
        )
        .map { ($0["name"], $0["description"], $0["created"]) }
    }

    /// Deletes a bus and its tags.
    static func deleteBus(_ db: Database, account: String, region: String, name: String, arn: String) throws {
        try db.execute(sql: "DELETE FROM events_bus WHERE account = ? AND region = ? AND name = ?", arguments: [account, region, name])
        try ResourceTags.removeAll(db, arn: arn)
    }

    // MARK: Tags

    /// EventBridge's answer to tags that break AWS's tag rules.
    static let tagRules = TagRules { AWSError.validation($0.message) }

    static func tags(_ db: Database, arn: String) throws -> [EventsAPI.Tag] {
        try ResourceTags.tags(db, arn: arn).map { EventsAPI.Tag(key: $0.key, value: $0.value) }
    }

    static func addTags(_ db: Database, arn: String, _ tags: [EventsAPI.Tag]) throws {
        try ResourceTags.add(db, arn: arn, tags.map { ResourceTag(key: $0.key, value: $0.value) }, rules: tagRules)
    }

    static func removeTags(_ db: Database, arn: String, keys: [String]) throws {
        try ResourceTags.remove(db, arn: arn, keys: keys)
    }
}
