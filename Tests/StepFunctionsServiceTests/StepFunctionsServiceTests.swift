import AWSProtocol
import Foundation
import JSONCore
import LocalCloud
import LocalCloudTesting
import Testing

@testable import StepFunctionsService

/// A stand-in for ECS that answers RunTask and DescribeTasks with a task that has stopped with `exitCode`.
struct FakeECS: LocalService {
    let exitCode: Int
    let runInputs = RunInputs()
    final class RunInputs: @unchecked Sendable {
        let lock = NSLock()
        var inputs: [JSON] = []
        func add(_ j: JSON) { lock.lock(); inputs.append(j); lock.unlock() }
        var last: JSON? { lock.lock(); defer { lock.unlock() }; return inputs.last }
        var all: [JSON] { lock.lock(); defer { lock.unlock() }; return inputs }
    }
    var descriptor: ServiceDescriptor {
        ServiceDescriptor(
            endpointPrefix: "ecs", signingName: "ecs", targetPrefix: "AmazonEC2ContainerServiceV20141113", wireProtocol: .awsJson1_1,
            apiVersion: "2014-11-13", xmlNamespace: nil, operations: ["RunTask", "DescribeTasks"], routes: [])
    }
    func handle(operation: String, request: OperationRequest, context: RequestContext) async throws -> OperationResponse {
        let input = try request.jsonBody()
        if operation == "RunTask" { runInputs.add(input) }
        let task: JSON = [
            "taskArn": "arn:aws:ecs:us-east-1:000000000000:task/c/1", "clusterArn": "c", "lastStatus": "STOPPED",
            "containers": [["name": "app", "exitCode": .number(Double(exitCode))]],
            "overrides": input["overrides"] ?? [:],
        ]
        return .json(["tasks": [task], "failures": []], contentType: "application/x-amz-json-1.1")
    }
}

/// A local cloud of Step Functions and the `extra` services.
func makeCloud(_ extra: [any LocalService] = [], activityPollTimeout: Duration = .seconds(60)) throws -> Cloud {
    try .testing { environment in [StepFunctionsService(environment: environment, activityPollTimeout: activityPollTimeout)] + extra }
}

/// A request signed as the SDKs sign them (the local cloud refuses unsigned requests, as AWS does), in us-east-1.
func call(_ cloud: Cloud, _ operation: String, _ body: JSON) async -> (Int, JSON) {
    await call(cloud, region: "us-east-1", operation, body)
}

func waitForEnd(_ cloud: Cloud, _ arn: JSON) async -> JSON {
    for _ in 0..<200 {
        let (_, d) = await call(cloud, "DescribeExecution", ["executionArn": arn])
        if d["status"] != "RUNNING" { return d }
        try? await Task.sleep(for: .milliseconds(20))
    }
    return .null
}

@Suite struct StepFunctionsServiceTests {
    let definition =
        #"{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::ecs:runTask.sync","Parameters":{"TaskDefinition":"job","Overrides":{"ContainerOverrides":[{"Name":"app","Command.$":"$.args"}]}},"End":true}}}"#

