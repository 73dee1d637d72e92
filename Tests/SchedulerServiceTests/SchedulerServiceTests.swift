import AWSProtocol
import Foundation
import JSONCore
import LocalCloudTesting
import Synchronization
import TargetDelivery
import Testing

@testable import LocalCloud
@testable import SchedulerService

/// A clock the test sets by hand.
final class ManualClock: SchedulerClock {
    let time: Mutex<Date>
    init(_ date: Date) { time = Mutex(date) }
    func now() -> Date { time.withLock { $0 } }
    func set(_ date: Date) { time.withLock { $0 = date } }
}

let start = Date(timeIntervalSince1970: 1_800_000_000)  // 2027-01-15T08:00:00Z

struct Fixture {
    let cloud: Cloud
    let scheduler: SchedulerService
    let clock: ManualClock
    let ecs = RecordingService(prefix: "ecs", targetPrefix: "AmazonEC2ContainerServiceV20141113")
    let states = RecordingService(prefix: "states", targetPrefix: "AWSStepFunctions")

    init(stateDirectory: String? = nil, clock: ManualClock = ManualClock(start)) throws {
        let environment = try ServiceEnvironment.testing(stateDirectory: stateDirectory)
        self.clock = clock
        scheduler = SchedulerService(environment: environment, clock: clock)
        cloud = try Cloud(services: [scheduler, ecs, states], environment: environment)
    }

    @discardableResult
    func call(_ method: String, _ path: String, query: [String: [String]] = [:], _ body: JSON? = nil) async -> (Int, JSON) {
        await cloud.restJson(method, path, query: query, body, signedFor: "scheduler", key: "AKID")
    }

    @discardableResult
    func create(_ name: String, _ expression: String, target: JSON? = nil, extra: JSONObject = [:]) async -> (Int, JSON) {
        var body: JSONObject = [
            "ScheduleExpression": .string(expression), "FlexibleTimeWindow": ["Mode": "OFF"],
            "Target": target ?? [
                "Arn": "arn:aws:states:us-east-1:000000000000:stateMachine:job", "RoleArn": "arn:aws:iam::000000000000:role/r",
                "Input": "{\"n\":1}",
            ],
        ]
        for (k, v) in extra { body[k] = v }
        return await call("POST", "/schedules/\(name)", .object(body))
    }
}

