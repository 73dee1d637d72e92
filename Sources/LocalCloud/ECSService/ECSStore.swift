import AWSProtocol
import Foundation
import GRDB
import JSONCore
import LocalCloud
import TaskRunners

/// A generated shape kept as its JSON in a table column.
protocol StoredShape: ShapeDecodable, JSONShapeEncodable {}
extension ECSAPI.Task: StoredShape {}
extension ECSAPI.TaskDefinition: StoredShape {}
extension ECSAPI.Cluster: StoredShape {}

extension StoredShape {
    init(stored text: String) throws {
        var decoder = ShapeDecoder()
        try self.init(json: try JSON(parsing: Array(text.utf8)), decoder: &decoder, path: "")
    }

    var storedText: String { json().serialized() }
}

/// ECS's tables: clusters, task definitions (every revision) and tasks, each kept as its API shape without its
/// tags, which the core's ``ResourceTags`` keeps by the resource's ARN.
struct ECSStore: Sendable {
    let database: CloudDatabase

    static func registerMigrations(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("ecs-v1") { db in
            try db.execute(
                sql: """
                    CREATE TABLE ecs_clusters (
                        account TEXT NOT NULL, region TEXT NOT NULL, name TEXT NOT NULL,
                        status TEXT NOT NULL, body TEXT NOT NULL,
                        PRIMARY KEY (account, region, name));
                    CREATE TABLE ecs_task_definitions (
                        account TEXT NOT NULL, region TEXT NOT NULL, family TEXT NOT NULL, revision INTEGER NOT NULL,
                        status TEXT NOT NULL, body TEXT NOT NULL, tags TEXT NOT NULL DEFAULT '[]',
                        PRIMARY KEY (account, region, family, revision));
                    CREATE TABLE ecs_tasks (
                        account TEXT NOT NULL, region TEXT NOT NULL, id TEXT NOT NULL, cluster TEXT NOT NULL,
                        family TEXT NOT NULL, started_by TEXT, launch_type TEXT,
                        last_status TEXT NOT NULL, desired_status TEXT NOT NULL, created_at REAL NOT NULL, body TEXT NOT NULL,
                        PRIMARY KEY (account, region, id));
                    CREATE INDEX ecs_tasks_by_cluster ON ecs_tasks (account, region, cluster, desired_status, created_at);
                    """)
        }
        // The local processes of running tasks, by what tells them from any other process: session and start time.
        migrator.registerMigration("ecs-v2-task-processes") { db in
            try db.execute(
                sql: """
                    CREATE TABLE ecs_task_processes (
                        account TEXT NOT NULL, region TEXT NOT NULL, task_id TEXT NOT NULL, container TEXT NOT NULL,
                        pid INTEGER NOT NULL, session INTEGER NOT NULL, start_time INTEGER NOT NULL, image_root TEXT,
                        PRIMARY KEY (account, region, task_id, container));
                    """)
        }
        // Tags move to the core's table, under the ARNs ECS answers: cluster/name, task-definition/family:revision
        // and task/cluster/id. Clusters and tasks kept theirs in their body, task definitions in a column.
        migrator.registerMigration("ecs-v3-resource-tags") { db in
            try db.execute(
                sql: """
                    INSERT OR REPLACE INTO resource_tags (arn, key, value)
                    SELECT 'arn:aws:ecs:' || c.region || ':' || c.account || ':cluster/' || c.name,
                           json_extract(t.value, '$.key'), COALESCE(json_extract(t.value, '$.value'), '')
                    FROM ecs_clusters c, json_each(c.body, '$.tags') t WHERE json_extract(t.value, '$.key') IS NOT NULL;
                    INSERT OR REPLACE INTO resource_tags (arn, key, value)
                    SELECT 'arn:aws:ecs:' || d.region || ':' || d.account || ':task-definition/' || d.family || ':' || d.revision,
                           json_extract(t.value, '$.key'), COALESCE(json_extract(t.value, '$.value'), '')
                    FROM ecs_task_definitions d, json_each(d.tags) t WHERE json_valid(d.tags) AND json_extract(t.value, '$.key') IS NOT NULL;
                    INSERT OR REPLACE INTO resource_tags (arn, key, value)
                    SELECT 'arn:aws:ecs:' || k.region || ':' || k.account || ':task/' || k.cluster || '/' || k.id,
                           json_extract(t.value, '$.key'), COALESCE(json_extract(t.value, '$.value'), '')
                    FROM ecs_tasks k, json_each(k.body, '$.tags') t WHERE json_extract(t.value, '$.key') IS NOT NULL;
                    UPDATE ecs_clusters SET body = json_remove(body, '$.tags') WHERE json_type(body, '$.tags') IS NOT NULL;
                    UPDATE ecs_tasks SET body = json_remove(body, '$.tags') WHERE json_type(body, '$.tags') IS NOT NULL;
                    ALTER TABLE ecs_task_definitions DROP COLUMN tags;
                    """)
        }
    }

