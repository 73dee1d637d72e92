import AWSProtocol
import Foundation
import GRDB
import JSONCore
import LocalCloud
import Logging
import EventPatterns
import Schedules
import TargetDelivery

/// Amazon EventBridge: event buses, rules with event patterns or schedules, and their targets (ECS RunTask,
/// Step Functions StartExecution) with Input, InputPath and InputTransformer. It is the local cloud's
/// ``EventSink``: events other services publish land on the default bus and fire the rules that match them.
///
/// Scheduled rules share Scheduler's timer design (one loop over a heap of fire times) and its missed-fire
/// rule: a fire missed while Skiff was down is delivered once if it is less than 24 hours old (EventBridge's
/// default maximum event age), several missed fires coalesced into one; older ones are dropped and the rule
/// continues on its schedule. A rate rule "starts when you create the scheduled event rule": its first fire is
/// at creation (or when it is enabled), then every interval.
public struct EventsService: LocalService, EventsAPIHandler, EventSink {
    let environment: ServiceEnvironment
    let clock: any SchedulerClock
    let queue = FireQueue()
    let patterns = PatternCache()
    let matchable = MatchableRules()

    public init(environment: ServiceEnvironment, clock: any SchedulerClock = SystemSchedulerClock()) {
        self.environment = environment
        self.clock = clock
    }

    public var descriptor: ServiceDescriptor { EventsAPI.descriptor }
    var database: CloudDatabase { environment.database }

    public func handle(operation: String, request: OperationRequest, context: RequestContext) async throws -> OperationResponse {
        defer {
            // Any operation that may change rules, targets or buses makes the copy events are matched against stale.
            if !Self.unchangingOperations.contains(operation) { matchable.removeAll() }
        }
        return try await EventsAPI.dispatch(self, operation: operation, request: request, context: context)
    }

    /// The operations that change no rule, target or bus.
    static let unchangingOperations: Set<String> = [
        "PutEvents", "TestEventPattern", "DescribeRule", "DescribeEventBus", "ListRules", "ListTargetsByRule",
        "ListRuleNamesByTarget", "ListEventBuses", "ListTagsForResource", "TagResource", "UntagResource",
    ]

    public func registerMigrations(_ migrator: inout DatabaseMigrator) {
        EventsStore.registerMigrations(&migrator)
    }

    // MARK: Names

    /// The name of a bus given by name or ARN, whatever account and region an ARN names (see ``bus(_:action:context:)``).
    static func busName(_ nameOrArn: String?) -> String {
        guard let value = nameOrArn else { return "default" }
        if value.hasPrefix("arn:"), let slash = value.lastIndex(of: "/") { return String(value[value.index(after: slash)...]) }
        return value
    }

    /// The caller's bus a request names, by name or ARN (`default` when it names none).
    ///
    /// An ARN names its account and region. Another region's bus is out of reach of this regional endpoint, as AWS
    /// answers ("Cross-region api call is not allowed."). Another account's bus is reached only through a resource
    /// policy granting `action` to the caller (PutPermission), which this local cloud does not keep: AWS's answer to
    /// a bus without such a policy is AccessDeniedException, and so is this one's — never a request applied to the
    /// caller's own bus of the same name.
    static func bus(_ nameOrArn: String?, action: String, context: RequestContext) throws -> String {
        guard let value = nameOrArn, value.hasPrefix("arn:") else { return busName(nameOrArn) }
        guard let arn = ARN(value), arn.service == "events", arn.resourceType == "event-bus", arn.resource.count > "event-bus/".count else {
            throw AWSError.validation("Parameter \(value) is not valid. Reason: Provided Arn is not in correct format.")
        }
        let (region, account) = (arn.region, arn.account)
        if region != context.region {
            throw AWSError.validation("Cross-region api call is not allowed.")
        }
        if account != context.accountId {
            throw EventsAPI.Errors.accessDeniedException(
                "User: arn:aws:iam::\(context.accountId):root is not authorized to perform: events:\(action) "
                    + "on resource: \(value) because no resource-based policy allows the events:\(action) action")
        }
        return String(arn.resource.dropFirst("event-bus/".count))
    }

