import AWSProtocol
import Foundation
import JSONCore
import LocalCloud
import Testing

@testable import StepFunctionsService

private let role: JSON = "arn:aws:iam::000000000000:role/r"

private func eventTypes(_ cloud: Cloud, _ arn: JSON) async -> [String] {
    let (_, history) = await call(cloud, "GetExecutionHistory", ["executionArn": arn, "maxResults": 1000])
    return history["events"]?.arrayValue?.compactMap { $0["type"]?.stringValue } ?? []
}

@Suite struct ActivityTests {
    @Test func workersPollRunAndComplete() async throws {
        let cloud = try makeCloud(activityPollTimeout: .milliseconds(300))
        let (_, created) = await call(cloud, "CreateActivity", ["name": "resize", "tags": [["key": "team", "value": "ops"]]])
        let activityArn = try #require(created["activityArn"]?.stringValue)
        #expect(activityArn == "arn:aws:states:us-east-1:000000000000:activity:resize")
        // Idempotent by name.
        #expect(await call(cloud, "CreateActivity", ["name": "resize"]).1["activityArn"]?.stringValue == activityArn)
        #expect(await call(cloud, "DescribeActivity", ["activityArn": .string(activityArn)]).1["name"] == "resize")
        #expect(await call(cloud, "ListActivities", [:]).1["activities"]?.arrayValue?.count == 1)
        #expect(
            await call(cloud, "ListTagsForResource", ["resourceArn": .string(activityArn)]).1["tags"] == [["key": "team", "value": "ops"]])

        // No work yet: the long poll ends empty.
        let (emptyStatus, empty) = await call(cloud, "GetActivityTask", ["activityArn": .string(activityArn), "workerName": "w1"])
        #expect(emptyStatus == 200)
        #expect(empty["taskToken"] == nil)

        let definition =
            #"{"StartAt":"Resize","States":{"Resize":{"Type":"Task","Resource":"\#(activityArn)","Parameters":{"size.$":"$.size"},"End":true}}}"#
        let (_, machine) = await call(cloud, "CreateStateMachine", ["name": "m", "roleArn": role, "definition": .string(definition)])
        let (_, started) = await call(cloud, "StartExecution", ["stateMachineArn": machine["stateMachineArn"]!, "input": #"{"size":3}"#])
        var task = JSON.null
        for _ in 0..<20 where task["taskToken"] == nil {
            task = await call(cloud, "GetActivityTask", ["activityArn": .string(activityArn), "workerName": "w1"]).1
        }
        #expect(try JSON(parsing: task["input"]?.stringValue ?? "") == ["size": 3])
        #expect(await call(cloud, "SendTaskHeartbeat", ["taskToken": task["taskToken"]!]).0 == 200)
        #expect(await call(cloud, "SendTaskSuccess", ["taskToken": task["taskToken"]!, "output": #"{"resized":true}"#]).0 == 200)
        let done = await waitForEnd(cloud, started["executionArn"]!)
        #expect(done["status"] == "SUCCEEDED")
        #expect(done["output"] == #"{"resized":true}"#)
        #expect(
            await eventTypes(cloud, started["executionArn"]!) == [
                "ExecutionStarted", "TaskStateEntered", "ActivityScheduled", "ActivityStarted", "ActivitySucceeded", "TaskStateExited",
                "ExecutionSucceeded",
            ])
        let (_, missing) = await call(cloud, "DescribeActivity", ["activityArn": "arn:aws:states:us-east-1:000000000000:activity:nope"])
        #expect(missing["__type"] == "ActivityDoesNotExist")
        #expect(await call(cloud, "DeleteActivity", ["activityArn": .string(activityArn)]).0 == 200)
        #expect(await call(cloud, "ListActivities", [:]).1["activities"] == [])
    }

