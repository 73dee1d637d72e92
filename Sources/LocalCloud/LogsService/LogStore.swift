import Foundation
import GRDB
import LocalCloud
import AWSProtocol

/// A log group as stored.
struct StoredGroup: Sendable {
    var name: String
    var creationTime: Int
    var retentionInDays: Int?
    var logGroupClass: LogsAPI.LogGroupClass
    var kmsKeyId: String?
    var storedBytes: Int

    func shape(context: RequestContext) -> LogsAPI.LogGroup {
        let arn = context.arn(service: "logs", resource: "log-group:\(name)")
        return LogsAPI.LogGroup(
            logGroupName: name, creationTime: creationTime, retentionInDays: retentionInDays, metricFilterCount: 0,
            arn: arn + ":*", storedBytes: storedBytes, kmsKeyId: kmsKeyId, logGroupClass: logGroupClass, logGroupArn: arn)
    }
}

/// A log stream as stored.
struct StoredStream: Sendable {
    var group: String
    var name: String
    var creationTime: Int
    var firstEventTimestamp: Int?
    var lastEventTimestamp: Int?
    var lastIngestionTime: Int?
    var storedBytes: Int

    func shape(context: RequestContext) -> LogsAPI.LogStream {
        LogsAPI.LogStream(
            logStreamName: name, creationTime: creationTime, firstEventTimestamp: firstEventTimestamp,
            lastEventTimestamp: lastEventTimestamp, lastIngestionTime: lastIngestionTime,
            arn: context.arn(service: "logs", resource: "log-group:\(group):log-stream:\(name)"), storedBytes: storedBytes)
    }
}

struct StoredEvent: Sendable {
    var id: Int64
    var stream: String
    var timestamp: Int
    var ingestionTime: Int
    var message: String
}

/// A position between events in (timestamp, id) order.
struct EventPosition: Sendable, Equatable {
    var timestamp: Int
    var id: Int64

    static let start = EventPosition(timestamp: Int.min / 2, id: 0)
    static let end = EventPosition(timestamp: Int.max / 2, id: Int64.max / 2)
    var next: EventPosition { EventPosition(timestamp: timestamp, id: id + 1) }
    var previous: EventPosition { EventPosition(timestamp: timestamp, id: id - 1) }
}

/// GetLogEvents' `f/...` and `b/...` tokens.
struct EventCursor: Sendable {
    var forward: Bool
    var position: EventPosition

    init(forward: Bool, position: EventPosition) {
        self.forward = forward
        self.position = position
    }

    init?(token: String) {
        let parts = token.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0] == "f" || parts[0] == "b", let timestamp = Int(parts[1]), let id = Int64(parts[2]) else {
            return nil
        }
        forward = parts[0] == "f"
        position = EventPosition(timestamp: timestamp, id: id)
    }

    var token: String { "\(forward ? "f" : "b")/\(position.timestamp)/\(position.id)" }
}

struct RejectedEvents: Sendable {
    var tooNewStart: Int?
    var tooOldEnd: Int?
    var expiredEnd: Int?
    var isEmpty: Bool { tooNewStart == nil && tooOldEnd == nil && expiredEnd == nil }
}

enum AppendResult: Sendable {
    case appended(RejectedEvents, sequence: Int64)
    case noGroup
    case noStream
}

enum CreateStreamResult: Sendable { case created, exists, noGroup }

/// CloudWatch Logs' tables: `logs_groups`, `logs_streams`, `logs_events`.
struct LogStore: Sendable {
    let database: CloudDatabase

