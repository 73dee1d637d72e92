import JSONCore
import Testing

@testable import Schedules

@Suite struct CrontabTests {
    func expression(_ line: String) -> [String] {
        Crontab.convert(line).schedules.map(\.expression)
    }

    @Test(arguments: [
        ("30 2 * * * /job.sh", ["cron(30 2 * * ? *)"]),
        ("*/15 9-18 * * 1-5 /job.sh", ["cron(0/15 9-18 ? * 2-6 *)"]),
        ("0 0 * * 0 /job.sh", ["cron(0 0 ? * 1 *)"]),
        ("0 0 * * 7 /job.sh", ["cron(0 0 ? * 1 *)"]),
        ("0 0 * * SUN,sat /job.sh", ["cron(0 0 ? * 1,7 *)"]),
        ("0 0 * * 5-7 /job.sh", ["cron(0 0 ? * 1,6,7 *)"]),
        ("0 12 1 jan-mar * /job.sh", ["cron(0 12 1 1-3 ? *)"]),
        ("0 0 1-30/10 * * /job.sh", ["cron(0 0 1,11,21 * ? *)"]),
        ("5 4 * * 0-6 /job.sh", ["cron(5 4 * * ? *)"]),
        ("0 0 1,15 * 1 /job.sh", ["cron(0 0 1,15 * ? *)", "cron(0 0 ? * 2 *)"]),
        ("@daily /job.sh", ["cron(0 0 * * ? *)"]),
        ("@weekly /job.sh", ["cron(0 0 ? * 1 *)"]),
        ("@yearly /job.sh", ["cron(0 0 1 1 ? *)"]),
    ])
    func convertsToAWSCron(_ line: String, _ expected: [String]) {
        #expect(expression(line) == expected)
    }

    @Test(arguments: [
        ("@reboot /start.sh", "@reboot"),
        ("61 * * * * /job.sh", "out of range"),
        ("* * * * /job.sh", "five time fields"),
        ("0 0 * * MOO /job.sh", "not a valid day of week"),
        ("0 0 * * * echo a%b", "standard input"),
        ("0 5-1 * * * /job.sh", "backwards"),
    ])
    func refusesWithAReason(_ line: String, _ reason: String) {
        let conversion = Crontab.convert(line)
        #expect(conversion.schedules.isEmpty)
        #expect(conversion.refusals.first?.reason.contains(reason) == true, "\(conversion.refusals)")
    }

    @Test func explainsDayOfWeekNumberingAndTimeZone() {
        let conversion = Crontab.convert("TZ=Europe/Paris\n0 9 * * 1 /app/report.sh\n", timeZone: "Asia/Tokyo")
        let schedule = try! #require(conversion.schedules.first)
        #expect(schedule.timeZone == "Europe/Paris")
        #expect(schedule.name == "report")
        #expect(schedule.command == ["sh", "-c", "/app/report.sh"])
        #expect(schedule.notes.contains { $0.contains("SUN-SAT as 1-7") })
        #expect(schedule.notes.contains { $0.contains("CRON_TZ/TZ") })
    }

    @Test func rejectsUnknownTimeZones() {
        #expect(Crontab.convert("CRON_TZ=Mars/Olympus\n").refusals.first?.reason.contains("IANA") == true)
    }

    @Test func skipsCommentsAndEnvironmentAndNamesUniquely() {
        let conversion = Crontab.convert("# c\nSHELL=/bin/bash\n\n0 1 * * * /a/run.sh\n0 2 * * * /b/run.sh\n")
        #expect(conversion.schedules.map(\.name) == ["run", "run-2"])
        #expect(conversion.schedules.map(\.line) == [4, 5])
    }

    @Test func rendersCloudFormation() {
        let template = Crontab.convert("0 3 * * * php /app/nightly.php\n", timeZone: "Asia/Tokyo")
            .cloudFormation(cluster: "arn:aws:ecs:ap-northeast-1:1:cluster/batch", taskDefinition: "arn:td", roleArn: "arn:role")
        let resource = template["Resources"]?.objectValue?.values.first
        #expect(resource?["Type"] == "AWS::Scheduler::Schedule")
        #expect(resource?["Properties"]?["ScheduleExpression"] == "cron(0 3 * * ? *)")
        #expect(resource?["Properties"]?["ScheduleExpressionTimezone"] == "Asia/Tokyo")
        let input = try! JSON(parsing: resource?["Properties"]?["Target"]?["Input"]?.stringValue ?? "")
        #expect(input["containerOverrides"]?[0]?["command"] == ["sh", "-c", "php /app/nightly.php"])
    }

    // MARK: Fields separated by any whitespace (crontab(5))

