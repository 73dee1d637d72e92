import JSONCore
import Testing

@testable import Schedules

/// Issue #26, items 1 and 8: system crontabs, names from what a job does, and a CloudFormation template that
/// deploys as is (its role, its notes, its refused lines), and a `--create` that can run twice.
@Suite struct CrontabImportTests {
    // MARK: System crontabs: the sixth field is the user

    /// The README's example: a file in /etc/cron.d whose lines run as www-data.
    static let cronD = """
        SHELL=/bin/bash
        # Laravel batches
        0 3 * * * www-data cd /var/www/app && php artisan batch:nightly
        */10 * * * 1-5 www-data cd /var/www/app && php artisan queue:retry-failed >> /var/log/batch.log 2>&1
        @reboot www-data /var/www/app/bin/warm-cache
        """

    @Test func aFileInCronDIsReadWithItsUser() throws {
        let conversion = Crontab.convert(Self.cronD, timeZone: "Asia/Tokyo", path: "/etc/cron.d/batch")
        #expect(conversion.kind.kind == .system)
        #expect(conversion.kind.reason.contains("cron.d"))
        #expect(conversion.schedules.map(\.name) == ["batch-nightly", "queue-retry-failed"])
        #expect(conversion.schedules.map(\.user) == ["www-data", "www-data"])
        let nightly = try #require(conversion.schedules.first)
        #expect(nightly.command == ["/bin/bash", "-c", "cd /var/www/app && php artisan batch:nightly"])
        #expect(
            nightly.notes.contains { $0.contains("as www-data") && $0.contains("\"user\": \"www-data\"") && $0.contains("task definition") }
        )
        #expect(conversion.refusals.map(\.line) == [5])
        #expect(conversion.json["schedules"]?[0]?["user"] == "www-data")
    }

    @Test func theSystemCrontabIsRecognizedByItsPathAndItsHeader() {
        let debian = """
            SHELL=/bin/sh
            PATH=/usr/local/sbin:/usr/local/bin:/sbin:/bin:/usr/sbin:/usr/bin
            # m h dom mon dow user\tcommand
            17 *\t* * *\troot    cd / && run-parts --report /etc/cron.hourly
            25 6\t* * *\troot\ttest -x /usr/sbin/anacron || ( cd / && run-parts --report /etc/cron.daily )
            """
        #expect(Crontab.detectKind(debian, path: "/etc/crontab").kind == .system)
        let fromStandardInput = Crontab.convert(debian, timeZone: "UTC")
        #expect(fromStandardInput.kind.kind == .system, "\(fromStandardInput.kind)")
        #expect(fromStandardInput.kind.reason.contains("header comment"))
        #expect(fromStandardInput.schedules.map(\.name) == ["cron.hourly", "cron.daily"])
        #expect(fromStandardInput.schedules.map(\.user) == ["root", "root"])
    }

    @Test(arguments: [
        // Most lines name a user cron installs, or a user and then a command word.
        ("0 3 * * * www-data /usr/bin/php /srv/app/cron.php\n0 4 * * * root /usr/local/bin/backup\n", CrontabKind.system),
        ("0 3 * * * batch cd /srv && ./run.sh\n", .system),
        ("0 1 * * * deployer /home/deployer/a.sh\n0 2 * * * deployer /home/deployer/b.sh\n", .system),
        // A user crontab whose commands start with words that could be user names keeps them.
        ("0 3 * * * php artisan x\n", .user),
        ("0 3 * * * backup /srv/data\n", .user),
        ("0 3 * * * mysql -e 'OPTIMIZE TABLE t' app\n", .user),
        ("0 3 * * * certbot renew\n0 4 * * * /usr/local/bin/report.sh\n", .user),
        ("0 3 * * * www-data /usr/bin/php x.php\n0 4 * * * /a.sh\n0 5 * * * /b.sh\n", .user),
    ])
    func detectsTheKindConservatively(_ text: String, _ expected: CrontabKind) {
        #expect(Crontab.detectKind(text, path: nil).kind == expected, "\(Crontab.detectKind(text, path: nil))")
        #expect(Crontab.detectKind(text, path: "/home/me/crontab.txt").kind == expected)
    }

    @Test func aUserCrontabKeepsTheFirstWordOfItsCommands() throws {
        let conversion = Crontab.convert("0 3 * * * php artisan x\n")
        #expect(conversion.kind.kind == .user)
        let schedule = try #require(conversion.schedules.first)
        #expect(schedule.command == ["sh", "-c", "php artisan x"])
        #expect(schedule.user == nil)
        #expect(schedule.name == "x")
    }

    @Test func severalUsersNeedSeveralTaskDefinitions() {
        let conversion = Crontab.convert("0 1 * * * root /a\n0 2 * * * www-data /b\n", kind: .system)
        #expect(conversion.sharedNotes.contains { $0.text.contains("2 users (root, www-data)") && $0.lines == [1, 2] })
        #expect(!Crontab.convert(Self.cronD, path: "/etc/cron.d/batch").report.contains("users ("))
    }

    @Test func theKindCanBeForced() throws {
        let forcedSystem = Crontab.convert("0 3 * * * deployer /home/deployer/run\n", kind: .system)
        #expect(forcedSystem.kind.reason.contains("--system"))
        #expect(forcedSystem.schedules.first?.user == "deployer")
        #expect(forcedSystem.schedules.first?.command == ["sh", "-c", "/home/deployer/run"])
        let forcedUser = Crontab.convert("0 3 * * * www-data /srv/job\n", kind: .user, path: "/etc/cron.d/x")
        #expect(forcedUser.kind.kind == .user)
        #expect(forcedUser.schedules.first?.command == ["sh", "-c", "www-data /srv/job"])
    }

    @Test func aSystemLineWithoutAUserIsRefusedWithTheReason() throws {
        let conversion = Crontab.convert(
            "0 3 * * * /usr/bin/php /srv/cron.php\n0 4 * * * root\n@daily root /usr/local/bin/backup\n", path: "/etc/cron.d/app")
        #expect(conversion.refusals.map(\.line) == [1, 2])
        #expect(conversion.refusals[0].reason.contains("not a user name") && conversion.refusals[0].reason.contains("--user-crontab"))
        #expect(conversion.refusals[1].reason.contains("no command after the user root"))
        let macro = try #require(conversion.schedules.first)
        #expect(macro.user == "root")
        #expect(macro.name == "backup")
        #expect(macro.expression == "cron(0 0 * * ? *)")
    }

    // MARK: Names say what the job does

    @Test(arguments: [
        ("cd /var/www/app && php artisan batch:nightly", "batch-nightly"),
        ("php /var/www/artisan schedule:run >> /dev/null 2>&1", "schedule-run"),
        ("php -d memory_limit=1G artisan queue:work --stop-when-empty", "queue-work"),
        ("/usr/bin/flock -n /tmp/report.lock /app/bin/report.sh --full", "report"),
        ("flock -n /tmp/x.lock -c 'php /srv/cron/invoice.php'", "invoice"),
        ("nice -n 10 timeout 3600 python3 -m app.jobs.cleanup", "cleanup"),
        ("bash /opt/scripts/rotate-logs.sh", "rotate-logs"),
        ("bash -lc 'cd /app && ./bin/console app:purge-cache --env=prod'", "app-purge-cache"),
        ("PATH=/opt/bin:$PATH RAILS_ENV=production bundle exec rake reports:daily", "reports-daily"),
        ("cd /srv && python manage.py clearsessions", "clearsessions"),
        ("test -x /usr/sbin/anacron || ( cd / && run-parts --report /etc/cron.daily )", "cron.daily"),
        ("mysqldump -u root app | gzip > /backup/app.sql.gz", "mysqldump"),
        ("sleep $((RANDOM % 60)); curl -fsS https://example.com/ping", "curl"),
        ("sudo -u deploy /home/deploy/bin/sync_assets.py", "sync_assets"),
        ("/usr/local/bin/backup", "backup"),
        ("echo alive > /tmp/heartbeat", "echo"),
        ("npm run build:report --prefix /srv/app", "build-report"),
        ("make -C /srv/app nightly", "nightly"),
        ("java -jar /opt/reports/monthly-report.jar", "monthly-report"),
        ("cd /srv/app && bin/rails runner 'Reports::Daily.call'", "Reports-Daily.call"),
        ("env TZ=UTC /opt/app/jobs/send-digest \"weekly\"", "send-digest"),
        ("ünïcödé", "n-c-d"),
    ])
    func namesComeFromWhatTheJobDoes(_ command: String, _ expected: String) {
        #expect(CrontabJobName.name(forCommand: command) == expected)
    }

    @Test func namesFollowSchedulersRulesAndNeverRepeat() {
        let long = String(repeating: "very-long-job-name-", count: 8)
        let conversion = Crontab.convert(
            """
            0 1 * * * php artisan batch:nightly
            0 2 * * * php artisan batch:nightly
            0 3 * * * /opt/\(long).sh
            0 4 * * * ':::'
            0 0 1,15 * 1 /opt/\(long).sh
            """)
        let names = conversion.schedules.map(\.name)
        #expect(names.prefix(2) == ["batch-nightly", "batch-nightly-2"])
        #expect(names[3] == "job")
        #expect(Set(names).count == names.count, "\(names)")
        for name in names {
            #expect((1...64).contains(name.count), "\(name)")
            #expect(name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "-_.".contains($0)) }, "\(name)")
        }
    }

    // MARK: The report says each note once

    @Test func theReportSaysANoteOnceWithItsLines() {
        let report = Crontab.convert(Self.cronD, path: "/etc/cron.d/batch").report
        #expect(report.hasPrefix("Read as a system crontab: /etc/cron.d/batch is in a cron.d folder"))
        func count(_ text: String) -> Int { report.components(separatedBy: text).count - 1 }
        #expect(count("runs in UTC") == 1, "\(report)")
        #expect(count("AWS cron has a sixth field") == 1)
        #expect(count("Cron ran the command as www-data") == 1)
        #expect(report.contains("Notes on several lines:"))
        #expect(report.contains("(every line)"))
        #expect(report.contains("    user: www-data"))
        // Refused lines go to standard error: the report only counts them.
        #expect(!report.contains("@reboot runs when"))
        #expect(report.hasSuffix("2 schedule(s), 1 line(s) refused (on standard error)\n"))
    }

    @Test func aNoteOfOneLineStaysWithThatLine() {
        let conversion = Crontab.convert("0 9 * * 0 /weekly.sh\n0 0 1,15 * 1 /split.sh 50\\%\n0 1 * * * /daily.sh\n", timeZone: "UTC")
        let report = conversion.report
        let lines = report.components(separatedBy: "\n")
        let weekly = lines.firstIndex { $0.hasPrefix("line 1:") }!
        #expect(lines[weekly + 3].contains("Day of week 0 is 1"), "\(report)")
        // Line 2 becomes two schedules: what both have is said once, after them.
        #expect(report.contains("  both schedules:\n    - \\% in the command became %.\n"), "\(report)")
        #expect(report.components(separatedBy: "became %").count - 1 == 1)
        #expect(report.components(separatedBy: "AWS cannot express OR").count - 1 == 2)
        #expect(conversion.sharedNotes.map(\.lines) == [[1, 2, 3]], "\(conversion.sharedNotes)")
        #expect(conversion.describe(lines: [1, 2, 3]) == "every line")
        #expect(conversion.describe(lines: [2, 3]) == "lines 2, 3")
        #expect(conversion.describe(lines: [1, 3, 4, 5, 9]) == "lines 1, 3-5, 9")
    }

    // MARK: CloudFormation that deploys as is

    static let stackTarget = CrontabTarget(
        cluster: "arn:${AWS::Partition}:ecs:${AWS::Region}:${AWS::AccountId}:cluster/batch",
        taskDefinition: "arn:${AWS::Partition}:ecs:${AWS::Region}:${AWS::AccountId}:task-definition/php-app",
        roleArn: nil,
        passRoles: ["arn:aws:iam::111111111111:role/php-app-task", "arn:aws:iam::111111111111:role/php-app-execution"])

    @Test func theTemplateCreatesALeastPrivilegeExecutionRole() throws {
        let template = Crontab.convert(Self.cronD, path: "/etc/cron.d/batch").cloudFormation(target: Self.stackTarget)
        let resources = try #require(template["Resources"]?.objectValue)
        #expect(resources.keys.first == "SchedulerRole")
        let role = try #require(resources["SchedulerRole"])
        #expect(role["Type"] == "AWS::IAM::Role")
        let trust = try #require(role["Properties"]?["AssumeRolePolicyDocument"]?["Statement"]?[0])
        #expect(trust["Principal"] == ["Service": "scheduler.amazonaws.com"])
        #expect(trust["Condition"] == ["StringEquals": ["aws:SourceAccount": ["Ref": "AWS::AccountId"]]])
        let statements = try #require(role["Properties"]?["Policies"]?[0]?["PolicyDocument"]?["Statement"]?.arrayValue)
        #expect(statements[0]["Action"] == "ecs:RunTask")
        // No revision: the family and every revision, as ECS documents.
        #expect(
            statements[0]["Resource"] == [
                ["Fn::Sub": "arn:${AWS::Partition}:ecs:${AWS::Region}:${AWS::AccountId}:task-definition/php-app"],
                ["Fn::Sub": "arn:${AWS::Partition}:ecs:${AWS::Region}:${AWS::AccountId}:task-definition/php-app:*"],
            ])
        #expect(
            statements[0]["Condition"] == [
                "ArnEquals": ["ecs:cluster": ["Fn::Sub": "arn:${AWS::Partition}:ecs:${AWS::Region}:${AWS::AccountId}:cluster/batch"]]
            ])
        #expect(statements[1]["Action"] == "iam:PassRole")
        #expect(
            statements[1]["Resource"] == [
                "arn:aws:iam::111111111111:role/php-app-task", "arn:aws:iam::111111111111:role/php-app-execution",
            ])
        #expect(statements[1]["Condition"] == ["StringEquals": ["iam:PassedToService": "ecs-tasks.amazonaws.com"]])
        let schedule = try #require(resources["ScheduleBatchNightly"])
        #expect(schedule["Properties"]?["Target"]?["RoleArn"] == ["Fn::GetAtt": ["SchedulerRole", "Arn"]])
        #expect(
            schedule["Properties"]?["Target"]?["Arn"] == [
                "Fn::Sub": "arn:${AWS::Partition}:ecs:${AWS::Region}:${AWS::AccountId}:cluster/batch"
            ])
    }

    @Test func aRevisionIsAllowedAloneAndAGivenRoleIsUsedAsIs() throws {
        var target = CrontabTarget(
            cluster: "arn:aws:ecs:eu-west-1:111111111111:cluster/batch",
            taskDefinition: "arn:aws:ecs:eu-west-1:111111111111:task-definition/php-app:7", roleArn: nil)
        let conversion = Crontab.convert("0 1 * * * /job.sh\n", timeZone: "UTC")
        let created = try #require(conversion.cloudFormation(target: target)["Resources"]?["SchedulerRole"])
        let statements = created["Properties"]?["Policies"]?[0]?["PolicyDocument"]?["Statement"]
        #expect(statements?[0]?["Resource"] == ["arn:aws:ecs:eu-west-1:111111111111:task-definition/php-app:7"])
        // Without --pass-role: roles of this account only, passed to ECS tasks only; a note says how to narrow it.
        #expect(statements?[1]?["Resource"] == [["Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/*"]])
        #expect(created["Metadata"]?["Skiff::Notes"]?.arrayValue?.contains { $0.stringValue?.contains("--pass-role") == true } == true)
        target.roleArn = "arn:aws:iam::111111111111:role/scheduler"
        let given = conversion.cloudFormation(target: target)["Resources"]?.objectValue ?? [:]
        #expect(given["SchedulerRole"] == nil)
        #expect(given["ScheduleJob"]?["Properties"]?["Target"]?["RoleArn"] == "arn:aws:iam::111111111111:role/scheduler")
    }

    @Test func notesAndRefusedLinesTravelWithTheTemplate() throws {
        let template = Crontab.convert(Self.cronD, path: "/etc/cron.d/batch").cloudFormationTemplate(
            target: Self.stackTarget, source: "/etc/cron.d/batch")
        #expect(template.header[0].contains("/etc/cron.d/batch") && template.header[0].contains("system crontab"))
        #expect(template.header.contains("  line 5: @reboot www-data /var/www/app/bin/warm-cache"))
        #expect(template.header.contains { $0.contains("@reboot runs when the machine boots") })
        #expect(template.header.contains { $0.contains("Cron ran the command as www-data") && $0.hasSuffix("(every line)") })
        let nightly = try #require(template.resourceNotes.first { $0.logicalId == "ScheduleBatchNightly" })
        #expect(nightly.lines.first == "line 3: 0 3 * * * www-data cd /var/www/app && php artisan batch:nightly")
        // JSON has no comments: the notes are Metadata.
        let json = template.templateWithMetadata
        #expect(json["Metadata"]?["Skiff::Notes"]?.arrayValue?.count == template.header.count)
        #expect(json["Resources"]?["ScheduleBatchNightly"]?["Metadata"]?["Skiff::Notes"]?[0] == .string(nightly.lines[0]))
        #expect(json.objectValue?.keys.map { $0 } == ["AWSTemplateFormatVersion", "Description", "Metadata", "Resources"])
    }

    @Test func yamlCarriesTheNotesAsComments() throws {
        let template = Crontab.convert(Self.cronD, path: "/etc/cron.d/batch").cloudFormationTemplate(target: Self.stackTarget)
        // The shape of a YAML writer's output (the command uses Platform's, on Yams): keys at two spaces a level.
        let yaml = template.yaml { json in
            var out = "AWSTemplateFormatVersion: \"2010-09-09\"\nResources:\n"
            for (id, resource) in json["Resources"]?.objectValue ?? [:] {
                out += "  \(id):\n    Type: \(resource["Type"]?.stringValue ?? "")\n"
            }
            return out
        }
        let lines = yaml.components(separatedBy: "\n")
        #expect(lines[0].hasPrefix("# Schedules migrated from a crontab by skiff crontab import, read as a system crontab"))
        #expect(lines.contains("#   line 5: @reboot www-data /var/www/app/bin/warm-cache"))
        let nightly = try #require(lines.firstIndex(of: "  ScheduleBatchNightly:"))
        #expect(lines[nightly - 3] == "", "\(yaml)")
        #expect(lines[nightly - 2] == "  # line 3: 0 3 * * * www-data cd /var/www/app && php artisan batch:nightly", "\(yaml)")
        #expect(lines[nightly - 1] == "  # - AWS needs ? in day of week when day of month is given.")
        let retry = try #require(lines.firstIndex(of: "  ScheduleQueueRetryFailed:"))
        #expect(lines[retry - 2].hasPrefix("  # - Day of week 1-5 is 2-6 in AWS"), "\(yaml)")
        let role = try #require(lines.firstIndex(of: "  SchedulerRole:"))
        #expect(lines[role - 1].hasPrefix("  # The role EventBridge Scheduler assumes"))
        // Said once, in the header: not again beside each schedule.
        #expect(yaml.components(separatedBy: "Cron ran the command as www-data").count - 1 == 1)
        #expect(!yaml.hasSuffix("\n\n") && yaml.hasSuffix("\n"))
        #expect(CrontabTemplate.comment("a\nb: c", indent: "  ") == "  # a b: c\n")
    }

    // MARK: Importing again updates

    static let desired: JSONObject = [
        "GroupName": "default", "ScheduleExpression": "cron(0 3 * * ? *)", "ScheduleExpressionTimezone": "Asia/Tokyo",
        "FlexibleTimeWindow": ["Mode": "OFF"],
        "Target": [
            "Arn": "arn:c", "RoleArn": "arn:r", "EcsParameters": ["TaskDefinitionArn": "arn:t", "TaskCount": 1],
            "Input": "{\"containerOverrides\":[{\"name\":\"app\",\"command\":[\"sh\",\"-c\",\"x\"]}]}",
        ],
    ]

    @Test func aScheduleThatIsAlreadyThereIsUpdatedOnlyWhenItDiffers() throws {
        #expect(CrontabScheduleChange.between(desired: Self.desired, existing: nil) == .create)
        // What GetSchedule answers: the same fields, others AWS fills in, and the input written another way.
        var existing = Self.desired
        existing["Arn"] = "arn:aws:scheduler:us-east-1:000000000000:schedule/default/x"
        existing["State"] = "ENABLED"
        existing["Target"] = [
            "Arn": "arn:c", "RoleArn": "arn:r", "RetryPolicy": ["MaximumRetryAttempts": 185, "MaximumEventAgeInSeconds": 86400],
            "EcsParameters": ["TaskDefinitionArn": "arn:t", "TaskCount": 1.0],
            "Input": "{ \"containerOverrides\": [ { \"command\": [\"sh\", \"-c\", \"x\"], \"name\": \"app\" } ] }",
        ]
        #expect(CrontabScheduleChange.between(desired: Self.desired, existing: existing) == .unchanged)
        existing["ScheduleExpression"] = "cron(0 4 * * ? *)"
        existing["Target"]?["EcsParameters"] = ["TaskDefinitionArn": "arn:t:1", "TaskCount": 1]
        guard case .update(let changes) = CrontabScheduleChange.between(desired: Self.desired, existing: existing) else {
            Issue.record("expected an update")
            return
        }
        #expect(changes.map(\.path) == ["ScheduleExpression", "Target.EcsParameters.TaskDefinitionArn"])
        #expect(changes[0].old == "cron(0 4 * * ? *)" && changes[0].new == "cron(0 3 * * ? *)")
    }
}