    static func ruleArn(_ context: RequestContext, bus: String, name: String) -> String {
        context.arn(service: "events", resource: bus == "default" ? "rule/\(name)" : "rule/\(bus)/\(name)")
    }

    /// A rule's schedule: `rate()` or `cron()`, in UTC (rules take no `at()` and no time zone).
    static func parseSchedule(_ text: String) throws -> ZonedScheduleExpression {
        guard let expression = try? ScheduleExpression(text), !expression.isOneTime else {
            throw AWSError.validation("Parameter ScheduleExpression is not valid.")
        }
        return ZonedScheduleExpression(expression, zone: TimeZone(identifier: "UTC")!)
    }

    /// The pages of the list operations. EventBridge's answer to a NextToken it did not issue: "Using an expired
    /// pagination token results in an HTTP 400 InvalidToken error".
    static let pages = Paginator(invalidToken: AWSError("InvalidToken", "The NextToken is not valid."))

    static func ruleNotFound(_ name: String, bus: String) -> AWSError {
        EventsAPI.Errors.resourceNotFoundException("Rule \(name) does not exist on EventBus \(bus).")
    }

    static func busNotFound(_ name: String) -> AWSError {
        EventsAPI.Errors.resourceNotFoundException("Event bus \(name) does not exist.")
    }

    // MARK: Rules

    public func putRule(_ input: EventsAPI.PutRuleRequest, context: RequestContext) async throws -> EventsAPI.PutRuleResponse {
        let bus = try Self.bus(input.eventBusName, action: "PutRule", context: context)
        if input.scheduleExpression == nil && input.eventPattern == nil {
            throw AWSError.validation("Parameter(s) EventPattern or ScheduleExpression must be specified.")
        }
        if let pattern = input.eventPattern { _ = try patterns.compile(pattern) }
        var expression: ZonedScheduleExpression?
        if let text = input.scheduleExpression {
            if bus != "default" { throw AWSError.validation("ScheduleExpression is supported only on the default event bus.") }
            expression = try Self.parseSchedule(text)
        }
        let arn = Self.ruleArn(context, bus: bus, name: input.name)
        let rule = EventsAPI.DescribeRuleResponse(
            name: input.name, arn: arn, eventPattern: input.eventPattern, scheduleExpression: input.scheduleExpression,
            state: input.state ?? .enabled, description: input.description, roleArn: input.roleArn, eventBusName: bus,
            createdBy: context.accountId)
        let now = clock.now()
        let schedule = expression
        let next: Date? = try await database.write { db in
            guard try EventsStore.busExists(db, account: context.accountId, region: context.region, name: bus) else {
                throw Self.busNotFound(bus)
            }
            let old = try EventsStore.storedRule(db, account: context.accountId, region: context.region, bus: bus, name: input.name)
            let previous = old?.rule
            var next: Date?
            if rule.state == .enabled, let schedule {
                if let previous, previous.state == .enabled, previous.scheduleExpression == rule.scheduleExpression,
                    let kept = old?.nextFire
                {
                    // The same schedule, still enabled: it keeps its place (a rate rule its phase).
                    next = Date(timeIntervalSince1970: kept)
                } else {
                    next = Self.firstFire(schedule, from: now)
                }
            }
            try EventsStore.saveRule(db, account: context.accountId, region: context.region, bus: bus, rule, nextFire: next)
            // PutRule: "If you are updating an existing rule, any tags you specify in the PutRule operation are ignored."
            if previous == nil { try EventsStore.addTags(db, arn: arn, input.tags ?? []) }
            return next
        }
        let key = ScheduleKey(account: context.accountId, region: context.region, group: bus, name: input.name)
        if let next { queue.set(key, nominal: next, fireAt: next) } else { queue.remove(key) }
        return .init(ruleArn: arn)
    }

