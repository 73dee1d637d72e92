import CloudCatalog
import Foundation
import GRDB
import LocalCloud
import LocalCloudTesting
import Testing

/// A database of the time each service kept its tags its own way (``PreviousSchema``), with tags in every old
/// place, migrated: every tag is found in the core's ``ResourceTags`` under the ARN its service answers, and the
/// old columns and tables are gone.
@Suite struct ResourceTagsMigrationTests {
    static let account = "000000000000"
    static let region = "us-east-1"

    /// A database at the previous migrations, as ``SchemaSnapshot`` would make it.
    static func previousDatabase() throws -> CloudDatabase {
        let database = try CloudDatabase(stateDirectory: nil)
        try database.writer.write { db in
            for statement in PreviousSchema.beforeResourceTags.statements { try db.execute(sql: statement) }
            for identifier in PreviousSchema.beforeResourceTags.migrations {
                try db.execute(sql: "INSERT INTO grdb_migrations (identifier) VALUES (?)", arguments: [identifier])
            }
        }
        return database
    }

    @Test func everyServiceTagMovesToTheCoreStore() throws {
        let database = try Self.previousDatabase()
        let (a, r) = (Self.account, Self.region)
        try database.writer.write { db in
            // ECS: clusters and tasks in their body, task definitions in a column.
            try db.execute(
                sql: "INSERT INTO ecs_clusters (account, region, name, status, body) VALUES (?, ?, 'c1', 'ACTIVE', ?)",
                arguments: [
                    a, r,
                    """
                    {"clusterArn":"arn:aws:ecs:us-east-1:000000000000:cluster/c1","clusterName":"c1","status":"ACTIVE","tags":[{"key":"team","value":"ops"},{"key":"env","value":"prod"}]}
                    """,
                ])
            try db.execute(
                sql: "INSERT INTO ecs_clusters (account, region, name, status, body) VALUES (?, ?, 'bare', 'ACTIVE', ?)",
                arguments: [
                    a, r,
                    """
                    {"clusterArn":"arn:aws:ecs:us-east-1:000000000000:cluster/bare","clusterName":"bare","status":"ACTIVE","tags":[]}
                    """,
                ])
            try db.execute(
                sql:
                    "INSERT INTO ecs_task_definitions (account, region, family, revision, status, body, tags) VALUES (?, ?, 'job', 3, 'ACTIVE', ?, ?)",
                arguments: [
                    a, r, #"{"family":"job","revision":3,"taskDefinitionArn":"arn:aws:ecs:us-east-1:000000000000:task-definition/job:3"}"#,
                    #"[{"key":"a","value":"1"},{"key":"b","value":""}]"#,
                ])
            try db.execute(
                sql: """
                    INSERT INTO ecs_tasks (account, region, id, cluster, family, last_status, desired_status, created_at, body)
                    VALUES (?, ?, 'abc', 'c1', 'job', 'STOPPED', 'STOPPED', 0, ?)
                    """,
                arguments: [
                    a, r,
                    #"{"taskArn":"arn:aws:ecs:us-east-1:000000000000:task/c1/abc","lastStatus":"STOPPED","tags":[{"key":"k","value":"v"}]}"#,
                ])
            // CloudWatch Logs: a JSON map column.
            try db.execute(
                sql: """
                    INSERT INTO logs_groups (account, region, name, creation_time, log_group_class, tags) VALUES (?, ?, '/app/web', 0, 'STANDARD', ?)
                    """, arguments: [a, r, #"{"owner":"me","cost-center":"42"}"#])
            // Step Functions: JSON map columns of state machines and activities.
            try db.execute(
                sql: """
                    INSERT INTO sfn_state_machines (arn, account, region, name, definition, role_arn, type, created, updated, revision_id, tags)
                    VALUES ('arn:aws:states:us-east-1:000000000000:stateMachine:m', ?, ?, 'm', '{}', 'role', 'STANDARD', 0, 0, 'r', ?)
                    """, arguments: [a, r, #"{"app":"billing"}"#])
            try db.execute(
                sql: """
                    INSERT INTO sfn_activities (arn, account, region, name, created, tags) VALUES ('arn:aws:states:us-east-1:000000000000:activity:act', ?, ?, 'act', 0, ?)
                    """, arguments: [a, r, #"{"x":"y"}"#])
            // EventBridge and the Scheduler: tables by ARN.
            try db.execute(
                sql: """
                    INSERT INTO events_tag (arn, key, value) VALUES ('arn:aws:events:us-east-1:000000000000:rule/r', 'team', 'ops'),
                        ('arn:aws:events:us-east-1:000000000000:event-bus/jobs', 'k', 'v')
                    """)
            try db.execute(
                sql:
                    "INSERT INTO scheduler_tag (arn, key, value) VALUES ('arn:aws:scheduler:us-east-1:000000000000:schedule-group/g', 'env', 'stg')"
            )
        }

        let services = try ServiceCatalog.services(environment: .testing(database: database))
        #expect(try !database.migrate(services, freshSchema: ServiceCatalog.freshSchema))

        func tags(_ arn: String) throws -> [String: String] {
            let tags = try database.writer.read { db in try ResourceTags.tags(db, arn: arn) }
            return Dictionary(uniqueKeysWithValues: tags.map { ($0.key, $0.value) })
        }
        #expect(try tags("arn:aws:ecs:us-east-1:000000000000:cluster/c1") == ["team": "ops", "env": "prod"])
        #expect(try tags("arn:aws:ecs:us-east-1:000000000000:cluster/bare") == [:])
        #expect(try tags("arn:aws:ecs:us-east-1:000000000000:task-definition/job:3") == ["a": "1", "b": ""])
        #expect(try tags("arn:aws:ecs:us-east-1:000000000000:task/c1/abc") == ["k": "v"])
        #expect(try tags("arn:aws:logs:us-east-1:000000000000:log-group:/app/web") == ["owner": "me", "cost-center": "42"])
        #expect(try tags("arn:aws:states:us-east-1:000000000000:stateMachine:m") == ["app": "billing"])
        #expect(try tags("arn:aws:states:us-east-1:000000000000:activity:act") == ["x": "y"])
        #expect(try tags("arn:aws:events:us-east-1:000000000000:rule/r") == ["team": "ops"])
        #expect(try tags("arn:aws:events:us-east-1:000000000000:event-bus/jobs") == ["k": "v"])
        #expect(try tags("arn:aws:scheduler:us-east-1:000000000000:schedule-group/g") == ["env": "stg"])
        #expect(try database.writer.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM resource_tags") } == 12)

        try database.writer.read { db in
            // The old places are gone, and what is left reads as before.
            #expect(try !db.tableExists("events_tag"))
            #expect(try !db.tableExists("scheduler_tag"))
            for table in ["ecs_task_definitions", "logs_groups", "sfn_state_machines", "sfn_activities"] {
                #expect(try !db.columns(in: table).map(\.name).contains("tags"), "\(table)")
            }
            for body in try String.fetchAll(db, sql: "SELECT body FROM ecs_clusters UNION ALL SELECT body FROM ecs_tasks") {
                #expect(!body.contains("tags"), "\(body)")
            }
            #expect(try String.fetchOne(db, sql: "SELECT json_extract(body, '$.clusterName') FROM ecs_clusters WHERE name = 'c1'") == "c1")
            // The migrated database has the schema a new one gets (its tag table made last rather than second).
            let schema = try SchemaSnapshot.capture(db, migrations: CloudDatabase.migrator(services).migrations)
            #expect(schema.migrations == ServiceCatalog.freshSchema.migrations)
            #expect(schema.statements.sorted() == ServiceCatalog.freshSchema.statements.sorted())
        }
    }
}