@Suite struct SchedulerServiceTests {
    @Test func createGetListAndDelete() async throws {
        let f = try Fixture()
        let (status, created) = await f.create("nightly", "cron(0 3 * * ? *)", extra: ["Description": "backup"])
        #expect(status == 200)
        #expect(created["ScheduleArn"]?.stringValue == "arn:aws:scheduler:us-east-1:000000000000:schedule/default/nightly")
        let (_, got) = await f.call("GET", "/schedules/nightly")
        #expect(got["ScheduleExpression"]?.stringValue == "cron(0 3 * * ? *)")
        #expect(got["State"]?.stringValue == "ENABLED")
        #expect(got["ActionAfterCompletion"]?.stringValue == "NONE")
        #expect(got["Description"]?.stringValue == "backup")
        #expect(got["Target"]?["RetryPolicy"]?["MaximumRetryAttempts"]?.intValue == 185)
        #expect(got["GroupName"]?.stringValue == "default")
        let (conflict, error) = await f.create("nightly", "rate(1 hour)")
        #expect(conflict == 409)
        #expect(
            error["Message"]?.stringValue == "Schedule nightly already exists."
                || error["message"]?.stringValue == "Schedule nightly already exists.")
        let (_, list) = await f.call("GET", "/schedules")
        #expect(list["Schedules"]?.arrayValue?.count == 1)
        #expect(await f.call("DELETE", "/schedules/nightly").0 == 200)
        #expect(await f.call("GET", "/schedules/nightly").0 == 404)
        #expect(await f.call("DELETE", "/schedules/nightly").0 == 404)
    }

    @Test func rejectsInvalidExpressionsAndWindows() async throws {
        let f = try Fixture()
        let (status, error) = await f.create("bad", "cron(0 3 * * * *)")
        #expect(status == 400)
        #expect(error.serialized().contains("Invalid Schedule Expression cron(0 3 * * * *)."))
        #expect(await f.create("bad", "rate(1 minutes)").0 == 400)
        #expect(await f.create("bad", "at(2027-13-01T00:00:00)").0 == 400)
        #expect(await f.create("bad", "rate(5 minutes)", extra: ["FlexibleTimeWindow": ["Mode": "FLEXIBLE"]]).0 == 400)
        #expect(await f.create("bad", "rate(5 minutes)", extra: ["FlexibleTimeWindow": ["Mode": "SOMETIMES"]]).0 == 400)
        #expect(await f.call("GET", "/schedules").1["Schedules"]?.arrayValue?.count == 0)
    }

    @Test func listFiltersAndPaginates() async throws {
        let f = try Fixture()
        #expect(await f.call("POST", "/schedule-groups/batch", ["Tags": [["Key": "team", "Value": "ops"]]]).0 == 200)
        for i in 0..<5 { await f.create("job-\(i)", "rate(1 hour)", extra: ["GroupName": "batch"]) }
        await f.create("other", "rate(1 hour)", extra: ["State": "DISABLED"])
        var names: [String] = []
        var token: String? = nil
        repeat {
            var query: [String: [String]] = ["MaxResults": ["2"], "ScheduleGroup": ["batch"]]
            if let token { query["NextToken"] = [token] }
            let (status, page) = await f.call("GET", "/schedules", query: query)
            #expect(status == 200)
            names += page["Schedules"]?.arrayValue?.compactMap { $0["Name"]?.stringValue } ?? []
            token = page["NextToken"]?.stringValue
        } while token != nil
        #expect(names == ["job-0", "job-1", "job-2", "job-3", "job-4"])
        let (badStatus, bad) = await f.call("GET", "/schedules", query: ["NextToken": ["garbage"]])
        #expect(badStatus == 400)
        #expect(bad["Message"]?.stringValue == "Invalid NextToken." || bad["message"]?.stringValue == "Invalid NextToken.", "\(bad)")
        #expect(await f.call("GET", "/schedules", query: ["State": ["DISABLED"]]).1["Schedules"]?.arrayValue?.count == 1)
        #expect(await f.call("GET", "/schedules", query: ["NamePrefix": ["job-3"]]).1["Schedules"]?.arrayValue?.count == 1)
    }

    @Test func scheduleGroupsAndTags() async throws {
        let f = try Fixture()
        #expect(await f.call("POST", "/schedule-groups/default", [:]).0 == 409)
        #expect(await f.call("POST", "/schedule-groups/batch", ["Tags": [["Key": "team", "Value": "ops"]]]).0 == 200)
        let arn = "arn:aws:scheduler:us-east-1:000000000000:schedule-group/batch"
        #expect(await f.call("GET", "/schedule-groups/batch").1["State"]?.stringValue == "ACTIVE")
        let groups = await f.call("GET", "/schedule-groups").1["ScheduleGroups"]?.arrayValue?.compactMap { $0["Name"]?.stringValue }
        #expect(groups == ["batch", "default"])
        let escaped = arn.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
        #expect(await f.call("POST", "/tags/\(escaped)", ["Tags": [["Key": "env", "Value": "prod"]]]).0 == 200)
        let tags = await f.call("GET", "/tags/\(escaped)").1["Tags"]?.arrayValue?.compactMap { $0["Key"]?.stringValue }
        #expect(tags == ["env", "team"])
        #expect(await f.call("DELETE", "/tags/\(escaped)", query: ["TagKeys": ["team"]]).0 == 200)
        #expect(await f.call("GET", "/tags/\(escaped)").1["Tags"]?.arrayValue?.count == 1)
        // A schedule group takes up to 200 tags.
        let many: JSON = .array((0..<200).map { ["Key": .string("k\($0)"), "Value": "v"] })
        let tooMany = await f.call("POST", "/tags/\(escaped)", ["Tags": many])
        #expect(tooMany.0 == 400)
        #expect(
            tooMany.1["Message"]?.stringValue == "A resource can have at most 200 tags."
                || tooMany.1["message"]?.stringValue == "A resource can have at most 200 tags.",
            "\(tooMany.1)")
        #expect(await f.call("GET", "/tags/\(escaped)").1["Tags"]?.arrayValue?.count == 1)
        #expect(await f.create("in-missing", "rate(1 hour)", extra: ["GroupName": "nope"]).0 == 404)
        await f.create("x", "rate(1 hour)", extra: ["GroupName": "batch"])
        #expect(await f.call("DELETE", "/schedule-groups/batch").0 == 200)
        #expect(await f.call("GET", "/schedules/x", query: ["groupName": ["batch"]]).0 == 404)
        #expect(await f.call("DELETE", "/schedule-groups/default").0 == 400)
    }

    @Test func oneTimeScheduleFiresStepFunctionsOnceAndDeletesItself() async throws {
        let f = try Fixture()
        await f.create("once", "at(2027-01-15T08:00:10)", extra: ["ActionAfterCompletion": "DELETE"])
        #expect(await f.scheduler.fireDue(now: start.addingTimeInterval(9.9)) == 0)
        #expect(await f.scheduler.fireDue(now: start.addingTimeInterval(10)) == 1)
        let call = try #require(f.states.calls.withLock { $0.first })
        #expect(call.0 == "StartExecution")
        #expect(call.1["stateMachineArn"]?.stringValue == "arn:aws:states:us-east-1:000000000000:stateMachine:job")
        #expect(call.1["input"]?.stringValue == "{\"n\":1}")
        #expect(await f.call("GET", "/schedules/once").0 == 404)
        #expect(await f.scheduler.fireDue(now: start.addingTimeInterval(100)) == 0)
    }

    @Test func completedOneTimeScheduleIsKeptWithoutDelete() async throws {
        let f = try Fixture()
        // One-time schedules ignore EndDate, as in AWS.
        await f.create("once", "at(2027-01-15T08:00:10)", extra: ["EndDate": .number(start.timeIntervalSince1970 + 5)])
        await f.scheduler.fireDue(now: start.addingTimeInterval(10))
        #expect(f.states.count == 1)
        #expect(await f.call("GET", "/schedules/once").0 == 200)
    }

    @Test func rateScheduleFiresEcsRunTaskRepeatedlyUntilEndDate() async throws {
        let f = try Fixture()
        let target: JSON = [
            "Arn": "arn:aws:ecs:us-east-1:000000000000:cluster/batch", "RoleArn": "arn:aws:iam::000000000000:role/r",
            "Input": "{\"containerOverrides\":[{\"name\":\"app\",\"command\":[\"run\"]}]}",
            "EcsParameters": [
                "TaskDefinitionArn": "arn:aws:ecs:us-east-1:000000000000:task-definition/job:1", "LaunchType": "FARGATE",
                "NetworkConfiguration": ["awsvpcConfiguration": ["Subnets": ["subnet-1"], "AssignPublicIp": "DISABLED"]],
            ],
        ]
        await f.create("every5", "rate(5 minutes)", target: target, extra: ["EndDate": .number(start.timeIntervalSince1970 + 901)])
        // Without a StartDate the first run is at creation, then every 5 minutes until the EndDate (15:01).
        for minute in stride(from: 0, through: 30, by: 5) {
            await f.scheduler.fireDue(now: start.addingTimeInterval(Double(minute * 60)))
        }
        #expect(f.ecs.count == 4)
        let call = try #require(f.ecs.calls.withLock { $0.first })
        #expect(call.0 == "RunTask")
        #expect(call.1["cluster"]?.stringValue == "arn:aws:ecs:us-east-1:000000000000:cluster/batch")
        #expect(call.1["taskDefinition"]?.stringValue == "arn:aws:ecs:us-east-1:000000000000:task-definition/job:1")
        #expect(call.1["launchType"]?.stringValue == "FARGATE")
        #expect(call.1["networkConfiguration"]?["awsvpcConfiguration"]?["subnets"]?[0]?.stringValue == "subnet-1")
        #expect(call.1["overrides"]?["containerOverrides"]?[0]?["name"]?.stringValue == "app")
    }

    @Test func cronScheduleFiresAtItsTimesInItsTimeZone() async throws {
        let f = try Fixture()
        // 09:30 in Tokyo is 00:30 UTC; the clock starts at 08:00 UTC, so the next fire is tomorrow 00:30 UTC.
        await f.create("tokyo", "cron(30 9 * * ? *)", extra: ["ScheduleExpressionTimezone": "Asia/Tokyo"])
        let due = start.addingTimeInterval(16.5 * 3600)
        #expect(await f.scheduler.fireDue(now: due.addingTimeInterval(-1)) == 0)
        #expect(await f.scheduler.fireDue(now: due) == 1)
        #expect(await f.scheduler.fireDue(now: due.addingTimeInterval(86400)) == 1)
    }

    @Test func disabledAndUpdatedSchedules() async throws {
        let f = try Fixture()
        await f.create("s", "rate(1 minute)")
        var update: JSONObject = [
            "ScheduleExpression": "rate(10 minutes)", "FlexibleTimeWindow": ["Mode": "OFF"], "State": "DISABLED",
            "Target": ["Arn": "arn:aws:states:us-east-1:000000000000:stateMachine:job", "RoleArn": "arn:aws:iam::000000000000:role/r"],
        ]
        #expect(await f.call("PUT", "/schedules/s", .object(update)).0 == 200)
        #expect(await f.scheduler.fireDue(now: start.addingTimeInterval(3600)) == 0)
        update["State"] = "ENABLED"
        f.clock.set(start.addingTimeInterval(3600))
        #expect(await f.call("PUT", "/schedules/s", .object(update)).0 == 200)
        #expect(await f.scheduler.fireDue(now: start.addingTimeInterval(3600 + 599)) == 0)
        #expect(await f.scheduler.fireDue(now: start.addingTimeInterval(3600 + 600)) == 1)
        #expect(await f.call("PUT", "/schedules/missing", .object(update)).0 == 404)
    }

    @Test func retriesServerErrorsThenSucceeds() async throws {
        let f = try Fixture()
        f.states.failuresLeft.withLock { $0 = 1 }
        await f.create("once", "at(2027-01-15T08:00:10)")
        await f.scheduler.fireDue(now: start.addingTimeInterval(10))
        #expect(f.states.count == 1)
    }

    @Test func aFailingTargetDoesNotHoldUpOtherSchedules() async throws {
        let f = try Fixture()
        f.states.failuresLeft.withLock { $0 = 1000 }  // retried with backoff for as long as the retry policy allows
        await f.create("failing", "at(2027-01-15T08:00:10)")
        await f.create(
            "ecs", "at(2027-01-15T08:00:11)",
            target: [
                "Arn": "arn:aws:ecs:us-east-1:000000000000:cluster/c", "RoleArn": "arn:aws:iam::000000000000:role/r",
                "EcsParameters": ["TaskDefinitionArn": "arn:aws:ecs:us-east-1:000000000000:task-definition/t:1"],
            ])
        let clock = ContinuousClock()
        let began = clock.now
        #expect(await f.scheduler.fireDue(now: start.addingTimeInterval(10), waitForTargets: false) == 1)
        #expect(await f.scheduler.fireDue(now: start.addingTimeInterval(11)) == 1)
        // Held up, the second fire would wait out the failing target's retries: hours of backoff. Ten seconds
        // tells the two apart however loaded the machine (a one-second bound failed under the whole suite's load).
        #expect(clock.now - began < .seconds(10))
        #expect(f.ecs.count == 1)
        #expect(f.states.count == 0)
    }

    @Test func schedulesSurviveRestartAndMissedFiresFollowTheMaximumEventAge() async throws {
        let directory = temporaryPath("skiff-scheduler")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        do {
            let f = try Fixture(stateDirectory: directory)
            await f.create("recent", "at(2027-01-15T09:00:00)")
            await f.create(
                "stale", "at(2027-01-15T09:00:00)",
                target: [
                    "Arn": "arn:aws:states:us-east-1:000000000000:stateMachine:job", "RoleArn": "arn:aws:iam::000000000000:role/r",
                    "RetryPolicy": ["MaximumEventAgeInSeconds": 60, "MaximumRetryAttempts": 0],
                ])
            await f.create("hourly", "rate(1 hour)")
        }
        // Skiff was down from 08:00 to 09:30: "recent" (24 h window) and the missed hourly fires (coalesced) fire once;
        // "stale" (60 s window) is dropped.
        let f = try Fixture(stateDirectory: directory, clock: ManualClock(start.addingTimeInterval(5400)))
        try await f.scheduler.loadQueue()
        #expect(await f.scheduler.fireDue(now: start.addingTimeInterval(5400)) == 2)
        #expect(f.states.count == 2)
        #expect(await f.scheduler.fireDue(now: start.addingTimeInterval(3 * 3600)) == 1)
    }

    @Test func timerLoopFiresOnTime() async throws {
        let f = try Fixture(clock: ManualClock(Date()))
        let system = SchedulerService(environment: f.scheduler.environment, clock: SystemSchedulerClock())
        let runner = Task { try await system.run() }
        defer { runner.cancel() }
        try await Task.sleep(for: .milliseconds(50))
        // Anchored 59.7 s ago, a one-minute rate is due in 0.3 s; the loop, asleep for an hour, must wake for it.
        let due = Date().addingTimeInterval(0.3)
        let body: JSON = [
            "ScheduleExpression": "rate(1 minute)", "FlexibleTimeWindow": ["Mode": "OFF"],
            "StartDate": .number(due.timeIntervalSince1970 - 60),
            "Target": ["Arn": "arn:aws:states:us-east-1:000000000000:stateMachine:job", "RoleArn": "arn:aws:iam::000000000000:role/r"],
        ]
        let context = RequestContext(accountId: "000000000000", region: "us-east-1", requestId: "t")
        _ = try await system.handle(
            operation: "CreateSchedule",
            request: OperationRequest(
                method: "POST", path: "/schedules/soon", headers: ["content-type": "application/json"], body: body.serializedBytes(),
            ).withPathParameters(["Name": "soon"]), context: context)
        try await Task.sleep(for: .milliseconds(150))
        #expect(f.states.count == 0)
        // Due 0.3 s after creation; a loaded machine may take longer to wake the loop, so the bound is generous.
        for _ in 0..<100 where f.states.count == 0 { try await Task.sleep(for: .milliseconds(100)) }
        #expect(f.states.count == 1)
    }
}

