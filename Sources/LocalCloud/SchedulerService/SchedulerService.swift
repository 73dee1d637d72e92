import AWSProtocol
import Foundation
import GRDB
import JSONCore
import LocalCloud
import Logging
import TargetDelivery
import Schedules

/// Amazon EventBridge Scheduler: schedules in groups, fired on time by one timer loop, invoking ECS RunTask or
/// Step Functions StartExecution through the service directory.
///
/// Missed fires (Skiff was down when a schedule came due): a due time is still delivered, once, if it is no
/// older than the target's `RetryPolicy.MaximumEventAgeInSeconds` (AWS's default: 86,400 s) — the same window
/// in which AWS would still be retrying an invocation that could not be delivered. Several missed fires of one
/// recurring schedule are coalesced into one; older ones are dropped, and the schedule continues from now.
public struct SchedulerService: LocalService, SchedulerAPIHandler {
    let environment: ServiceEnvironment
    let clock: any SchedulerClock
    let queue = FireQueue()

    public init(environment: ServiceEnvironment, clock: any SchedulerClock = SystemSchedulerClock()) {
        self.environment = environment
        self.clock = clock
    }

    public var descriptor: ServiceDescriptor { SchedulerAPI.descriptor }
    var database: CloudDatabase { environment.database }

    public func handle(operation: String, request: OperationRequest, context: RequestContext) async throws -> OperationResponse {
        try await SchedulerAPI.dispatch(self, operation: operation, request: request, context: context)
    }

    public func registerMigrations(_ migrator: inout DatabaseMigrator) {
        ScheduleStore.registerMigrations(&migrator)
    }

    // MARK: Schedules

    public func createSchedule(
        _ input: SchedulerAPI.CreateScheduleInput, context: RequestContext
    ) async throws -> SchedulerAPI.CreateScheduleOutput {
        let key = ScheduleKey(account: context.accountId, region: context.region, group: input.groupName ?? "default", name: input.name)
        let now = clock.now()
        var schedule = SchedulerAPI.GetScheduleOutput(
            actionAfterCompletion: input.actionAfterCompletion ?? .noneValue, arn: key.arn, creationDate: now,
            description: input.description, endDate: input.endDate, flexibleTimeWindow: input.flexibleTimeWindow,
            groupName: key.group, kmsKeyArn: input.kmsKeyArn, lastModificationDate: now, name: input.name,
            scheduleExpression: input.scheduleExpression, scheduleExpressionTimezone: input.scheduleExpressionTimezone,
            startDate: input.startDate, state: input.state ?? .enabled, target: input.target)
        schedule.target?.retryPolicy = Self.retryPolicy(input.target.retryPolicy)
        let expression = try Self.validate(schedule, now: now)
        // Created now, a rate schedule without a StartDate has its first occurrence now.
        let next = Self.nextFire(schedule, expression: expression, after: now, missedWindow: true, includingAfter: true)
        let stored = schedule
        let request = Self.idempotencyFingerprint(input)
        let created: Bool = try await database.write { db in
            guard try ScheduleStore.groupExists(db, account: key.account, region: key.region, name: key.group) else {
                throw SchedulerAPI.Errors.resourceNotFoundException("Schedule group \(key.group) does not exist.")
            }
            if try ScheduleStore.schedule(db, key: key) != nil {
                // The retry of a request that succeeded (same ClientToken, same request) gets the same answer.
                if let token = input.clientToken, let stored = try ScheduleStore.clientToken(db, key: key), stored == (token, request) {
                    return false
                }
                throw SchedulerAPI.Errors.conflictException("Schedule \(key.name) already exists.")
            }
            try ScheduleStore.save(db, key: key, schedule: stored, nextFire: next)
            if let token = input.clientToken { try ScheduleStore.setClientToken(db, key: key, token: token, request: request) }
            return true
        }
        if created { enqueue(key, schedule: stored, nominal: next) }
        return .init(scheduleArn: key.arn)
    }

    /// The request a ClientToken stands for: every member but the token, in the model's member order.
    static func idempotencyFingerprint(_ input: SchedulerAPI.CreateScheduleInput) -> String {
        var request = input
        request.clientToken = nil
        return request.json().serialized()
    }

