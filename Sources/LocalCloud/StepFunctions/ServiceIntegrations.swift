import AWSProtocol
import Foundation
import JSONCore
import LocalCloud
import States
import Synchronization

/// Task states' resources, served by the other services of the local cloud as AWS's service integrations:
/// `arn:aws:states:::ecs:runTask` (request-response, `.sync`, `.waitForTaskToken`),
/// `arn:aws:states:::aws-sdk:<service>:<action>`, and `arn:aws:states:::states:startExecution`.
struct ServiceIntegrations: TaskIntegration {
    let directory: ServiceDirectory
    let tokens: TaskTokens
    let activities: ActivityQueue
    let store: StepFunctionsStore
    let context: RequestContext
    /// How often `.sync` integrations poll the task they started.
    var pollInterval: Duration = .milliseconds(200)

    func invoke(_ task: TaskInvocation) async throws -> JSON {
        let resource = task.resource
        if resource.hasPrefix("arn:aws:states:"), resource.contains(":activity:") {
            return try await runActivity(task)
        }
        guard resource.hasPrefix("arn:aws:states:::") else {
            throw StatesError("States.Runtime", "Skiff cannot run the resource \(resource): Lambda functions are not served yet")
        }
        var parts = resource.dropFirst("arn:aws:states:::".count).split(separator: ":").map(String.init)
        var pattern = ""
        if let last = parts.last, let dot = last.firstIndex(of: ".") {
            pattern = String(last[last.index(after: dot)...])
            parts[parts.count - 1] = String(last[..<dot])
        }
        let service: String
        let operation: String
        if parts.first == "aws-sdk", parts.count == 3 {
            service = parts[1]
            operation = Self.upperFirst(parts[2])
        } else if parts.count == 2 {
            service = parts[0]
            operation = Self.upperFirst(parts[1])
        } else {
            throw StatesError("States.Runtime", "The resource \(resource) is not a service integration ARN")
        }
        let endpoint = service == "sfn" ? "states" : service
        guard directory.service(endpoint) != nil else {
            throw StatesError("States.Runtime", "The resource \(resource) needs service \(service), which this local cloud does not serve")
        }
        if pattern == "waitForTaskToken" {
            guard let token = task.taskToken else { throw StatesError("States.Runtime", "No task token") }
            let waiter = tokens.register(token, progress: task.progress)
            defer { tokens.forget(token) }
            _ = try await call(endpoint, operation, task.input)
            return try await waiter.value()
        }
        let output = try await call(endpoint, operation, task.input)
        guard pattern == "sync" || pattern == "sync:2" else { return output }
        switch (endpoint, operation) {
        case ("ecs", "RunTask"):
            return try await waitForECSTask(output)
        case ("states", "StartExecution"):
            return try await waitForExecution(output)
        default:
            throw StatesError("States.Runtime", "The .sync pattern is not supported for \(service):\(operation)")
        }
    }

    /// Schedules the task on its activity and waits for a worker's SendTaskSuccess or SendTaskFailure.
    func runActivity(_ task: TaskInvocation) async throws -> JSON {
        guard let token = task.taskToken else { throw StatesError("States.Runtime", "No task token") }
        guard let activity = try? await store.activity(task.resource), activity.account == context.accountId else {
            throw StatesError("States.Runtime", "Activity Does Not Exist: '\(task.resource)'")
        }
        let waiter = tokens.register(token, progress: task.progress)
        defer {
            activities.withdraw(task.resource, token: token)
            tokens.forget(token)
        }
        activities.schedule(task.resource, .init(token: token, input: task.input.serialized(), progress: task.progress))
        return try await waiter.value()
    }

    /// Calls an operation with Step Functions' parameter casing (PascalCase) and answers in the same casing.
    func call(_ service: String, _ operation: String, _ input: JSON) async throws -> JSON {
        do {
            let output = try await directory.invoke(service, operation: operation, input: Self.recase(input, upper: false), context: context)
            return Self.recase(output, upper: true)
        } catch let error as AWSError {
            let prefix = service == "ecs" ? "ECS" : service.capitalized
            throw StatesError("\(prefix).\(error.code)", error.message)
        }
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

    func waitForExecution(_ startOutput: JSON) async throws -> JSON {
        guard let arn = startOutput["ExecutionArn"]?.stringValue else { return startOutput }
        while true {
            try await Task.sleep(for: pollInterval)
            let described = try await call("states", "DescribeExecution", ["ExecutionArn": .string(arn)])
            switch described["Status"]?.stringValue {
            case "SUCCEEDED": return described
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

/// Task tokens of `.waitForTaskToken` states, completed by SendTaskSuccess / SendTaskFailure.
final class TaskTokens: Sendable {
    final class Waiter: Sendable {
        let state = Mutex<(result: Result<JSON, StatesError>?, continuation: CheckedContinuation<JSON, Error>?)>((nil, nil))

        func complete(_ result: Result<JSON, StatesError>) {
            let continuation = state.withLock { s -> CheckedContinuation<JSON, Error>? in
                if s.result != nil { return nil }
                s.result = result
                let c = s.continuation
                s.continuation = nil
                return c
            }
            continuation?.resume(with: result.mapError { $0 as Error })
        }

        func value() async throws -> JSON {
            try await withTaskCancellationHandler {
                try await withCheckedThrowingContinuation { (c: CheckedContinuation<JSON, Error>) in
                    let ready = state.withLock { s -> Result<JSON, StatesError>? in
                        if let r = s.result { return r }
                        s.continuation = c
                        return nil
                    }
                    if let ready { c.resume(with: ready.mapError { $0 as Error }) }
                }
            } onCancel: {
                complete(.failure(StatesError("States.Runtime", "cancelled")))
            }
        }
    }

    let waiters = Mutex<[String: (waiter: Waiter, progress: TaskProgress)]>([:])

    func register(_ token: String, progress: TaskProgress) -> Waiter {
        let waiter = Waiter()
        waiters.withLock { $0[token] = (waiter, progress) }
        return waiter
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

    /// Completes the state waiting on `token`; false when no state waits on it.
    func complete(_ token: String, with result: Result<JSON, StatesError>) -> Bool {
        guard let waiter = waiters.withLock({ $0.removeValue(forKey: token)?.waiter }) else { return false }
        waiter.complete(result)
        return true
    }

}