@Suite struct SchedulerAuditTests {
    static let machine = "arn:aws:states:us-east-1:000000000000:stateMachine:job"
    static let role = "arn:aws:iam::000000000000:role/r"
    static let cluster = "arn:aws:ecs:us-east-1:000000000000:cluster/c"
    static let taskDefinition = "arn:aws:ecs:us-east-1:000000000000:task-definition/t:1"

    // MARK: A rate schedule starts at its anchor

    @Test func rateScheduleWithoutStartDateInvokesItsTargetImmediately() async throws {
        let f = try Fixture()
        await f.create("now", "rate(5 minutes)")
        #expect(await f.scheduler.fireDue(now: start) == 1)
        #expect(await f.scheduler.fireDue(now: start.addingTimeInterval(299)) == 0)
        #expect(await f.scheduler.fireDue(now: start.addingTimeInterval(300)) == 1)
    }

    @Test func rateScheduleFirstOccursAtItsStartDate() async throws {
        let f = try Fixture()
        await f.create("later", "rate(5 minutes)", extra: ["StartDate": .number(start.timeIntervalSince1970 + 600)])
        #expect(await f.scheduler.fireDue(now: start.addingTimeInterval(599)) == 0)
        #expect(await f.scheduler.fireDue(now: start.addingTimeInterval(600)) == 1)
        #expect(await f.scheduler.fireDue(now: start.addingTimeInterval(899)) == 0)
        #expect(await f.scheduler.fireDue(now: start.addingTimeInterval(900)) == 1)
    }

