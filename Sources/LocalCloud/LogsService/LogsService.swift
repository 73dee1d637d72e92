import AWSProtocol
import Foundation
import GRDB
import JSONCore
import LocalCloud

/// Amazon CloudWatch Logs: log groups with retention, log streams, and their events, read back in order
/// (`GetLogEvents`, as `aws logs get-log-events` and `aws logs tail` read them) or searched with filter patterns.
public struct LogsService: LocalService, LogsAPIHandler {
    let store: LogStore
    let environment: ServiceEnvironment

    public init(environment: ServiceEnvironment) {
        self.environment = environment
        self.store = LogStore(database: environment.database)
    }

    public var descriptor: ServiceDescriptor { LogsAPI.descriptor }
    public var validationErrorCode: String { "InvalidParameterException" }

    public func handle(operation: String, request: OperationRequest, context: RequestContext) async throws -> OperationResponse {
        try await LogsAPI.dispatch(self, operation: operation, request: request, context: context)
    }

    public func registerMigrations(_ migrator: inout DatabaseMigrator) {
        LogStore.registerMigrations(&migrator)
    }

    /// Deletes events older than their group's retention, once a minute.
    public func run() async throws {
        while !Task.isCancelled {
            do {
                try await store.purgeExpired(now: Self.now())
            } catch {
                environment.logger.warning("logs retention purge failed", metadata: ["error": "\(error)"])
            }
            try await Task.sleep(for: .seconds(60))
        }
    }

    static func now() -> Int { Int((Date().timeIntervalSince1970 * 1000).rounded()) }

    /// The retention periods AWS accepts, in days.
    static let retentionDays = [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653]

    static func validateGroupName(_ name: String, member: String = "logGroupName") throws {
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-/#")
        guard !name.isEmpty, name.count <= 512, name.allSatisfy({ allowed.contains($0) }) else {
            throw LogsAPI.Errors.invalidParameterException(
                "1 validation error detected: Value '\(name)' at '\(member)' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\.\\-_/#A-Za-z0-9]+"
            )
        }
    }

    static func validateStreamName(_ name: String) throws {
        guard !name.isEmpty, name.count <= 512, !name.contains(":"), !name.contains("*") else {
            throw LogsAPI.Errors.invalidParameterException(
                "1 validation error detected: Value '\(name)' at 'logStreamName' failed to satisfy constraint: Member must satisfy regular expression pattern: [^:*]*"
            )
        }
    }

    /// The group a request names by `logGroupName` or `logGroupIdentifier` (a name or an ARN).
    static func groupName(name: String?, identifier: String?) throws -> String {
        switch (name, identifier) {
        case (let name?, nil): return name
        case (nil, let identifier?):
            if identifier.hasPrefix("arn:"), let range = identifier.range(of: ":log-group:") {
                var rest = String(identifier[range.upperBound...])
                if rest.hasSuffix(":*") { rest.removeLast(2) }
                return rest
            }
            return identifier
        case (nil, nil):
            throw LogsAPI.Errors.invalidParameterException("Either logGroupName or logGroupIdentifier must be specified.")
        default:
            throw LogsAPI.Errors.invalidParameterException("LogGroupName and LogGroupIdentifier are mutually exclusive parameters.")
        }
    }

    /// The pages of DescribeLogGroups, DescribeLogStreams and FilterLogEvents. (GetLogEvents answers AWS's own
    /// forward and backward tokens, ``EventCursor``: a cursor in either direction rather than a next page.)
    static let pages = Paginator(
        invalidToken: LogsAPI.Errors.invalidParameterException("The specified nextToken is invalid."), defaultPageSize: 50)

    static func groupNotFound() -> AWSError { LogsAPI.Errors.resourceNotFoundException("The specified log group does not exist.") }
    static func streamNotFound() -> AWSError { LogsAPI.Errors.resourceNotFoundException("The specified log stream does not exist.") }

    // MARK: Log groups