    /// The first fire of a schedule that starts at `now`: a rate rule at once (its first occurrence is its start),
    /// a cron rule at its next matching minute.
    static func firstFire(_ expression: ZonedScheduleExpression, from now: Date) -> Date? {
        expression.nextFire(after: now.addingTimeInterval(-0.001), anchor: now)
    }

    public func describeRule(_ input: EventsAPI.DescribeRuleRequest, context: RequestContext) async throws -> EventsAPI.DescribeRuleResponse
    {
        let bus = try Self.bus(input.eventBusName, action: "DescribeRule", context: context)
        guard
            let rule = try await database.read({ db in
                try EventsStore.rule(db, account: context.accountId, region: context.region, bus: bus, name: input.name)
            })
        else { throw Self.ruleNotFound(input.name, bus: bus) }
        return rule
    }

    public func listRules(_ input: EventsAPI.ListRulesRequest, context: RequestContext) async throws -> EventsAPI.ListRulesResponse {
        let bus = try Self.bus(input.eventBusName, action: "ListRules", context: context)
        let limit = Self.pages.size(input.limit)
        let after = try Self.pages.start(input.nextToken)?.parts.first ?? ""
        let fetched: [EventsAPI.DescribeRuleResponse] = try await database.read { db in
            guard try EventsStore.busExists(db, account: context.accountId, region: context.region, name: bus) else {
                throw Self.busNotFound(bus)
            }
            return try EventsStore.rules(
                db, account: context.accountId, region: context.region, bus: bus, after: after,
                prefix: input.namePrefix ?? "", limit: limit + 1)
        }
        let rules = Self.pages.page(fetched: fetched, size: limit) {
            PageKey($0.name ?? "")
        }
        let summaries = rules.items.map {
            EventsAPI.Rule(
                name: $0.name, arn: $0.arn, eventPattern: $0.eventPattern, state: $0.state, description: $0.description,
                scheduleExpression: $0.scheduleExpression, roleArn: $0.roleArn, eventBusName: $0.eventBusName)
        }
        return .init(rules: summaries, nextToken: rules.nextToken)
    }

    public func enableRule(_ input: EventsAPI.EnableRuleRequest, context: RequestContext) async throws -> EmptyShape {
        try await setState(
            .enabled, name: input.name, bus: try Self.bus(input.eventBusName, action: "EnableRule", context: context), context: context)
        return .init()
    }

    public func disableRule(_ input: EventsAPI.DisableRuleRequest, context: RequestContext) async throws -> EmptyShape {
        try await setState(
            .disabled, name: input.name, bus: try Self.bus(input.eventBusName, action: "DisableRule", context: context), context: context)
        return .init()
    }

    func setState(_ state: EventsAPI.RuleState, name: String, bus: String, context: RequestContext) async throws {
        let now = clock.now()
        let next: Date? = try await database.write { db in
            guard let found = try EventsStore.storedRule(db, account: context.accountId, region: context.region, bus: bus, name: name)
            else {
                throw Self.ruleNotFound(name, bus: bus)
            }
            var rule = found.rule
            let stored = found.nextFire
            let wasEnabled = rule.state == .enabled
            rule.state = state
            var next: Date?
            if state == .enabled, let text = rule.scheduleExpression {
                // Enabling starts the schedule as creating it does; enabling an enabled rule changes nothing.
                next =
                    try wasEnabled && stored != nil
                    ? stored.map(Date.init(timeIntervalSince1970:)) : Self.firstFire(Self.parseSchedule(text), from: now)
            }
            try EventsStore.saveRule(db, account: context.accountId, region: context.region, bus: bus, rule, nextFire: next)
            return next
        }
        let key = ScheduleKey(account: context.accountId, region: context.region, group: bus, name: name)
        if let next { queue.set(key, nominal: next, fireAt: next) } else { queue.remove(key) }
    }