    /// A long poll ends, empty, as soon as its request is cancelled or the local cloud closes the queue: it
    /// must not hold a shutdown for its full minute. The polls here wait an hour unless ended; a watchdog turns
    /// a poll that was not ended into a failure rather than a hung test.
    @Test func longPollsEndOnCancellationAndClose() async throws {
        let queue = ActivityQueue()
        func ended(_ poll: Task<ActivityQueue.Work?, Never>) async -> Bool {
            await withTaskGroup(of: Bool.self) { group in
                group.addTask { await poll.value == nil }
                group.addTask {
                    try? await Task.sleep(for: .seconds(60)); return false
                }
                let first = await group.next() ?? false
                group.cancelAll()
                return first
            }
        }
        let poll = Task { await queue.poll("arn:a", timeout: .seconds(3600)) }
        try await Task.sleep(for: .milliseconds(50))
        poll.cancel()
        #expect(await ended(poll))
        // Cancelled before it could wait: still answers at once.
        let early = Task { await queue.poll("arn:a", timeout: .seconds(3600)) }
        early.cancel()
        #expect(await ended(early))

        let waiting = Task { await queue.poll("arn:a", timeout: .seconds(3600)) }
        try await Task.sleep(for: .milliseconds(50))
        queue.close()
        #expect(await ended(waiting))
        #expect(await ended(Task { await queue.poll("arn:a", timeout: .seconds(3600)) }))
    }