    @Test func tabsSeparateFieldsAndMacros() {
        let conversion = Crontab.convert("0\t4\t*\t*\t*\ttabbed-cmd --flag\n@daily\ttabbed-macro\n")
        #expect(conversion.refusals.isEmpty, "\(conversion.refusals)")
        #expect(conversion.schedules.map(\.expression) == ["cron(0 4 * * ? *)", "cron(0 0 * * ? *)"])
        #expect(conversion.schedules.map(\.command) == [["sh", "-c", "tabbed-cmd --flag"], ["sh", "-c", "tabbed-macro"]])
    }

    // MARK: Names and logical IDs never repeat

    @Test func namesAreUniqueAgainstEveryNameProduced() {
        let conversion = Crontab.convert(
            "0 1 * * * backup.sh\n0 2 * * * backup-sh\n0 3 * * * cleanup\n0 4 * * * cleanup\n0 5 * * * cleanup-2\n")
        let names = conversion.schedules.map(\.name)
        #expect(names.count == 5)
        #expect(Set(names).count == 5, "\(names)")
        let template = conversion.cloudFormation(
            cluster: "arn:aws:ecs:us-east-1:1:cluster/c", taskDefinition: "arn:td", roleArn: "arn:role")
        let resources = template["Resources"]?.objectValue ?? [:]
        #expect(resources.count == 5, "\(resources.keys)")
        #expect(Set(resources.values.compactMap { $0["Properties"]?["Name"]?.stringValue }) == Set(names))
    }

    // MARK: Day of month and day of week follow Vixie cron

    @Test(arguments: [
        // Both fields restricted (neither starts with *): cron ORs them; a full day-of-month makes it every day.
        ("0 0 1-31 * 1 /job.sh", ["cron(0 0 * * ? *)"]),
        ("0 0 1 * 0-6 /job.sh", ["cron(0 0 * * ? *)"]),
        // One field starts with *: cron ANDs them, and a * (or */1) field matches every day.
        ("0 0 */2 * * /job.sh", ["cron(0 0 1/2 * ? *)"]),
        ("0 0 * * */2 /job.sh", ["cron(0 0 ? * 1,3,5,7 *)"]),
        ("0 0 */1 * 1 /job.sh", ["cron(0 0 ? * 2 *)"]),
    ])
    func dayOfMonthAndDayOfWeekFollowTheFieldText(_ line: String, _ expected: [String]) {
        let conversion = Crontab.convert(line)
        #expect(conversion.refusals.isEmpty, "\(conversion.refusals)")
        #expect(conversion.schedules.map(\.expression) == expected)
    }

    @Test(arguments: ["0 0 */2 * 1 /job.sh", "0 0 1 * */2 /job.sh", "0 0 */10 * */3 /job.sh"])
    func refusesAnAndOfTwoRestrictedDayFields(_ line: String) {
        let conversion = Crontab.convert(line)
        #expect(conversion.schedules.isEmpty)
        #expect(conversion.refusals.first?.reason.contains("both") == true, "\(conversion.refusals)")
    }

    // MARK: Time zones are IANA names

    @Test(arguments: ["GMT+5", "UTC+9", "Mars/Olympus"])
    func refusesTimeZonesThatAreNotIANANames(_ zone: String) {
        #expect(Crontab.convert("CRON_TZ=\(zone)\n0 1 * * * /job.sh\n").refusals.first?.reason.contains("IANA") == true)
    }

    // MARK: Environment lines carry over

    @Test func environmentLinesBecomeTheShellEnvironmentAndWindow() throws {
        let conversion = Crontab.convert(
            """
            MAILTO=ops@example.com
            SHELL=/bin/bash
            PATH=/usr/local/bin:/usr/bin
            0 1 * * * first.sh
            PATH=/opt/bin
            RANDOM_DELAY=10
            0 2 * * * second.sh
            """, timeZone: "Europe/Paris")
        let (first, second) = (conversion.schedules[0], conversion.schedules[1])
        #expect(first.command == ["/bin/bash", "-c", "first.sh"])
        #expect(first.environment == [EnvironmentVariable(name: "PATH", value: "/usr/local/bin:/usr/bin")])
        #expect(first.flexibleWindowMinutes == nil)
        #expect(first.notes.contains { $0.contains("MAILTO=ops@example.com is not carried over") })
        #expect(first.notes.contains { $0.contains("SHELL=/bin/bash") })
        #expect(second.environment == [EnvironmentVariable(name: "PATH", value: "/opt/bin")])
        #expect(second.flexibleWindowMinutes == 10)
        let properties = conversion.scheduleProperties(
            second, target: CrontabTarget(cluster: "arn:c", taskDefinition: "arn:t", roleArn: "arn:r"))
        #expect(properties["FlexibleTimeWindow"] == ["Mode": "FLEXIBLE", "MaximumWindowInMinutes": 10])
        let input = try JSON(parsing: properties["Target"]?["Input"]?.stringValue ?? "")
        #expect(input["containerOverrides"]?[0]?["environment"] == [["name": "PATH", "value": "/opt/bin"]])
        #expect(input["containerOverrides"]?[0]?["command"] == ["/bin/bash", "-c", "second.sh"])
    }

