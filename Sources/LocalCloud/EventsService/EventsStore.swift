import AWSProtocol
import Foundation
import GRDB
import JSONCore

/// EventBridge tables: buses, rules (their `DescribeRule` document) and targets (their `Target` document).
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
    }

    static func rule(_ db: Database, account: String, region: String, bus: String, name: String) throws -> EventsAPI.DescribeRuleResponse? {
        guard let text = try String.fetchOne(db, sql: "SELECT document FROM events_rule WHERE account = ? AND region = ? AND bus = ? AND name = ?",
                                             arguments: [account, region, bus, name]) else { return nil }
        return try decode(text)
    }

    static func decode<S: ShapeDecodable>(_ text: String, as type: S.Type = S.self) throws -> S {
        var decoder = ShapeDecoder()
        return try S(json: try JSON(parsing: Array(text.utf8)), decoder: &decoder, path: "")
    }

    static func targets(_ db: Database, account: String, region: String, bus: String, rule: String) throws -> [EventsAPI.Target] {
        try String.fetchAll(db, sql: "SELECT document FROM events_target WHERE account = ? AND region = ? AND bus = ? AND rule = ? ORDER BY id",
                            arguments: [account, region, bus, rule]).map { try decode($0) }
    }

    static func setTags(_ db: Database, arn: String, tags: [EventsAPI.Tag]) throws {
        for tag in tags {
            try db.executeCached("INSERT OR REPLACE INTO events_tag (arn, key, value) VALUES (?, ?, ?)", arguments: [arn, tag.key, tag.value])
        }
    }

    static func busExists(_ db: Database, account: String, region: String, name: String) throws -> Bool {
        if name == "default" { return true }
        return try Bool.fetchOne(db.cachedStatement(sql: "SELECT 1 FROM events_bus WHERE account = ? AND region = ? AND name = ?"),
                                 arguments: [account, region, name]) ?? false
    }
}