    @Test func missingHeartbeatsTimeTheTaskOut() async throws {
        let cloud = try makeCloud(activityPollTimeout: .milliseconds(300))
        let activityArn = await call(cloud, "CreateActivity", ["name": "slow"]).1["activityArn"]!.stringValue!
        let definition = #"""
            {"StartAt":"Work","States":{
              "Work":{"Type":"Task","Resource":"\#(activityArn)","HeartbeatSeconds":1,"End":true,
                      "Catch":[{"ErrorEquals":["States.Timeout"],"Next":"TimedOut"}]},
              "TimedOut":{"Type":"Pass","End":true}}}
            """#
        let (_, machine) = await call(cloud, "CreateStateMachine", ["name": "hb", "roleArn": role, "definition": .string(definition)])
        let (_, started) = await call(cloud, "StartExecution", ["stateMachineArn": machine["stateMachineArn"]!])
        var task = JSON.null
        for _ in 0..<20 where task["taskToken"] == nil {
            task = await call(cloud, "GetActivityTask", ["activityArn": .string(activityArn)]).1
        }
        // The worker takes the task and goes silent: after HeartbeatSeconds the state times out and is caught.
        let done = await waitForEnd(cloud, started["executionArn"]!)
        #expect(done["status"] == "SUCCEEDED")
        #expect(try JSON(parsing: done["output"]?.stringValue ?? "")["Error"] == "States.HeartbeatTimeout")
        #expect(await eventTypes(cloud, started["executionArn"]!).contains("ActivityTimedOut"))
        // The worker's late answer finds its task timed out, as AWS answers (TaskTimedOut), heartbeats too.
        #expect(await call(cloud, "SendTaskSuccess", ["taskToken": task["taskToken"]!, "output": "{}"]).1["__type"] == "TaskTimedOut")
        #expect(await call(cloud, "SendTaskHeartbeat", ["taskToken": task["taskToken"]!]).1["__type"] == "TaskTimedOut")
    }
}

@Suite struct VersionAndAliasTests {
    /// A machine ARN, a version's and an alias's split into the machine and the qualifier; anything else is
    /// InvalidArn.
    @Test func machineArnsSplitIntoMachineAndQualifier() throws {
        let machine = "arn:aws:states:us-east-1:000000000000:stateMachine:jobs"
        #expect(try StepFunctionsService.splitMachineArn(machine) == (machine, .none))
        #expect(try StepFunctionsService.splitMachineArn(machine + ":3") == (machine, .version(3)))
        #expect(try StepFunctionsService.splitMachineArn(machine + ":prod") == (machine, .alias("prod")))
        #expect(try StepFunctionsService.splitMachineArn(machine + ":0") == (machine, .alias("0")))
        for invalid in [
            "garbage", "arn:aws:states:us-east-1:000000000000:stateMachine:", "arn:aws:states:us-east-1:000000000000:activity:jobs",
            "arn:aws:states:us-east-1:000000000000:stateMachine:jobs:1:2", "arn:aws:lambda:us-east-1:000000000000:stateMachine:jobs",
            "arn:aws:states:us-east-1:000000000000:execution:jobs:e1", "arn:aws:states:us-east-1:stateMachine:jobs",
        ] {
            #expect(throws: AWSError.self) { try StepFunctionsService.splitMachineArn(invalid) }
        }
    }

    let passing = #"{"StartAt":"P","States":{"P":{"Type":"Pass","Result":"v1","End":true}}}"#
    let passing2 = #"{"StartAt":"P","States":{"P":{"Type":"Pass","Result":"v2","End":true}}}"#

    @Test func publishRouteAndDelete() async throws {
        let cloud = try makeCloud()
        let (_, created) = await call(
            cloud, "CreateStateMachine",
            ["name": "svc", "roleArn": role, "definition": .string(passing), "publish": true, "versionDescription": "first"])
        let machineArn = try #require(created["stateMachineArn"]?.stringValue)
        #expect(created["stateMachineVersionArn"]?.stringValue == machineArn + ":1")
        // Publishing the unchanged revision answers the same version.
        #expect(
            await call(cloud, "PublishStateMachineVersion", ["stateMachineArn": .string(machineArn)]).1["stateMachineVersionArn"]?
                .stringValue == machineArn + ":1")
        let (_, updated) = await call(
            cloud, "UpdateStateMachine", ["stateMachineArn": .string(machineArn), "definition": .string(passing2), "publish": true])
        #expect(updated["stateMachineVersionArn"]?.stringValue == machineArn + ":2")
        let (_, stale) = await call(cloud, "PublishStateMachineVersion", ["stateMachineArn": .string(machineArn), "revisionId": "old"])
        #expect(stale["__type"] == "ConflictException")
        let versions = await call(cloud, "ListStateMachineVersions", ["stateMachineArn": .string(machineArn)]).1["stateMachineVersions"]?
            .arrayValue?.compactMap { $0["stateMachineVersionArn"]?.stringValue }
        #expect(versions == [machineArn + ":2", machineArn + ":1"])
        let v1 = await call(cloud, "DescribeStateMachine", ["stateMachineArn": .string(machineArn + ":1")]).1
        #expect(v1["definition"]?.stringValue == passing)
        #expect(v1["description"] == "first")

        // An alias routes executions to its version; the execution records both.
        let (_, alias) = await call(
            cloud, "CreateStateMachineAlias",
            ["name": "prod", "routingConfiguration": [["stateMachineVersionArn": .string(machineArn + ":1"), "weight": 100]]])
        let aliasArn = try #require(alias["stateMachineAliasArn"]?.stringValue)
        #expect(aliasArn == machineArn + ":prod")
        let (_, started) = await call(cloud, "StartExecution", ["stateMachineArn": .string(aliasArn)])
        let done = await waitForEnd(cloud, started["executionArn"]!)
        #expect(done["output"] == #""v1""#)
        #expect(done["stateMachineAliasArn"]?.stringValue == aliasArn)
        #expect(done["stateMachineVersionArn"]?.stringValue == machineArn + ":1")
        #expect(done["stateMachineArn"]?.stringValue == machineArn)
        #expect(await call(cloud, "ListExecutions", ["stateMachineArn": .string(aliasArn)]).1["executions"]?.arrayValue?.count == 1)
        #expect(
            await call(cloud, "ListExecutions", ["stateMachineArn": .string(machineArn + ":2")]).1["executions"]?.arrayValue?.count == 0)

        // Weights must add up to 100; a version an alias routes to cannot be deleted.
        let (_, badWeights) = await call(
            cloud, "UpdateStateMachineAlias",
            [
                "stateMachineAliasArn": .string(aliasArn),
                "routingConfiguration": [
                    ["stateMachineVersionArn": .string(machineArn + ":1"), "weight": 50],
                    ["stateMachineVersionArn": .string(machineArn + ":2"), "weight": 40],
                ],
            ])
        #expect(badWeights["__type"] == "ValidationException")
        #expect(
            await call(cloud, "DeleteStateMachineVersion", ["stateMachineVersionArn": .string(machineArn + ":1")]).1["__type"]
                == "ConflictException")
        #expect(
            await call(
                cloud, "UpdateStateMachineAlias",
                [
                    "stateMachineAliasArn": .string(aliasArn),
                    "routingConfiguration": [
                        ["stateMachineVersionArn": .string(machineArn + ":2"), "weight": 100]
                    ],
                ]
            ).0 == 200)
        let described = await call(cloud, "DescribeStateMachineAlias", ["stateMachineAliasArn": .string(aliasArn)]).1
        #expect(described["routingConfiguration"] == [["stateMachineVersionArn": .string(machineArn + ":2"), "weight": 100]])
        #expect(await call(cloud, "DeleteStateMachineVersion", ["stateMachineVersionArn": .string(machineArn + ":1")]).0 == 200)
        #expect(
            await call(cloud, "ListStateMachineAliases", ["stateMachineArn": .string(machineArn)]).1["stateMachineAliases"]?.arrayValue?
                .count == 1)
        #expect(await call(cloud, "DeleteStateMachineAlias", ["stateMachineAliasArn": .string(aliasArn)]).0 == 200)
        #expect(
            await call(cloud, "DescribeStateMachineAlias", ["stateMachineAliasArn": .string(aliasArn)]).1["__type"] == "ResourceNotFound")
        // Version numbers are not reused.
        let (_, republished) = await call(
            cloud, "UpdateStateMachine", ["stateMachineArn": .string(machineArn), "definition": .string(passing), "publish": true])
        #expect(republished["stateMachineVersionArn"]?.stringValue == machineArn + ":3")
        let (_, numericAlias) = await call(
            cloud, "CreateStateMachineAlias",
            ["name": "123", "routingConfiguration": [["stateMachineVersionArn": .string(machineArn + ":3"), "weight": 100]]])
        #expect(numericAlias["__type"] == "ValidationException")
    }
}

@Suite struct RedriveTests {
    @Test func redriveResumesFromTheFailedState() async throws {
        // One succeeds; Flaky fails on the first run only (it reads the redrive count from the context object).
        let definition = #"""
            {"QueryLanguage":"JSONata","StartAt":"One","States":{
              "One":{"Type":"Pass","Output":{"one":"{% $states.context.Execution.RedriveCount %}"},"Next":"Flaky"},
              "Flaky":{"Type":"Pass","Output":"{% $states.context.Execution.RedriveCount = 0 ? $error('first run') : {'one': $states.input.one, 'redrives': $states.context.Execution.RedriveCount} %}","End":true}}}
            """#
        let cloud = try makeCloud()
        let (_, machine) = await call(cloud, "CreateStateMachine", ["name": "r", "roleArn": role, "definition": .string(definition)])
        let (_, started) = await call(cloud, "StartExecution", ["stateMachineArn": machine["stateMachineArn"]!])
        let arn = started["executionArn"]!
        let failed = await waitForEnd(cloud, arn)
        #expect(failed["status"] == "FAILED")
        #expect(failed["redriveStatus"] == "REDRIVABLE")
        let (status, redriven) = await call(cloud, "RedriveExecution", ["executionArn": arn])
        #expect(status == 200)
        #expect(redriven["redriveDate"] != nil)
        let done = await waitForEnd(cloud, arn)
        #expect(done["status"] == "SUCCEEDED")
        #expect(done["redriveCount"] == 1)
        // State One is not run again: its output still carries the first run's redrive count (0).
        #expect(try JSON(parsing: done["output"]?.stringValue ?? "") == ["one": 0, "redrives": 1])
        let types = await eventTypes(cloud, arn)
        // One entered once, Flaky twice.
        #expect(types.filter { $0 == "PassStateEntered" }.count == 3)
        #expect(types.contains("ExecutionRedriven"))
        #expect(types.last == "ExecutionSucceeded")
        let (_, again) = await call(cloud, "RedriveExecution", ["executionArn": arn])
        #expect(again["__type"] == "ExecutionNotRedrivable")
        #expect(
            await call(cloud, "ListExecutions", ["stateMachineArn": machine["stateMachineArn"]!, "redriveFilter": "REDRIVEN"]).1[
                "executions"]?.arrayValue?.count == 1)
    }
}

@Suite struct TestStateTests {
    @Test func passChoiceAndErrors() async throws {
        let cloud = try makeCloud()
        let pass = #"{"Type":"Pass","Parameters":{"x.$":"$.a"},"ResultPath":"$.r","Next":"After"}"#
        let (_, passed) = await call(cloud, "TestState", ["definition": .string(pass), "input": #"{"a":1}"#, "inspectionLevel": "DEBUG"])
        #expect(passed["status"] == "SUCCEEDED")
        #expect(passed["nextState"] == "After")
        #expect(try JSON(parsing: passed["output"]?.stringValue ?? "") == ["a": 1, "r": ["x": 1]])
        #expect(passed["inspectionData"]?["input"] == #"{"a":1}"#)

        let jsonata = #"{"QueryLanguage":"JSONata","Type":"Pass","Output":"{% $states.input.n * $k %}","Assign":{"seen":true},"End":true}"#
        let (_, assigned) = await call(
            cloud, "TestState",
            ["definition": .string(jsonata), "input": #"{"n":4}"#, "variables": #"{"k":10}"#, "inspectionLevel": "DEBUG"])
        #expect(assigned["output"] == "40")
        #expect(try JSON(parsing: assigned["inspectionData"]?["variables"]?.stringValue ?? "")["seen"] == true)

        let task = #"""
            {"Type":"Task","Resource":"arn:aws:states:::ecs:runTask.sync","End":true,
             "Retry":[{"ErrorEquals":["Busy"]}],"Catch":[{"ErrorEquals":["States.ALL"],"Next":"Recover"}]}
            """#
        let (_, retriable) = await call(
            cloud, "TestState", ["definition": .string(task), "mock": ["errorOutput": ["error": "Busy", "cause": "try later"]]])
        #expect(retriable["status"] == "RETRIABLE")
        #expect(retriable["error"] == "Busy")
        let (_, caught) = await call(
            cloud, "TestState", ["definition": .string(task), "mock": ["errorOutput": ["error": "Broken", "cause": "no"]]])
        #expect(caught["status"] == "CAUGHT_ERROR")
        #expect(caught["nextState"] == "Recover")
        let (_, mocked) = await call(cloud, "TestState", ["definition": .string(task), "mock": ["result": #"{"ok":1}"#]])
        #expect(mocked["status"] == "SUCCEEDED")
        #expect(mocked["output"] == #"{"ok":1}"#)
        let (_, failed) = await call(cloud, "TestState", ["definition": #"{"Type":"Fail","Error":"E","Cause":"C"}"#])
        #expect(failed["status"] == "FAILED")
        #expect(failed["error"] == "E")

        let machine = #"{"StartAt":"A","States":{"A":{"Type":"Pass","Next":"B"},"B":{"Type":"Pass","Result":2,"End":true}}}"#
        let (_, named) = await call(cloud, "TestState", ["definition": .string(machine), "stateName": "B"])
        #expect(named["output"] == "2")
        #expect(await call(cloud, "TestState", ["definition": #"{"Type":"Bogus"}"#]).1["__type"] == "InvalidDefinition")
        #expect(await call(cloud, "TestState", ["definition": .string(pass), "input": "{"]).1["__type"] == "InvalidExecutionInput")
    }
}
