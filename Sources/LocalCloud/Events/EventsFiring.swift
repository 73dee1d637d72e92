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
        await queue.runTimerLoop(clock: clock) { now in await fireDue(now: now) }
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
                let expression = try Self.parseSchedule(text)
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
        do {
            let input = try Self.targetInput(target, event: event)
            try await TargetDelivery.withRetries(maximumRetryAttempts: target.retryPolicy?.maximumRetryAttempts ?? 185,
                                                 maximumEventAge: Double(target.retryPolicy?.maximumEventAgeInSeconds ?? 86400),
                                                 origin: clock.now(), clock: clock) {
                try await TargetDelivery.invoke(arn: target.arn, input: input, ecsParameters: target.ecsParameters?.json(),
                                                directory: environment.directory, context: context)
            }
        } catch {
            environment.logger.error("Rule \(rule) failed to invoke \(target.arn): \(error)")
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
