import AWSProtocol
import Foundation
import JSONCore
import LocalCloud
import States
import Synchronization

/// Task states' resources, served by the other services of the local cloud as AWS's service integrations:
/// optimized ones (`arn:aws:states:::ecs:runTask` request-response, `.sync`, `.waitForTaskToken`;
/// `arn:aws:states:::states:startExecution[.sync[:2]]`; `arn:aws:states:::events:putEvents`, ...), AWS SDK ones
/// (`arn:aws:states:::aws-sdk:<service>:<action>`), and activities.
///
/// What a task starts is recorded (``StepFunctionsStore/TaskRecord``) so that an execution resumed after a
/// restart re-attaches to it: the same token keeps waiting, the same ECS task or child execution is polled.
struct ServiceIntegrations: TaskIntegration {
    let directory: ServiceDirectory
    let tokens: TaskTokens
    let activities: ActivityQueue
    let store: StepFunctionsStore
    let context: RequestContext
    /// How often `.sync` integrations poll the task they started.
    var pollInterval: Duration = .milliseconds(200)

    /// A Task state's resource, parsed.
    struct Target: Equatable {
        /// The service as the resource names it (`ecs`, `states`, `sfn`, `eventbridge`...).
        var service: String
        /// The local service's endpoint prefix (`states` for `sfn`, `events` for `eventbridge`...).
        var endpoint: String
        /// The operation, as its API names it (`RunTask`).
        var operation: String
        /// `""` (request-response), `sync`, `sync:2` or `waitForTaskToken`.
        var pattern: String
        /// An AWS SDK integration (`aws-sdk:`) rather than an optimized one.
        var sdk: Bool
    }

    /// `arn:aws:states:::ecs:runTask.sync`, `arn:aws:states:::states:startExecution.sync:2`,
    /// `arn:aws:states:::aws-sdk:sfn:describeExecution`: the service, operation and integration pattern.
    static func target(_ resource: String) -> Target? {
        guard resource.hasPrefix("arn:aws:states:::") else { return nil }
        var rest = Substring(resource.dropFirst("arn:aws:states:::".count))
        var sdk = false
        if rest.hasPrefix("aws-sdk:") {
            sdk = true
            rest = rest.dropFirst("aws-sdk:".count)
        }
        guard let colon = rest.firstIndex(of: ":") else { return nil }
        let service = String(rest[..<colon])
        let action = rest[rest.index(after: colon)...]
        // The pattern follows the first dot of the action and may carry a version (`sync:2`).
        let operation: Substring
        var pattern = ""
        if let dot = action.firstIndex(of: ".") {
            operation = action[..<dot]
            pattern = String(action[action.index(after: dot)...])
        } else {
            operation = action
        }
        guard !service.isEmpty, !operation.isEmpty, !operation.contains(":"), ["", "sync", "sync:2", "waitForTaskToken"].contains(pattern)
        else { return nil }
        return Target(
            service: service, endpoint: endpoints[service] ?? service, operation: upperFirst(String(operation)), pattern: pattern, sdk: sdk)
    }

    /// SDK service names that differ from the endpoint prefix of the service serving them.
    static let endpoints: [String: String] = ["sfn": "states", "eventbridge": "events", "cloudwatchlogs": "logs"]

    /// A callback's token is known before its TaskScheduled event shows it: SendTaskSuccess may follow at once.
    func prepare(_ task: TaskInvocation) async {
        if let token = task.taskToken { _ = tokens.register(token, progress: task.progress) }
    }

