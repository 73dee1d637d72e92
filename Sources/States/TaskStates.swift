import Foundation
import JSONCore
import Synchronization

/// Task states: the call of the resource through the host's ``TaskIntegration``, its timeout and its heartbeats.
extension ExecutionRun {
    func runTask(
        _ state: StateDefinition, arguments resolved: JSON, token: String?, key: String, context: JSON, timeout: Double?, heartbeat: Double?
    ) async throws -> JSON {
        let resource = state.resource ?? ""
        let (resourceType, resourceName) = Self.describe(resource)
        // Activities have events of their own; callbacks and activities are the tasks that heartbeat.
        let isActivity = resource.hasPrefix("arn:aws:states:") && resource.contains(":activity:")
        let heartbeats = isActivity || resource.hasSuffix(".waitForTaskToken")
        let prefix = isActivity ? "Activity" : "Task"
        let detailsPrefix = isActivity ? "activity" : "task"
        var scheduledDetails: JSONObject =
            isActivity
            ? ["resource": .string(resource), "input": .string(resolved.serialized()), "inputDetails": ["truncated": false]]
            : [
                "resourceType": .string(resourceType), "resource": .string(resourceName), "region": .string(self.context.region),
                "parameters": .string(resolved.serialized()),
            ]
        if let timeout { scheduledDetails["timeoutInSeconds"] = .number(timeout) }
        if let heartbeat { scheduledDetails["heartbeatInSeconds"] = .number(heartbeat) }
        let scheduledId = Mutex(0)
        let onStart: (@Sendable (String) async -> Void)? =
            isActivity
            ? { @Sendable [self] worker in
                _ = await self.emit(
                    "ActivityStarted", previous: scheduledId.withLock { $0 }, "activityStartedEventDetails", ["workerName": .string(worker)]
                )
            } : nil
        var invocation = TaskInvocation(
            resource: resource, input: resolved, taskToken: token, timeoutSeconds: timeout, heartbeatSeconds: heartbeat,
            stateName: state.name, context: context)
        invocation.progress = TaskProgress(now: engine.clock.now(), onStart: onStart)
        invocation.key = key
        invocation.resumed = resumeTasks[key] != nil
        let call = invocation
        let integrations = engine.integrations
        await integrations.prepare(call)
        let scheduled = await emit(
            "\(prefix)Scheduled", previous: lastEventId, "\(detailsPrefix)ScheduledEventDetails",
            recording ? .object(scheduledDetails) : nil)
        scheduledId.withLock { $0 = scheduled }
        if !isActivity {
            await emit(
                "TaskStarted", previous: scheduled, "taskStartedEventDetails",
                recording ? ["resourceType": .string(resourceType), "resource": .string(resourceName)] : nil)
        }
        let body: @Sendable () async throws -> JSON
        if heartbeats, let heartbeat {
            body = { [self] in try await self.withHeartbeat(heartbeat, progress: call.progress) { try await integrations.invoke(call) } }
        } else {
            body = { try await integrations.invoke(call) }
        }
        let subject: JSONObject = isActivity ? [:] : ["resourceType": .string(resourceType), "resource": .string(resourceName)]
        let timerKey = key + "#timeout"
        do {
            let output: JSON
            if let timeout {
                // The timeout counts from the task's first start, across a restart.
                let until = await deadline(timerKey, seconds: timeout)
                output = try await withTimeout(
                    until.timeIntervalSince(engine.clock.now()),
                    error: StatesError("States.Timeout", "Task timed out after \(timeout) seconds"), body)
                await observer?.checkpoint(timer: timerKey, deadline: nil)
            } else {
                output = try await body()
            }
            var details = subject
            details["output"] = .string(output.serialized())
            details["outputDetails"] = ["truncated": false]
            await emit(
                "\(prefix)Succeeded", previous: lastEventId, "\(detailsPrefix)SucceededEventDetails", recording ? .object(details) : nil)
            return output
        } catch let error as StatesError {
            if timeout != nil { await observer?.checkpoint(timer: timerKey, deadline: nil) }
            let timedOut = error.error == "States.Timeout" || error.error == "States.HeartbeatTimeout"
            var details = subject
            details["error"] = .string(error.error)
            details["cause"] = .string(error.cause)
            await emit(
                timedOut ? "\(prefix)TimedOut" : "\(prefix)Failed", previous: lastEventId,
                timedOut ? "\(detailsPrefix)TimedOutEventDetails" : "\(detailsPrefix)FailedEventDetails", .object(details))
            throw error
        }
    }

    /// Runs `body` while heartbeats keep arriving: fails with States.HeartbeatTimeout when `seconds` pass
    /// without one (the task's start counts as the first).
    func withHeartbeat(_ seconds: Double, progress: TaskProgress, _ body: @escaping @Sendable () async throws -> JSON) async throws -> JSON
    {
        let clock = engine.clock
        return try await withThrowingTaskGroup(of: JSON?.self) { group in
            group.addTask { try await body() }
            group.addTask {
                while true {
                    let remaining = progress.lastBeat.addingTimeInterval(seconds).timeIntervalSince(clock.now())
                    if remaining <= 0 { return nil }
                    try await clock.sleep(seconds: remaining)
                }
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let value = first else {
                throw StatesError("States.HeartbeatTimeout", "The task sent no heartbeat for \(seconds) seconds")
            }
            return value
        }
    }

    /// `arn:aws:states:::ecs:runTask.sync` → ("ecs", "runTask.sync"); other ARNs keep their service and last part.
    static func describe(_ resource: String) -> (String, String) {
        let parts = resource.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        if resource.hasPrefix("arn:aws:states:::"), parts.count >= 7 {
            return (parts[5], parts[6...].joined(separator: ":"))
        }
        if parts.count >= 3 { return (parts[2], resource) }
        return ("unknown", resource)
    }

    func withTimeout<T: Sendable>(_ seconds: Double, error: StatesError, _ body: @escaping @Sendable () async throws -> T) async throws -> T
    {
        let clock = engine.clock
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await body() }
            group.addTask {
                try await clock.sleep(seconds: seconds)
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next() else { throw error }
            guard let value = first else { throw error }
            return value
        }
    }
}