    @Test func runsAnECSTaskToCompletion() async throws {
        let ecs = FakeECS(exitCode: 0)
        let cloud = try makeCloud([ecs])
        let (_, created) = await call(
            cloud, "CreateStateMachine", ["name": "job", "roleArn": "arn:aws:iam::000000000000:role/r", "definition": .string(definition)])
        let (_, started) = await call(
            cloud, "StartExecution", ["stateMachineArn": created["stateMachineArn"]!, "input": #"{"args":["--date","x"]}"#])
        let done = await waitForEnd(cloud, started["executionArn"]!)
        #expect(done["status"] == "SUCCEEDED")
        let output = try JSON(parsing: done["output"]?.stringValue ?? "")
        #expect(output["Containers"]?[0]?["ExitCode"] == 0)
        // Step Functions' PascalCase parameters reach ECS in the API's camelCase.
        #expect(ecs.runInputs.last?["overrides"]?["containerOverrides"]?[0]?["command"] == ["--date", "x"])
    }

    @Test func nonZeroExitFailsTheState() async throws {
        let cloud = try makeCloud([FakeECS(exitCode: 2)])
        let (_, created) = await call(
            cloud, "CreateStateMachine", ["name": "job", "roleArn": "arn:aws:iam::000000000000:role/r", "definition": .string(definition)])
        let (_, started) = await call(cloud, "StartExecution", ["stateMachineArn": created["stateMachineArn"]!, "input": #"{"args":[]}"#])
        let done = await waitForEnd(cloud, started["executionArn"]!)
        #expect(done["status"] == "FAILED")
        #expect(done["error"] == "States.TaskFailed")
    }

    @Test func missingECSIsAClearFailure() async throws {
        let cloud = try makeCloud()
        let (_, created) = await call(
            cloud, "CreateStateMachine", ["name": "job", "roleArn": "arn:aws:iam::000000000000:role/r", "definition": .string(definition)])
        let (_, started) = await call(cloud, "StartExecution", ["stateMachineArn": created["stateMachineArn"]!, "input": #"{"args":[]}"#])
        let done = await waitForEnd(cloud, started["executionArn"]!)
        #expect(done["error"] == "States.Runtime")
        #expect(done["cause"]?.stringValue?.contains("does not serve") == true)
    }

    @Test(arguments: ["bad name", "a/b", "a:b", "tab\there", "zero\u{200B}width", "", String(repeating: "n", count: 81)])
    func namesAWSRefusesAreRefused(_ name: String) {
        #expect(throws: AWSError.self) { try StepFunctionsService.validateName(name) }
    }

    @Test(arguments: ["job", "nightly-batch_2026.v1", "日本語の名前", String(repeating: "n", count: 80)])
    func namesAWSAcceptsAreAccepted(_ name: String) throws {
        try StepFunctionsService.validateName(name)
    }

    @Test func validationAndErrors() async throws {
        let cloud = try makeCloud()
        let (status, error) = await call(
            cloud, "CreateStateMachine",
            ["name": "bad name", "roleArn": "arn:aws:iam::000000000000:role/r", "definition": .string(definition)])
        #expect(status == 400)
        #expect(error["__type"] == "InvalidName")
        let (_, missing) = await call(
            cloud, "DescribeStateMachine", ["stateMachineArn": "arn:aws:states:us-east-1:000000000000:stateMachine:nope"])
        #expect(missing["__type"] == "StateMachineDoesNotExist")
        let (_, invalid) = await call(
            cloud, "CreateStateMachine", ["name": "x", "roleArn": "arn:aws:iam::000000000000:role/r", "definition": "{"])
        #expect(invalid["__type"] == "InvalidDefinition")
        let (_, required) = await call(cloud, "StartExecution", [:])
        #expect(required["__type"] == "ValidationException")
    }

    @Test func taskTokensCompleteWaitingStates() async throws {
        let cloud = try makeCloud([FakeECS(exitCode: 0)])
        let callback =
            #"{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::ecs:runTask.waitForTaskToken","Parameters":{"TaskDefinition":"job","Overrides":{"ContainerOverrides":[{"Name":"app","Environment":[{"Name":"TOKEN","Value.$":"$$.Task.Token"}]}]}},"End":true}}}"#
        let (_, created) = await call(
            cloud, "CreateStateMachine", ["name": "cb", "roleArn": "arn:aws:iam::000000000000:role/r", "definition": .string(callback)])
        let (_, started) = await call(cloud, "StartExecution", ["stateMachineArn": created["stateMachineArn"]!])
        var token: String?
        for _ in 0..<100 where token == nil {
            let (_, history) = await call(cloud, "GetExecutionHistory", ["executionArn": started["executionArn"]!])
            let scheduled = history["events"]?.arrayValue?.first { $0["type"] == "TaskScheduled" }
            if let parameters = scheduled?["taskScheduledEventDetails"]?["parameters"]?.stringValue {
                token = try JSON(parsing: parameters)["Overrides"]?["ContainerOverrides"]?[0]?["Environment"]?[0]?["Value"]?.stringValue
            }
            try await Task.sleep(for: .milliseconds(10))
        }
        let (status, answer) = await call(
            cloud, "SendTaskSuccess", ["taskToken": .string(try #require(token)), "output": #"{"done":true}"#])
        #expect(status == 200, "\(answer)")
        let done = await waitForEnd(cloud, started["executionArn"]!)
        #expect(done["output"] == #"{"done":true}"#)
        // The token's task is closed now: AWS answers TaskTimedOut. A token never issued does not exist; a string
        // that is no token at all is InvalidToken.
        let (_, late) = await call(cloud, "SendTaskSuccess", ["taskToken": .string(try #require(token)), "output": "{}"])
        #expect(late["__type"] == "TaskTimedOut")
        let (_, unknown) = await call(cloud, "SendTaskSuccess", ["taskToken": .string(String(repeating: "ab", count: 32)), "output": "{}"])
        #expect(unknown["__type"] == "TaskDoesNotExist")
        let (_, malformed) = await call(cloud, "SendTaskHeartbeat", ["taskToken": "nope"])
        #expect(malformed["__type"] == "InvalidToken")
    }
}

/// Stands in for EventBridge: keeps every event the other services publish.
struct EventRecorder: LocalService, EventSink {
    var eventSink: (any EventSink)? { self }
    let events = FakeECS.RunInputs()
    var descriptor: ServiceDescriptor {
        ServiceDescriptor(
            endpointPrefix: "events", signingName: "events", targetPrefix: "AWSEvents", wireProtocol: .awsJson1_1,
            apiVersion: "2015-10-07", xmlNamespace: nil, operations: [], routes: [])
    }
    func handle(operation: String, request: OperationRequest, context: RequestContext) async throws -> OperationResponse {
        throw AWSError.unknownOperation(operation, service: "events")
    }
    /// Listens to everything, as a bus with a rule matching every event.
    func hasRules(context: RequestContext) async -> Bool { true }
    func receive(_ event: ServiceEvent, context: RequestContext) async { events.add(event.detail) }
}

@Suite struct StatusEventTests {
    /// The status-change events carry what AWS's do: the outcome without reading it back, and the redrive fields.
    @Test func statusChangesCarryTheOutcome() async throws {
        let recorder = EventRecorder()
        let cloud = try makeCloud([recorder])
        let definition = #"{"StartAt":"F","States":{"F":{"Type":"Fail","Error":"Oops","Cause":"broken"}}}"#
        let (_, created) = await call(
            cloud, "CreateStateMachine", ["name": "m", "roleArn": "arn:aws:iam::000000000000:role/r", "definition": .string(definition)])
        let (_, started) = await call(cloud, "StartExecution", ["stateMachineArn": created["stateMachineArn"]!, "input": #"{"a":1}"#])
        _ = await waitForEnd(cloud, started["executionArn"]!)
        var events: [JSON] = []
        for _ in 0..<100 where events.count < 2 {
            events = recorder.events.all
            try await Task.sleep(for: .milliseconds(10))
        }
        let failed = try #require(events.first { $0["status"] == "FAILED" })
        #expect(failed["error"] == "Oops")
        #expect(failed["cause"] == "broken")
        #expect(failed["input"] == #"{"a":1}"#)
        #expect(failed["inputDetails"] == ["included": true])
        #expect(failed["stopDate"]?.numberValue != nil)
        #expect(failed["redriveCount"] == 0)
        #expect(failed["redriveStatus"] == "REDRIVABLE")
        let running = try #require(events.first { $0["status"] == "RUNNING" })
        #expect(running["stopDate"] == .null)
        #expect(running["redriveStatus"] == "NOT_REDRIVABLE")
    }

    /// RUNNING is published before the execution runs, so a rule never sees an execution end before it starts.
    @Test func runningAlwaysPrecedesTheFinalStatus() async throws {
        let recorder = EventRecorder()
        let cloud = try makeCloud([recorder])
        let definition = #"{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}}"#
        let (_, created) = await call(
            cloud, "CreateStateMachine", ["name": "m", "roleArn": "arn:aws:iam::000000000000:role/r", "definition": .string(definition)])
        var arns: [String] = []
        for i in 0..<20 {
            let (_, started) = await call(
                cloud, "StartExecution", ["stateMachineArn": created["stateMachineArn"]!, "name": .string("e\(i)")])
            arns.append(try #require(started["executionArn"]?.stringValue))
        }
        var events: [JSON] = []
        for _ in 0..<300 where events.count < 40 {
            events = recorder.events.all
            try await Task.sleep(for: .milliseconds(10))
        }
        for arn in arns {
            let statuses = events.filter { $0["executionArn"]?.stringValue == arn }.compactMap { $0["status"]?.stringValue }
            #expect(statuses == ["RUNNING", "SUCCEEDED"], "\(arn): \(statuses)")
        }
    }
}