    // MARK: Tags

    /// ECS's answer to tags that break AWS's tag rules.
    static let tagRules = TagRules { ECSAPI.Errors.invalidParameterException($0.message) }

    static func resourceTags(_ tags: [ECSAPI.Tag]) -> [ResourceTag] {
        tags.map { ResourceTag(key: $0.key ?? "", value: $0.value ?? "") }
    }

    static func shapes(_ tags: [ResourceTag]) -> [ECSAPI.Tag] {
        tags.map { ECSAPI.Tag(key: $0.key, value: $0.value) }
    }

    /// The tags of the cluster, task definition or task `arn` names (as ECS answers its ARN).
    func tags(arn: String) async throws -> [ECSAPI.Tag] {
        try await database.read { db in Self.shapes(try ResourceTags.tags(db, arn: arn)) }
    }

    func addTags(arn: String, _ tags: [ECSAPI.Tag]) async throws {
        try await database.write { db in try ResourceTags.add(db, arn: arn, Self.resourceTags(tags), rules: Self.tagRules) }
    }

    func removeTags(arn: String, keys: [String]) async throws {
        try await database.write { db in try ResourceTags.remove(db, arn: arn, keys: keys) }
    }

    // MARK: Clusters

    func cluster(account: String, region: String, name: String) async throws -> ECSAPI.Cluster? {
        try await database.read { db in
            try String.fetchOne(
                db.cachedStatement(sql: "SELECT body FROM ecs_clusters WHERE account = ? AND region = ? AND name = ?"),
                arguments: [account, region, name])
        }.map { try ECSAPI.Cluster(stored: $0) }
    }

    /// Saves a cluster (its tags apart); with `tags`, gives it exactly those (a cluster created anew).
    func saveCluster(account: String, region: String, _ cluster: ECSAPI.Cluster, tags: [ECSAPI.Tag]? = nil) async throws {
        var untagged = cluster
        untagged.tags = nil
        let body = untagged.storedText
        try await database.write { db in
            try db.execute(
                sql: "INSERT OR REPLACE INTO ecs_clusters (account, region, name, status, body) VALUES (?, ?, ?, ?, ?)",
                arguments: [account, region, cluster.clusterName ?? "", (cluster.clusterStatus ?? .active).rawValue, body])
            if let tags, let arn = cluster.clusterArn {
                try ResourceTags.replace(db, arn: arn, with: Self.resourceTags(tags), rules: Self.tagRules)
            }
        }
    }

    func activeClusterNames(account: String, region: String) async throws -> [String] {
        try await database.read { db in
            try String.fetchAll(
                db.cachedStatement(
                    sql: "SELECT name FROM ecs_clusters WHERE account = ? AND region = ? AND status = 'ACTIVE' ORDER BY name"),
                arguments: [account, region])
        }
    }

    /// Tasks of a cluster by last status, for the cluster's counts.
    func taskCounts(account: String, region: String, cluster: String) async throws -> (running: Int, pending: Int, active: Int) {
        try await database.read { db in
            let rows = try Row.fetchAll(
                db,
                sql:
                    "SELECT last_status, COUNT(*) FROM ecs_tasks WHERE account = ? AND region = ? AND cluster = ? AND last_status != 'STOPPED' GROUP BY last_status",
                arguments: [account, region, cluster])
            var running = 0, pending = 0, active = 0
            for row in rows {
                let status = TaskStatus(rawValue: row[0])
                let count: Int = row[1]
                active += count
                if status == .running {
                    running += count
                } else if status?.isPending == true {
                    pending += count
                }
            }
            return (running, pending, active)
        }
    }

    // MARK: Task definitions