    func invoke(_ task: TaskInvocation) async throws -> JSON {
        let resource = task.resource
        if resource.hasPrefix("arn:aws:states:"), resource.contains(":activity:") {
            return try await runActivity(task)
        }
        guard resource.hasPrefix("arn:aws:states:::") else {
            throw StatesError("States.Runtime", "Skiff cannot run the resource \(resource): Lambda functions are not served yet")
        }
        guard let target = Self.target(resource) else {
            throw StatesError("States.Runtime", "The resource \(resource) is not a service integration ARN")
        }
        guard let service = directory.service(target.endpoint) else {
            throw StatesError(
                "States.Runtime", "The resource \(resource) needs service \(target.service), which this local cloud does not serve")
        }
        // The local cloud calls its services internally over awsJson only (ServiceDirectory.invoke).
        guard service.descriptor.wireProtocol.isAWSJson else {
            throw StatesError(
                "States.Runtime",
                "The resource \(resource) needs service \(target.service), which Step Functions cannot call in this local cloud yet: it does not speak awsJson"
            )
        }
        let input = target.sdk ? task.input : Self.optimizedParameters(task.input, target)
        let executionArn = task.context["Execution"]?["Id"]?.stringValue ?? ""
        let previous = task.resumed ? try? await store.openTask(executionArn, key: task.key) : nil
        if target.pattern == "waitForTaskToken" {
            guard let token = task.taskToken else { throw StatesError("States.Runtime", "No task token") }
            let waiter = tokens.register(token, progress: task.progress)
            defer { tokens.forget(token) }
            let record = StepFunctionsStore.TaskRecord(
                id: token, executionArn: executionArn, key: task.key, callback: true, status: .starting)
            return try await recording(record) {
                // Called before a restart: the callback is still to come, on the same token.
                if previous?.id != token || previous?.status == .starting {
                    try? await store.saveTask(record)
                    _ = try await call(target, input)
                    try? await store.setTaskStatus(token, .waiting)
                }
                return try await waiter.value()
            }
        }
        guard target.pattern == "sync" || target.pattern == "sync:2" else { return try await call(target, input) }
        guard ["ecs:RunTask", "states:StartExecution"].contains("\(target.endpoint):\(target.operation)") else {
            throw StatesError("States.Runtime", "The .sync pattern is not supported for \(target.service):\(target.operation)")
        }
        // A job started before a restart is polled again, not started twice.
        let id = previous?.id ?? RandomUUID.make()
        let record = StepFunctionsStore.TaskRecord(id: id, executionArn: executionArn, key: task.key, callback: false, status: .starting)
        return try await recording(record) {
            let started: JSON
            if let handle = previous?.handle {
                started = handle
            } else {
                try? await store.saveTask(record)
                started = try await call(target, input)
                try? await store.setTaskStatus(id, .waiting, handle: started)
            }
            switch target.endpoint {
            case "ecs": return try await waitForECSTask(started)
            default: return try await waitForExecution(started, parseJSON: target.pattern == "sync:2")
            }
        }
    }

    /// Runs `body` for a recorded task and closes the record when the state stops waiting for it, however it ends.
    func recording(_ record: StepFunctionsStore.TaskRecord, _ body: () async throws -> JSON) async throws -> JSON {
        do {
            let output = try await body()
            try? await store.setTaskStatus(record.id, .closed)
            return output
        } catch {
            try? await store.setTaskStatus(record.id, .closed)
            throw error
        }
    }

    /// Schedules the task on its activity and waits for a worker's SendTaskSuccess or SendTaskFailure. Resumed
    /// after a restart, a task a worker had taken is not offered again: that worker answers on its token.
    func runActivity(_ task: TaskInvocation) async throws -> JSON {
        guard let token = task.taskToken else { throw StatesError("States.Runtime", "No task token") }
        guard let activity = try? await store.activity(task.resource), activity.account == context.accountId,
            activity.region == context.region
        else {
            throw StatesError("States.Runtime", "Activity Does Not Exist: '\(task.resource)'")
        }
        let executionArn = task.context["Execution"]?["Id"]?.stringValue ?? ""
        let previous = task.resumed ? try? await store.task(token) : nil
        let waiter = tokens.register(token, progress: task.progress)
        defer {
            activities.withdraw(task.resource, token: token)
            tokens.forget(token)
        }
        let record = StepFunctionsStore.TaskRecord(id: token, executionArn: executionArn, key: task.key, callback: true, status: .waiting)
        return try await recording(record) {
            if let previous, previous.status == .started {
                // The worker's ActivityStarted event was recorded after the snapshot; record it again.
                await task.progress.started(worker: previous.handle?["workerName"]?.stringValue ?? "")
            } else {
                try? await store.saveTask(record)
                activities.schedule(task.resource, .init(token: token, input: task.input.serialized(), progress: task.progress))
            }
            return try await waiter.value()
        }
    }

    /// Calls an operation with Step Functions' parameter casing (PascalCase), answering in the same casing; a
    /// failure is named as Step Functions names it (``errorName(_:_:)``).
    func call(_ target: Target, _ input: JSON) async throws -> JSON {
        var input = input
        // The optimized integration's tasks say who started them, as AWS's do (ListTasks --started-by finds them).
        if !target.sdk, target.endpoint == "ecs", target.operation == "RunTask", case .object(var parameters) = input,
            parameters["StartedBy"] == nil
        {
            parameters["StartedBy"] = "AWS Step Functions"
            input = .object(parameters)
        }
        let pascal = Self.pascalCaseServices.contains(target.endpoint)
        do {
            let output = try await directory.invoke(
                target.endpoint, operation: target.operation, input: pascal ? input : Self.recase(input, upper: false), context: context)
            return pascal ? output : Self.recase(output, upper: true)
        } catch let error as AWSError {
            throw StatesError(Self.errorName(target, error.code), error.message)
        }
    }

