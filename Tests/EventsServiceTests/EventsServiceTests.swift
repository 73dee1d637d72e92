import AWSProtocol
import Foundation
import JSONCore
import Logging
import SchedulerService
import Synchronization
import Testing

@testable import EventsService
@testable import LocalCloud

final class FixedClock: SchedulerClock {
    let time: Mutex<Date>
    init(_ date: Date) { time = Mutex(date) }
    func now() -> Date { time.withLock { $0 } }
}

/// A stand-in for ECS or Step Functions that records the calls it receives.
final class Recorder: LocalService {
    let descriptor: ServiceDescriptor
    let calls = Mutex<[(String, JSON)]>([])

    init(prefix: String, targetPrefix: String) {
        descriptor = ServiceDescriptor(endpointPrefix: prefix, signingName: prefix, targetPrefix: targetPrefix,
                                       wireProtocol: .awsJson1_1, apiVersion: "1", xmlNamespace: nil,
                                       operations: ["RunTask", "StartExecution"], routes: [])
    }

    func handle(operation: String, request: OperationRequest, context: RequestContext) async throws -> OperationResponse {
        calls.withLock { $0.append((operation, try! JSON(parsing: request.body))) }
        return .json(["ok": true], contentType: "application/x-amz-json-1.1")
    }

    /// Waits (briefly) for `count` calls: targets are invoked in the background.
    func waitFor(_ count: Int) async -> [(String, JSON)] {
        for _ in 0..<200 {
            let calls = calls.withLock { $0 }
            if calls.count >= count { return calls }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return calls.withLock { $0 }
    }
}

let t0 = Date(timeIntervalSince1970: 1_800_000_000)

struct Bus {
    let cloud: LocalCloud
    let events: EventsService
    let ecs = Recorder(prefix: "ecs", targetPrefix: "AmazonEC2ContainerServiceV20141113")
    let states = Recorder(prefix: "states", targetPrefix: "AWSStepFunctions")

    init() throws {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let environment = ServiceEnvironment(database: try CloudDatabase(stateDirectory: nil), logger: logger,
                                             configuration: CloudConfiguration(stateDirectory: nil, accounts: [:]))
        events = EventsService(environment: environment, clock: FixedClock(t0))
        cloud = try LocalCloud(services: [events, ecs, states], environment: environment)
    }

    @discardableResult
    func call(_ operation: String, _ body: JSON) async -> (Int, JSON) {
        let response = await cloud.respond(to: OperationRequest(
            method: "POST", path: "/",
            headers: ["x-amz-target": "AWSEvents.\(operation)", "content-type": "application/x-amz-json-1.1",
                      "x-amz-date": "20240101T000000Z", "authorization": "AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/events/aws4_request, SignedHeaders=host, Signature=0"],
            body: body.serializedBytes()))
        return (response.status, (try? JSON(parsing: response.body)) ?? .null)
    }
}

let machine = "arn:aws:states:us-east-1:000000000000:stateMachine:job"

@Suite struct EventsServiceTests {
    @Test func rulesCrud() async throws {
        let bus = try Bus()
        let (status, put) = await bus.call("PutRule", ["Name": "r1", "EventPattern": "{\"source\":[\"aws.states\"]}"])
        #expect(status == 200)
        #expect(put["RuleArn"]?.stringValue == "arn:aws:events:us-east-1:000000000000:rule/r1")
        await bus.call("PutRule", ["Name": "r2", "ScheduleExpression": "rate(5 minutes)", "State": "DISABLED"])
        #expect(await bus.call("DescribeRule", ["Name": "r2"]).1["State"]?.stringValue == "DISABLED")
        #expect(await bus.call("EnableRule", ["Name": "r2"]).0 == 200)
        #expect(await bus.call("DescribeRule", ["Name": "r2"]).1["State"]?.stringValue == "ENABLED")
        let (_, page) = await bus.call("ListRules", ["Limit": 1])
        #expect(page["Rules"]?.arrayValue?.count == 1)
        let token = try #require(page["NextToken"]?.stringValue)
        #expect(await bus.call("ListRules", ["Limit": 1, "NextToken": .string(token)]).1["Rules"]?[0]?["Name"]?.stringValue == "r2")
        #expect(await bus.call("DescribeRule", ["Name": "nope"]).1.serialized().contains("Rule nope does not exist on EventBus default."))
        #expect(await bus.call("PutRule", ["Name": "bad"]).0 == 400)
        let (badStatus, bad) = await bus.call("PutRule", ["Name": "bad", "EventPattern": "{\"source\":\"aws.states\"}"])
        #expect(badStatus == 400)
        #expect(bad["__type"]?.stringValue?.contains("InvalidEventPatternException") == true)
        await bus.call("PutTargets", ["Rule": "r1", "Targets": [["Id": "t", "Arn": .string(machine)]]])
        #expect(await bus.call("DeleteRule", ["Name": "r1"]).0 == 400)
        #expect(await bus.call("ListTargetsByRule", ["Rule": "r1"]).1["Targets"]?.arrayValue?.count == 1)
        await bus.call("RemoveTargets", ["Rule": "r1", "Ids": ["t"]])
        #expect(await bus.call("DeleteRule", ["Name": "r1"]).0 == 200)
        #expect(await bus.call("DescribeRule", ["Name": "r1"]).0 == 400)
    }