    @Test func refusesABadRandomDelay() {
        #expect(Crontab.convert("RANDOM_DELAY=soon\n").refusals.first?.reason.contains("RANDOM_DELAY") == true)
    }

    // MARK: Notes on what cron and AWS do differently

    @Test func notesTheDefaultTimeZone() {
        #expect(Crontab.convert("0 1 * * * /job.sh").schedules.first?.notes.contains { $0.contains("runs in UTC") } == true)
        #expect(
            Crontab.convert("0 1 * * * /job.sh", timeZone: "UTC").schedules.first?.notes.contains { $0.contains("runs in UTC") } == false)
    }

    @Test func notesAFixedTimeThatDaylightSavingSkips() throws {
        let now = ScheduleExpressionTests.date("2027-01-01T00:00:00Z")
        let berlin = try #require(Crontab.convert("30 2 * * * /job.sh", timeZone: "Europe/Berlin", now: now).schedules.first)
        #expect(berlin.notes.contains { $0.contains("2027-03-28") && $0.contains("02:30") }, "\(berlin.notes)")
        let tokyo = try #require(Crontab.convert("30 2 * * * /job.sh", timeZone: "Asia/Tokyo", now: now).schedules.first)
        #expect(!tokyo.notes.contains { $0.contains("clocks skip") })
        // A job every hour is not a fixed-time job: cron does not catch it up either.
        let hourly = try #require(Crontab.convert("30 * * * * /job.sh", timeZone: "Europe/Berlin", now: now).schedules.first)
        #expect(!hourly.notes.contains { $0.contains("clocks skip") })
    }

    @Test func refusesDatesThatNeverHappen() {
        let never = Crontab.convert("0 0 31 2 * /job.sh")
        #expect(never.schedules.isEmpty)
        #expect(never.refusals.first?.reason.contains("never runs") == true)
        // Cron ORs the fields: the Mondays of February still run.
        let mondays = Crontab.convert("0 0 30 2 1 /job.sh")
        #expect(mondays.schedules.map(\.expression) == ["cron(0 0 ? 2 2 *)"])
        #expect(mondays.schedules.first?.notes.contains { $0.contains("never happens") } == true)
        #expect(Crontab.convert("0 0 29 2 * /job.sh").schedules.first?.notes.contains { $0.contains("leap years") } == true)
    }

    // MARK: EventBridge rule expressions (UTC)

    @Test(arguments: [
        ("0 9 * * * /job.sh", "UTC", ["cron(0 9 * * ? *)"]),
        ("0 9 * * * /job.sh", "Asia/Tokyo", ["cron(0 0 * * ? *)"]),
        ("0 5 * * 1-5 /job.sh", "Asia/Tokyo", ["cron(0 20 ? * 1-5 *)"]),
        ("0 5,12 * * 1 /job.sh", "Asia/Tokyo", ["cron(0 20 ? * 1 *)", "cron(0 3 ? * 2 *)"]),
        ("15 3 * * * /job.sh", "Asia/Kolkata", []),
        ("0 9 * * * /job.sh", "Europe/Berlin", []),
        ("0 5 1 * * /job.sh", "Asia/Tokyo", []),
    ])
    func ruleExpressionsRunInUTC(_ line: String, _ zone: String, _ expected: [String]) throws {
        let schedule = try #require(Crontab.convert(line, timeZone: zone).schedules.first)
        let rule = schedule.ruleExpressions(from: ScheduleExpressionTests.date("2027-01-01T00:00:00Z"))
        #expect(rule.expressions == expected, "\(rule)")
        #expect((rule.refusal != nil) == expected.isEmpty, "\(rule)")
    }

    @Test func cloudFormationLogicalIdsAreUnique() {
        let template = Crontab.convert("0 1 * * * backup_sh\n0 2 * * * backup-sh\n")
            .cloudFormation(target: CrontabTarget(cluster: "arn:c", taskDefinition: "arn:t", roleArn: "arn:r"))
        #expect(Set(template["Resources"]?.objectValue?.keys.map { $0 } ?? []) == ["ScheduleBackupSh", "ScheduleBackupSh2"])
    }
}