    static func registerMigrations(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("logs-v1") { db in
            try db.execute(
                sql: """
                    CREATE TABLE logs_groups (
                        account TEXT NOT NULL, region TEXT NOT NULL, name TEXT NOT NULL,
                        creation_time INTEGER NOT NULL, retention_days INTEGER, log_group_class TEXT NOT NULL,
                        kms_key_id TEXT, tags TEXT NOT NULL DEFAULT '{}',
                        PRIMARY KEY (account, region, name));
                    CREATE TABLE logs_streams (
                        account TEXT NOT NULL, region TEXT NOT NULL, group_name TEXT NOT NULL, name TEXT NOT NULL,
                        creation_time INTEGER NOT NULL, first_event INTEGER, last_event INTEGER, last_ingestion INTEGER,
                        stored_bytes INTEGER NOT NULL DEFAULT 0, sequence INTEGER NOT NULL DEFAULT 0,
                        PRIMARY KEY (account, region, group_name, name));
                    CREATE TABLE logs_events (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        account TEXT NOT NULL, region TEXT NOT NULL, group_name TEXT NOT NULL, stream_name TEXT NOT NULL,
                        timestamp INTEGER NOT NULL, ingestion_time INTEGER NOT NULL, message TEXT NOT NULL);
                    CREATE INDEX logs_events_by_stream ON logs_events (account, region, group_name, stream_name, timestamp, id);
                    CREATE INDEX logs_events_by_group ON logs_events (account, region, group_name, timestamp, id);
                    """)
        }
        migrator.registerMigration("logs-v2-resource-tags") { db in
            // Group tags move to the core's table, under the group's ARN (LogGroup.logGroupArn, without `:*`).
            try db.execute(
                sql: """
                    INSERT OR REPLACE INTO resource_tags (arn, key, value)
                    SELECT 'arn:aws:logs:' || g.region || ':' || g.account || ':log-group:' || g.name, t.key, t.value
                    FROM logs_groups g, json_each(g.tags) t WHERE json_valid(g.tags);
                    ALTER TABLE logs_groups DROP COLUMN tags;
                    """)
        }
    }

    /// A log group's ARN, as ``StoredGroup/shape(context:)`` answers it: the key of its tags.
    static func groupArn(account: String, region: String, name: String) -> String {
        ARN(service: "logs", region: region, account: account, resource: "log-group:\(name)").description
    }

    /// CloudWatch Logs' answer to tags that break AWS's tag rules: TooManyTagsException past 50, in the model's words.
    static let tagRules = TagRules { violation in
        switch violation {
        case .tooMany: LogsAPI.Errors.tooManyTagsException("A resource can have no more than 50 tags.")
        default: LogsAPI.Errors.invalidParameterException(violation.message)
        }
    }

    func createGroup(
        account: String, region: String, name: String, logGroupClass: LogsAPI.LogGroupClass, kmsKeyId: String?, tags: [String: String],
        now: Int
    ) async throws -> Bool {
        let tags = tags.map { ResourceTag(key: $0.key, value: $0.value) }
        return try await database.write { db in
            try db.execute(
                sql: """
                    INSERT OR IGNORE INTO logs_groups (account, region, name, creation_time, log_group_class, kms_key_id)
                    VALUES (?, ?, ?, ?, ?, ?)
                    """, arguments: [account, region, name, now, logGroupClass.rawValue, kmsKeyId])
            guard db.changesCount > 0 else { return false }
            try ResourceTags.replace(db, arn: Self.groupArn(account: account, region: region, name: name), with: tags, rules: Self.tagRules)
            return true
        }
    }

    func deleteGroup(account: String, region: String, name: String) async throws -> Bool {
        try await database.write { db in
            try db.executeCached(
                "DELETE FROM logs_groups WHERE account = ? AND region = ? AND name = ?", arguments: [account, region, name])
            guard db.changesCount > 0 else { return false }
            try db.executeCached(
                "DELETE FROM logs_streams WHERE account = ? AND region = ? AND group_name = ?", arguments: [account, region, name])
            try db.executeCached(
                "DELETE FROM logs_events WHERE account = ? AND region = ? AND group_name = ?", arguments: [account, region, name])
            try ResourceTags.removeAll(db, arn: Self.groupArn(account: account, region: region, name: name))
            return true
        }
    }

    /// The tags of a log group; nil when there is no such group.
    func groupTags(account: String, region: String, name: String) async throws -> [String: String]? {
        try await database.read { db in
            guard try Self.groupExists(db, account: account, region: region, name: name) else { return nil }
            let tags = try ResourceTags.tags(db, arn: Self.groupArn(account: account, region: region, name: name))
            return Dictionary(tags.map { ($0.key, $0.value) }) { _, last in last }
        }
    }

