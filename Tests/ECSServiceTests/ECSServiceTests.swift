import AWSProtocol
import Foundation
import JSONCore
import LocalCloudTesting
import Synchronization
import Testing

@testable import ECSService
@testable import LocalCloud
@testable import LogsService
@testable import TaskRunners

/// Collects the events services publish.
final class EventRecorder: LocalService, EventSink {
    var eventSink: (any EventSink)? { self }
    let events = Mutex<[ServiceEvent]>([])
    var descriptor: ServiceDescriptor {
        ServiceDescriptor(
            endpointPrefix: "events-recorder", signingName: "events-recorder", targetPrefix: "Recorder", wireProtocol: .awsJson1_1,
            apiVersion: "1", xmlNamespace: nil, operations: [], routes: [])
    }
    func handle(operation: String, request: OperationRequest, context: RequestContext) async throws -> OperationResponse {
        throw AWSError.unknownOperation(operation, service: "recorder")
    }
    /// Listens to everything, as a bus with a rule matching every event.
    func hasRules(context: RequestContext) async -> Bool { true }
    func receive(_ event: ServiceEvent, context: RequestContext) async { events.withLock { $0.append(event) } }
}

/// Copies host programs into an image's `bin`: a task finds programs in its image only.
func copyPrograms(_ programs: [String], into image: String) throws {
    try FileManager.default.createDirectory(atPath: image + "/bin", withIntermediateDirectories: true)
    for program in programs {
        let host = try #require(["/bin/", "/usr/bin/"].map { $0 + program }.first { FileManager.default.isExecutableFile(atPath: $0) })
        try FileManager.default.copyItem(
            atPath: URL(fileURLWithPath: host).resolvingSymlinksInPath().path, toPath: image + "/bin/" + program)
    }
}

/// The headers of a request signed for ECS, as the SDKs sign (the local cloud refuses unsigned requests).
let signed = signedHeaders("ecs", key: "AKID")

struct Harness {
    let cloud: Cloud
    let ecs: ECSService
    let recorder: EventRecorder
    let image: String

    init(images extra: [String: String] = [:], configure: (inout CloudConfiguration) -> Void = { _ in }) throws {
        let environment = try ServiceEnvironment.testing(configure: configure)
        let image = temporaryPath("skiff-ecs")
        try FileManager.default.createDirectory(atPath: image, withIntermediateDirectories: true)
        let script = "#!/bin/sh\necho \"job $JOB_NAME args $*\"\necho \"problem\" >&2\nexit ${EXIT_CODE:-0}\n"
        try script.write(toFile: image + "/job.sh", atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: image + "/job.sh")
        try copyPrograms(["sh", "sleep", "true"], into: image)
        self.image = image
        ecs = ECSService(environment: environment, runner: ProcessRunner(images: ImageMap(["php-app": image].merging(extra) { $1 })))
        recorder = EventRecorder()
        cloud = try Cloud(services: [ecs, LogsService(environment: environment), recorder], environment: environment)
    }

    func call(_ target: String, _ operation: String, _ input: JSON) async throws -> (status: Int, body: JSON) {
        await cloud.awsJson("\(target).\(operation)", input, signedFor: "ecs", key: "AKID")
    }

    func ecs(_ operation: String, _ input: JSON) async throws -> (status: Int, body: JSON) {
        try await call("AmazonEC2ContainerServiceV20141113", operation, input)
    }

    func logs(_ operation: String, _ input: JSON) async throws -> (status: Int, body: JSON) {
        try await call("Logs_20140328", operation, input)
    }

    /// Registers the `job` family: image php-app, entry point ./job.sh, awslogs to /ecs/jobs.
    func registerJob(family: String = "job", image: String = "php-app", command: [String] = []) async throws {
        let container: JSON = [
            "name": "app", "image": .string(image), "memory": 256, "entryPoint": ["./job.sh"],
            "command": .array(command.map { .string($0) }),
            "environment": [["name": "JOB_NAME", "value": "nightly"]],
            "logConfiguration": [
                "logDriver": "awslogs",
                "options": ["awslogs-group": "/ecs/jobs", "awslogs-stream-prefix": "batch", "awslogs-create-group": "true"],
            ],
        ]
        let registered = try await ecs("RegisterTaskDefinition", ["family": .string(family), "containerDefinitions": [container]])
        #expect(registered.status == 200)
    }

    func waitStopped(_ taskArn: String) async throws -> JSON {
        await ecs.tasks.waitUntilStopped(taskId: ECSService.taskId(fromArn: taskArn))
        let described = try await ecs("DescribeTasks", ["tasks": [.string(taskArn)]])
        return try #require(described.body["tasks"]?[0])
    }
}

