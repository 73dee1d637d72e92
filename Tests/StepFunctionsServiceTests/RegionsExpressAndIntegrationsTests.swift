import AWSProtocol
import Foundation
import JSONCore
import LocalCloud
import LocalCloudTesting
import States
import Testing

@testable import StepFunctionsService

private let role: JSON = "arn:aws:iam::000000000000:role/r"

/// A request signed for `region` (the credential scope names the region, as SigV4 does).
func call(_ cloud: Cloud, region: String, _ operation: String, _ body: JSON) async -> (Int, JSON) {
    await cloud.awsJson(
        "AWSStepFunctions.\(operation)", body, signedFor: "states", contentType: "application/x-amz-json-1.0", key: "test", region: region)
}

/// A stand-in for EventBridge: PutEvents takes PascalCase members and a string Detail, as the real API does.
struct FakeEvents: LocalService {
    let inputs = FakeECS.RunInputs()
    var descriptor: ServiceDescriptor {
        ServiceDescriptor(
            endpointPrefix: "events", signingName: "events", targetPrefix: "AWSEvents", wireProtocol: .awsJson1_1,
            apiVersion: "2015-10-07", xmlNamespace: nil, operations: ["PutEvents"], routes: [])
    }
    func handle(operation: String, request: OperationRequest, context: RequestContext) async throws -> OperationResponse {
        let input = try request.jsonBody()
        inputs.add(input)
        guard let entries = input["Entries"]?.arrayValue,
            entries.allSatisfy({ $0["Detail"]?.stringValue != nil && $0["DetailType"] != nil })
        else {
            throw AWSError("ValidationException", "Entries must have a DetailType and a string Detail")
        }
        return .json(
            ["FailedEntryCount": 0, "Entries": .array(entries.map { _ in ["EventId": "e-1"] })], contentType: "application/x-amz-json-1.1")
    }
}

@Suite struct RegionIsolationTests {
    @Test func resourcesOfAnotherRegionDoNotExist() async throws {
        let cloud = try makeCloud(activityPollTimeout: .milliseconds(100))
        let definition = #"{"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":5,"End":true}}}"#
        let (_, created) = await call(
            cloud, region: "us-east-1", "CreateStateMachine",
            ["name": "m", "roleArn": role, "definition": .string(definition), "publish": true])
        let arn = try #require(created["stateMachineArn"])
        let (_, started) = await call(cloud, region: "us-east-1", "StartExecution", ["stateMachineArn": arn])
        let execution = try #require(started["executionArn"])
        let activity = try #require(await call(cloud, region: "us-east-1", "CreateActivity", ["name": "a"]).1["activityArn"])
        let version = try #require(created["stateMachineVersionArn"])
        let alias = try #require(
            await call(
                cloud, region: "us-east-1", "CreateStateMachineAlias",
                ["name": "live", "routingConfiguration": [["stateMachineVersionArn": version, "weight": 100]]]
            ).1["stateMachineAliasArn"])

        let eu = "eu-west-1"
        #expect(await call(cloud, region: eu, "DescribeStateMachine", ["stateMachineArn": arn]).1["__type"] == "StateMachineDoesNotExist")
        #expect(await call(cloud, region: eu, "StartExecution", ["stateMachineArn": arn]).1["__type"] == "StateMachineDoesNotExist")
        #expect(await call(cloud, region: eu, "DescribeExecution", ["executionArn": execution]).1["__type"] == "ExecutionDoesNotExist")
        #expect(await call(cloud, region: eu, "StopExecution", ["executionArn": execution]).1["__type"] == "ExecutionDoesNotExist")
        #expect(await call(cloud, region: eu, "GetExecutionHistory", ["executionArn": execution]).1["__type"] == "ExecutionDoesNotExist")
        #expect(await call(cloud, region: eu, "DescribeActivity", ["activityArn": activity]).1["__type"] == "ActivityDoesNotExist")
        #expect(await call(cloud, region: eu, "GetActivityTask", ["activityArn": activity]).1["__type"] == "ActivityDoesNotExist")
        #expect(
            await call(cloud, region: eu, "DescribeStateMachineAlias", ["stateMachineAliasArn": alias]).1["__type"] == "ResourceNotFound")
        #expect(
            await call(cloud, region: eu, "DescribeStateMachine", ["stateMachineArn": version]).1["__type"] == "StateMachineDoesNotExist")
        #expect(await call(cloud, region: eu, "ListTagsForResource", ["resourceArn": arn]).1["__type"] == "ResourceNotFound")
        #expect(
            await call(cloud, region: eu, "TagResource", ["resourceArn": activity, "tags": [["key": "k", "value": "v"]]]).1["__type"]
                == "ResourceNotFound")
        // Deleting from another region deletes nothing.
        #expect(await call(cloud, region: eu, "DeleteStateMachine", ["stateMachineArn": arn]).0 == 200)
        #expect(await call(cloud, region: eu, "DeleteActivity", ["activityArn": activity]).0 == 200)
        #expect(await call(cloud, region: "us-east-1", "DescribeStateMachine", ["stateMachineArn": arn]).1["status"] == "ACTIVE")
        #expect(await call(cloud, region: "us-east-1", "DescribeActivity", ["activityArn": activity]).1["name"] == "a")
        #expect(await call(cloud, region: "us-east-1", "DescribeExecution", ["executionArn": execution]).1["status"] == "RUNNING")
    }
}