    public func createLogGroup(_ input: LogsAPI.CreateLogGroupRequest, context: RequestContext) async throws -> EmptyShape {
        try Self.validateGroupName(input.logGroupName)
        if let logGroupClass = input.logGroupClass, logGroupClass.modeledCase == nil {
            throw LogsAPI.Errors.invalidParameterException(
                "1 validation error detected: Value '\(logGroupClass)' at 'logGroupClass' failed to satisfy constraint: Member must satisfy enum value set: [STANDARD, INFREQUENT_ACCESS, DELIVERY]"
            )
        }
        let created = try await store.createGroup(
            account: context.accountId, region: context.region, name: input.logGroupName,
            logGroupClass: input.logGroupClass ?? .standard, kmsKeyId: input.kmsKeyId, tags: input.tags ?? [:], now: Self.now())
        guard created else { throw LogsAPI.Errors.resourceAlreadyExistsException("The specified log group already exists") }
        return EmptyShape()
    }

    public func deleteLogGroup(_ input: LogsAPI.DeleteLogGroupRequest, context: RequestContext) async throws -> EmptyShape {
        guard try await store.deleteGroup(account: context.accountId, region: context.region, name: input.logGroupName) else {
            throw Self.groupNotFound()
        }
        return EmptyShape()
    }

    public func describeLogGroups(
        _ input: LogsAPI.DescribeLogGroupsRequest, context: RequestContext
    ) async throws -> LogsAPI.DescribeLogGroupsResponse {
        if input.logGroupNamePrefix != nil && input.logGroupNamePattern != nil {
            throw LogsAPI.Errors.invalidParameterException("LogGroupNamePrefix and LogGroupNamePattern are mutually exclusive parameters.")
        }
        let limit = Self.pages.size(input.limit)
        let after = try Self.pages.start(input.nextToken)?.parts.first
        let names = try input.logGroupIdentifiers.map { try $0.map { try Self.groupName(name: nil, identifier: $0) } }
        let groups = try await store.groups(
            account: context.accountId, region: context.region, prefix: input.logGroupNamePrefix,
            pattern: input.logGroupNamePattern, names: names, logGroupClass: input.logGroupClass, after: after, limit: limit + 1)
        let page = Self.pages.page(fetched: groups, size: limit) { PageKey($0.name) }
        return .init(logGroups: page.items.map { $0.shape(context: context) }, nextToken: page.nextToken)
    }

    public func putRetentionPolicy(_ input: LogsAPI.PutRetentionPolicyRequest, context: RequestContext) async throws -> EmptyShape {
        guard Self.retentionDays.contains(input.retentionInDays) else {
            throw LogsAPI.Errors.invalidParameterException(
                "1 validation error detected: Value '\(input.retentionInDays)' at 'retentionInDays' failed to satisfy constraint: Member must satisfy enum value set: [\(Self.retentionDays.map(String.init).joined(separator: ", "))]"
            )
        }
        guard
            try await store.setRetention(
                account: context.accountId, region: context.region, group: input.logGroupName, days: input.retentionInDays)
        else {
            throw Self.groupNotFound()
        }
        try await store.purgeExpired(now: Self.now())
        return EmptyShape()
    }

    public func deleteRetentionPolicy(_ input: LogsAPI.DeleteRetentionPolicyRequest, context: RequestContext) async throws -> EmptyShape {
        guard try await store.setRetention(account: context.accountId, region: context.region, group: input.logGroupName, days: nil) else {
            throw Self.groupNotFound()
        }
        return EmptyShape()
    }

    // MARK: Tags (log groups)

    public func tagResource(_ input: LogsAPI.TagResourceRequest, context: RequestContext) async throws -> EmptyShape {
        let name = try Self.taggedGroup(input.resourceArn, context: context)
        try await changeTags(of: name, adding: input.tags, removing: [], context: context)
        return EmptyShape()
    }

    public func untagResource(_ input: LogsAPI.UntagResourceRequest, context: RequestContext) async throws -> EmptyShape {
        let name = try Self.taggedGroup(input.resourceArn, context: context)
        try await changeTags(of: name, adding: [:], removing: input.tagKeys, context: context)
        return EmptyShape()
    }