@Suite struct ClusterTests {
    @Test func defaultClusterAndLifecycle() async throws {
        let h = try Harness()
        let missing = try await h.ecs("RunTask", ["taskDefinition": "job"])
        #expect(missing.body["__type"] == "ClusterNotFoundException")
        #expect(missing.body["message"] == "Cluster not found.")
        let created = try await h.ecs("CreateCluster", [:])
        #expect(created.body["cluster"]?["clusterName"] == "default")
        #expect(created.body["cluster"]?["clusterArn"] == "arn:aws:ecs:us-east-1:000000000000:cluster/default")
        _ = try await h.ecs("CreateCluster", ["clusterName": "batch", "tags": [["key": "team", "value": "ops"]]])
        #expect(try await h.ecs("ListClusters", [:]).body["clusterArns"]?.arrayValue?.count == 2)
        let described = try await h.ecs("DescribeClusters", ["clusters": ["batch", "ghost"], "include": ["TAGS"]])
        #expect(described.body["clusters"]?[0]?["tags"]?[0]?["value"] == "ops")
        #expect(described.body["failures"]?[0]?["reason"] == "MISSING")
        #expect(described.body["failures"]?[0]?["arn"] == "arn:aws:ecs:us-east-1:000000000000:cluster/ghost")
        let deleted = try await h.ecs("DeleteCluster", ["cluster": "batch"])
        #expect(deleted.body["cluster"]?["status"] == "INACTIVE")
        #expect(try await h.ecs("ListClusters", [:]).body["clusterArns"]?.arrayValue?.count == 1)
        #expect(try await h.ecs("DeleteCluster", ["cluster": "batch"]).body["__type"] == "ClusterNotFoundException")
    }
}

@Suite struct TaskDefinitionTests {
    @Test func revisionsFamiliesAndDeregistration() async throws {
        let h = try Harness()
        try await h.registerJob()
        try await h.registerJob()
        let described = try await h.ecs("DescribeTaskDefinition", ["taskDefinition": "job"])
        #expect(described.body["taskDefinition"]?["revision"] == 2)
        #expect(described.body["taskDefinition"]?["taskDefinitionArn"] == "arn:aws:ecs:us-east-1:000000000000:task-definition/job:2")
        #expect(described.body["taskDefinition"]?["containerDefinitions"]?[0]?["essential"] == true)
        #expect(try await h.ecs("ListTaskDefinitions", [:]).body["taskDefinitionArns"]?.arrayValue?.count == 2)
        let deregistered = try await h.ecs("DeregisterTaskDefinition", ["taskDefinition": "job:2"])
        #expect(deregistered.body["taskDefinition"]?["status"] == "INACTIVE")
        #expect(try await h.ecs("DescribeTaskDefinition", ["taskDefinition": "job"]).body["taskDefinition"]?["revision"] == 1)
        #expect(try await h.ecs("DescribeTaskDefinition", ["taskDefinition": "job:2"]).body["taskDefinition"]?["status"] == "INACTIVE")
        #expect(try await h.ecs("ListTaskDefinitions", ["status": "INACTIVE"]).body["taskDefinitionArns"]?.arrayValue?.count == 1)
        #expect(try await h.ecs("ListTaskDefinitionFamilies", [:]).body["families"] == ["job"])
        _ = try await h.ecs("DeregisterTaskDefinition", ["taskDefinition": "job:1"])
        // Families with no ACTIVE revision are INACTIVE; both kinds are listed by default.
        #expect(try await h.ecs("ListTaskDefinitionFamilies", [:]).body["families"] == ["job"])
        #expect(try await h.ecs("ListTaskDefinitionFamilies", ["status": "ACTIVE"]).body["families"] == [])
        #expect(try await h.ecs("ListTaskDefinitionFamilies", ["status": "INACTIVE"]).body["families"] == ["job"])
        try await h.registerJob()
        let unknown = try await h.ecs("DescribeTaskDefinition", ["taskDefinition": "nope"])
        #expect(unknown.body["__type"] == "ClientException")
        #expect(unknown.body["message"] == "Unable to describe task definition.")
        _ = try await h.ecs("CreateCluster", [:])
        let inactive = try await h.ecs("RunTask", ["taskDefinition": "job:2"])
        #expect(inactive.body["message"] == "TaskDefinition is inactive")
    }