    /// Adds `tags` to a log group and removes the tags with the keys `removing`; false when there is no such group.
    func changeGroupTags(
        account: String, region: String, name: String, adding tags: [String: String], removing keys: [String]
    ) async throws -> Bool {
        try await database.write { db in
            guard try Self.groupExists(db, account: account, region: region, name: name) else { return false }
            let arn = Self.groupArn(account: account, region: region, name: name)
            try ResourceTags.add(db, arn: arn, tags.map { ResourceTag(key: $0.key, value: $0.value) }, rules: Self.tagRules)
            try ResourceTags.remove(db, arn: arn, keys: keys)
            return true
        }
    }

    private static func groupExists(_ db: Database, account: String, region: String, name: String) throws -> Bool {
        try Bool.fetchOne(
            db.cachedStatement(sql: "SELECT 1 FROM logs_groups WHERE account = ? AND region = ? AND name = ?"),
            arguments: [account, region, name]) ?? false
    }

    func groupExists(account: String, region: String, name: String) async throws -> Bool {
        try await database.read { db in try Self.groupExists(db, account: account, region: region, name: name) }
    }

    func streamExists(account: String, region: String, group: String, name: String) async throws -> Bool {
        try await database.read { db in
            try Bool.fetchOne(
                db, sql: "SELECT 1 FROM logs_streams WHERE account = ? AND region = ? AND group_name = ? AND name = ?",
                arguments: [account, region, group, name]) ?? false
        }
    }

    func groups(
        account: String, region: String, prefix: String?, pattern: String?, names: [String]?, logGroupClass: LogsAPI.LogGroupClass?,
        after: String?, limit: Int
    ) async throws -> [StoredGroup] {
        try await database.read { db in
            var sql = """
                SELECT g.name, g.creation_time, g.retention_days, g.log_group_class, g.kms_key_id,
                       COALESCE((SELECT SUM(stored_bytes) FROM logs_streams s WHERE s.account = g.account AND s.region = g.region AND s.group_name = g.name), 0)
                FROM logs_groups g WHERE g.account = ? AND g.region = ?
                """
            var arguments: StatementArguments = [account, region]
            if let prefix { sql += " AND substr(g.name, 1, ?) = ?"; arguments += [prefix.count, prefix] }
            if let pattern { sql += " AND instr(lower(g.name), lower(?)) > 0"; arguments += [pattern] }
            if let logGroupClass { sql += " AND g.log_group_class = ?"; arguments += [logGroupClass.rawValue] }
            if let names {
                guard !names.isEmpty else { return [] }
                sql += " AND g.name IN (\(Array(repeating: "?", count: names.count).joined(separator: ", ")))"
                for name in names { arguments += [name] }
            }
            if let after { sql += " AND g.name > ?"; arguments += [after] }
            sql += " ORDER BY g.name LIMIT ?"
            arguments += [limit]
            return try Row.fetchAll(db, sql: sql, arguments: arguments).map { row -> StoredGroup in
                StoredGroup(
                    name: row[0], creationTime: row[1], retentionInDays: row[2], logGroupClass: .init(rawValue: row[3]), kmsKeyId: row[4],
                    storedBytes: row[5])
            }
        }
    }

    func setRetention(account: String, region: String, group: String, days: Int?) async throws -> Bool {
        try await database.write { db in
            try db.executeCached(
                "UPDATE logs_groups SET retention_days = ? WHERE account = ? AND region = ? AND name = ?",
                arguments: [days, account, region, group])
            return db.changesCount > 0
        }
    }

    func purgeExpired(now: Int) async throws {
        try await database.write { db in
            try db.execute(
                sql: """
                    DELETE FROM logs_events WHERE id IN (
                        SELECT e.id FROM logs_events e JOIN logs_groups g
                          ON g.account = e.account AND g.region = e.region AND g.name = e.group_name
                        WHERE g.retention_days IS NOT NULL AND e.timestamp < ? - g.retention_days * 86400000)
                    """, arguments: [now])
        }
    }

    func createStream(account: String, region: String, group: String, name: String, now: Int) async throws -> CreateStreamResult {
        try await database.write { db in
            guard
                try Bool.fetchOne(
                    db.cachedStatement(sql: "SELECT 1 FROM logs_groups WHERE account = ? AND region = ? AND name = ?"),
                    arguments: [account, region, group]) ?? false
            else {
                return .noGroup
            }
            try db.execute(
                sql: "INSERT OR IGNORE INTO logs_streams (account, region, group_name, name, creation_time) VALUES (?, ?, ?, ?, ?)",
                arguments: [account, region, group, name, now])
            return db.changesCount > 0 ? .created : .exists
        }
    }

