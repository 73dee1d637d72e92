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
        #expect(schedule.name == "report.sh")
        #expect(schedule.command == ["sh", "-c", "/app/report.sh"])
        #expect(schedule.notes.contains { $0.contains("SUN-SAT as 1-7") })
        #expect(schedule.notes.contains { $0.contains("CRON_TZ/TZ") })
    }

    @Test func rejectsUnknownTimeZones() {
        #expect(Crontab.convert("CRON_TZ=Mars/Olympus\n").refusals.first?.reason.contains("IANA") == true)
    }

    @Test func skipsCommentsAndEnvironmentAndNamesUniquely() {
        let conversion = Crontab.convert("# c\nSHELL=/bin/bash\n\n0 1 * * * /a/run.sh\n0 2 * * * /b/run.sh\n")
        #expect(conversion.schedules.map(\.name) == ["run.sh", "run.sh-2"])
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
}
