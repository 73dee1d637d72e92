import AWSProtocol
import Foundation
import GRDB
import JSONCore
import LocalCloud
import Logging
import TargetDelivery

/// Target invocation and the timer loop of scheduled rules.
extension EventsService {
    public func run() async throws {
        try await loadQueue()
        await queue.runTimerLoop(clock: clock) { now in await fireDue(now: now) }
    }

    /// The age past which a missed fire is dropped: EventBridge's default maximum event age, the longest it keeps
    /// trying to deliver an event.
    static let maximumEventAge: Double = 86400

    /// Queues every enabled scheduled rule. A fire missed by less than 24 hours fires at once, several coalesced
    /// into one; one missed by more is dropped, and the rule continues with its next fire after now, on its
    /// schedule (a rate rule keeps its phase).
    public func loadQueue() async throws {
        let now = clock.now()
        let rows = try await database.read { db in try EventsStore.scheduledRules(db) }
        for row in rows {
            let (key, due, rule) = (row.key, row.nextFire, row.rule)
            var nominal = Date(timeIntervalSince1970: due)
            if now.timeIntervalSince(nominal) > Self.maximumEventAge {
                // Due times lie on the schedule, so the stale one anchors a rate rule's phase.
                guard let text = rule?.scheduleExpression, let expression = try? Self.parseSchedule(text),
                    let next = expression.nextFire(after: now, anchor: nominal)
                else { continue }
                nominal = next
                try await database.write { db in try EventsStore.setNextFire(db, key: key, next, ifPrevious: due) }
            }
            queue.set(key, nominal: nominal, fireAt: nominal)
        }
    }

    /// Fires the scheduled rules due at `now` with a `Scheduled Event`; returns how many fired.
    @discardableResult
    public func fireDue(now: Date) async -> Int {
        let due = queue.popDue(now: now)
        for entry in due {
            let key = entry.key
            let context = RequestContext(accountId: key.account, region: key.region, requestId: RandomUUID.make())
            do {
                let found: (EventsAPI.DescribeRuleResponse, [EventsAPI.Target])? = try await database.read { db in
                    guard let rule = try EventsStore.rule(db, account: key.account, region: key.region, bus: key.group, name: key.name)
                    else { return nil }
                    return (rule, try EventsStore.targets(db, account: key.account, region: key.region, bus: key.group, rule: key.name))
                }
                guard let (rule, targets) = found, rule.state == .enabled, let text = rule.scheduleExpression else { continue }
                let nominal = Date(timeIntervalSince1970: entry.nominal)
                let expression = try Self.parseSchedule(text)
                let next = expression.nextFire(after: max(nominal, now.addingTimeInterval(-0.001)), anchor: nominal)
                try await database.write { db in try EventsStore.setNextFire(db, key: key, next) }
                if let next { queue.set(key, nominal: next, fireAt: next) }
                let event = Self.event(
                    id: RandomUUID.make(), source: "aws.events", detailType: "Scheduled Event", detail: .object([:]),
                    resources: [rule.arn ?? ""], time: nominal, context: context)
                let source = InputTemplate.Context(ruleName: key.name, ruleArn: rule.arn ?? "", ingestionTime: now)
                for target in targets {
                    Task { await invokeWithRetries(target, event: event, rule: source, context: context) }
                }
            } catch {
                environment.logger.error("Rule \(key.name) could not fire: \(error)")
            }
        }
        return due.count
    }

    func invokeWithRetries(_ target: EventsAPI.Target, event: JSON, rule: InputTemplate.Context, context: RequestContext) async {
        do {
            let input = Self.targetInput(target, event: event, rule: rule)
            try await TargetDelivery.withRetries(
                maximumRetryAttempts: target.retryPolicy?.maximumRetryAttempts ?? 185,
                maximumEventAge: Double(target.retryPolicy?.maximumEventAgeInSeconds ?? 86400),
                origin: clock.now(), clock: clock
            ) {
                try await TargetDelivery.invoke(
                    arn: target.arn, input: input, ecsParameters: target.ecsParameters?.json(),
                    startedBy: "events-rule/\(rule.ruleName)", directory: environment.directory, context: context)
            }
            environment.logger.info("rule fired", metadata: ["service": "events", "rule": "\(rule.ruleArn)", "target": "\(target.arn)"])
        } catch {
            environment.logger.error(
                "rule failed to invoke its target",
                metadata: [
                    "service": "events", "rule": "\(rule.ruleArn)", "target": "\(target.arn)", "error": "\(error)",
                ])
        }
    }

    /// What the target receives: the Input constant, the part of the event at InputPath, the InputTransformer's
    /// template filled from the event (see ``InputTemplate``), or the whole event.
    static func targetInput(_ target: EventsAPI.Target, event: JSON, rule: InputTemplate.Context) -> String {
        if let input = target.input { return input }
        if let path = target.inputPath { return (EventPath.resolve(path, in: event) ?? .null).serialized() }
        if let transformer = target.inputTransformer {
            return InputTemplate(template: transformer.inputTemplate, paths: transformer.inputPathsMap ?? [:]).render(
                event: event, context: rule)
        }
        return event.serialized()
    }
}