    // MARK: A flexible window delays each occurrence within its own window, losing none

    @Test func flexibleWindowWiderThanTheRateFiresEveryOccurrenceOnce() async throws {
        let f = try Fixture()
        await f.create("flex", "rate(5 minutes)", extra: ["FlexibleTimeWindow": ["Mode": "FLEXIBLE", "MaximumWindowInMinutes": 15]])
        var fired = 0
        // Occurrences at 0, 5, ..., 60 minutes (13) have all fired by 75 minutes; later ones may have too.
        for second in stride(from: 0, through: 75 * 60, by: 10) {
            fired += await f.scheduler.fireDue(now: start.addingTimeInterval(Double(second)))
        }
        #expect(fired >= 13 && fired <= 16, "\(fired) fires")
    }

    // MARK: A fire never writes back a schedule an update replaced

    @Test func aFireDoesNotOverwriteAConcurrentUpdate() async throws {
        let f = try Fixture()
        await f.create("s", "rate(1 hour)")
        let key = ScheduleKey(account: "000000000000", region: "us-east-1", group: "default", name: "s")
        // What a fire read before the update ...
        let read = try #require(try await f.scheduler.database.read { db in try ScheduleStore.document(db, key: key) })
        let update: JSON = [
            "ScheduleExpression": "rate(2 hours)", "FlexibleTimeWindow": ["Mode": "OFF"], "Description": "updated",
            "Target": ["Arn": .string(Self.machine), "RoleArn": .string(Self.role)],
        ]
        #expect(await f.call("PUT", "/schedules/s", update).0 == 200)
        // ... no longer matches, so its next-fire write is not applied and the update stands.
        let applied = try await f.scheduler.database.write { db in
            try ScheduleStore.setNextFire(db, key: key, nextFire: start.addingTimeInterval(60), ifDocument: read)
        }
        #expect(!applied)
        let (_, got) = await f.call("GET", "/schedules/s")
        #expect(got["ScheduleExpression"]?.stringValue == "rate(2 hours)")
        #expect(got["Description"]?.stringValue == "updated")
        let current = try #require(try await f.scheduler.database.read { db in try ScheduleStore.document(db, key: key) })
        #expect(
            try await f.scheduler.database.write { db in
                try ScheduleStore.setNextFire(db, key: key, nextFire: start.addingTimeInterval(60), ifDocument: current)
            })
    }

    @Test func aScheduleStoredBeforeTheInputChecksKeepsFiring() async throws {
        let f = try Fixture()
        await f.create("old", "at(2027-01-15T08:00:10)")
        // Written by an earlier Skiff, before time zones and inputs were checked at create.
        let key = ScheduleKey(account: "000000000000", region: "us-east-1", group: "default", name: "old")
        try await f.scheduler.database.write { db in
            var schedule = try #require(try ScheduleStore.schedule(db, key: key))
            schedule.target?.input = "not json"
            schedule.scheduleExpressionTimezone = "EST"
            try ScheduleStore.save(db, key: key, schedule: schedule, nextFire: start.addingTimeInterval(15 * 3600 + 10))
        }
        #expect(await f.scheduler.fireDue(now: start.addingTimeInterval(10)) == 1)
        #expect(f.states.count == 1)
    }

    // MARK: Validation at create

    @Test func startDateMoreThanFiveMinutesAgoIsRefused() async throws {
        let f = try Fixture()
        let (status, error) = await f.create("old", "rate(5 minutes)", extra: ["StartDate": .number(start.timeIntervalSince1970 - 301)])
        #expect(status == 400)
        #expect(error.serialized().contains("The StartDate you specify cannot be earlier than 5 minutes ago."), "\(error)")
        #expect(await f.create("recent", "rate(5 minutes)", extra: ["StartDate": .number(start.timeIntervalSince1970 - 299)]).0 == 200)
    }

    @Test func ecsTargetInputMustBeTaskOverrides() async throws {
        let f = try Fixture()
        func target(_ input: String) -> JSON {
            [
                "Arn": .string(Self.cluster), "RoleArn": .string(Self.role),
                "EcsParameters": ["TaskDefinitionArn": .string(Self.taskDefinition)], "Input": .string(input),
            ]
        }
        for input in [#"{"VAR1":"x"}"#, "hello", #"{"containerOverrides":"app"}"#, "[1]"] {
            let (status, error) = await f.create("ecs", "rate(5 minutes)", target: target(input))
            #expect(status == 400, "\(input)")
            #expect(error.serialized().contains("Unable to convert target input to TaskOverride"), "\(input): \(error)")
        }
        #expect(
            await f.create(
                "ecs", "rate(5 minutes)", target: target(#"{"containerOverrides":[{"name":"app","command":["x"]}],"cpu":"256"}"#)
            ).0 == 200)
    }

    @Test func stepFunctionsTargetInputMustBeJSON() async throws {
        let f = try Fixture()
        let (status, _) = await f.create(
            "sfn", "rate(5 minutes)", target: ["Arn": .string(Self.machine), "RoleArn": .string(Self.role), "Input": "hello"])
        #expect(status == 400)
    }

    @Test(arguments: ["GMT+5", "UTC+9", "Mars/Olympus"])
    func timeZonesMustBeIANANames(_ zone: String) async throws {
        let f = try Fixture()
        #expect(await f.create("tz", "cron(0 9 * * ? *)", extra: ["ScheduleExpressionTimezone": .string(zone)]).0 == 400)
    }

    @Test func timeZonesAcceptUTCAndIANANames() async throws {
        let f = try Fixture()
        #expect(await f.create("a", "cron(0 9 * * ? *)", extra: ["ScheduleExpressionTimezone": "UTC"]).0 == 200)
        #expect(await f.create("b", "cron(0 9 * * ? *)", extra: ["ScheduleExpressionTimezone": "Asia/Tokyo"]).0 == 200)
    }

    // MARK: ClientToken

    @Test func sameClientTokenAndRequestGetsTheSameAnswer() async throws {
        let f = try Fixture()
        let first = await f.create("idem", "rate(1 hour)", extra: ["ClientToken": "token-1"])
        let again = await f.create("idem", "rate(1 hour)", extra: ["ClientToken": "token-1"])
        #expect(first.0 == 200)
        #expect(again.0 == 200)
        #expect(again.1["ScheduleArn"] == first.1["ScheduleArn"])
        #expect(await f.create("idem", "rate(2 hours)", extra: ["ClientToken": "token-1"]).0 == 409)
        #expect(await f.create("idem", "rate(1 hour)", extra: ["ClientToken": "token-2"]).0 == 409)
        #expect(await f.create("idem", "rate(1 hour)").0 == 409)
    }
}

extension OperationRequest {
    func withPathParameters(_ parameters: [String: String]) -> OperationRequest {
        var copy = self
        copy.pathParameters = parameters
        return copy
    }
}