    public func listTagsForResource(
        _ input: LogsAPI.ListTagsForResourceRequest, context: RequestContext
    ) async throws -> LogsAPI.ListTagsForResourceResponse {
        .init(tags: try await tags(of: try Self.taggedGroup(input.resourceArn, context: context), context: context))
    }

    /// TagLogGroup, UntagLogGroup and ListTagsLogGroup: the group's tags by its name, as before TagResource existed
    /// (deprecated by AWS, still answered).
    public func tagLogGroup(_ input: LogsAPI.TagLogGroupRequest, context: RequestContext) async throws -> EmptyShape {
        try await changeTags(of: input.logGroupName, adding: input.tags, removing: [], context: context)
        return EmptyShape()
    }

    public func untagLogGroup(_ input: LogsAPI.UntagLogGroupRequest, context: RequestContext) async throws -> EmptyShape {
        try await changeTags(of: input.logGroupName, adding: [:], removing: input.tags, context: context)
        return EmptyShape()
    }

    public func listTagsLogGroup(
        _ input: LogsAPI.ListTagsLogGroupRequest, context: RequestContext
    ) async throws -> LogsAPI.ListTagsLogGroupResponse {
        .init(tags: try await tags(of: input.logGroupName, context: context))
    }

    private func tags(of group: String, context: RequestContext) async throws -> [String: String] {
        guard let tags = try await store.groupTags(account: context.accountId, region: context.region, name: group) else {
            throw Self.groupNotFound()
        }
        return tags
    }

    private func changeTags(of group: String, adding: [String: String], removing: [String], context: RequestContext) async throws {
        guard
            try await store.changeGroupTags(
                account: context.accountId, region: context.region, name: group, adding: adding, removing: removing)
        else { throw Self.groupNotFound() }
    }

    /// The name of the caller's log group a tagging ARN names: `arn:aws:logs:<region>:<account>:log-group:<name>`,
    /// as DescribeLogGroups answers `logGroupArn` (its `arn`, ending in `:*`, is refused by the model's pattern).
    /// Log groups are the only resources of CloudWatch Logs the local cloud keeps.
    static func taggedGroup(_ text: String, context: RequestContext) throws -> String {
        guard let arn = ARN(text), arn.service == "logs", arn.resourceType == "log-group" else {
            throw LogsAPI.Errors.invalidParameterException("The specified resource ARN \(text) is not valid.")
        }
        let name = arn.resource.dropFirst("log-group:".count)
        guard arn.account == context.accountId, arn.region == context.region, !name.isEmpty else { throw groupNotFound() }
        return String(name)
    }

    // MARK: Log streams

    public func createLogStream(_ input: LogsAPI.CreateLogStreamRequest, context: RequestContext) async throws -> EmptyShape {
        try Self.validateStreamName(input.logStreamName)
        switch try await store.createStream(
            account: context.accountId, region: context.region, group: input.logGroupName, name: input.logStreamName, now: Self.now())
        {
        case .created: return EmptyShape()
        case .exists: throw LogsAPI.Errors.resourceAlreadyExistsException("The specified log stream already exists")
        case .noGroup: throw Self.groupNotFound()
        }
    }

    public func deleteLogStream(_ input: LogsAPI.DeleteLogStreamRequest, context: RequestContext) async throws -> EmptyShape {
        guard try await store.groupExists(account: context.accountId, region: context.region, name: input.logGroupName) else {
            throw Self.groupNotFound()
        }
        guard
            try await store.deleteStream(
                account: context.accountId, region: context.region, group: input.logGroupName, name: input.logStreamName)
        else {
            throw Self.streamNotFound()
        }
        return EmptyShape()
    }