    @Test func validatesContainers() async throws {
        let h = try Harness()
        let noMemory = try await h.ecs("RegisterTaskDefinition", ["family": "f", "containerDefinitions": [["name": "a", "image": "i"]]])
        #expect(
            noMemory.body["message"]
                == "Invalid setting for container 'a'. At least one of 'memory' or 'memoryReservation' must be specified.")
        let fargate = try await h.ecs(
            "RegisterTaskDefinition",
            ["family": "f", "requiresCompatibilities": ["FARGATE"], "containerDefinitions": [["name": "a", "image": "i"]]])
        #expect(fargate.body["message"] == "Fargate requires that 'cpu' be defined at the task level.")
        let badFamily = try await h.ecs(
            "RegisterTaskDefinition", ["family": "a b", "containerDefinitions": [["name": "a", "image": "i", "memory": 1]]])
        #expect(badFamily.body["__type"] == "ClientException")
    }
}

@Suite struct TaskTests {
    @Test func runsATaskToStoppedWithItsExitCodeAndLogs() async throws {
        let h = try Harness()
        _ = try await h.ecs("CreateCluster", [:])
        try await h.registerJob()
        let run = try await h.ecs(
            "RunTask",
            [
                "taskDefinition": "job", "startedBy": "test",
                "overrides": [
                    "containerOverrides": [
                        ["name": "app", "command": ["one", "two"], "environment": [["name": "EXIT_CODE", "value": "3"]]]
                    ]
                ],
            ])
        #expect(run.status == 200)
        let started = try #require(run.body["tasks"]?[0])
        #expect(started["lastStatus"] == "PROVISIONING")
        #expect(started["desiredStatus"] == "RUNNING")
        let taskArn = try #require(started["taskArn"]?.stringValue)
        #expect(taskArn.hasPrefix("arn:aws:ecs:us-east-1:000000000000:task/default/"))
        let task = try await h.waitStopped(taskArn)
        #expect(task["lastStatus"] == "STOPPED")
        #expect(task["desiredStatus"] == "STOPPED")
        #expect(task["stopCode"] == "EssentialContainerExited")
        #expect(task["stoppedReason"] == "Essential container in task exited")
        #expect(task["containers"]?[0]?["exitCode"] == 3)
        #expect(task["startedAt"] != nil && task["stoppedAt"] != nil)

        let taskId = ECSService.taskId(fromArn: taskArn)
        let events = try await h.logs(
            "GetLogEvents", ["logGroupName": "/ecs/jobs", "logStreamName": .string("batch/app/\(taskId)"), "startFromHead": true])
        let messages = events.body["events"]?.arrayValue?.compactMap { $0["message"]?.stringValue } ?? []
        #expect(Set(messages) == ["job nightly args one two", "problem"])

        let statuses = h.recorder.events.withLock {
            $0.filter { $0.resources == [taskArn] }.compactMap { $0.detail["lastStatus"]?.stringValue }
        }
        #expect(statuses == ["PROVISIONING", "PENDING", "RUNNING", "DEPROVISIONING", "STOPPED"])
        let event = try #require(h.recorder.events.withLock { $0.last })
        #expect(event.source == "aws.ecs")
        #expect(event.detailType == "ECS Task State Change")
        #expect(event.detail["stoppedAt"]?.stringValue?.hasSuffix("Z") == true)

        #expect(try await h.ecs("ListTasks", [:]).body["taskArns"] == [])
        #expect(try await h.ecs("ListTasks", ["desiredStatus": "STOPPED", "startedBy": "test"]).body["taskArns"] == [.string(taskArn)])
    }

    @Test func everyLineOfAChattyTaskIsStoredBeforeItStops() async throws {
        let h = try Harness()
        _ = try await h.ecs("CreateCluster", [:])
        let script = "i=0; while [ $i -lt 400 ]; do echo line $i; i=$((i+1)); if [ $((i % 100)) -eq 0 ]; then sleep 0.15; fi; done"
        let container: JSON = [
            "name": "app", "image": "php-app", "memory": 64, "command": ["sh", "-c", .string(script)],
            "logConfiguration": ["logDriver": "awslogs", "options": ["awslogs-group": "/chatty", "awslogs-create-group": "true"]],
        ]
        _ = try await h.ecs("RegisterTaskDefinition", ["family": "chatty", "containerDefinitions": [container]])
        let run = try await h.ecs("RunTask", ["taskDefinition": "chatty"])
        let taskArn = try #require(run.body["tasks"]?[0]?["taskArn"]?.stringValue)
        _ = try await h.waitStopped(taskArn)
        let stream = "app/\(ECSService.taskId(fromArn: taskArn))"
        let events = try await h.logs("GetLogEvents", ["logGroupName": "/chatty", "logStreamName": .string(stream), "startFromHead": true])
        #expect(events.body["events"]?.arrayValue?.compactMap { $0["message"]?.stringValue } == (0..<400).map { "line \($0)" })
    }

