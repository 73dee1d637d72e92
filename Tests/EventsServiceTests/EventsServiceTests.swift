import AWSProtocol
import Foundation
import JSONCore
import LocalCloudTesting
import Synchronization
import TargetDelivery
import Testing

@testable import EventsService
@testable import LocalCloud

final class FixedClock: SchedulerClock {
    let time: Mutex<Date>
    init(_ date: Date) { time = Mutex(date) }
    func now() -> Date { time.withLock { $0 } }
}

let t0 = Date(timeIntervalSince1970: 1_800_000_000)

struct Bus {
    let cloud: Cloud
    let events: EventsService
    let ecs = RecordingService(prefix: "ecs", targetPrefix: "AmazonEC2ContainerServiceV20141113")
    let states = RecordingService(prefix: "states", targetPrefix: "AWSStepFunctions")

    init(stateDirectory: String? = nil, clock: FixedClock = FixedClock(t0)) throws {
        let environment = try ServiceEnvironment.testing(stateDirectory: stateDirectory)
        events = EventsService(environment: environment, clock: clock)
        cloud = try Cloud(services: [events, ecs, states], environment: environment)
    }

    @discardableResult
    func call(_ operation: String, _ body: JSON) async -> (Int, JSON) {
        await cloud.awsJson("AWSEvents.\(operation)", body, signedFor: "events", key: "AKID")
    }
}