    public func deleteRule(_ input: EventsAPI.DeleteRuleRequest, context: RequestContext) async throws -> EmptyShape {
        let bus = try Self.bus(input.eventBusName, action: "DeleteRule", context: context)
        try await database.write { db in
            // Deleting a rule that does not exist succeeds, as in AWS.
            let targets = try EventsStore.targetCount(db, account: context.accountId, region: context.region, bus: bus, rule: input.name)
            if targets > 0 && input.force != true { throw AWSError.validation("Rule can't be deleted since it has targets.") }
            try EventsStore.deleteRule(
                db, account: context.accountId, region: context.region, bus: bus, name: input.name,
                arn: Self.ruleArn(context, bus: bus, name: input.name))
        }
        queue.remove(ScheduleKey(account: context.accountId, region: context.region, group: bus, name: input.name))
        return .init()
    }

    // MARK: Targets

    /// Why `text` is not JSON text, or nil when it is.
    static func jsonProblem(_ text: String) -> String? {
        do { _ = try JSON(parsing: text); return nil } catch { return "\(error)" }
    }

    public func putTargets(_ input: EventsAPI.PutTargetsRequest, context: RequestContext) async throws -> EventsAPI.PutTargetsResponse {
        let bus = try Self.bus(input.eventBusName, action: "PutTargets", context: context)
        var failed: [EventsAPI.PutTargetsResultEntry] = []
        var accepted: [EventsAPI.Target] = []
        for target in input.targets {
            if target.arn.hasPrefix("arn:aws:ecs:") && target.ecsParameters == nil {
                failed.append(
                    .init(
                        targetId: target.id, errorCode: "ValidationException",
                        errorMessage: "EcsParameters must be specified for an Amazon ECS target."))
            } else if [target.input != nil, target.inputPath != nil, target.inputTransformer != nil].filter({ $0 }).count > 1 {
                failed.append(
                    .init(
                        targetId: target.id, errorCode: "ValidationException",
                        errorMessage: "Only one of Input, InputPath, or InputTransformer can be specified."))
            } else if let text = target.input, let problem = Self.jsonProblem(text) {
                // Input is "valid JSON text passed to the target": refused here rather than failing at every event.
                failed.append(
                    .init(
                        targetId: target.id, errorCode: "ValidationException",
                        errorMessage: "Input for target \(target.id) is not valid JSON text: \(problem)."))
            } else {
                accepted.append(target)
            }
        }
        let kept = accepted
        try await database.write { db in
            guard try EventsStore.rule(db, account: context.accountId, region: context.region, bus: bus, name: input.rule) != nil else {
                throw Self.ruleNotFound(input.rule, bus: bus)
            }
            // EventBridge invokes these targets as the role the target names; without one AWS refuses the whole request.
            if let target = input.targets.first(where: { $0.roleArn == nil && Self.needsRole($0.arn) }) {
                throw AWSError.validation("RoleArn is required for target \(target.arn).")
            }
            for target in kept {
                try EventsStore.saveTarget(db, account: context.accountId, region: context.region, bus: bus, rule: input.rule, target)
            }
            if try EventsStore.targetCount(db, account: context.accountId, region: context.region, bus: bus, rule: input.rule) > 5 {
                throw EventsAPI.Errors.limitExceededException("The requested resource exceeds the maximum number allowed.")
            }
        }
        return .init(failedEntryCount: failed.count, failedEntries: failed)
    }

    public func removeTargets(
        _ input: EventsAPI.RemoveTargetsRequest, context: RequestContext
    ) async throws -> EventsAPI.RemoveTargetsResponse {
        let bus = try Self.bus(input.eventBusName, action: "RemoveTargets", context: context)
        try await database.write { db in
            guard try EventsStore.rule(db, account: context.accountId, region: context.region, bus: bus, name: input.rule) != nil else {
                throw Self.ruleNotFound(input.rule, bus: bus)
            }
            for id in input.ids {
                try EventsStore.deleteTarget(db, account: context.accountId, region: context.region, bus: bus, rule: input.rule, id: id)
            }
        }
        return .init(failedEntryCount: 0, failedEntries: [])
    }

