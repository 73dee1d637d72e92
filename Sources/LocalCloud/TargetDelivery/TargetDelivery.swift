import AWSProtocol
import Foundation
import JSONCore
import LocalCloud
import Schedules

/// A schedule expression with the time zone it is evaluated in: the schedule's IANA zone for Scheduler, UTC for
/// EventBridge rules.
public struct ZonedScheduleExpression: Sendable {
    public let expression: ScheduleExpression
    public let zone: TimeZone

    public init(_ expression: ScheduleExpression, zone: TimeZone) {
        self.expression = expression
        self.zone = zone
    }

    public var isOneTime: Bool { expression.isOneTime }

    /// The instant of a one-time schedule.
    public var oneTimeDate: Date? {
        if case .at(let time) = expression.kind { time.instant(in: zone) } else { nil }
    }

    public func nextFire(after: Date, anchor: Date) -> Date? {
        expression.nextFire(after: after, anchor: anchor, in: zone)
    }
}

/// What Scheduler and EventBridge share once something is due: calling the target's API, and retrying it as
/// AWS does within the target's retry policy.
///
/// A target of its own, with ``FireQueue`` and ``SchedulerClock``, so that EventBridge delivers as the Scheduler
/// does without depending on the Scheduler service.
public enum TargetDelivery {
    /// Calls the API a target ARN names: Step Functions StartExecution with `input`, or ECS RunTask with the
    /// target's EcsParameters and `input` as the task overrides. `startedBy` is what the task's `startedBy` says
    /// of its starter, as AWS sets it: `chronos-schedule/<schedule>` for Scheduler, `events-rule/<rule>` for EventBridge.
    public static func invoke(
        arn: String, input: String?, ecsParameters: JSON?, startedBy: String, directory: ServiceDirectory,
        context: RequestContext
    ) async throws {
        if arn.hasPrefix("arn:aws:states:") {
            let request: JSONObject = ["stateMachineArn": .string(arn), "input": .string(input ?? "{}")]
            _ = try await directory.invoke("states", operation: "StartExecution", input: .object(request), context: context)
        } else if arn.hasPrefix("arn:aws:ecs:"), let ecsParameters {
            var request = runTaskInput(cluster: arn, ecsParameters: ecsParameters, overrides: input)
            if case .object(var parameters) = request {
                parameters["startedBy"] = .string(String(startedBy.prefix(128)))
                request = .object(parameters)
            }
            _ = try await directory.invoke("ecs", operation: "RunTask", input: request, context: context)
        } else {
            throw AWSError.validation(
                "Target \(arn) is not a target the local cloud can invoke (ECS RunTask, Step Functions StartExecution).")
        }
    }

    /// Runs `attempt` until it succeeds, retrying retryable failures (throttling and 5xx from a served service)
    /// with exponential backoff capped at 60 s, while the attempts stay within `maximumRetryAttempts` and the
    /// event is younger than `maximumEventAge` seconds counted from `origin`. Rethrows the failure it gives up on.
    public static func withRetries(
        maximumRetryAttempts: Int, maximumEventAge: Double, origin: Date, clock: any SchedulerClock,
        _ attempt: () async throws -> Void
    ) async throws {
        var retries = 0
        while true {
            do {
                return try await attempt()
            } catch let error as AWSError {
                // A target service the local cloud does not serve will not appear by retrying.
                let retryable = error.status >= 500 && error.code != "ServiceUnavailable" || error.code.contains("Throttl")
                let delay = min(60, pow(2, Double(retries)))
                if !retryable || retries >= maximumRetryAttempts
                    || clock.now().addingTimeInterval(delay).timeIntervalSince(origin) > maximumEventAge
                {
                    throw error
                }
                retries += 1
                try await Task.sleep(for: .seconds(delay))
            }
        }
    }

    /// RunTask's input for an ECS target of a schedule or a rule: its EcsParameters (in the target's PascalCase)
    /// in ECS's lower-camel member names, and `overrides` (a JSON object of task overrides: the target's input).
    public static func runTaskInput(cluster: String, ecsParameters: JSON, overrides: String?) -> JSON {
        var parameters = ecsParameters.objectValue ?? [:]
        var input: JSONObject = [
            "cluster": .string(cluster),
            "taskDefinition": parameters.removeValue(forKey: "TaskDefinitionArn") ?? .null,
            "count": parameters.removeValue(forKey: "TaskCount") ?? 1,
        ]
        if let tags = parameters.removeValue(forKey: "Tags")?.arrayValue {
            // Scheduler: a list of one-entry maps; EventBridge: a list of {Key, Value}.
            input["tags"] = .array(
                tags.flatMap { item -> [JSON] in
                    let map = item.objectValue ?? [:]
                    if let key = map["Key"] { return [.object(["key": key, "value": map["Value"] ?? ""])] }
                    return map.map { k, v in JSON.object(["key": .string(k), "value": v]) }
                })
        }
        for (name, value) in parameters { input[lowerCamel(name)] = lowerCamelKeys(value) }
        if let text = overrides, let value = try? JSON(parsing: text), value.objectValue != nil {
            input["overrides"] = value
        }
        return .object(input)
    }

    public static func lowerCamel(_ name: String) -> String {
        if name == "EnableECSManagedTags" { return "enableECSManagedTags" }
        guard let first = name.first else { return name }
        return first.lowercased() + name.dropFirst()
    }

    static func lowerCamelKeys(_ value: JSON) -> JSON {
        switch value {
        case .object(let o):
            var out = JSONObject()
            for (k, v) in o { out[lowerCamel(k)] = lowerCamelKeys(v) }
            return .object(out)
        case .array(let a): return .array(a.map(lowerCamelKeys))
        default: return value
        }
    }
}

extension FireQueue {
    /// The timer loop of a service: fires what is due, then sleeps until the earliest queued time, or less if an
    /// earlier entry is queued meanwhile; until cancelled.
    public func runTimerLoop(clock: any SchedulerClock, fireDue: (Date) async -> Void) async {
        while !Task.isCancelled {
            await fireDue(clock.now())
            let wait = earliest.map { max(0, $0.timeIntervalSince(clock.now())) } ?? 3600
            let wakeups = self.wakeups
            await withTaskGroup(of: Void.self) { group in
                group.addTask { try? await Task.sleep(for: .seconds(wait), tolerance: .milliseconds(1)) }
                group.addTask { for await _ in wakeups { break } }
                await group.next()
                group.cancelAll()
            }
        }
    }
}