    @Test func unmappedImageStopsWithTaskFailedToStart() async throws {
        let h = try Harness()
        _ = try await h.ecs("CreateCluster", [:])
        try await h.registerJob(family: "unmapped", image: "ghost-image:1")
        let run = try await h.ecs("RunTask", ["taskDefinition": "unmapped"])
        let task = try await h.waitStopped(try #require(run.body["tasks"]?[0]?["taskArn"]?.stringValue))
        #expect(task["stopCode"] == "TaskFailedToStart")
        #expect(task["stoppedReason"]?.stringValue?.contains("image ghost-image:1 is not mapped to a local directory") == true)
        #expect(task["containers"]?[0]?["exitCode"] == nil)
    }

    @Test func missingLogGroupFailsTheTaskAsAWSDoes() async throws {
        let h = try Harness()
        _ = try await h.ecs("CreateCluster", [:])
        let container: JSON = [
            "name": "app", "image": "php-app", "memory": 64, "command": ["true"],
            "logConfiguration": ["logDriver": "awslogs", "options": ["awslogs-group": "/missing", "awslogs-stream-prefix": "p"]],
        ]
        _ = try await h.ecs("RegisterTaskDefinition", ["family": "nolog", "containerDefinitions": [container]])
        let run = try await h.ecs("RunTask", ["taskDefinition": "nolog"])
        let task = try await h.waitStopped(try #require(run.body["tasks"]?[0]?["taskArn"]?.stringValue))
        #expect(task["stopCode"] == "TaskFailedToStart")
        #expect(task["stoppedReason"]?.stringValue?.hasPrefix("ResourceInitializationError: failed to validate logger args") == true)
        #expect(task["stoppedReason"]?.stringValue?.contains("The specified log group does not exist.") == true)
    }

    @Test func stopTaskEndsARunningTaskUserInitiated() async throws {
        let h = try Harness()
        _ = try await h.ecs("CreateCluster", [:])
        _ = try await h.ecs(
            "RegisterTaskDefinition",
            [
                "family": "sleeper",
                "containerDefinitions": [["name": "app", "image": "php-app", "memory": 64, "command": ["sleep", "30"]]],
            ])
        let run = try await h.ecs("RunTask", ["taskDefinition": "sleeper", "enableExecuteCommand": true])
        let taskArn = try #require(run.body["tasks"]?[0]?["taskArn"]?.stringValue)
        for _ in 0..<300 {
            if try await h.ecs("DescribeTasks", ["tasks": [.string(taskArn)]]).body["tasks"]?[0]?["lastStatus"] == "RUNNING" { break }
            try await Task.sleep(for: .milliseconds(10))
        }
        #expect(try await h.ecs("ListTasks", [:]).body["taskArns"] == [.string(taskArn)])
        let exec = try await h.ecs.tasks.exec(
            task: taskArn, account: "000000000000", container: nil, command: ["sh", "-c", "echo $ECS_CONTAINER_NAME"])
        #expect(exec.output == "app\n")
        let control = await h.cloud.control(
            OperationRequest(
                method: "POST", path: "/_skiff/ecs/exec", headers: signed,
                body: JSON.object(["task": .string(taskArn), "command": ["sh", "-c", "pwd; exit 2"]]).serializedBytes()))
        let answer = try JSON(parsing: try #require(control).body)
        #expect(control?.status == 200)
        #expect(answer["exitCode"] == 2)
        #expect(answer["stdout"]?.stringValue?.hasSuffix(URL(fileURLWithPath: h.image).lastPathComponent + "\n") == true)
        let unknown = await h.cloud.control(
            OperationRequest(
                method: "POST", path: "/_skiff/ecs/exec", headers: signed, body: Array(#"{"task":"nope","command":["true"]}"#.utf8)))
        #expect(unknown?.status == 404)
        let malformed = await h.cloud.control(
            OperationRequest(method: "POST", path: "/_skiff/ecs/exec", headers: signed, body: Array(#"{"task":"x"}"#.utf8)))
        #expect(malformed?.status == 400)
        #expect(await h.cloud.control(OperationRequest(method: "GET", path: "/_skiff/ecs/other", headers: signed)) == nil)
        let ecsExec = try await h.ecs("ExecuteCommand", ["task": .string(taskArn), "command": "ls", "interactive": true])
        #expect(ecsExec.body["session"]?["streamUrl"]?.stringValue?.hasPrefix("ws://") == true)
        let stop = try await h.ecs("StopTask", ["task": .string(taskArn), "reason": "no longer needed"])
        #expect(stop.body["task"]?["desiredStatus"] == "STOPPED")
        let task = try await h.waitStopped(taskArn)
        #expect(task["stopCode"] == "UserInitiated")
        #expect(task["stoppedReason"] == "no longer needed")
        #expect(task["containers"]?[0]?["exitCode"] == 143)
        #expect(try await h.ecs("StopTask", ["task": "nope"]).body["message"] == "The referenced task was not found.")
    }

    @Test func badRequestsAreAWSErrors() async throws {
        let h = try Harness()
        _ = try await h.ecs("CreateCluster", [:])
        try await h.registerJob()
        let unknown = try await h.ecs("RunTask", ["taskDefinition": "nope"])
        #expect(unknown.body["__type"] == "InvalidParameterException")
        #expect(unknown.body["message"] == "TaskDefinition not found.")
        let badOverride = try await h.ecs("RunTask", ["taskDefinition": "job", "overrides": ["containerOverrides": [["name": "web"]]]])
        #expect(badOverride.body["message"] == "Override for container named web is not a container in the TaskDefinition.")
        #expect(try await h.ecs("RunTask", ["taskDefinition": "job", "count": 11]).body["__type"] == "InvalidParameterException")
        #expect(try await h.ecs("RunTask", ["taskDefinition": "job", "cluster": "ghost"]).body["__type"] == "ClusterNotFoundException")
        let missing = try await h.ecs("DescribeTasks", ["tasks": ["0123"]])
        #expect(missing.body["failures"]?[0]?["reason"] == "MISSING")
        #expect(missing.body["failures"]?[0]?["arn"] == "arn:aws:ecs:us-east-1:000000000000:task/default/0123")
    }

    @Test func awsvpcTasksNeedANetworkConfiguration() async throws {
        let h = try Harness()
        _ = try await h.ecs("CreateCluster", [:])
        _ = try await h.ecs(
            "RegisterTaskDefinition",
            [
                "family": "fg", "requiresCompatibilities": ["FARGATE"], "cpu": "256", "memory": "512",
                "containerDefinitions": [["name": "app", "image": "php-app", "command": ["true"]]],
            ])
        let missing = try await h.ecs("RunTask", ["taskDefinition": "fg"])
        #expect(missing.body["message"] == "Network Configuration must be provided when networkMode 'awsvpc' is specified.")
        let empty = try await h.ecs("RunTask", ["taskDefinition": "fg", "networkConfiguration": ["awsvpcConfiguration": ["subnets": []]]])
        #expect(empty.body["message"] == "subnets can not be empty.")
        let run = try await h.ecs(
            "RunTask", ["taskDefinition": "fg", "networkConfiguration": ["awsvpcConfiguration": ["subnets": ["subnet-1"]]]])
        let task = try #require(run.body["tasks"]?[0])
        #expect(task["launchType"] == "FARGATE")
        #expect(task["attachments"]?[0]?["type"] == "ElasticNetworkInterface")
        #expect(try await h.waitStopped(try #require(task["taskArn"]?.stringValue))["containers"]?[0]?["exitCode"] == 0)
    }

    @Test func startTaskRunsOnTheNamedContainerInstance() async throws {
        let h = try Harness()
        _ = try await h.ecs("CreateCluster", [:])
        try await h.registerJob()
        let instance = "arn:aws:ecs:us-east-1:000000000000:container-instance/default/0f1e2d3c"
        let started = try await h.ecs("StartTask", ["taskDefinition": "job", "containerInstances": [.string(instance)]])
        let task = try #require(started.body["tasks"]?[0])
        #expect(task["containerInstanceArn"]?.stringValue == instance)
        #expect(task["launchType"] == "EC2")
        #expect(try await h.waitStopped(try #require(task["taskArn"]?.stringValue))["stopCode"] == "EssentialContainerExited")
    }

    @Test func tagsOnClustersDefinitionsAndTasks() async throws {
        let h = try Harness()
        _ = try await h.ecs("CreateCluster", [:])
        try await h.registerJob()
        let arn = "arn:aws:ecs:us-east-1:000000000000:task-definition/job:1"
        #expect(
            try await h.ecs(
                "TagResource", ["resourceArn": .string(arn), "tags": [["key": "a", "value": "1"], ["key": "b", "value": "2"]]]
            ).status == 200)
        _ = try await h.ecs("UntagResource", ["resourceArn": .string(arn), "tagKeys": ["a"]])
        #expect(try await h.ecs("ListTagsForResource", ["resourceArn": .string(arn)]).body["tags"] == [["key": "b", "value": "2"]])
        let run = try await h.ecs(
            "RunTask", ["taskDefinition": "job", "tags": [["key": "k", "value": "v"]], "propagateTags": "TASK_DEFINITION"])
        let taskArn = try #require(run.body["tasks"]?[0]?["taskArn"]?.stringValue)
        _ = try await h.waitStopped(taskArn)
        #expect(try await h.ecs("ListTagsForResource", ["resourceArn": .string(taskArn)]).body["tags"]?.arrayValue?.count == 2)
        let missing = try await h.ecs("ListTagsForResource", ["resourceArn": "arn:aws:ecs:us-east-1:000000000000:cluster/ghost"])
        #expect(missing.body["__type"] == "ResourceNotFoundException")
    }

    /// Tags are kept apart from the resources (in the core's tag store): a task's status changes keep them, and
    /// the Describe operations answer them when asked.
    @Test func tagsOutliveStatusChangesAndAnswerDescribes() async throws {
        let h = try Harness()
        _ = try await h.ecs("CreateCluster", ["tags": [["key": "team", "value": "ops"]]])
        try await h.registerJob()
        let run = try await h.ecs("RunTask", ["taskDefinition": "job", "tags": [["key": "k", "value": "v"]]])
        #expect(run.body["tasks"]?[0]?["tags"] == [["key": "k", "value": "v"]])
        let taskArn = try #require(run.body["tasks"]?[0]?["taskArn"]?.stringValue)
        _ = try await h.waitStopped(taskArn)
        _ = try await h.ecs("TagResource", ["resourceArn": .string(taskArn), "tags": [["key": "after", "value": "stop"]]])
        let described = try await h.ecs("DescribeTasks", ["tasks": [.string(taskArn)], "include": ["TAGS"]])
        #expect(described.body["tasks"]?[0]?["tags"] == [["key": "after", "value": "stop"], ["key": "k", "value": "v"]])
        #expect(try await h.ecs("DescribeTasks", ["tasks": [.string(taskArn)]]).body["tasks"]?[0]?["tags"] == nil)
        let cluster = "arn:aws:ecs:us-east-1:000000000000:cluster/default"
        #expect(
            try await h.ecs("DescribeClusters", ["include": ["TAGS"]]).body["clusters"]?[0]?["tags"] == [["key": "team", "value": "ops"]])
        // A cluster created again after its deletion has the tags it is created with.
        _ = try await h.ecs("DeleteCluster", ["cluster": "default"])
        _ = try await h.ecs("CreateCluster", ["tags": [["key": "new", "value": "1"]]])
        #expect(try await h.ecs("ListTagsForResource", ["resourceArn": .string(cluster)]).body["tags"] == [["key": "new", "value": "1"]])
        // AWS's tag rules, answered as ECS answers them.
        let reserved = try await h.ecs("TagResource", ["resourceArn": .string(cluster), "tags": [["key": "aws:x", "value": "1"]]])
        #expect(reserved.body["__type"] == "InvalidParameterException")
        // An empty key breaks the model's own constraint, checked before the operation.
        #expect(try await h.ecs("TagResource", ["resourceArn": .string(cluster), "tags": [["key": "", "value": "1"]]]).status == 400)
        let many: JSON = .array((0..<50).map { ["key": .string("k\($0)"), "value": "v"] })
        #expect(
            try await h.ecs("TagResource", ["resourceArn": .string(cluster), "tags": many]).body["__type"] == "InvalidParameterException")
        #expect(try await h.ecs("ListTagsForResource", ["resourceArn": .string(cluster)]).body["tags"]?.arrayValue?.count == 1)
    }

    @Test func tasksLeftRunningByADeadServerEndStoppedOnRestart() async throws {
        let state = temporaryPath("skiff-ecs-state")
        let environment = try ServiceEnvironment.testing(stateDirectory: state)
        let store = ECSStore(database: environment.database)
        let service = ECSService(environment: environment, runner: ProcessRunner(images: ImageMap()))
        _ = try Cloud(services: [service], environment: environment)
        var task = ECSAPI.Task.empty
        task.taskArn = "arn:aws:ecs:us-east-1:000000000000:task/default/abc"
        task.lastStatus = "RUNNING"
        task.desiredStatus = "RUNNING"
        task.createdAt = Date()
        try await store.saveTask(account: "000000000000", region: "us-east-1", cluster: "default", task)
        await service.supervisor.reconcileAfterRestart()
        let after = try #require(try await store.task(account: "000000000000", region: "us-east-1", cluster: "default", id: "abc"))
        #expect(after.lastStatus == "STOPPED")
        #expect(after.stopCode == .terminationNotice)
        #expect(after.stoppedReason?.contains("stopped while the task ran") == true)
    }
}

/// A task definition names paths inside its image; one leading out fails the task as a container that cannot start.
@Suite struct ImageConfinementTaskTests {
    @Test func anEntryPointOutsideTheImageFailsTheTaskAndRunsNothing() async throws {
        let h = try Harness()
        _ = try await h.ecs("CreateCluster", [:])
        let marker = temporaryPath("skiff-escaped")
        let attempts: [JSON] = [
            [
                "name": "app", "image": "php-app", "memory": 64, "entryPoint": ["/bin/bash", "-c"],
                "command": .array([.string("touch \(marker)")]),
            ],
            [
                "name": "app", "image": "php-app", "memory": 64, "entryPoint": ["../../../../../../usr/bin/touch"],
                "command": .array([.string(marker)]),
            ],
            [
                "name": "app", "image": "php-app", "memory": 64, "workingDirectory": "../../../../../../usr/bin", "entryPoint": ["./touch"],
                "command": .array([.string(marker)]),
            ],
        ]
        for (index, container) in attempts.enumerated() {
            _ = try await h.ecs("RegisterTaskDefinition", ["family": .string("escape\(index)"), "containerDefinitions": [container]])
            let run = try await h.ecs("RunTask", ["taskDefinition": .string("escape\(index)")])
            let task = try await h.waitStopped(try #require(run.body["tasks"]?[0]?["taskArn"]?.stringValue))
            #expect(task["stopCode"] == "TaskFailedToStart")
            let reason = task["stoppedReason"]?.stringValue ?? ""
            #expect(reason.hasPrefix("CannotStartContainerError: "), "\(reason)")
            #expect(task["containers"]?[0]?["reason"]?.stringValue == reason)
            #expect(task["containers"]?[0]?["exitCode"] == nil)
        }
        #expect(!FileManager.default.fileExists(atPath: marker))
    }
}

/// After a crash, a server knows a task's processes by their session and start time: it takes over those of RUNNING
/// tasks and kills the others, whatever the tasks set in their environment.
///
/// The server that "crashed" is played by the test: it starts the task's process with the process runner and records
/// the task as a server does, then no supervisor watches it, as after a crash.
@Suite struct RestartTests {
    static let account = "000000000000"
    static let region = "us-east-1"

    struct Server {
        let service: ECSService
        let store: ECSStore
        let cloud: Cloud
        let image: String

        init(state: String, image: String) throws {
            let environment = try ServiceEnvironment.testing(stateDirectory: state)
            store = ECSStore(database: environment.database)
            service = ECSService(environment: environment, runner: ProcessRunner(images: ImageMap(["img": image])))
            cloud = try Cloud(services: [service], environment: environment)
            self.image = image
        }

        func ecs(_ operation: String, _ input: JSON) async throws -> JSON {
            await cloud.awsJson("AmazonEC2ContainerServiceV20141113.\(operation)", input, signedFor: "ecs", key: "AKID").body
        }

        func task(_ arn: String) async throws -> JSON {
            try #require(try await ecs("DescribeTasks", ["tasks": [.string(arn)]])["tasks"]?[0])
        }

        /// What a server that died left: a task recorded with `status`, and its process, running.
        func leave(status: String, done: String) async throws -> (arn: String, container: any RunningContainer) {
            let id = UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
            let arn = "arn:aws:ecs:\(RestartTests.region):\(RestartTests.account):task/default/\(id)"
            let environment = ["DONE": done, "ECS_TASK_ARN": "arn:aws:ecs:us-east-1:000000000000:task/default/someone-else"]
            let container = try await ProcessRunner(images: ImageMap(["img": image])).start(
                ContainerSpec(taskId: id, name: "app", image: "img", entryPoint: ["./hold.sh"], environment: environment), output: { _ in })
            var task = ECSAPI.Task.empty
            task.taskArn = arn
            task.clusterArn = "arn:aws:ecs:\(RestartTests.region):\(RestartTests.account):cluster/default"
            task.taskDefinitionArn = "arn:aws:ecs:\(RestartTests.region):\(RestartTests.account):task-definition/hold:1"
            task.lastStatus = status
            task.desiredStatus = status == "STOPPED" ? "STOPPED" : "RUNNING"
            task.createdAt = Date()
            var record = ECSAPI.Container()
            record.name = "app"
            record.image = "img"
            record.lastStatus = status
            record.runtimeId = container.runtimeId
            task.containers = [record]
            try await store.saveTask(account: RestartTests.account, region: RestartTests.region, cluster: "default", task)
            try await store.saveProcess(
                .init(
                    account: RestartTests.account, region: RestartTests.region, taskId: id, container: "app",
                    identity: try #require(container.processIdentity), imageRoot: container.imageDirectory))
            return (arn, container)
        }
    }

    static func image() throws -> String {
        let image = temporaryPath("skiff-restart")
        try FileManager.default.createDirectory(atPath: image, withIntermediateDirectories: true)
        // Quiet until the file $DONE appears: its output went to the server that died. It leaves a child behind.
        let script = "#!/bin/sh\nsleep 300 &\nwhile [ ! -e \"$DONE\" ]; do sleep 0.05; done\n"
        try script.write(toFile: image + "/hold.sh", atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: image + "/hold.sh")
        try copyPrograms(["sleep", "sh"], into: image)
        return image
    }

    static func stateDirectory() -> String {
        temporaryPath("skiff-ecs-restart")
    }

    @Test func aRunningTaskIsTakenOverAndItsEndRecorded() async throws {
        let image = try Self.image()
        let done = image + "/done"
        let server = try Server(state: Self.stateDirectory(), image: image)
        _ = try await server.ecs("CreateCluster", [:])
        _ = try await server.ecs(
            "RegisterTaskDefinition",
            ["family": "hold", "containerDefinitions": [["name": "app", "image": "img", "entryPoint": ["./hold.sh"], "stopTimeout": 2]]])
        let (arn, process) = try await server.leave(status: "RUNNING", done: done)
        let identity = try #require(process.processIdentity)

        await server.service.supervisor.reconcileAfterRestart()
        #expect(try await server.task(arn)["lastStatus"] == "RUNNING")
        #expect(try await server.ecs("ListTasks", [:])["taskArns"] == [.string(arn)])
        #expect(ProcessTable.isRunning(identity))
        // Supervised again: commands run in it, with its environment, inside its image.
        let exec = try await server.service.tasks.exec(
            task: arn, account: Self.account, container: nil, command: ["sh", "-c", "echo $DONE; pwd"])
        #expect(exec.output == "\(done)\n\(try #require(ImageRoot(directory: image)).path)\n")
        #expect(ProcessTable.members(of: identity).count >= 2)

        // Its end is noticed and recorded; what it left behind goes with it.
        _ = FileManager.default.createFile(atPath: done, contents: nil)
        await server.service.tasks.waitUntilStopped(taskId: ECSService.taskId(fromArn: arn))
        let stopped = try await server.task(arn)
        #expect(stopped["lastStatus"] == "STOPPED")
        #expect(stopped["stopCode"] == "EssentialContainerExited")
        #expect(stopped["containers"]?[0]?["lastStatus"] == "STOPPED")
        #expect(stopped["containers"]?[0]?["reason"]?.stringValue?.contains("its exit code is unknown") == true)
        #expect(try await server.store.allProcesses().isEmpty)
        #expect(await process.wait().exitCode == 0)
        #expect(ProcessTable.members(of: identity).isEmpty)
    }

    @Test func aTakenOverTaskStopsOnStopTask() async throws {
        let image = try Self.image()
        let server = try Server(state: Self.stateDirectory(), image: image)
        _ = try await server.ecs("CreateCluster", [:])
        _ = try await server.ecs(
            "RegisterTaskDefinition",
            ["family": "hold", "containerDefinitions": [["name": "app", "image": "img", "entryPoint": ["./hold.sh"], "stopTimeout": 2]]])
        let (arn, process) = try await server.leave(status: "RUNNING", done: image + "/never")
        await server.service.supervisor.reconcileAfterRestart()
        #expect(try await server.ecs("StopTask", ["task": .string(arn), "reason": "enough"])["task"]?["desiredStatus"] == "STOPPED")
        await server.service.tasks.waitUntilStopped(taskId: ECSService.taskId(fromArn: arn))
        let stopped = try await server.task(arn)
        #expect(stopped["lastStatus"] == "STOPPED")
        #expect(stopped["stopCode"] == "UserInitiated")
        #expect(stopped["stoppedReason"] == "enough")
        #expect(await process.wait().exitCode == 143)
    }

    @Test func leftoverProcessesOfTasksNotRunningAreKilled() async throws {
        let image = try Self.image()
        let server = try Server(state: Self.stateDirectory(), image: image)
        _ = try await server.ecs("CreateCluster", [:])
        // One task STOPPED (the server died before its processes ended), one PENDING (it died while starting it).
        let stopped = try await server.leave(status: "STOPPED", done: image + "/never")
        let pending = try await server.leave(status: "PENDING", done: image + "/never")
        let identities = [try #require(stopped.container.processIdentity), try #require(pending.container.processIdentity)]

        await server.service.supervisor.reconcileAfterRestart()
        #expect(await stopped.container.wait().exitCode == 137)
        #expect(await pending.container.wait().exitCode == 137)
        for identity in identities { #expect(ProcessTable.members(of: identity).isEmpty) }
        let task = try await server.task(pending.arn)
        #expect(task["lastStatus"] == "STOPPED")
        #expect(task["stopCode"] == "TaskFailedToStart")
        #expect(try await server.store.allProcesses().isEmpty)
        #expect(try await server.ecs("ListTasks", [:])["taskArns"] == [])
    }
}