    /// Targets EventBridge invokes by assuming the target's role (PutTargets: "EC2 instances, Kinesis Data Streams,
    /// Step Functions state machines and API Gateway APIs"; ECS tasks, Batch jobs, Firehose, CodeBuild,
    /// CodePipeline, Systems Manager, Redshift Data and SageMaker pipelines likewise), as opposed to those that
    /// let EventBridge in through a resource policy (Lambda, SNS, SQS, CloudWatch Logs, an event bus of the account).
    static let roleBasedServices: Set<String> = [
        "ecs", "states", "kinesis", "firehose", "ec2", "execute-api", "batch", "codebuild", "codepipeline", "ssm", "ssm-incidents",
        "redshift", "sagemaker",
    ]

    static func needsRole(_ arn: String) -> Bool {
        ARN(arn).map { roleBasedServices.contains($0.service) } ?? false
    }

    public func listTargetsByRule(
        _ input: EventsAPI.ListTargetsByRuleRequest, context: RequestContext
    ) async throws -> EventsAPI.ListTargetsByRuleResponse {
        let bus = try Self.bus(input.eventBusName, action: "ListTargetsByRule", context: context)
        let targets = try await database.read { db in
            guard try EventsStore.rule(db, account: context.accountId, region: context.region, bus: bus, name: input.rule) != nil else {
                throw Self.ruleNotFound(input.rule, bus: bus)
            }
            return try EventsStore.targets(db, account: context.accountId, region: context.region, bus: bus, rule: input.rule)
        }
        let page = try Self.pages.page(targets, maxResults: input.limit, nextToken: input.nextToken) { PageKey($0.id) }
        return .init(targets: page.items, nextToken: page.nextToken)
    }

    public func listRuleNamesByTarget(
        _ input: EventsAPI.ListRuleNamesByTargetRequest, context: RequestContext
    ) async throws -> EventsAPI.ListRuleNamesByTargetResponse {
        let bus = try Self.bus(input.eventBusName, action: "ListRuleNamesByTarget", context: context)
        let limit = Self.pages.size(input.limit)
        let after = try Self.pages.start(input.nextToken)?.parts.first ?? ""
        let names: [String] = try await database.read { db in
            guard try EventsStore.busExists(db, account: context.accountId, region: context.region, name: bus) else {
                throw Self.busNotFound(bus)
            }
            return try EventsStore.ruleNames(
                db, account: context.accountId, region: context.region, bus: bus, targetArn: input.targetArn,
                after: after, limit: limit + 1)
        }
        let page = Self.pages.page(fetched: names, size: limit) { PageKey($0) }
        return .init(ruleNames: page.items, nextToken: page.nextToken)
    }

    // MARK: Buses

    public func createEventBus(
        _ input: EventsAPI.CreateEventBusRequest, context: RequestContext
    ) async throws -> EventsAPI.CreateEventBusResponse {
        let now = clock.now()
        try await database.write { db in
            if try EventsStore.busExists(db, account: context.accountId, region: context.region, name: input.name) {
                throw EventsAPI.Errors.resourceAlreadyExistsException("Event bus \(input.name) already exists.")
            }
            try EventsStore.insertBus(
                db, account: context.accountId, region: context.region, name: input.name, description: input.description, created: now)
            try EventsStore.addTags(db, arn: context.arn(service: "events", resource: "event-bus/\(input.name)"), input.tags ?? [])
        }
        return .init(eventBusArn: context.arn(service: "events", resource: "event-bus/\(input.name)"), description: input.description)
    }

    public func describeEventBus(
        _ input: EventsAPI.DescribeEventBusRequest, context: RequestContext
    ) async throws -> EventsAPI.DescribeEventBusResponse {
        let name = try Self.bus(input.name, action: "DescribeEventBus", context: context)
        guard let bus = try await buses(context: context, prefix: nil).first(where: { $0.name == name }) else {
            throw Self.busNotFound(name)
        }
        return .init(
            name: bus.name, arn: bus.arn, description: bus.description, creationTime: bus.creationTime,
            lastModifiedTime: bus.lastModifiedTime)
    }