    func call(_ endpoint: String, _ operation: String, _ input: JSON) async throws -> JSON {
        try await call(Target(service: endpoint, endpoint: endpoint, operation: operation, pattern: "", sdk: false), input)
    }

    /// Services whose JSON members are PascalCase on the wire already (EventBridge: `Entries`, `DetailType`):
    /// Step Functions' parameters reach them unchanged. The others (ECS, Step Functions, CloudWatch Logs) use
    /// camelCase members.
    static let pascalCaseServices: Set<String> = ["events"]

    /// AWS SDK integrations name errors `<Service>.<Error>`, both PascalCase, the error always ending in
    /// `Exception` (`Sfn.ExecutionDoesNotExistException`, `AcmPca.ResourceNotFoundException`); optimized
    /// integrations prefix the service's own name (`ECS.`, `StepFunctions.`, `EventBridge.`).
    static func errorName(_ target: Target, _ code: String) -> String {
        let prefix =
            target.sdk
            ? sdkServiceNames[target.service] ?? upperFirst(target.service)
            : optimizedServiceNames[target.endpoint] ?? upperFirst(target.endpoint)
        return "\(prefix).\(code.hasSuffix("Exception") ? code : code + "Exception")"
    }

    static let sdkServiceNames: [String: String] = [
        "sfn": "Sfn", "ecs": "Ecs", "eventbridge": "EventBridge", "cloudwatchlogs": "CloudWatchLogs", "scheduler": "Scheduler",
        "sts": "Sts",
        "acmpca": "AcmPca", "dynamodb": "DynamoDb", "secretsmanager": "SecretsManager", "cloudformation": "CloudFormation",
    ]
    static let optimizedServiceNames: [String: String] = [
        "ecs": "ECS", "states": "StepFunctions", "events": "EventBridge", "logs": "CloudWatchLogs",
    ]

    /// Optimized integrations take JSON where the API takes a JSON string: a child execution's `Input`, an event's
    /// `Detail`. They are serialized here, before the parameter names are recased.
    static func optimizedParameters(_ input: JSON, _ target: Target) -> JSON {
        guard case .object(var o) = input else { return input }
        switch (target.endpoint, target.operation) {
        case ("states", "StartExecution"), ("states", "StartSyncExecution"):
            if let value = o["Input"], value.stringValue == nil { o["Input"] = .string(value.serialized()) }
        case ("events", "PutEvents"):
            if case .array(let entries)? = o["Entries"] {
                o["Entries"] = .array(
                    entries.map { entry in
                        guard case .object(var e) = entry, let detail = e["Detail"], detail.stringValue == nil else { return entry }
                        e["Detail"] = .string(detail.serialized())
                        return .object(e)
                    })
            }
        default: break
        }
        return .object(o)
    }

    /// Waits for an ECS task to stop: succeeds with its description, or fails with States.TaskFailed when an
    /// essential container exited with a non-zero code or the task could not start (as AWS's ecs:runTask.sync).
    func waitForECSTask(_ runOutput: JSON) async throws -> JSON {
        if let failure = runOutput["Failures"]?[0] {
            throw StatesError("States.TaskFailed", failure.serialized())
        }
        guard let taskArn = runOutput["Tasks"]?[0]?["TaskArn"]?.stringValue else {
            throw StatesError("States.TaskFailed", "RunTask started no task: \(runOutput.serialized())")
        }
        let cluster = runOutput["Tasks"]?[0]?["ClusterArn"]?.stringValue ?? "default"
        while true {
            try await Task.sleep(for: pollInterval)
            let described = try await call("ecs", "DescribeTasks", ["Cluster": .string(cluster), "Tasks": [.string(taskArn)]])
            guard let task = described["Tasks"]?[0] else {
                throw StatesError("States.TaskFailed", "The task \(taskArn) no longer exists")
            }
            guard task["LastStatus"] == "STOPPED" else { continue }
            let containers = task["Containers"]?.arrayValue ?? []
            let failed = containers.contains { c in
                guard let code = c["ExitCode"]?.intValue else { return true }
                return code != 0
            }
            if failed || task["StopCode"] == "TaskFailedToStart" {
                throw StatesError("States.TaskFailed", task.serialized())
            }
            return task
        }
    }