    /// Saves a new revision of `family`, numbered one past its latest, and returns it.
    func registerTaskDefinition(
        account: String, region: String, family: String, tags: [ECSAPI.Tag], make: @Sendable (Int) -> ECSAPI.TaskDefinition
    ) async throws -> ECSAPI.TaskDefinition {
        try await database.write { db in
            let latest =
                try Int.fetchOne(
                    db.cachedStatement(
                        sql: "SELECT MAX(revision) FROM ecs_task_definitions WHERE account = ? AND region = ? AND family = ?"),
                    arguments: [account, region, family]) ?? 0
            let definition = make(latest + 1)
            try db.execute(
                sql: "INSERT INTO ecs_task_definitions (account, region, family, revision, status, body) VALUES (?, ?, ?, ?, 'ACTIVE', ?)",
                arguments: [account, region, family, latest + 1, definition.storedText])
            try ResourceTags.replace(db, arn: definition.taskDefinitionArn ?? "", with: Self.resourceTags(tags), rules: Self.tagRules)
            return definition
        }
    }

    /// The revision named (`family:revision`), or the latest ACTIVE revision of `family` when none is given.
    func taskDefinition(
        account: String, region: String, family: String, revision: Int?
    ) async throws -> (ECSAPI.TaskDefinition, [ECSAPI.Tag])? {
        try await database.read { db -> (ECSAPI.TaskDefinition, [ECSAPI.Tag])? in
            let body: String?
            if let revision {
                body = try String.fetchOne(
                    db, sql: "SELECT body FROM ecs_task_definitions WHERE account = ? AND region = ? AND family = ? AND revision = ?",
                    arguments: [account, region, family, revision])
            } else {
                body = try String.fetchOne(
                    db,
                    sql:
                        "SELECT body FROM ecs_task_definitions WHERE account = ? AND region = ? AND family = ? AND status = 'ACTIVE' ORDER BY revision DESC LIMIT 1",
                    arguments: [account, region, family])
            }
            guard let body else { return nil }
            let definition = try ECSAPI.TaskDefinition(stored: body)
            return (definition, Self.shapes(try ResourceTags.tags(db, arn: definition.taskDefinitionArn ?? "")))
        }
    }

    func updateTaskDefinition(account: String, region: String, _ definition: ECSAPI.TaskDefinition) async throws {
        let body = definition.storedText
        try await database.write { db in
            try db.execute(
                sql:
                    "UPDATE ecs_task_definitions SET status = ?, body = ? WHERE account = ? AND region = ? AND family = ? AND revision = ?",
                arguments: [
                    (definition.status ?? .active).rawValue, body, account, region, definition.family ?? "", definition.revision ?? 0,
                ])
        }
    }

    func taskDefinitionArns(
        account: String, region: String, familyPrefix: String?, exactFamily: String?, status: String, descending: Bool
    ) async throws -> [(family: String, revision: Int)] {
        try await database.read { db in
            var sql = "SELECT family, revision FROM ecs_task_definitions WHERE account = ? AND region = ? AND status = ?"
            var arguments: StatementArguments = [account, region, status]
            if let exactFamily { sql += " AND family = ?"; arguments += [exactFamily] }
            if let familyPrefix { sql += " AND substr(family, 1, ?) = ?"; arguments += [familyPrefix.count, familyPrefix] }
            sql += descending ? " ORDER BY family DESC, revision DESC" : " ORDER BY family, revision"
            return try Row.fetchAll(db, sql: sql, arguments: arguments).map { ($0[0], $0[1]) }
        }
    }

    func families(account: String, region: String, prefix: String?, status: ECSAPI.TaskDefinitionFamilyStatus) async throws -> [String] {
        try await database.read { db in
            var sql = "SELECT family, MAX(status = 'ACTIVE') FROM ecs_task_definitions WHERE account = ? AND region = ?"
            var arguments: StatementArguments = [account, region]
            if let prefix { sql += " AND substr(family, 1, ?) = ?"; arguments += [prefix.count, prefix] }
            sql += " GROUP BY family ORDER BY family"
            return try Row.fetchAll(db, sql: sql, arguments: arguments).compactMap { row -> String? in
                let hasActive: Bool = row[1]
                switch status {
                case .active: return hasActive ? row[0] : nil
                case .inactive: return hasActive ? nil : row[0]
                case .all, .unmodeled: return row[0]
                }
            }
        }
    }

    // MARK: Tasks