    public func describeLogStreams(
        _ input: LogsAPI.DescribeLogStreamsRequest, context: RequestContext
    ) async throws -> LogsAPI.DescribeLogStreamsResponse {
        let group = try Self.groupName(name: input.logGroupName, identifier: input.logGroupIdentifier)
        let orderByTime = input.orderBy == .lastEventTime
        if orderByTime && input.logStreamNamePrefix != nil {
            throw LogsAPI.Errors.invalidParameterException("Cannot order by LastEventTime with a logStreamNamePrefix.")
        }
        guard try await store.groupExists(account: context.accountId, region: context.region, name: group) else {
            throw Self.groupNotFound()
        }
        let limit = Self.pages.size(input.limit)
        // In the order asked for: by name, or by the last event's time and then name.
        func key(_ stream: StoredStream) -> PageKey {
            orderByTime ? PageKey(PageKey.number(stream.lastEventTimestamp ?? 0), stream.name) : PageKey(stream.name)
        }
        let after = try Self.pages.start(input.nextToken)
        if let after, after.parts.count != (orderByTime ? 2 : 1) || (orderByTime && after.number(at: 0) == nil) {
            throw Self.pages.invalidToken
        }
        let streams = try await store.streams(
            account: context.accountId, region: context.region, group: group, prefix: input.logStreamNamePrefix,
            orderByTime: orderByTime, descending: input.descending ?? false, after: after, limit: limit + 1)
        let page = Self.pages.page(fetched: streams, size: limit, key: key)
        return .init(logStreams: page.items.map { $0.shape(context: context) }, nextToken: page.nextToken)
    }

    // MARK: Events

    public func putLogEvents(_ input: LogsAPI.PutLogEventsRequest, context: RequestContext) async throws -> LogsAPI.PutLogEventsResponse {
        let events = input.logEvents
        guard !events.isEmpty else {
            throw LogsAPI.Errors.invalidParameterException(
                "1 validation error detected: Value '[]' at 'logEvents' failed to satisfy constraint: Member must have length greater than or equal to 1"
            )
        }
        let bytes = events.reduce(0) { $0 + $1.message.utf8.count + 26 }
        guard bytes <= 1_048_576 else {
            throw LogsAPI.Errors.invalidParameterException("Upload too large: \(bytes) bytes exceeds limit of 1048576")
        }
        for index in events.indices.dropFirst() where events[index].timestamp < events[index - 1].timestamp {
            throw LogsAPI.Errors.invalidParameterException("Log events in a single PutLogEvents request must be in chronological order.")
        }
        if let first = events.first?.timestamp, let last = events.last?.timestamp, last - first > 24 * 3_600_000 {
            throw LogsAPI.Errors.invalidParameterException(
                "The batch of log events in a single PutLogEvents request cannot span more than 24 hours.")
        }
        let now = Self.now()
        let result = try await store.append(
            account: context.accountId, region: context.region, group: input.logGroupName, stream: input.logStreamName,
            events: events.map { ($0.timestamp, $0.message) }, now: now)
        switch result {
        case .noGroup: throw Self.groupNotFound()
        case .noStream: throw Self.streamNotFound()
        case .appended(let rejected, let sequence):
            let info =
                rejected.isEmpty
                ? nil
                : LogsAPI.RejectedLogEventsInfo(
                    tooNewLogEventStartIndex: rejected.tooNewStart, tooOldLogEventEndIndex: rejected.tooOldEnd,
                    expiredLogEventEndIndex: rejected.expiredEnd)
            return .init(nextSequenceToken: String(format: "%056d", sequence), rejectedLogEventsInfo: info)
        }
    }