    public func updateSchedule(
        _ input: SchedulerAPI.UpdateScheduleInput, context: RequestContext
    ) async throws -> SchedulerAPI.UpdateScheduleOutput {
        let key = ScheduleKey(account: context.accountId, region: context.region, group: input.groupName ?? "default", name: input.name)
        let now = clock.now()
        let result: (SchedulerAPI.GetScheduleOutput, Date?) = try await database.write { db in
            guard let old = try ScheduleStore.schedule(db, key: key) else { throw Self.notFound(key) }
            var schedule = SchedulerAPI.GetScheduleOutput(
                actionAfterCompletion: input.actionAfterCompletion ?? .noneValue, arn: key.arn, creationDate: old.creationDate,
                description: input.description, endDate: input.endDate, flexibleTimeWindow: input.flexibleTimeWindow,
                groupName: key.group, kmsKeyArn: input.kmsKeyArn, lastModificationDate: now, name: input.name,
                scheduleExpression: input.scheduleExpression, scheduleExpressionTimezone: input.scheduleExpressionTimezone,
                startDate: input.startDate, state: input.state ?? .enabled, target: input.target)
            schedule.target?.retryPolicy = Self.retryPolicy(input.target.retryPolicy)
            let expression = try Self.validate(schedule, now: now)
            // An update keeps a rate schedule's phase (anchored at its StartDate or creation): its next occurrence
            // is the first after now.
            let next = Self.nextFire(schedule, expression: expression, after: now, missedWindow: true)
            try ScheduleStore.save(db, key: key, schedule: schedule, nextFire: next)
            return (schedule, next)
        }
        enqueue(key, schedule: result.0, nominal: result.1)
        return .init(scheduleArn: key.arn)
    }

    public func deleteSchedule(
        _ input: SchedulerAPI.DeleteScheduleInput, context: RequestContext
    ) async throws -> SchedulerAPI.DeleteScheduleOutput {
        let key = ScheduleKey(account: context.accountId, region: context.region, group: input.groupName ?? "default", name: input.name)
        try await database.write { db in
            guard try ScheduleStore.schedule(db, key: key) != nil else { throw Self.notFound(key) }
            try ScheduleStore.delete(db, key: key)
        }
        queue.remove(key)
        return .init()
    }

    public func getSchedule(_ input: SchedulerAPI.GetScheduleInput, context: RequestContext) async throws -> SchedulerAPI.GetScheduleOutput
    {
        let key = ScheduleKey(account: context.accountId, region: context.region, group: input.groupName ?? "default", name: input.name)
        guard let schedule = try await database.read({ db in try ScheduleStore.schedule(db, key: key) }) else { throw Self.notFound(key) }
        return schedule
    }

    public func listSchedules(
        _ input: SchedulerAPI.ListSchedulesInput, context: RequestContext
    ) async throws -> SchedulerAPI.ListSchedulesOutput {
        let limit = Self.pages.size(input.maxResults)
        let after = try Self.pages.start(input.nextToken).map { key throws(AWSError) in
            guard key.parts.count == 2 else { throw Self.pages.invalidToken }
            return (group: key.parts[0], name: key.parts[1])
        }
        let fetched = try await database.read { db in
            try ScheduleStore.schedules(
                db, account: context.accountId, region: context.region, group: input.groupName, namePrefix: input.namePrefix,
                state: input.state?.rawValue, after: after, limit: limit + 1)
        }
        let page = Self.pages.page(fetched: fetched, size: limit) {
            PageKey($0.groupName ?? "", $0.name ?? "")
        }
        let summaries = page.items.map {
            SchedulerAPI.ScheduleSummary(
                arn: $0.arn, creationDate: $0.creationDate, groupName: $0.groupName, lastModificationDate: $0.lastModificationDate,
                name: $0.name, state: $0.state, target: $0.target.map { .init(arn: $0.arn) })
        }
        return .init(nextToken: page.nextToken, schedules: summaries)
    }

    // MARK: Schedule groups

    public func createScheduleGroup(
        _ input: SchedulerAPI.CreateScheduleGroupInput, context: RequestContext
    ) async throws -> SchedulerAPI.CreateScheduleGroupOutput {
        let arn = context.arn(service: "scheduler", resource: "schedule-group/\(input.name)")
        let now = clock.now()
        try await database.write { db in
            if try ScheduleStore.groupExists(db, account: context.accountId, region: context.region, name: input.name) {
                throw SchedulerAPI.Errors.conflictException("Schedule group \(input.name) already exists.")
            }
            try ScheduleStore.insertGroup(db, account: context.accountId, region: context.region, name: input.name, created: now)
            try ScheduleStore.addTags(db, arn: arn, input.tags ?? [])
        }
        return .init(scheduleGroupArn: arn)
    }

    public func getScheduleGroup(
        _ input: SchedulerAPI.GetScheduleGroupInput, context: RequestContext
    ) async throws -> SchedulerAPI.GetScheduleGroupOutput {
        let groups = try await listGroups(context: context, namePrefix: nil)
        guard let group = groups.first(where: { $0.name == input.name }) else { throw Self.groupNotFound(input.name) }
        return .init(
            arn: group.arn, creationDate: group.creationDate, lastModificationDate: group.lastModificationDate,
            name: group.name, state: group.state)
    }