    public func listEventBuses(
        _ input: EventsAPI.ListEventBusesRequest, context: RequestContext
    ) async throws -> EventsAPI.ListEventBusesResponse {
        let all = try await buses(context: context, prefix: input.namePrefix)
        let page = try Self.pages.page(all, maxResults: input.limit, nextToken: input.nextToken) { PageKey($0.name ?? "") }
        return .init(eventBuses: page.items, nextToken: page.nextToken)
    }

    func buses(context: RequestContext, prefix: String?) async throws -> [EventsAPI.EventBus] {
        let rows = try await database.read { db in
            try EventsStore.buses(db, account: context.accountId, region: context.region).map { ($0.name, $0.description, $0.created) }
        }
        return ([("default", nil, 0)] + rows).filter { $0.0.hasPrefix(prefix ?? "") }.sorted { $0.0 < $1.0 }.map {
            name, description, created in
            EventsAPI.EventBus(
                name: name, arn: context.arn(service: "events", resource: "event-bus/\(name)"), description: description,
                creationTime: Date(timeIntervalSince1970: created), lastModifiedTime: Date(timeIntervalSince1970: created))
        }
    }

    public func deleteEventBus(_ input: EventsAPI.DeleteEventBusRequest, context: RequestContext) async throws -> EmptyShape {
        if input.name == "default" { throw AWSError.validation("Cannot delete event bus default.") }
        try await database.write { db in
            let rules = try EventsStore.ruleCount(db, account: context.accountId, region: context.region, bus: input.name)
            if rules > 0 { throw AWSError.validation("Cannot delete event bus \(input.name) because it has rules.") }
            try EventsStore.deleteBus(
                db, account: context.accountId, region: context.region, name: input.name,
                arn: context.arn(service: "events", resource: "event-bus/\(input.name)"))
        }
        return .init()
    }

    // MARK: Tags (rules and event buses)

    public func tagResource(_ input: EventsAPI.TagResourceRequest, context: RequestContext) async throws -> EventsAPI.TagResourceResponse {
        try await database.write { db in
            try Self.requireTaggable(db, arn: input.resourceARN)
            try EventsStore.addTags(db, arn: input.resourceARN, input.tags)
        }
        return .init()
    }

    public func untagResource(
        _ input: EventsAPI.UntagResourceRequest, context: RequestContext
    ) async throws -> EventsAPI.UntagResourceResponse {
        try await database.write { db in
            try Self.requireTaggable(db, arn: input.resourceARN)
            try EventsStore.removeTags(db, arn: input.resourceARN, keys: input.tagKeys)
        }
        return .init()
    }

    public func listTagsForResource(
        _ input: EventsAPI.ListTagsForResourceRequest, context: RequestContext
    ) async throws -> EventsAPI.ListTagsForResourceResponse {
        let tags = try await database.read { db in
            try Self.requireTaggable(db, arn: input.resourceARN)
            return try EventsStore.tags(db, arn: input.resourceARN)
        }
        return .init(tags: tags)
    }

    /// A rule (`rule/name`, `rule/bus/name`) or event bus (`event-bus/name`) ARN that exists.
    static func requireTaggable(_ db: Database, arn: String) throws {
        guard let parsed = ARN(arn), parsed.service == "events" else {
            throw AWSError.validation("Parameter ResourceARN is not valid.")
        }
        let (region, account) = (parsed.region, parsed.account)
        let path = parsed.resource.split(separator: "/").map(String.init)
        switch (path.first, path.count) {
        case ("rule", 2), ("rule", 3):
            let bus = path.count == 3 ? path[1] : "default"
            guard try EventsStore.rule(db, account: account, region: region, bus: bus, name: path.last!) != nil else {
                throw ruleNotFound(path.last!, bus: bus)
            }
        case ("event-bus", 2):
            guard try EventsStore.busExists(db, account: account, region: region, name: path[1]) else { throw busNotFound(path[1]) }
        default:
            throw AWSError.validation("Parameter ResourceARN is not valid.")
        }
    }