    func deleteStream(account: String, region: String, group: String, name: String) async throws -> Bool {
        try await database.write { db in
            try db.executeCached(
                "DELETE FROM logs_streams WHERE account = ? AND region = ? AND group_name = ? AND name = ?",
                arguments: [account, region, group, name])
            guard db.changesCount > 0 else { return false }
            try db.executeCached(
                "DELETE FROM logs_events WHERE account = ? AND region = ? AND group_name = ? AND stream_name = ?",
                arguments: [account, region, group, name])
            return true
        }
    }

    func streams(
        account: String, region: String, group: String, prefix: String?, orderByTime: Bool, descending: Bool, after: PageKey?, limit: Int
    ) async throws -> [StoredStream] {
        try await database.read { db in
            var sql =
                "SELECT name, creation_time, first_event, last_event, last_ingestion, stored_bytes FROM logs_streams WHERE account = ? AND region = ? AND group_name = ?"
            var arguments: StatementArguments = [account, region, group]
            if let prefix { sql += " AND substr(name, 1, ?) = ?"; arguments += [prefix.count, prefix] }
            let direction = descending ? "DESC" : "ASC"
            let beyond = descending ? "<" : ">"
            if let after, orderByTime {
                sql += " AND (COALESCE(last_event, 0), name) \(beyond) (?, ?)"
                arguments += [after.number(at: 0) ?? 0, after.parts.last ?? ""]
            } else if let after {
                sql += " AND name \(beyond) ?"
                arguments += [after.parts.last ?? ""]
            }
            sql += orderByTime ? " ORDER BY COALESCE(last_event, 0) \(direction), name \(direction)" : " ORDER BY name \(direction)"
            sql += " LIMIT ?"
            arguments += [limit]
            return try Row.fetchAll(db, sql: sql, arguments: arguments).map {
                StoredStream(
                    group: group, name: $0[0], creationTime: $0[1], firstEventTimestamp: $0[2], lastEventTimestamp: $0[3],
                    lastIngestionTime: $0[4], storedBytes: $0[5])
            }
        }
    }

    func streamNames(account: String, region: String, group: String, names: [String]?, prefix: String?) async throws -> [String]? {
        if names == nil && prefix == nil { return nil }
        return try await database.read { db in
            var sql = "SELECT name FROM logs_streams WHERE account = ? AND region = ? AND group_name = ?"
            var arguments: StatementArguments = [account, region, group]
            if let prefix { sql += " AND substr(name, 1, ?) = ?"; arguments += [prefix.count, prefix] }
            sql += " ORDER BY name"
            let all = try String.fetchAll(db, sql: sql, arguments: arguments)
            return names.map { wanted in all.filter { wanted.contains($0) } } ?? all
        }
    }

    /// Appends events, rejecting (as AWS does) those more than 2 hours in the future, older than 14 days, or
    /// older than the group's retention.
    func append(
        account: String, region: String, group: String, stream: String, events: [(Int, String)], now: Int
    ) async throws -> AppendResult {
        try await database.write { db in
            guard
                let retention = try Row.fetchOne(
                    db.cachedStatement(sql: "SELECT retention_days FROM logs_groups WHERE account = ? AND region = ? AND name = ?"),
                    arguments: [account, region, group])
            else {
                return .noGroup
            }
            let retentionDays: Int? = retention[0]
            guard
                let sequence = try Int64.fetchOne(
                    db, sql: "SELECT sequence FROM logs_streams WHERE account = ? AND region = ? AND group_name = ? AND name = ?",
                    arguments: [account, region, group, stream])
            else {
                return .noStream
            }
            var rejected = RejectedEvents()
            var first: Int? = nil
            var last: Int? = nil
            var bytes = 0
            let statement = try db.cachedStatement(
                sql: """
                    INSERT INTO logs_events (account, region, group_name, stream_name, timestamp, ingestion_time, message) VALUES (?, ?, ?, ?, ?, ?, ?)
                    """)
            for (index, (timestamp, message)) in events.enumerated() {
                if timestamp > now + 2 * 3_600_000 {
                    if rejected.tooNewStart == nil { rejected.tooNewStart = index }
                    continue
                }
                if let retentionDays, timestamp < now - retentionDays * 86_400_000 {
                    rejected.expiredEnd = index + 1
                    continue
                }
                if timestamp < now - 14 * 86_400_000 {
                    rejected.tooOldEnd = index + 1
                    continue
                }
                try statement.execute(arguments: [account, region, group, stream, timestamp, now, message])
                first = min(first ?? timestamp, timestamp)
                last = max(last ?? timestamp, timestamp)
                bytes += message.utf8.count
            }
            try db.execute(
                sql: """
                    UPDATE logs_streams SET
                        first_event = CASE WHEN ? IS NULL THEN first_event ELSE MIN(COALESCE(first_event, ?), ?) END,
                        last_event = CASE WHEN ? IS NULL THEN last_event ELSE MAX(COALESCE(last_event, ?), ?) END,
                        last_ingestion = ?, stored_bytes = stored_bytes + ?, sequence = sequence + 1
                    WHERE account = ? AND region = ? AND group_name = ? AND name = ?
                    """, arguments: [first, first, first, last, last, last, now, bytes, account, region, group, stream])
            return .appended(rejected, sequence: sequence + 1)
        }
    }

