import AWSProtocol
import Foundation
import GRDB
import JSONCore
import LocalCloud
import Logging
import SchedulerService

/// Target invocation and the timer loop of scheduled rules.
extension EventsService {
    public func run() async throws {
        try await loadQueue()
        while !Task.isCancelled {
            _ = await fireDue(now: clock.now())
            let wait = queue.earliest.map { max(0, $0.timeIntervalSince(clock.now())) } ?? 3600
            let wakeups = queue.wakeups
            await withTaskGroup(of: Void.self) { group in
                group.addTask { try? await Task.sleep(for: .seconds(wait), tolerance: .milliseconds(1)) }
                group.addTask { for await _ in wakeups { break } }
                await group.next()
                group.cancelAll()
            }
        }
    }

    /// Queues every enabled scheduled rule; a fire missed by less than 24 hours fires at once (coalesced).
    public func loadQueue() async throws {
        let now = clock.now()
        let rows = try await database.read { db in
            try Row.fetchAll(db, sql: "SELECT account, region, bus, name, next_fire FROM events_rule WHERE next_fire IS NOT NULL")
                .map { (ScheduleKey(account: $0["account"], region: $0["region"], group: $0["bus"], name: $0["name"]), $0["next_fire"] as Double) }
        }
        for (key, due) in rows {
            var nominal = Date(timeIntervalSince1970: due)
            if now.timeIntervalSince(nominal) > 86400 { nominal = now.addingTimeInterval(-86400) }
            queue.set(key, nominal: nominal, fireAt: max(nominal, Date(timeIntervalSince1970: due)))
        }
    }

    /// Fires the scheduled rules due at `now` with a `Scheduled Event`; returns how many fired.
    @discardableResult
    public func fireDue(now: Date) async -> Int {
        let due = queue.popDue(now: now)
        for entry in due {
            let key = entry.key
            let context = RequestContext(accountId: key.account, region: key.region, requestId: UUID().uuidString.lowercased())
            do {
                let found: (EventsAPI.DescribeRuleResponse, [EventsAPI.Target])? = try await database.read { db in
                    guard let rule = try EventsStore.rule(db, account: key.account, region: key.region, bus: key.group, name: key.name) else { return nil }
                    return (rule, try EventsStore.targets(db, account: key.account, region: key.region, bus: key.group, rule: key.name))
                }
                guard let (rule, targets) = found, rule.state == "ENABLED", let text = rule.scheduleExpression else { continue }
                let nominal = Date(timeIntervalSince1970: entry.nominal)
                let expression = try ScheduleExpression(text, timeZone: nil)
                let next = expression.nextFire(after: max(nominal, now.addingTimeInterval(-0.001)), anchor: nominal)
                try await database.write { db in
                    try db.execute(sql: "UPDATE events_rule SET next_fire = ? WHERE account = ? AND region = ? AND bus = ? AND name = ?",
                                   arguments: [next?.timeIntervalSince1970, key.account, key.region, key.group, key.name])
                }
                if let next { queue.set(key, nominal: next, fireAt: next) }
                let event = Self.event(id: UUID().uuidString.lowercased(), source: "aws.events", detailType: "Scheduled Event", detail: .object([:]),
                                       resources: [rule.arn ?? ""], time: nominal, context: context)
                for target in targets {
                    Task { await invokeWithRetries(target, event: event, rule: key.name, context: context) }
                }
            } catch {
                environment.logger.error("Rule \(key.name) could not fire: \(error)")
            }
        }
        return due.count
    }

    func invokeWithRetries(_ target: EventsAPI.Target, event: JSON, rule: String, context: RequestContext) async {
        let maximumAttempts = target.retryPolicy?.maximumRetryAttempts ?? 185
        let maximumAge = Double(target.retryPolicy?.maximumEventAgeInSeconds ?? 86400)
        let started = clock.now()
        var attempt = 0
        while true {
            do {
                try await invoke(target, event: event, context: context)
                return
            } catch let error as AWSError {
                let delay = min(60, pow(2, Double(attempt)))
                let retryable = error.status >= 500 && error.code != "ServiceUnavailable" || error.code.contains("Throttl")
                if !retryable || attempt >= maximumAttempts || clock.now().addingTimeInterval(delay).timeIntervalSince(started) > maximumAge {
                    environment.logger.error("Rule \(rule) failed to invoke \(target.arn): \(error)")
                    return
                }
                attempt += 1
                try? await Task.sleep(for: .seconds(delay))
            } catch {
                environment.logger.error("Rule \(rule) failed to invoke \(target.arn): \(error)")
                return
            }
        }
    }

    func invoke(_ target: EventsAPI.Target, event: JSON, context: RequestContext) async throws {
        let input = try Self.targetInput(target, event: event)
        if target.arn.hasPrefix("arn:aws:states:") {
            let request: JSONObject = ["stateMachineArn": .string(target.arn), "input": .string(input)]
            _ = try await environment.directory.invoke("states", operation: "StartExecution", input: .object(request), context: context)
        } else if target.arn.hasPrefix("arn:aws:ecs:"), let ecs = target.ecsParameters {
            let request = SchedulerService.runTaskInput(cluster: target.arn, ecsParameters: ecs.json(), overrides: input)
            _ = try await environment.directory.invoke("ecs", operation: "RunTask", input: request, context: context)
        } else {
            throw AWSError("ValidationException", "Target \(target.arn) is not a target the local cloud can invoke (ECS RunTask, Step Functions StartExecution).")
        }
    }

    /// What the target receives: the Input constant, the part of the event at InputPath, the InputTransformer's
    /// template filled from the event, or the whole event.
    static func targetInput(_ target: EventsAPI.Target, event: JSON) throws -> String {
        if let input = target.input { return input }
        if let path = target.inputPath { return (resolve(path, in: event) ?? .null).serialized() }
        if let transformer = target.inputTransformer {
            var text = transformer.inputTemplate
            for (name, path) in transformer.inputPathsMap ?? [:] {
                let value = resolve(path, in: event)
                let quoted = "\"<\(name)>\""
                // In a JSON template a value is inserted as JSON (a string keeps its quotes), and a quoted
                // placeholder takes a string's escaped text; in a plain-text template, a string's text.
                if let string = value?.stringValue {
                    let json = JSON.string(string).serialized()
                    let isJSONTemplate = text.hasPrefix("{") || text.hasPrefix("[")
                    text = text.replacingOccurrences(of: quoted, with: json)
                    text = text.replacingOccurrences(of: "<\(name)>", with: isJSONTemplate ? json : string)
                } else {
                    let json = (value ?? .null).serialized()
                    text = text.replacingOccurrences(of: quoted, with: json).replacingOccurrences(of: "<\(name)>", with: json)
                }
            }
            text = text.replacingOccurrences(of: "<aws.events.event.json>", with: event.serialized())
            return text
        }
        return event.serialized()
    }

    /// A JSONPath of dotted names (`$.detail.status`, `$.resources[0]`).
    static func resolve(_ path: String, in json: JSON) -> JSON? {
        guard path.hasPrefix("$") else { return nil }
        var current: JSON? = json
        for part in path.dropFirst().split(separator: ".") {
            var name = Substring(part)
            var index: Int?
            if let open = part.firstIndex(of: "["), part.hasSuffix("]") {
                name = part[..<open]
                index = Int(part[part.index(after: open)..<part.index(before: part.endIndex)])
            }
            if !name.isEmpty { current = current?[String(name)] }
            if let index { current = current?[index] }
        }
        return current
    }
}