@Suite struct ExpressExecutionTests {
    @Test func startExecutionRunsExpressWorkflowsAsynchronously() async throws {
        let cloud = try makeCloud()
        let definition = #"{"StartAt":"P","States":{"P":{"Type":"Pass","Result":1,"End":true}}}"#
        let (_, created) = await call(
            cloud, "CreateStateMachine", ["name": "fast", "roleArn": role, "definition": .string(definition), "type": "EXPRESS"])
        let arn = try #require(created["stateMachineArn"])
        let (status, first) = await call(cloud, "StartExecution", ["stateMachineArn": arn, "name": "run"])
        #expect(status == 200)
        let executionArn = try #require(first["executionArn"]?.stringValue)
        #expect(executionArn.hasPrefix("arn:aws:states:us-east-1:000000000000:express:fast:run:"))
        // Not idempotent by name: a second call starts another execution.
        let second = await call(cloud, "StartExecution", ["stateMachineArn": arn, "name": "run"]).1
        #expect(second["executionArn"] != first["executionArn"])
        // No history is kept: DescribeExecution and ListExecutions do not serve Express workflows.
        #expect(await call(cloud, "DescribeExecution", ["executionArn": .string(executionArn)]).1["__type"] == "ExecutionDoesNotExist")
        #expect(await call(cloud, "ListExecutions", ["stateMachineArn": arn]).1["__type"] == "StateMachineTypeNotSupported")
    }

    @Test func expressMachinesRejectCallbacksJobsAndActivities() async throws {
        let cloud = try makeCloud()
        for resource in [
            "arn:aws:states:::ecs:runTask.sync", "arn:aws:states:::events:putEvents.waitForTaskToken",
            "arn:aws:states:us-east-1:000000000000:activity:a",
        ] {
            let definition = #"{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"\#(resource)","End":true}}}"#
            let (_, created) = await call(
                cloud, "CreateStateMachine", ["name": "x", "roleArn": role, "definition": .string(definition), "type": "EXPRESS"])
            #expect(created["__type"] == "InvalidDefinition", "\(resource)")
            let (_, validated) = await call(
                cloud, "ValidateStateMachineDefinition", ["definition": .string(definition), "type": "EXPRESS"])
            #expect(validated["result"] == "FAIL")
            #expect(validated["diagnostics"]?[0]?["location"] == "/States/T/Resource")
            #expect(await call(cloud, "ValidateStateMachineDefinition", ["definition": .string(definition)]).1["result"] == "OK")
        }
    }

    @Test func startSyncExecutionReportsFailuresAndBilling() async throws {
        let cloud = try makeCloud()
        let definition = #"{"StartAt":"F","States":{"F":{"Type":"Fail","Error":"Bad","Cause":"because"}}}"#
        let (_, created) = await call(
            cloud, "CreateStateMachine",
            ["name": "sync", "roleArn": role, "definition": .string(definition), "type": "EXPRESS", "publish": true])
        let (_, failed) = await call(cloud, "StartSyncExecution", ["stateMachineArn": created["stateMachineArn"]!])
        #expect(failed["status"] == "FAILED")
        #expect(failed["error"] == "Bad" && failed["cause"] == "because")
        #expect(failed["output"] == nil)
        #expect(failed["outputDetails"] == ["included": false])
        #expect(failed["billingDetails"]?["billedDurationInMilliseconds"]?.intValue.map { $0 >= 100 } == true)
        // A version runs as the machine does.
        let (_, byVersion) = await call(cloud, "StartSyncExecution", ["stateMachineArn": created["stateMachineVersionArn"]!])
        #expect(byVersion["status"] == "FAILED")
    }
}