    /// Events of one stream in (timestamp, id) order, after or before a position, from the head or the tail.
    func events(
        account: String, region: String, group: String, stream: String, startTime: Int?, endTime: Int?, after: EventPosition?,
        before: EventPosition?, fromHead: Bool, limit: Int
    ) async throws -> [StoredEvent] {
        try await database.read { db in
            var sql =
                "SELECT id, stream_name, timestamp, ingestion_time, message FROM logs_events WHERE account = ? AND region = ? AND group_name = ? AND stream_name = ?"
            var arguments: StatementArguments = [account, region, group, stream]
            if let startTime { sql += " AND timestamp >= ?"; arguments += [startTime] }
            if let endTime { sql += " AND timestamp <= ?"; arguments += [endTime] }
            if let after {
                sql += " AND (timestamp > ? OR (timestamp = ? AND id > ?))"; arguments += [after.timestamp, after.timestamp, after.id]
            }
            if let before {
                sql += " AND (timestamp < ? OR (timestamp = ? AND id < ?))"; arguments += [before.timestamp, before.timestamp, before.id]
            }
            sql += fromHead ? " ORDER BY timestamp, id LIMIT ?" : " ORDER BY timestamp DESC, id DESC LIMIT ?"
            arguments += [limit]
            let rows = try Row.fetchAll(db, sql: sql, arguments: arguments).map {
                StoredEvent(id: $0[0], stream: $0[1], timestamp: $0[2], ingestionTime: $0[3], message: $0[4])
            }
            return fromHead ? rows : rows.reversed()
        }
    }

    /// Events of a group (optionally some of its streams) in (timestamp, id) order after a position.
    func groupEvents(
        account: String, region: String, group: String, streams: [String]?, startTime: Int?, endTime: Int?, after: EventPosition?,
        limit: Int
    ) async throws -> [StoredEvent] {
        if let streams, streams.isEmpty { return [] }
        return try await database.read { db in
            var sql =
                "SELECT id, stream_name, timestamp, ingestion_time, message FROM logs_events WHERE account = ? AND region = ? AND group_name = ?"
            var arguments: StatementArguments = [account, region, group]
            if let streams {
                sql += " AND stream_name IN (\(Array(repeating: "?", count: streams.count).joined(separator: ", ")))"
                for name in streams { arguments += [name] }
            }
            if let startTime { sql += " AND timestamp >= ?"; arguments += [startTime] }
            if let endTime { sql += " AND timestamp <= ?"; arguments += [endTime] }
            if let after {
                sql += " AND (timestamp > ? OR (timestamp = ? AND id > ?))"; arguments += [after.timestamp, after.timestamp, after.id]
            }
            sql += " ORDER BY timestamp, id LIMIT ?"
            arguments += [limit]
            return try Row.fetchAll(db, sql: sql, arguments: arguments).map {
                StoredEvent(id: $0[0], stream: $0[1], timestamp: $0[2], ingestionTime: $0[3], message: $0[4])
            }
        }
    }
}