    /// Waits for a child execution to end; `.sync:2` answers its Input and Output as JSON, `.sync` as strings.
    func waitForExecution(_ startOutput: JSON, parseJSON: Bool) async throws -> JSON {
        guard let arn = startOutput["ExecutionArn"]?.stringValue else { return startOutput }
        while true {
            try await Task.sleep(for: pollInterval)
            var described = try await call("states", "DescribeExecution", ["ExecutionArn": .string(arn)])
            switch described["Status"]?.stringValue {
            case "SUCCEEDED":
                if parseJSON, case .object(var o) = described {
                    for field in ["Input", "Output"] {
                        if let text = o[field]?.stringValue, let value = try? JSON(parsing: text) { o[field] = value }
                    }
                    described = .object(o)
                }
                return described
            case "RUNNING", "PENDING_REDRIVE": continue
            default:
                throw StatesError("States.TaskFailed", described.serialized())
            }
        }
    }

    static func upperFirst(_ s: String) -> String { s.prefix(1).uppercased() + s.dropFirst() }
    static func lowerFirst(_ s: String) -> String { s.prefix(1).lowercased() + s.dropFirst() }

    /// Step Functions writes service parameters in PascalCase and returns results in PascalCase.
    static func recase(_ value: JSON, upper: Bool) -> JSON {
        switch value {
        case .object(let o):
            var out = JSONObject(minimumCapacity: o.count)
            for (k, v) in o { out[upper ? upperFirst(k) : lowerFirst(k)] = recase(v, upper: upper) }
            return .object(out)
        case .array(let a): return .array(a.map { recase($0, upper: upper) })
        default: return value
        }
    }
}

/// Task tokens of `.waitForTaskToken` states and activities, completed by SendTaskSuccess / SendTaskFailure.
final class TaskTokens: Sendable {
    final class Waiter: Sendable {
        let state = Mutex<(result: Result<JSON, any Error>?, continuation: CheckedContinuation<JSON, Error>?)>((nil, nil))

        /// Completes the wait once; false when it was completed already.
        @discardableResult
        func complete(_ result: Result<JSON, any Error>) -> Bool {
            let (first, continuation) = state.withLock { s -> (Bool, CheckedContinuation<JSON, Error>?) in
                if s.result != nil { return (false, nil) }
                s.result = result
                let c = s.continuation
                s.continuation = nil
                return (true, c)
            }
            continuation?.resume(with: result)
            return first
        }

        func value() async throws -> JSON {
            try await withTaskCancellationHandler {
                try await withCheckedThrowingContinuation { (c: CheckedContinuation<JSON, Error>) in
                    let ready = state.withLock { s -> Result<JSON, any Error>? in
                        if let r = s.result { return r }
                        s.continuation = c
                        return nil
                    }
                    if let ready { c.resume(with: ready) }
                }
            } onCancel: {
                // The state was stopped (StopExecution, a timeout): it ends as cancelled, not as a task failure.
                complete(.failure(CancellationError()))
            }
        }
    }

    let waiters = Mutex<[String: (waiter: Waiter, progress: TaskProgress)]>([:])

    /// The waiter of `token`: the one registered already (``ServiceIntegrations/prepare(_:)``), else a new one.
    func register(_ token: String, progress: TaskProgress) -> Waiter {
        waiters.withLock { waiters in
            if let existing = waiters[token] { return existing.waiter }
            let waiter = Waiter()
            waiters[token] = (waiter, progress)
            return waiter
        }
    }

    /// The state stopped waiting (timed out, cancelled): its token is no longer known.
    func forget(_ token: String) {
        _ = waiters.withLock { $0.removeValue(forKey: token) }
    }

    /// SendTaskHeartbeat; false when no state waits on `token`.
    func beat(_ token: String) -> Bool {
        guard let progress = waiters.withLock({ $0[token]?.progress }) else { return false }
        progress.beat()
        return true
    }

    /// Completes the state waiting on `token`; false when no state waits on it (or it was completed already).
    /// The token stays registered until its state stops waiting (``forget(_:)``): a completion may arrive
    /// before the integration starts waiting, and must still be found then.
    func complete(_ token: String, with result: Result<JSON, StatesError>) -> Bool {
        guard let waiter = waiters.withLock({ $0[token]?.waiter }) else { return false }
        return waiter.complete(result.mapError { $0 as any Error })
    }
}