@Suite struct IntegrationTests {
    @Test func sdkErrorsAreNamedAfterTheServiceAndCaughtAsTaskFailed() async throws {
        let cloud = try makeCloud()
        let definition = #"""
            {"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::aws-sdk:sfn:describeExecution",
              "Parameters":{"ExecutionArn":"arn:aws:states:us-east-1:000000000000:execution:nope:nope"},
              "Catch":[{"ErrorEquals":["States.TaskFailed"],"Next":"Caught"}],"End":true},
              "Caught":{"Type":"Pass","End":true}}}
            """#
        let (_, created) = await call(cloud, "CreateStateMachine", ["name": "sdk", "roleArn": role, "definition": .string(definition)])
        let (_, started) = await call(cloud, "StartExecution", ["stateMachineArn": created["stateMachineArn"]!])
        let done = await waitForEnd(cloud, started["executionArn"]!)
        #expect(done["status"] == "SUCCEEDED")
        #expect(try JSON(parsing: done["output"]?.stringValue ?? "")["Error"] == "Sfn.ExecutionDoesNotExistException")
    }

    @Test func resourcesParseWithTheirIntegrationPattern() {
        #expect(
            ServiceIntegrations.target("arn:aws:states:::states:startExecution.sync:2")
                == .init(service: "states", endpoint: "states", operation: "StartExecution", pattern: "sync:2", sdk: false))
        #expect(
            ServiceIntegrations.target("arn:aws:states:::aws-sdk:eventbridge:putEvents")
                == .init(service: "eventbridge", endpoint: "events", operation: "PutEvents", pattern: "", sdk: true))
        #expect(ServiceIntegrations.target("arn:aws:states:::ecs:runTask.waitForTaskToken")?.pattern == "waitForTaskToken")
        #expect(ServiceIntegrations.target("arn:aws:states:::ecs:runTask.bogus") == nil)
        #expect(
            ServiceIntegrations.errorName(
                .init(service: "acmpca", endpoint: "acmpca", operation: "X", pattern: "", sdk: true), "ResourceNotFoundException")
                == "AcmPca.ResourceNotFoundException")
        #expect(
            ServiceIntegrations.errorName(
                .init(service: "s3", endpoint: "s3", operation: "X", pattern: "", sdk: true), "BucketAlreadyExists")
                == "S3.BucketAlreadyExistsException")
    }

    @Test func putEventsKeepsEventBridgeCasingAndSerializesTheDetail() async throws {
        let events = FakeEvents()
        let cloud = try makeCloud([events])
        let definition = #"""
            {"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::events:putEvents",
              "Parameters":{"Entries":[{"Source":"my.app","DetailType":"Done","Detail":{"Job":"nightly","n.$":"$.n"}}]},"End":true}}}
            """#
        let (_, created) = await call(cloud, "CreateStateMachine", ["name": "events", "roleArn": role, "definition": .string(definition)])
        let (_, started) = await call(cloud, "StartExecution", ["stateMachineArn": created["stateMachineArn"]!, "input": #"{"n":3}"#])
        let done = await waitForEnd(cloud, started["executionArn"]!)
        #expect(done["status"] == "SUCCEEDED", "\(done)")
        #expect(try JSON(parsing: done["output"]?.stringValue ?? "")["FailedEntryCount"] == 0)
        let entry = try #require(events.inputs.last?["Entries"]?[0])
        #expect(entry["Source"] == "my.app")
        #expect(try JSON(parsing: entry["Detail"]?.stringValue ?? "") == ["Job": "nightly", "n": 3])
    }

    @Test func childExecutionsTakeJSONInputAndSync2AnswersJSON() async throws {
        let cloud = try makeCloud()
        let child = #"{"StartAt":"P","States":{"P":{"Type":"Pass","Parameters":{"Got.$":"$.Value"},"End":true}}}"#
        let childArn = try #require(
            await call(cloud, "CreateStateMachine", ["name": "child", "roleArn": role, "definition": .string(child)]).1["stateMachineArn"]?
                .stringValue)
        for pattern in ["", ".sync", ".sync:2"] {
            let parent = #"""
                {"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::states:startExecution\#(pattern)",
                  "Parameters":{"StateMachineArn":"\#(childArn)","Input":{"Value":{"Nested":1}}},"End":true}}}
                """#
            let name = "parent\(pattern.replacingOccurrences(of: ".", with: "-").replacingOccurrences(of: ":", with: "-"))"
            let (_, created) = await call(
                cloud, "CreateStateMachine", ["name": .string(name), "roleArn": role, "definition": .string(parent)])
            let (_, started) = await call(cloud, "StartExecution", ["stateMachineArn": created["stateMachineArn"]!])
            let done = await waitForEnd(cloud, started["executionArn"]!)
            #expect(done["status"] == "SUCCEEDED", "\(pattern): \(done)")
            let output = try JSON(parsing: done["output"]?.stringValue ?? "")
            switch pattern {
            case "": #expect(output["ExecutionArn"]?.stringValue?.contains(":execution:child:") == true)
            case ".sync": #expect(try JSON(parsing: output["Output"]?.stringValue ?? "") == ["Got": ["Nested": 1]])
            default: #expect(output["Output"] == ["Got": ["Nested": 1]])
            }
        }
    }

    @Test func contextObjectCarriesTheExecutionInput() async throws {
        let cloud = try makeCloud()
        let definition =
            #"{"StartAt":"P","States":{"P":{"Type":"Pass","Parameters":{"original.$":"$$.Execution.Input","redrives.$":"$$.Execution.RedriveCount"},"End":true}}}"#
        let (_, created) = await call(cloud, "CreateStateMachine", ["name": "ctx", "roleArn": role, "definition": .string(definition)])
        let (_, started) = await call(cloud, "StartExecution", ["stateMachineArn": created["stateMachineArn"]!, "input": #"{"a":[1]}"#])
        let done = await waitForEnd(cloud, started["executionArn"]!)
        #expect(try JSON(parsing: done["output"]?.stringValue ?? "") == ["original": ["a": [1]], "redrives": 0])
    }
}

@Suite struct ResumedTaskTests {
    let executionArn = "arn:aws:states:us-east-1:000000000000:execution:m:e"
    let context = RequestContext(accountId: "000000000000", region: "us-east-1", requestId: "test")

    @Test func aResumedSyncTaskPollsTheTaskItStartedInsteadOfStartingAnother() async throws {
        let ecs = FakeECS(exitCode: 0)
        let cloud = try makeCloud([ecs])
        let service = try #require(cloud.services.first as? StepFunctionsService)
        try await service.store.saveTask(
            .init(
                id: "job-1", executionArn: executionArn, key: "g1/T", callback: false, status: .waiting,
                handle: ["Tasks": [["TaskArn": "arn:aws:ecs:us-east-1:000000000000:task/c/1", "ClusterArn": "c"]]]))
        let task = TaskInvocation(
            resource: "arn:aws:states:::ecs:runTask.sync", input: ["TaskDefinition": "job"], stateName: "T",
            context: ["Execution": ["Id": .string(executionArn)]], key: "g1/T", resumed: true)
        let output = try await service.integrations(context).invoke(task)
        #expect(output["LastStatus"] == "STOPPED")
        #expect(ecs.runInputs.last == nil)
        #expect(try await service.store.task("job-1")?.status == .closed)
        // Not resumed, the same state starts its task and records it.
        _ = try await service.integrations(context).invoke(
            TaskInvocation(
                resource: "arn:aws:states:::ecs:runTask.sync", input: ["TaskDefinition": "job"],
                stateName: "T", context: ["Execution": ["Id": .string(executionArn)]], key: "g2/T"))
        #expect(ecs.runInputs.last != nil)
    }
}

@Suite struct TaskTokenTests {
    @Test func aCompletionBeforeTheIntegrationWaitsIsKept() async throws {
        let tokens = TaskTokens()
        let progress = TaskProgress()
        _ = tokens.register("t", progress: progress)  // as prepare does, before TaskScheduled
        #expect(tokens.complete("t", with: .success(["done": true])))
        #expect(!tokens.complete("t", with: .success(["again": true])))
        // The integration starts waiting afterwards and finds the result.
        #expect(try await tokens.register("t", progress: progress).value() == ["done": true])
        tokens.forget("t")
        #expect(!tokens.complete("t", with: .success([:])))
    }
}