let machine = "arn:aws:states:us-east-1:000000000000:stateMachine:job"
let role = "arn:aws:iam::000000000000:role/events"

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
        await bus.call("PutTargets", ["Rule": "r1", "Targets": [["Id": "t", "Arn": .string(machine), "RoleArn": .string(role)]]])
        #expect(await bus.call("DeleteRule", ["Name": "r1"]).0 == 400)
        #expect(await bus.call("ListTargetsByRule", ["Rule": "r1"]).1["Targets"]?.arrayValue?.count == 1)
        await bus.call("RemoveTargets", ["Rule": "r1", "Ids": ["t"]])
        #expect(await bus.call("DeleteRule", ["Name": "r1"]).0 == 200)
        #expect(await bus.call("DescribeRule", ["Name": "r1"]).0 == 400)
    }

    @Test func tagsOnRulesAndBuses() async throws {
        let bus = try Bus()
        let arn = await bus.call(
            "PutRule", ["Name": "r", "EventPattern": #"{"source":["a"]}"#, "Tags": [["Key": "team", "Value": "ops"]]]
        ).1["RuleArn"]!
        await bus.call("TagResource", ["ResourceARN": arn, "Tags": [["Key": "env", "Value": "stg"]]])
        #expect(
            await bus.call("ListTagsForResource", ["ResourceARN": arn]).1["Tags"]?.arrayValue?.compactMap { $0["Key"]?.stringValue } == [
                "env", "team",
            ])
        await bus.call("UntagResource", ["ResourceARN": arn, "TagKeys": ["team"]])
        #expect(await bus.call("ListTagsForResource", ["ResourceARN": arn]).1["Tags"]?.arrayValue?.count == 1)
        let busArn = await bus.call("CreateEventBus", ["Name": "jobs", "Tags": [["Key": "k", "Value": "v"]]]).1["EventBusArn"]!
        #expect(await bus.call("ListTagsForResource", ["ResourceARN": busArn]).1["Tags"]?[0]?["Value"]?.stringValue == "v")
        #expect(await bus.call("ListTagsForResource", ["ResourceARN": "arn:aws:events:us-east-1:000000000000:rule/none"]).0 == 400)
        // AWS's tag rules, refused as a ValidationException that writes nothing.
        let reserved = await bus.call(
            "TagResource", ["ResourceARN": arn, "Tags": [["Key": "aws:x", "Value": "v"], ["Key": "ok", "Value": "v"]]])
        #expect(reserved.1["__type"] == "ValidationException")
        #expect(await bus.call("ListTagsForResource", ["ResourceARN": arn]).1["Tags"]?.arrayValue?.count == 1)
        // A rule deleted and made again has only the tags it is made with.
        await bus.call("DeleteRule", ["Name": "r"])
        await bus.call("PutRule", ["Name": "r", "EventPattern": #"{"source":["a"]}"#])
        #expect(await bus.call("ListTagsForResource", ["ResourceARN": arn]).1["Tags"] == [])
        await bus.call("DeleteEventBus", ["Name": "jobs"])
        await bus.call("CreateEventBus", ["Name": "jobs"])
        #expect(await bus.call("ListTagsForResource", ["ResourceARN": busArn]).1["Tags"] == [])
    }

    @Test func eventBuses() async throws {
        let bus = try Bus()
        #expect(
            await bus.call("CreateEventBus", ["Name": "jobs"]).1["EventBusArn"]?.stringValue
                == "arn:aws:events:us-east-1:000000000000:event-bus/jobs")
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
        let event =
            #"{"id":"1","account":"1","source":"a","time":"2027-01-01T00:00:00Z","region":"us-east-1","detail-type":"x","resources":[],"detail":{}}"#
        #expect(
            await bus.call("TestEventPattern", ["EventPattern": #"{"source":["a"]}"#, "Event": .string(event)]).1["Result"]?.boolValue
                == true)
        #expect(
            await bus.call("TestEventPattern", ["EventPattern": #"{"source":["b"]}"#, "Event": .string(event)]).1["Result"]?.boolValue
                == false)
    }

    @Test func putEventsFiresMatchingRulesWithInputTransformer() async throws {
        let bus = try Bus()
        await bus.call("PutRule", ["Name": "done", "EventPattern": #"{"source":["app"],"detail":{"status":["done"]}}"#])
        await bus.call(
            "PutTargets",
            [
                "Rule": "done",
                "Targets": [
                    [
                        "Id": "sfn", "Arn": .string(machine), "RoleArn": .string(role),
                        "InputTransformer": [
                            "InputPathsMap": ["job": "$.detail.job", "n": "$.detail.n"],
                            "InputTemplate": #"{"job": "<job>", "count": <n>}"#,
                        ],
                    ],
                    ["Id": "path", "Arn": .string(machine), "RoleArn": .string(role), "InputPath": "$.detail"],
                ],
            ])
        let (_, result) = await bus.call(
            "PutEvents",
            [
                "Entries": [
                    ["Source": "app", "DetailType": "Job", "Detail": #"{"status":"done","job":"nightly","n":3}"#],
                    ["Source": "app", "DetailType": "Job", "Detail": #"{"status":"running"}"#],
                    ["Source": "app", "DetailType": "Job", "Detail": "not json"],
                ]
            ])
        #expect(result["FailedEntryCount"]?.intValue == 1)
        #expect(result["Entries"]?[2]?["ErrorCode"]?.stringValue == "MalformedDetail")
        let calls = await bus.states.waitFor(2)
        #expect(calls.count == 2)
        let inputs = Set(calls.compactMap { $0.1["input"]?.stringValue })
        // A JSON template's result is minified, as EventBridge passes it.
        #expect(inputs.contains(#"{"job":"nightly","count":3}"#))
        #expect(inputs.contains(#"{"status":"done","job":"nightly","n":3}"#))
    }

    @Test func publishedServiceEventsReachTheDefaultBus() async throws {
        let bus = try Bus()
        await bus.call("PutRule", ["Name": "failed", "EventPattern": #"{"source":["aws.states"],"detail":{"status":["FAILED"]}}"#])
        await bus.call(
            "PutTargets",
            [
                "Rule": "failed",
                "Targets": [
                    [
                        "Id": "ecs", "Arn": "arn:aws:ecs:us-east-1:000000000000:cluster/ops", "RoleArn": .string(role),
                        "EcsParameters": [
                            "TaskDefinitionArn": "arn:aws:ecs:us-east-1:000000000000:task-definition/alert:1", "TaskCount": 2,
                        ],
                    ]
                ],
            ])
        let context = RequestContext(accountId: "000000000000", region: "us-east-1", requestId: "r")
        await bus.cloud.environment.directory.publish(context: context) {
            ServiceEvent(source: "aws.states", detailType: "Step Functions Execution Status Change", detail: ["status": "SUCCEEDED"])
        }
        await bus.cloud.environment.directory.publish(context: context) {
            ServiceEvent(source: "aws.states", detailType: "Step Functions Execution Status Change", detail: ["status": "FAILED"])
        }
        let calls = await bus.ecs.waitFor(1)
        try await Task.sleep(for: .milliseconds(50))
        #expect(bus.ecs.calls.withLock { $0.count } == 1)
        #expect(calls.first?.0 == "RunTask")
        #expect(calls.first?.1["taskDefinition"]?.stringValue == "arn:aws:ecs:us-east-1:000000000000:task-definition/alert:1")
        #expect(calls.first?.1["count"]?.intValue == 2)
    }

    /// Publishers build their events only when the bus has a rule: a bus without one (or a disabled one only)
    /// never asks for the event.
    @Test func eventsAreBuiltOnlyForABusWithRules() async throws {
        let bus = try Bus()
        let context = RequestContext(accountId: "000000000000", region: "us-east-1", requestId: "r")
        let built = Mutex(0)
        let publish = {
            await bus.cloud.environment.directory.publish(context: context) {
                built.withLock { $0 += 1 }
                return ServiceEvent(
                    source: "aws.states", detailType: "Step Functions Execution Status Change", detail: ["status": "FAILED"])
            }
        }
        await publish()
        await bus.call("PutRule", ["Name": "off", "EventPattern": #"{"source":["aws.states"]}"#, "State": "DISABLED"])
        await publish()
        #expect(built.withLock { $0 } == 0)
        await bus.call("PutRule", ["Name": "on", "EventPattern": #"{"source":["aws.states"]}"#])
        await publish()
        #expect(built.withLock { $0 } == 1)
    }

    @Test func scheduledRulesFireOnTheirSchedule() async throws {
        let bus = try Bus()
        await bus.call("PutRule", ["Name": "every5", "ScheduleExpression": "rate(5 minutes)"])
        await bus.call("PutTargets", ["Rule": "every5", "Targets": [["Id": "sfn", "Arn": .string(machine), "RoleArn": .string(role)]]])
        // A rate rule starts when it is created: its first fire is then, the next one interval later.
        #expect(await bus.events.fireDue(now: t0) == 1)
        #expect(await bus.events.fireDue(now: t0.addingTimeInterval(299)) == 0)
        #expect(await bus.events.fireDue(now: t0.addingTimeInterval(300)) == 1)
        #expect(await bus.events.fireDue(now: t0.addingTimeInterval(600)) == 1)
        let calls = await bus.states.waitFor(3)
        #expect(calls.count == 3)
        let event = try JSON(parsing: calls[0].1["input"]?.stringValue ?? "")
        #expect(event["detail-type"]?.stringValue == "Scheduled Event")
        #expect(event["source"]?.stringValue == "aws.events")
        await bus.call("DisableRule", ["Name": "every5"])
        #expect(await bus.events.fireDue(now: t0.addingTimeInterval(900)) == 0)
    }
}

@Suite struct EventsAuditTests {
    func inputs(_ bus: Bus, count: Int) async -> [String] {
        await bus.states.waitFor(count).compactMap { $0.1["input"]?.stringValue }
    }

    @Test func putTargetsRefusesInputThatIsNotJSONAndKeepsTheOthers() async throws {
        let bus = try Bus()
        await bus.call("PutRule", ["Name": "r", "EventPattern": #"{"source":["app"]}"#])
        let (status, answer) = await bus.call(
            "PutTargets",
            [
                "Rule": "r",
                "Targets": [
                    ["Id": "bad", "Arn": .string(machine), "RoleArn": .string(role), "Input": "{not json"],
                    ["Id": "good", "Arn": .string(machine), "RoleArn": .string(role), "Input": #"{"a":1}"#],
                ],
            ])
        #expect(status == 200)
        #expect(answer["FailedEntryCount"] == 1, "\(answer)")
        let failure = try #require(answer["FailedEntries"]?.arrayValue?.first)
        #expect(failure["TargetId"] == "bad")
        #expect(failure["ErrorCode"] == "ValidationException")
        #expect(failure["ErrorMessage"]?.stringValue?.hasPrefix("Input for target bad is not valid JSON text") == true, "\(failure)")
        let (_, targets) = await bus.call("ListTargetsByRule", ["Rule": "r"])
        #expect(targets["Targets"]?.arrayValue?.compactMap { $0["Id"]?.stringValue } == ["good"])
    }

    // MARK: InputTransformer

    @Test func inputTransformerFillsPlaceholdersInsideAndOutsideStrings() async throws {
        let bus = try Bus()
        await bus.call("PutRule", ["Name": "ec2", "EventPattern": #"{"source":["my.ec2"]}"#])
        await bus.call(
            "PutTargets",
            [
                "Rule": "ec2",
                "Targets": [
                    [
                        "Id": "t", "Arn": .string(machine), "RoleArn": .string(role),
                        "InputTransformer": [
                            "InputPathsMap": ["instance": "$.detail.instance", "status": "$.detail.status"],
                            "InputTemplate": #"{"myInstance": <instance>,"myStatus": "<instance> is in state \"<status>\""}"#,
                        ],
                    ]
                ],
            ])
        await bus.call(
            "PutEvents", ["Entries": [["Source": "my.ec2", "DetailType": "x", "Detail": #"{"instance":"i-1","status":"run\"ning"}"#]]])
        let input = try #require(await inputs(bus, count: 1).first)
        let json = try JSON(parsing: input)
        #expect(json["myInstance"]?.stringValue == "i-1", "\(input)")
        #expect(json["myStatus"]?.stringValue == #"i-1 is in state "run"ning""#, "\(input)")
    }

    @Test func inputTransformerPlainTextAndNonStringValues() async throws {
        let bus = try Bus()
        await bus.call("PutRule", ["Name": "r", "EventPattern": #"{"source":["app"]}"#])
        await bus.call(
            "PutTargets",
            [
                "Rule": "r",
                "Targets": [
                    [
                        "Id": "text", "Arn": .string(machine), "RoleArn": .string(role),
                        "InputTransformer": [
                            "InputPathsMap": ["instance": "$.detail.instance", "n": "$.detail.n"],
                            "InputTemplate": "<instance> has <n> items",
                        ],
                    ],
                    [
                        "Id": "json", "Arn": .string(machine), "RoleArn": .string(role),
                        "InputTransformer": [
                            "InputPathsMap": ["obj": "$.detail.obj", "n": "$.detail.n"],
                            "InputTemplate": #"{"o": <obj>, "s": "n=<n> o=<obj>"}"#,
                        ],
                    ],
                ],
            ])
        await bus.call(
            "PutEvents", ["Entries": [["Source": "app", "DetailType": "x", "Detail": #"{"instance":"i-1","n":3,"obj":{"a":"b"}}"#]]])
        let received = Set(await inputs(bus, count: 2))
        #expect(received.contains("i-1 has 3 items"), "\(received)")
        let json = try #require(received.compactMap { try? JSON(parsing: $0) }.first { $0["o"] != nil })
        #expect(json["o"] == ["a": "b"])
        #expect(json["s"]?.stringValue == #"n=3 o={"a":"b"}"#)
    }

    @Test func inputTransformerPathMissingFromTheEventCreatesNoVariable() async throws {
        let bus = try Bus()
        await bus.call("PutRule", ["Name": "r", "EventPattern": #"{"source":["app"]}"#])
        await bus.call(
            "PutTargets",
            [
                "Rule": "r",
                "Targets": [
                    [
                        "Id": "json", "Arn": .string(machine), "RoleArn": .string(role),
                        "InputTransformer": [
                            "InputPathsMap": ["gone": "$.detail.gone"], "InputTemplate": #"{"v": <gone>, "s": "[<gone>]"}"#,
                        ],
                    ]
                ],
            ])
        await bus.call("PutEvents", ["Entries": [["Source": "app", "DetailType": "x", "Detail": "{}"]]])
        let input = try #require(await inputs(bus, count: 1).first)
        let json = try JSON(parsing: input)
        #expect(json["s"]?.stringValue == "[]", "\(input)")
        #expect(json["v"] == .null, "\(input)")
    }

    @Test func inputTransformerPredefinedVariables() async throws {
        let bus = try Bus()
        await bus.call("PutRule", ["Name": "named", "EventPattern": #"{"source":["app"]}"#])
        await bus.call(
            "PutTargets",
            [
                "Rule": "named",
                "Targets": [
                    [
                        "Id": "t", "Arn": .string(machine), "RoleArn": .string(role),
                        "InputTransformer": [
                            "InputTemplate":
                                #"{"name": <aws.events.rule-name>, "arn": <aws.events.rule-arn>, "at": <aws.events.event.ingestion-time>, "event": <aws.events.event>, "full": <aws.events.event.json>, "text": "<aws.events.rule-name> triggered"}"#
                        ],
                    ]
                ],
            ])
        await bus.call("PutEvents", ["Entries": [["Source": "app", "DetailType": "x", "Detail": #"{"k":1}"#]]])
        let input = try #require(await inputs(bus, count: 1).first)
        let json = try JSON(parsing: input)
        #expect(json["name"]?.stringValue == "named", "\(input)")
        #expect(json["arn"]?.stringValue == "arn:aws:events:us-east-1:000000000000:rule/named")
        #expect(json["at"]?.stringValue?.hasPrefix("2027-01-15T08:00:00") == true, "\(input)")
        #expect(json["event"]?["source"]?.stringValue == "app")
        #expect(json["event"]?["detail"] == nil)
        #expect(json["full"]?["detail"]?["k"]?.intValue == 1)
        #expect(json["text"]?.stringValue == "named triggered")
    }

    // MARK: Listing

    @Test func listRuleNamesByTargetPaginates() async throws {
        let bus = try Bus()
        for name in ["a", "b", "c"] {
            await bus.call("PutRule", ["Name": .string(name), "EventPattern": #"{"source":["app"]}"#])
            await bus.call(
                "PutTargets", ["Rule": .string(name), "Targets": [["Id": "t", "Arn": .string(machine), "RoleArn": .string(role)]]])
        }
        await bus.call("PutRule", ["Name": "other", "EventPattern": #"{"source":["app"]}"#])
        let (status, page) = await bus.call("ListRuleNamesByTarget", ["TargetArn": .string(machine), "Limit": 2])
        #expect(status == 200, "\(page)")
        #expect(page["RuleNames"] == ["a", "b"])
        let token = try #require(page["NextToken"]?.stringValue)
        let (_, rest) = await bus.call("ListRuleNamesByTarget", ["TargetArn": .string(machine), "Limit": 2, "NextToken": .string(token)])
        #expect(rest["RuleNames"] == ["c"])
        #expect(rest["NextToken"] == nil)
        let (badStatus, bad) = await bus.call("ListRuleNamesByTarget", ["TargetArn": .string(machine), "NextToken": "garbage"])
        #expect(badStatus == 400)
        #expect(bad["__type"]?.stringValue?.contains("InvalidToken") == true, "\(bad)")
    }

    @Test func listTargetsByRuleHonoursLimitAndNextToken() async throws {
        let bus = try Bus()
        await bus.call("PutRule", ["Name": "r", "EventPattern": #"{"source":["app"]}"#])
        await bus.call(
            "PutTargets",
            ["Rule": "r", "Targets": .array((1...3).map { ["Id": .string("t\($0)"), "Arn": .string(machine), "RoleArn": .string(role)] })])
        let (_, page) = await bus.call("ListTargetsByRule", ["Rule": "r", "Limit": 2])
        #expect(page["Targets"]?.arrayValue?.compactMap { $0["Id"]?.stringValue } == ["t1", "t2"])
        let token = try #require(page["NextToken"]?.stringValue)
        let (_, rest) = await bus.call("ListTargetsByRule", ["Rule": "r", "Limit": 2, "NextToken": .string(token)])
        #expect(rest["Targets"]?.arrayValue?.compactMap { $0["Id"]?.stringValue } == ["t3"])
        #expect(rest["NextToken"] == nil)
        #expect(await bus.call("ListTargetsByRule", ["Rule": "r", "NextToken": "!!!"]).0 == 400)
    }

    @Test func listRulesAndBusesRefuseABadNextToken() async throws {
        let bus = try Bus()
        let (status, error) = await bus.call("ListRules", ["NextToken": "!!!"])
        #expect(status == 400)
        #expect(error["__type"]?.stringValue?.contains("InvalidToken") == true, "\(error)")
        #expect(await bus.call("ListEventBuses", ["NextToken": "!!!"]).0 == 400)
    }

    // MARK: PutEvents

    @Test func putEventsChecksEachEntry() async throws {
        let bus = try Bus()
        let (status, result) = await bus.call(
            "PutEvents",
            [
                "Entries": [
                    ["Source": "aws.ec2", "DetailType": "x", "Detail": "{}"],
                    ["Source": "app", "DetailType": "x"],
                    ["Source": "app", "DetailType": "x", "Detail": "{}"],
                ]
            ])
        #expect(status == 200)
        #expect(result["FailedEntryCount"]?.intValue == 2)
        #expect(result["Entries"]?[0]?["ErrorCode"]?.stringValue == "NotAuthorizedForSourceException")
        #expect(result["Entries"]?[0]?["ErrorMessage"]?.stringValue == "Not authorized for the source.")
        #expect(result["Entries"]?[1]?["ErrorCode"]?.stringValue == "InvalidArgument")
        #expect(
            result["Entries"]?[1]?["ErrorMessage"]?.stringValue == "Parameter Detail is not valid. Reason: Detail is a required argument.")
        #expect(result["Entries"]?[2]?["EventId"]?.stringValue != nil)
    }

    /// An entry for another account's or region's bus, or for a bus that does not exist, fails in the answer: it is
    /// never acknowledged and then delivered to the caller's bus of the same name, or nowhere.
    @Test func putEventsFailsEntriesForBusesOutOfReach() async throws {
        let bus = try Bus()
        await bus.call("PutRule", ["Name": "all", "EventPattern": #"{"source":["app"]}"#])
        await bus.call(
            "PutTargets", ["Rule": "all", "Targets": [["Id": "sfn", "Arn": .string(machine), "RoleArn": .string(role), "Input": "{}"]]])
        let foreign = "arn:aws:events:us-east-1:111111111111:event-bus/default"
        let (status, result) = await bus.call(
            "PutEvents",
            [
                "Entries": [
                    ["Source": "app", "DetailType": "x", "Detail": "{}", "EventBusName": .string(foreign)],
                    [
                        "Source": "app", "DetailType": "x", "Detail": "{}",
                        "EventBusName": "arn:aws:events:eu-west-1:000000000000:event-bus/default",
                    ],
                    ["Source": "app", "DetailType": "x", "Detail": "{}", "EventBusName": "ghost"],
                    [
                        "Source": "app", "DetailType": "x", "Detail": "{}",
                        "EventBusName": "arn:aws:events:us-east-1:000000000000:event-bus/default",
                    ],
                ]
            ])
        #expect(status == 200)
        #expect(result["FailedEntryCount"]?.intValue == 3)
        #expect(result["Entries"]?[0]?["ErrorCode"]?.stringValue == "AccessDeniedException")
        #expect(
            result["Entries"]?[0]?["ErrorMessage"]?.stringValue
                == "User: arn:aws:iam::000000000000:root is not authorized to perform: events:PutEvents on resource: \(foreign) because no resource-based policy allows the events:PutEvents action"
        )
        #expect(result["Entries"]?[0]?["EventId"] == nil)
        #expect(result["Entries"]?[1]?["ErrorCode"]?.stringValue == "InvalidArgument")
        #expect(
            result["Entries"]?[1]?["ErrorMessage"]?.stringValue
                == "Parameter EventBusName is not valid. Reason: Cross-region api call is not allowed.")
        #expect(result["Entries"]?[2]?["ErrorCode"]?.stringValue == "ResourceNotFoundException")
        #expect(result["Entries"]?[2]?["ErrorMessage"]?.stringValue == "Event bus ghost does not exist.")
        #expect(result["Entries"]?[3]?["EventId"]?.stringValue != nil)
        // Only the entry for the caller's own default bus (by ARN) reached its rule.
        #expect(await bus.states.waitFor(2).count == 1)

        let (ruleStatus, ruleError) = await bus.call(
            "PutRule", ["Name": "r", "EventBusName": .string(foreign), "EventPattern": #"{"source":["app"]}"#])
        #expect(ruleStatus == 400)
        #expect(ruleError["__type"]?.stringValue?.hasSuffix("AccessDeniedException") == true, "\(ruleError)")
        #expect(
            await bus.call("DescribeEventBus", ["Name": "arn:aws:events:eu-west-1:000000000000:event-bus/default"]).1["message"]?
                .stringValue
                == "Cross-region api call is not allowed.")
        #expect(await bus.call("ListRules", [:]).1["Rules"]?.arrayValue?.count == 1)
    }

    @Test func putEventsRefusesARequestWithNoCompleteEntry() async throws {
        let bus = try Bus()
        #expect(await bus.call("PutEvents", ["Entries": [["Source": "x"], ["DetailType": "y"]]]).0 == 400)
    }

    @Test func putEventsRefusesEntriesOverTheSizeLimit() async throws {
        let bus = try Bus()
        let padding = String(repeating: "a", count: 400 * 1024)
        let entry: JSON = ["Source": "app", "DetailType": "x", "Detail": .string(#"{"p":""# + padding + #""}"#)]
        let (status, error) = await bus.call("PutEvents", ["Entries": [entry, entry, entry]])
        #expect(status == 400)
        #expect(error.serialized().contains("Total size of the entries in the request is over the limit."), "\(error)")
        #expect(await bus.call("PutEvents", ["Entries": [entry, entry]]).0 == 200)
    }

    // MARK: Rules and targets

    @Test func putRuleOnAnExistingRuleIgnoresTags() async throws {
        let bus = try Bus()
        let arn = await bus.call(
            "PutRule", ["Name": "r", "EventPattern": #"{"source":["a"]}"#, "Tags": [["Key": "team", "Value": "ops"]]]
        ).1["RuleArn"]!
        await bus.call(
            "PutRule",
            ["Name": "r", "EventPattern": #"{"source":["b"]}"#, "Tags": [["Key": "team", "Value": "dev"], ["Key": "new", "Value": "x"]]])
        let tags = await bus.call("ListTagsForResource", ["ResourceARN": arn]).1["Tags"]
        #expect(tags == [["Key": "team", "Value": "ops"]], "\(String(describing: tags))")
    }

    @Test func roleBasedTargetsNeedARoleArn() async throws {
        let bus = try Bus()
        await bus.call("PutRule", ["Name": "r", "EventPattern": #"{"source":["a"]}"#])
        let cluster = "arn:aws:ecs:us-east-1:000000000000:cluster/c"
        let (status, error) = await bus.call(
            "PutTargets",
            [
                "Rule": "r",
                "Targets": [
                    [
                        "Id": "e", "Arn": .string(cluster),
                        "EcsParameters": ["TaskDefinitionArn": "arn:aws:ecs:us-east-1:000000000000:task-definition/t:1"],
                    ]
                ],
            ])
        #expect(status == 400)
        #expect(error.serialized().contains("RoleArn is required for target \(cluster)."), "\(error)")
        #expect(await bus.call("PutTargets", ["Rule": "r", "Targets": [["Id": "s", "Arn": .string(machine)]]]).0 == 400)
        #expect(await bus.call("ListTargetsByRule", ["Rule": "r"]).1["Targets"]?.arrayValue?.count == 0)
    }

    @Test func testEventPatternNeedsEveryMandatoryField() async throws {
        let bus = try Bus()
        let withoutResources =
            #"{"id":"1","account":"1","source":"a","time":"2027-01-01T00:00:00Z","region":"us-east-1","detail-type":"x","detail":{}}"#
        let (status, error) = await bus.call(
            "TestEventPattern", ["EventPattern": #"{"source":["a"]}"#, "Event": .string(withoutResources)])
        #expect(status == 400)
        #expect(error.serialized().contains("Parameter Event is not valid."), "\(error)")
        let (badStatus, bad) = await bus.call("TestEventPattern", ["EventPattern": #"{"source":["a"]}"#, "Event": "not json"])
        #expect(badStatus == 400)
        #expect(bad["__type"]?.stringValue?.contains("ValidationException") == true, "\(bad)")
    }

    // MARK: Scheduled rules

    @Test func aRateRuleFiresWhenItIsCreated() async throws {
        let bus = try Bus()
        await bus.call("PutRule", ["Name": "every5", "ScheduleExpression": "rate(5 minutes)"])
        #expect(await bus.events.fireDue(now: t0) == 1)
        #expect(await bus.events.fireDue(now: t0.addingTimeInterval(299)) == 0)
        #expect(await bus.events.fireDue(now: t0.addingTimeInterval(300)) == 1)
    }

    @Test func aRuleFireMissedByMoreThanADayIsDroppedAndKeepsItsPhase() async throws {
        let directory = temporaryPath("skiff-events")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        do {
            let bus = try Bus(stateDirectory: directory, clock: FixedClock(t0))
            await bus.call("PutRule", ["Name": "hourly", "ScheduleExpression": "rate(1 hour)"])
        }
        let later = t0.addingTimeInterval(72 * 3600 + 1800)
        let bus = try Bus(stateDirectory: directory, clock: FixedClock(later))
        try await bus.events.loadQueue()
        #expect(await bus.events.fireDue(now: later) == 0)
        #expect(await bus.events.fireDue(now: t0.addingTimeInterval(73 * 3600 - 1)) == 0)
        #expect(await bus.events.fireDue(now: t0.addingTimeInterval(73 * 3600)) == 1)
    }
}