    public func listScheduleGroups(
        _ input: SchedulerAPI.ListScheduleGroupsInput, context: RequestContext
    ) async throws -> SchedulerAPI.ListScheduleGroupsOutput {
        let all = try await listGroups(context: context, namePrefix: input.namePrefix)
        let page = try Self.pages.page(all, maxResults: input.maxResults, nextToken: input.nextToken) { PageKey($0.name ?? "") }
        return .init(nextToken: page.nextToken, scheduleGroups: page.items)
    }

    public func deleteScheduleGroup(
        _ input: SchedulerAPI.DeleteScheduleGroupInput, context: RequestContext
    ) async throws -> SchedulerAPI.DeleteScheduleGroupOutput {
        if input.name == "default" {
            throw SchedulerAPI.Errors.validationException("Cannot delete the default schedule group.")
        }
        let arn = context.arn(service: "scheduler", resource: "schedule-group/\(input.name)")
        let names: [String] = try await database.write { db in
            guard try ScheduleStore.groupExists(db, account: context.accountId, region: context.region, name: input.name) else {
                throw Self.groupNotFound(input.name)
            }
            return try ScheduleStore.deleteGroup(db, account: context.accountId, region: context.region, name: input.name, arn: arn)
        }
        for name in names { queue.remove(ScheduleKey(account: context.accountId, region: context.region, group: input.name, name: name)) }
        return .init()
    }

    func listGroups(context: RequestContext, namePrefix: String?) async throws -> [SchedulerAPI.ScheduleGroupSummary] {
        let rows = try await database.read { db in
            try ScheduleStore.groups(db, account: context.accountId, region: context.region).map { ($0.name, $0.created) }
        }
        // The default group always exists; AWS reports it created with the account.
        var groups = [("default", 0.0)] + rows
        if let namePrefix { groups = groups.filter { $0.0.hasPrefix(namePrefix) } }
        return groups.sorted { $0.0 < $1.0 }.map { name, created in
            let date = Date(timeIntervalSince1970: created)
            return .init(
                arn: context.arn(service: "scheduler", resource: "schedule-group/\(name)"), creationDate: date,
                lastModificationDate: date, name: name, state: .active)
        }
    }

    // MARK: Tags (schedule groups carry tags; schedules do not)

    public func tagResource(_ input: SchedulerAPI.TagResourceInput, context: RequestContext) async throws -> SchedulerAPI.TagResourceOutput
    {
        try await database.write { db in
            try Self.requireTaggable(db, arn: input.resourceArn)
            try ScheduleStore.addTags(db, arn: input.resourceArn, input.tags)
        }
        return .init()
    }

    public func untagResource(
        _ input: SchedulerAPI.UntagResourceInput, context: RequestContext
    ) async throws -> SchedulerAPI.UntagResourceOutput {
        try await database.write { db in
            try Self.requireTaggable(db, arn: input.resourceArn)
            try ScheduleStore.removeTags(db, arn: input.resourceArn, keys: input.tagKeys)
        }
        return .init()
    }

    public func listTagsForResource(
        _ input: SchedulerAPI.ListTagsForResourceInput, context: RequestContext
    ) async throws -> SchedulerAPI.ListTagsForResourceOutput {
        let tags = try await database.read { db in
            try Self.requireTaggable(db, arn: input.resourceArn)
            return try ScheduleStore.tags(db, arn: input.resourceArn)
        }
        return .init(tags: tags)
    }

    static func requireTaggable(_ db: Database, arn: String) throws {
        guard let parsed = ARN(arn), parsed.service == "scheduler", parsed.resourceType == "schedule-group" else {
            throw SchedulerAPI.Errors.validationException("Invalid resource ARN \(arn).")
        }
        let name = String(parsed.resource.dropFirst("schedule-group/".count))
        guard try ScheduleStore.groupExists(db, account: parsed.account, region: parsed.region, name: name) else {
            throw groupNotFound(name)
        }
    }

    // MARK: Validation and next fire times