    /// Saves a task (its tags apart); with `tags`, gives it exactly those (a task launched).
    func saveTask(account: String, region: String, cluster: String, _ task: ECSAPI.Task, tags: [ECSAPI.Tag]? = nil) async throws {
        var untagged = task
        untagged.tags = nil
        let body = untagged.storedText
        let id = ECSService.taskId(fromArn: task.taskArn ?? "")
        let family = ECSService.family(fromArn: task.taskDefinitionArn ?? "")
        try await database.write { db in
            try db.execute(
                sql: """
                    INSERT OR REPLACE INTO ecs_tasks (account, region, id, cluster, family, started_by, launch_type, last_status, desired_status, created_at, body)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    account, region, id, cluster, family, task.startedBy, task.launchType?.rawValue,
                    (task.lastTaskStatus ?? .provisioning).rawValue,
                    (task.desiredTaskStatus ?? .running).rawValue, task.createdAt?.timeIntervalSince1970 ?? 0, body,
                ])
            if let tags, let arn = task.taskArn {
                try ResourceTags.replace(db, arn: arn, with: Self.resourceTags(tags), rules: Self.tagRules)
            }
        }
    }

    func task(account: String, region: String, cluster: String, id: String) async throws -> ECSAPI.Task? {
        try await database.read { db in
            try String.fetchOne(
                db.cachedStatement(sql: "SELECT body FROM ecs_tasks WHERE account = ? AND region = ? AND cluster = ? AND id = ?"),
                arguments: [account, region, cluster, id])
        }.map { try ECSAPI.Task(stored: $0) }
    }

    func taskArns(
        account: String, region: String, cluster: String, family: String?, startedBy: String?, desiredStatus: String, launchType: String?
    ) async throws -> [(arn: String, created: Date)] {
        let bodies = try await database.read { db in
            var sql = "SELECT body FROM ecs_tasks WHERE account = ? AND region = ? AND cluster = ? AND desired_status = ?"
            var arguments: StatementArguments = [account, region, cluster, desiredStatus]
            if let family { sql += " AND family = ?"; arguments += [family] }
            if let startedBy { sql += " AND started_by = ?"; arguments += [startedBy] }
            if let launchType { sql += " AND launch_type = ?"; arguments += [launchType] }
            sql += " ORDER BY created_at, id"
            return try String.fetchAll(db, sql: sql, arguments: arguments)
        }
        return try bodies.compactMap { body in
            let task = try ECSAPI.Task(stored: body)
            return task.taskArn.map { ($0, task.createdAt ?? Date(timeIntervalSince1970: 0)) }
        }
    }

    // MARK: Task processes

    /// A container's local process, kept while its task runs.
    struct TaskProcess: Sendable, Equatable {
        var account: String
        var region: String
        var taskId: String
        var container: String
        var identity: ProcessIdentity
        /// The real path of the container's image directory.
        var imageRoot: String?
    }

    func saveProcess(_ process: TaskProcess) async throws {
        try await database.write { db in
            try db.execute(
                sql: """
                    INSERT OR REPLACE INTO ecs_task_processes (account, region, task_id, container, pid, session, start_time, image_root)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    process.account, process.region, process.taskId, process.container, Int64(process.identity.pid),
                    Int64(process.identity.session), Int64(clamping: process.identity.startTime), process.imageRoot,
                ])
        }
    }

    func deleteProcesses(account: String, region: String, taskId: String) async throws {
        try await database.write { db in
            try db.execute(
                sql: "DELETE FROM ecs_task_processes WHERE account = ? AND region = ? AND task_id = ?",
                arguments: [account, region, taskId])
        }
    }

    /// Every recorded process, of every account and region.
    func allProcesses() async throws -> [TaskProcess] {
        try await database.read { db in
            try Row.fetchAll(
                db,
                sql:
                    "SELECT account, region, task_id, container, pid, session, start_time, image_root FROM ecs_task_processes ORDER BY rowid"
            ).map { row in
                let (pid, session, start): (Int64, Int64, Int64) = (row[4], row[5], row[6])
                return TaskProcess(
                    account: row[0], region: row[1], taskId: row[2], container: row[3],
                    identity: ProcessIdentity(
                        pid: Int32(truncatingIfNeeded: pid), session: Int32(truncatingIfNeeded: session),
                        startTime: UInt64(max(0, start))),
                    imageRoot: row[7])
            }
        }
    }

    /// Tasks not STOPPED, in every account and region: the ones to reconcile after a restart.
    func unfinishedTasks() async throws -> [(account: String, region: String, cluster: String, task: ECSAPI.Task)] {
        let rows = try await database.read { db in
            try Row.fetchAll(db, sql: "SELECT account, region, cluster, body FROM ecs_tasks WHERE last_status != 'STOPPED'").map {
                row -> [String] in
                [row[0], row[1], row[2], row[3]]
            }
        }
        return try rows.map { (account: $0[0], region: $0[1], cluster: $0[2], task: try ECSAPI.Task(stored: $0[3])) }
    }
}