    @Test func tagsOnRulesAndBuses() async throws {
        let bus = try Bus()
        let arn = await bus.call("PutRule", ["Name": "r", "EventPattern": #"{"source":["a"]}"#, "Tags": [["Key": "team", "Value": "ops"]]]).1["RuleArn"]!
        await bus.call("TagResource", ["ResourceARN": arn, "Tags": [["Key": "env", "Value": "stg"]]])
        #expect(await bus.call("ListTagsForResource", ["ResourceARN": arn]).1["Tags"]?.arrayValue?.compactMap { $0["Key"]?.stringValue } == ["env", "team"])
        await bus.call("UntagResource", ["ResourceARN": arn, "TagKeys": ["team"]])
        #expect(await bus.call("ListTagsForResource", ["ResourceARN": arn]).1["Tags"]?.arrayValue?.count == 1)
        let busArn = await bus.call("CreateEventBus", ["Name": "jobs", "Tags": [["Key": "k", "Value": "v"]]]).1["EventBusArn"]!
        #expect(await bus.call("ListTagsForResource", ["ResourceARN": busArn]).1["Tags"]?[0]?["Value"]?.stringValue == "v")
        #expect(await bus.call("ListTagsForResource", ["ResourceARN": "arn:aws:events:us-east-1:000000000000:rule/none"]).0 == 400)
    }

    @Test func eventBuses() async throws {
        let bus = try Bus()
        #expect(await bus.call("CreateEventBus", ["Name": "jobs"]).1["EventBusArn"]?.stringValue == "arn:aws:events:us-east-1:000000000000:event-bus/jobs")
        #expect(await bus.call("CreateEventBus", ["Name": "jobs"]).0 == 400)
        let names = await bus.call("ListEventBuses", [:]).1["EventBuses"]?.arrayValue?.compactMap { $0["Name"]?.stringValue }
        #expect(names == ["default", "jobs"])
        #expect(await bus.call("DescribeEventBus", [:]).1["Name"]?.stringValue == "default")
        #expect(await bus.call("PutRule", ["Name": "s", "EventBusName": "jobs", "ScheduleExpression": "rate(1 hour)"]).0 == 400)
        #expect(await bus.call("PutRule", ["Name": "p", "EventBusName": "nope", "EventPattern": #"{"source":["a"]}"#]).0 == 400)
        #expect(await bus.call("DeleteEventBus", ["Name": "default"]).0 == 400)
        #expect(await bus.call("DeleteEventBus", ["Name": "jobs"]).0 == 200)
        #expect(await bus.call("DescribeEventBus", ["Name": "jobs"]).0 == 400)
    }

    @Test func testEventPatternOperation() async throws {
        let bus = try Bus()
        let event = #"{"id":"1","account":"1","source":"a","time":"2027-01-01T00:00:00Z","region":"us-east-1","detail-type":"x","resources":[],"detail":{}}"#
        #expect(await bus.call("TestEventPattern", ["EventPattern": #"{"source":["a"]}"#, "Event": .string(event)]).1["Result"]?.boolValue == true)
        #expect(await bus.call("TestEventPattern", ["EventPattern": #"{"source":["b"]}"#, "Event": .string(event)]).1["Result"]?.boolValue == false)
    }

    @Test func putEventsFiresMatchingRulesWithInputTransformer() async throws {
        let bus = try Bus()
        await bus.call("PutRule", ["Name": "done", "EventPattern": #"{"source":["app"],"detail":{"status":["done"]}}"#])
        await bus.call("PutTargets", ["Rule": "done", "Targets": [
            ["Id": "sfn", "Arn": .string(machine),
             "InputTransformer": ["InputPathsMap": ["job": "$.detail.job", "n": "$.detail.n"], "InputTemplate": #"{"job": "<job>", "count": <n>}"#]],
            ["Id": "path", "Arn": .string(machine), "InputPath": "$.detail"],
        ]])
        let (_, result) = await bus.call("PutEvents", ["Entries": [
            ["Source": "app", "DetailType": "Job", "Detail": #"{"status":"done","job":"nightly","n":3}"#],
            ["Source": "app", "DetailType": "Job", "Detail": #"{"status":"running"}"#],
            ["Source": "app", "DetailType": "Job", "Detail": "not json"],
        ]])
        #expect(result["FailedEntryCount"]?.intValue == 1)
        #expect(result["Entries"]?[2]?["ErrorCode"]?.stringValue == "MalformedDetail")
        let calls = await bus.states.waitFor(2)
        #expect(calls.count == 2)
        let inputs = Set(calls.compactMap { $0.1["input"]?.stringValue })
        #expect(inputs.contains(#"{"job": "nightly", "count": 3}"#))
        #expect(inputs.contains(#"{"status":"done","job":"nightly","n":3}"#))
    }

    @Test func publishedServiceEventsReachTheDefaultBus() async throws {
        let bus = try Bus()
        await bus.call("PutRule", ["Name": "failed", "EventPattern": #"{"source":["aws.states"],"detail":{"status":["FAILED"]}}"#])
        await bus.call("PutTargets", ["Rule": "failed", "Targets": [
            ["Id": "ecs", "Arn": "arn:aws:ecs:us-east-1:000000000000:cluster/ops",
             "EcsParameters": ["TaskDefinitionArn": "arn:aws:ecs:us-east-1:000000000000:task-definition/alert:1", "TaskCount": 2]]]])
        let context = RequestContext(accountId: "000000000000", region: "us-east-1", requestId: "r")
        await bus.cloud.environment.directory.publish(ServiceEvent(source: "aws.states", detailType: "Step Functions Execution Status Change",
                                                                   detail: ["status": "SUCCEEDED"]), context: context)
        await bus.cloud.environment.directory.publish(ServiceEvent(source: "aws.states", detailType: "Step Functions Execution Status Change",
                                                                   detail: ["status": "FAILED"]), context: context)
        let calls = await bus.ecs.waitFor(1)
        try await Task.sleep(for: .milliseconds(50))
        #expect(bus.ecs.calls.withLock { $0.count } == 1)
        #expect(calls.first?.0 == "RunTask")
        #expect(calls.first?.1["taskDefinition"]?.stringValue == "arn:aws:ecs:us-east-1:000000000000:task-definition/alert:1")
        #expect(calls.first?.1["count"]?.intValue == 2)
    }

    @Test func scheduledRulesFireOnTheirSchedule() async throws {
        let bus = try Bus()
        await bus.call("PutRule", ["Name": "every5", "ScheduleExpression": "rate(5 minutes)"])
        await bus.call("PutTargets", ["Rule": "every5", "Targets": [["Id": "sfn", "Arn": .string(machine)]]])
        #expect(await bus.events.fireDue(now: t0.addingTimeInterval(299)) == 0)
        #expect(await bus.events.fireDue(now: t0.addingTimeInterval(300)) == 1)
        #expect(await bus.events.fireDue(now: t0.addingTimeInterval(600)) == 1)
        let calls = await bus.states.waitFor(2)
        #expect(calls.count == 2)
        let event = try JSON(parsing: calls[0].1["input"]?.stringValue ?? "")
        #expect(event["detail-type"]?.stringValue == "Scheduled Event")
        #expect(event["source"]?.stringValue == "aws.events")
        await bus.call("DisableRule", ["Name": "every5"])
        #expect(await bus.events.fireDue(now: t0.addingTimeInterval(900)) == 0)
    }
}