    public func getLogEvents(_ input: LogsAPI.GetLogEventsRequest, context: RequestContext) async throws -> LogsAPI.GetLogEventsResponse {
        let group = try Self.groupName(name: input.logGroupName, identifier: input.logGroupIdentifier)
        let limit = input.limit ?? 10_000
        var cursor: EventCursor? = nil
        if let token = input.nextToken {
            guard let parsed = EventCursor(token: token) else {
                throw LogsAPI.Errors.invalidParameterException("The specified nextToken is invalid.")
            }
            cursor = parsed
        }
        guard try await store.groupExists(account: context.accountId, region: context.region, name: group) else {
            throw Self.groupNotFound()
        }
        guard try await store.streamExists(account: context.accountId, region: context.region, group: group, name: input.logStreamName)
        else {
            throw Self.streamNotFound()
        }
        let forward = cursor?.forward ?? (input.startFromHead ?? false)
        let events = try await store.events(
            account: context.accountId, region: context.region, group: group, stream: input.logStreamName,
            startTime: input.startTime, endTime: input.endTime, after: cursor.flatMap { $0.forward ? $0.position : nil },
            before: cursor.flatMap { $0.forward ? nil : $0.position }, fromHead: forward, limit: limit)
        // Tokens mark positions between events: forward reads continue after the last event returned, backward
        // reads before the first. With nothing returned, the position does not move, so a reader that polls
        // with the forward token sees the same token until new events arrive (how `aws logs tail` stops).
        let first = events.first.map { EventPosition(timestamp: $0.timestamp, id: $0.id) }
        let last = events.last.map { EventPosition(timestamp: $0.timestamp, id: $0.id) }
        let startPosition = cursor?.position ?? (forward ? EventPosition.start : EventPosition.end)
        let forwardToken = EventCursor(forward: true, position: last ?? (cursor?.forward == false ? startPosition.previous : startPosition))
        let backwardToken = EventCursor(forward: false, position: first ?? (cursor?.forward == true ? startPosition.next : startPosition))
        return .init(
            events: events.map { LogsAPI.OutputLogEvent(timestamp: $0.timestamp, message: $0.message, ingestionTime: $0.ingestionTime) },
            nextForwardToken: forwardToken.token, nextBackwardToken: backwardToken.token)
    }

    public func filterLogEvents(
        _ input: LogsAPI.FilterLogEventsRequest, context: RequestContext
    ) async throws -> LogsAPI.FilterLogEventsResponse {
        let group = try Self.groupName(name: input.logGroupName, identifier: input.logGroupIdentifier)
        if input.logStreamNames != nil && input.logStreamNamePrefix != nil {
            throw LogsAPI.Errors.invalidParameterException("logStreamNames and logStreamNamePrefix are mutually exclusive parameters.")
        }
        let pattern: FilterPattern
        do {
            pattern = try FilterPattern(input.filterPattern ?? "")
        } catch {
            throw LogsAPI.Errors.invalidParameterException("Invalid filter pattern: \(error.message)")
        }
        var after: EventPosition? = nil
        if let key = try Self.pages.start(input.nextToken) {
            guard key.parts.count == 2, let timestamp = key.number(at: 0), let id = key.number(at: 1) else { throw Self.pages.invalidToken }
            after = EventPosition(timestamp: timestamp, id: Int64(id))
        }
        guard try await store.groupExists(account: context.accountId, region: context.region, name: group) else {
            throw Self.groupNotFound()
        }
        let limit = input.limit ?? 10_000
        let streams = try await store.streamNames(
            account: context.accountId, region: context.region, group: group, names: input.logStreamNames, prefix: input.logStreamNamePrefix
        )
        var matched: [StoredEvent] = []
        var scannedTo: EventPosition? = nil
        var exhausted = false
        // Scan in chunks so a selective pattern over a large group stays bounded in memory.
        while matched.count < limit {
            let chunk = try await store.groupEvents(
                account: context.accountId, region: context.region, group: group, streams: streams,
                startTime: input.startTime, endTime: input.endTime, after: scannedTo ?? after, limit: 2_000)
            for event in chunk {
                scannedTo = EventPosition(timestamp: event.timestamp, id: event.id)
                if pattern.matches(event.message) {
                    matched.append(event)
                    if matched.count == limit { break }
                }
            }
            if chunk.count < 2_000 && matched.count < limit { exhausted = true; break }
        }
        let next = exhausted ? nil : scannedTo.map { PageKey(PageKey.number($0.timestamp), PageKey.number(Int($0.id))).token }
        return .init(
            events: matched.map {
                LogsAPI.FilteredLogEvent(
                    logStreamName: $0.stream, timestamp: $0.timestamp, message: $0.message, ingestionTime: $0.ingestionTime,
                    eventId: String(format: "%056d", $0.id))
            },
            searchedLogStreams: (streams ?? []).map { LogsAPI.SearchedLogStream(logStreamName: $0, searchedCompletely: exhausted) },
            nextToken: next)
    }
}