    // MARK: Events

    public func testEventPattern(
        _ input: EventsAPI.TestEventPatternRequest, context: RequestContext
    ) async throws -> EventsAPI.TestEventPatternResponse {
        let pattern = try patterns.compile(input.eventPattern)
        // The pattern's faults are InvalidEventPatternException; the event's are a ValidationException on Event.
        guard let event = try? JSON(parsing: input.event), case .object(let o) = event else {
            throw AWSError.validation("Parameter Event is not valid. Reason: Event is not a JSON object.")
        }
        // The fields the model calls mandatory ("id, account, source, time, region, resources, detail-type").
        for field in ["id", "account", "source", "time", "region", "resources", "detail-type"] where o[field] == nil {
            throw AWSError.validation("Parameter Event is not valid. Reason: Provided Event is missing required field \(field).")
        }
        return .init(result: pattern.matches(event))
    }

    /// The most a PutEvents request's entries may weigh, counted as "Calculating PutEvents event entry size"
    /// says. AWS raised it from 256 KB to 1 MB in January 2026 ("More room to build: serverless services now
    /// support payloads up to 1 MB", AWS Compute Blog); an entry of exactly 1 MB is accepted.
    static let maximumEntriesSize = 1_048_576

    /// An entry's size: 14 bytes for a Time, then the UTF-8 bytes of Source, DetailType, Detail and each resource.
    static func size(of entry: EventsAPI.PutEventsRequestEntry) -> Int {
        (entry.time == nil ? 0 : 14) + (entry.source?.utf8.count ?? 0) + (entry.detailType?.utf8.count ?? 0)
            + (entry.detail?.utf8.count ?? 0) + (entry.resources ?? []).reduce(0) { $0 + $1.utf8.count }
    }

    public func putEvents(_ input: EventsAPI.PutEventsRequest, context: RequestContext) async throws -> EventsAPI.PutEventsResponse {
        if input.entries.reduce(0, { $0 + Self.size(of: $1) }) > Self.maximumEntriesSize {
            throw AWSError.validation("Total size of the entries in the request is over the limit.")
        }
        // "If you submit a request in which none of the entries have each of these properties, EventBridge fails
        // the entire request."
        func isComplete(_ entry: EventsAPI.PutEventsRequestEntry) -> Bool {
            !(entry.source ?? "").isEmpty && !(entry.detailType ?? "").isEmpty && !(entry.detail ?? "").isEmpty
        }
        if !input.entries.contains(where: isComplete) {
            throw AWSError.validation(
                "Parameter Entries is not valid. Reason: no entry has all of Source, DetailType and Detail, which EventBridge needs to send an event."
            )
        }
        let ingested = clock.now()
        var results: [EventsAPI.PutEventsResultEntry] = []
        for entry in input.entries {
            guard let source = entry.source, !source.isEmpty else {
                results.append(
                    .init(
                        errorCode: "InvalidArgument", errorMessage: "Parameter Source is not valid. Reason: Source is a required argument.")
                ); continue
            }
            guard let detailType = entry.detailType, !detailType.isEmpty else {
                results.append(
                    .init(
                        errorCode: "InvalidArgument",
                        errorMessage: "Parameter DetailType is not valid. Reason: DetailType is a required argument."));
                continue
            }
            guard let text = entry.detail, !text.isEmpty else {
                results.append(
                    .init(
                        errorCode: "InvalidArgument", errorMessage: "Parameter Detail is not valid. Reason: Detail is a required argument.")
                ); continue
            }
            // Sources beginning with aws. belong to AWS services; an account cannot publish as one.
            guard !source.hasPrefix("aws.") else {
                results.append(.init(errorCode: "NotAuthorizedForSourceException", errorMessage: "Not authorized for the source."));
                continue
            }
            guard let detail = try? JSON(parsing: text), detail.objectValue != nil else {
                results.append(.init(errorCode: "MalformedDetail", errorMessage: "Detail is malformed.")); continue
            }
            // Another account's or region's bus fails its entry rather than land on the caller's bus of that name.
            let bus: String
            do {
                bus = try Self.bus(entry.eventBusName, action: "PutEvents", context: context)
            } catch let error as AWSError {
                results.append(
                    error.code == "ValidationException"
                        ? .init(errorCode: "InvalidArgument", errorMessage: "Parameter EventBusName is not valid. Reason: \(error.message)")
                        : .init(errorCode: error.code, errorMessage: error.message))
                continue
            }
            let id = RandomUUID.make()
            let event = Self.event(
                id: id, source: source, detailType: detailType, detail: detail, resources: entry.resources ?? [],
                time: entry.time ?? ingested, context: context)
            do {
                try await deliver(event, bus: bus, ingested: ingested, context: context)
                results.append(.init(eventId: id))
            } catch let error as AWSError {
                results.append(.init(errorCode: error.code, errorMessage: error.message))
            }
        }
        return .init(failedEntryCount: results.filter { $0.errorCode != nil }.count, entries: results)
    }