    /// Checks a schedule as CreateSchedule and UpdateSchedule do when given `now`, the time of the request: also
    /// the rules that only hold then (a StartDate no earlier than five minutes ago) and the target's input. A
    /// stored schedule is re-read without it, leniently: one written before a check existed keeps firing.
    static func validate(_ schedule: SchedulerAPI.GetScheduleOutput, now: Date? = nil) throws -> ZonedScheduleExpression {
        let text = schedule.scheduleExpression ?? ""
        let name = schedule.scheduleExpressionTimezone ?? "UTC"
        guard let zone = now == nil ? TimeZone(identifier: name) : ScheduleTimeZone.named(name) else {
            throw SchedulerAPI.Errors.validationException(
                "Invalid ScheduleExpressionTimezone \(name): it is not an IANA time zone name such as America/New_York.")
        }
        let expression: ScheduleExpression
        do {
            expression = try ScheduleExpression(text)
        } catch {
            throw SchedulerAPI.Errors.validationException("Invalid Schedule Expression \(text). Reason: \(error.reason).")
        }
        if let window = schedule.flexibleTimeWindow {
            if window.mode == .flexible && window.maximumWindowInMinutes == nil {
                throw SchedulerAPI.Errors.validationException("MaximumWindowInMinutes must be provided when Mode is FLEXIBLE.")
            }
            if window.mode == .off && window.maximumWindowInMinutes != nil {
                throw SchedulerAPI.Errors.validationException("MaximumWindowInMinutes must not be provided when Mode is OFF.")
            }
        }
        if let start = schedule.startDate, let end = schedule.endDate, start >= end {
            throw SchedulerAPI.Errors.validationException("The StartDate must be before the EndDate.")
        }
        if let now, let start = schedule.startDate, start < now.addingTimeInterval(-300) {
            throw SchedulerAPI.Errors.validationException("The StartDate you specify cannot be earlier than 5 minutes ago.")
        }
        if let target = schedule.target {
            if target.arn.hasPrefix("arn:aws:ecs:"), target.ecsParameters == nil {
                throw SchedulerAPI.Errors.validationException("EcsParameters must be provided for an Amazon ECS target.")
            }
            if now != nil { try TargetInputCheck.validate(arn: target.arn, input: target.input) }
        }
        return ZonedScheduleExpression(expression, zone: zone)
    }

    static func retryPolicy(_ policy: SchedulerAPI.RetryPolicy?) -> SchedulerAPI.RetryPolicy {
        SchedulerAPI.RetryPolicy(
            maximumEventAgeInSeconds: policy?.maximumEventAgeInSeconds ?? 86400,
            maximumRetryAttempts: policy?.maximumRetryAttempts ?? 185)
    }

    /// The next nominal due time after `after` (or at it, `includingAfter`), within StartDate/EndDate. With
    /// `missedWindow`, a one-time schedule whose time has passed by less than its maximum event age is still due
    /// (at once).
    static func nextFire(
        _ schedule: SchedulerAPI.GetScheduleOutput, expression: ZonedScheduleExpression, after: Date, missedWindow: Bool,
        includingAfter: Bool = false
    ) -> Date? {
        if schedule.state == .disabled { return nil }
        // AWS ignores StartDate and EndDate for one-time schedules.
        let bounded = !expression.isOneTime
        let anchor = (bounded ? schedule.startDate : nil) ?? schedule.creationDate ?? after
        // Times travel with millisecond precision; a millisecond earlier includes `after` itself.
        var from = includingAfter ? after.addingTimeInterval(-0.001) : after
        if bounded, let start = schedule.startDate, start > from { from = start.addingTimeInterval(-0.001) }
        var next = expression.nextFire(after: from, anchor: anchor)
        if next == nil, missedWindow, let date = expression.oneTimeDate,
            after.timeIntervalSince(date) <= Double(schedule.target?.retryPolicy?.maximumEventAgeInSeconds ?? 86400)
        {
            next = date
        }
        if bounded, let n = next, let end = schedule.endDate, n > end { return nil }
        return next
    }

    func enqueue(_ key: ScheduleKey, schedule: SchedulerAPI.GetScheduleOutput, nominal: Date?) {
        guard let nominal, schedule.state != .disabled else { queue.remove(key); return }
        var fireAt = nominal
        let window = Self.flexibleWindow(schedule)
        if window > 0 {
            // AWS invokes a flexible schedule at a time it picks within the window after the due time.
            fireAt = nominal.addingTimeInterval(Double.random(in: 0..<window))
        }
        queue.set(key, nominal: nominal, fireAt: fireAt)
    }

    /// The seconds of a FLEXIBLE time window after each due time; 0 when the window is OFF.
    static func flexibleWindow(_ schedule: SchedulerAPI.GetScheduleOutput) -> Double {
        guard let window = schedule.flexibleTimeWindow, window.mode == .flexible, let minutes = window.maximumWindowInMinutes else {
            return 0
        }
        return Double(minutes * 60)
    }

    static func notFound(_ key: ScheduleKey) -> AWSError {
        SchedulerAPI.Errors.resourceNotFoundException("Schedule \(key.name) does not exist.")
    }

    static func groupNotFound(_ name: String) -> AWSError {
        SchedulerAPI.Errors.resourceNotFoundException("Schedule group \(name) does not exist.")
    }

    /// The pages of the list operations.
    static let pages = Paginator(invalidToken: SchedulerAPI.Errors.validationException("Invalid NextToken."))
}