    /// Events other services publish (Step Functions status changes, ECS task state changes) go to the default bus.
    public var eventSink: (any EventSink)? { self }

    public func receive(_ event: ServiceEvent, context: RequestContext) async {
        let now = clock.now()
        let json = Self.event(
            id: RandomUUID.make(), source: event.source, detailType: event.detailType, detail: event.detail,
            resources: event.resources, time: now, context: context)
        try? await deliver(json, bus: "default", ingested: now, context: context)
    }

    static func event(
        id: String, source: String, detailType: String, detail: JSON, resources: [String], time: Date, context: RequestContext
    ) -> JSON {
        .object([
            "version": "0", "id": .string(id), "detail-type": .string(detailType), "source": .string(source),
            "account": .string(context.accountId), "time": .string(UTCTimestamp.iso8601(secondsSince1970: time.timeIntervalSince1970)),
            "region": .string(context.region),
            "resources": .array(resources.map(JSON.string)), "detail": detail,
        ])
    }

    public func hasRules(context: RequestContext) async -> Bool {
        (try? await matchableRules(bus: "default", context: context).isEmpty) == false
    }

    /// The enabled pattern rules of `bus`, with their targets. Every event of every service comes this way: they
    /// are read once and kept until a rule, target or bus changes.
    func matchableRules(bus: String, context: RequestContext) async throws -> [MatchableRule] {
        let key = MatchableRule.Bus(account: context.accountId, region: context.region, bus: bus)
        let (known, generation) = matchable.value(for: key)
        if let known { return known }
        let rules = try await database.read { db in
            guard try EventsStore.busExists(db, account: context.accountId, region: context.region, name: bus) else {
                throw Self.busNotFound(bus)
            }
            return try EventsStore.allRules(db, account: context.accountId, region: context.region, bus: bus).compactMap {
                rule -> MatchableRule? in
                guard rule.state == .enabled, let pattern = rule.eventPattern, let parsed = try? patterns.compile(pattern),
                    let name = rule.name
                else { return nil }
                return MatchableRule(
                    rule: rule, pattern: parsed,
                    targets: try EventsStore.targets(db, account: context.accountId, region: context.region, bus: bus, rule: name))
            }
        }
        matchable.keep(rules, for: key, readAt: generation)
        return rules
    }

    /// Fires the targets of every enabled rule of `bus` whose pattern matches `event`, received at `ingested`.
    func deliver(_ event: JSON, bus: String, ingested: Date, context: RequestContext) async throws {
        let rules = try await matchableRules(bus: bus, context: context)
        for match in rules where match.pattern.matches(event) {
            let (rule, targets) = (match.rule, match.targets)
            let source = InputTemplate.Context(ruleName: rule.name ?? "", ruleArn: rule.arn ?? "", ingestionTime: ingested)
            for target in targets {
                Task { await invokeWithRetries(target, event: event, rule: source, context: context) }
            }
        }
    }
}
