import AWSProtocol
import Foundation
import JSONCore
import LocalCloud
import ServiceLifecycle
import States
import Synchronization

/// Activities: Task states whose work is done by the user's own workers, which poll GetActivityTask for it and
/// answer with SendTaskSuccess/SendTaskFailure, sending SendTaskHeartbeat while they work.
extension StepFunctionsService {
    static func activityArn(_ name: String, _ context: RequestContext) -> String {
        context.arn(service: "states", resource: "activity:\(name)")
    }

    func requireActivity(_ arn: String, _ context: RequestContext) async throws -> StepFunctionsStore.Activity {
        guard arn.hasPrefix("arn:aws:states:"), arn.contains(":activity:") else {
            throw SFNAPI.Errors.invalidArn("Invalid Arn: 'Resource type not valid in this context: \(arn)'")
        }
        guard let activity = try await store.activity(arn), activity.account == context.accountId, activity.region == context.region else {
            throw SFNAPI.Errors.activityDoesNotExist("Activity Does Not Exist: '\(arn)'")
        }
        return activity
    }

    public func createActivity(_ input: SFNAPI.CreateActivityInput, context: RequestContext) async throws -> SFNAPI.CreateActivityOutput {
        try Self.validateName(input.name)
        let arn = Self.activityArn(input.name, context)
        // CreateActivity is idempotent: the same name answers the existing activity.
        if let existing = try await store.activity(arn) {
            return .init(activityArn: arn, creationDate: existing.created)
        }
        let activity = StepFunctionsStore.Activity(
            arn: arn, account: context.accountId, region: context.region, name: input.name, created: Date())
        try await store.insert(activity, region: context.region, tags: input.tags ?? [])
        return .init(activityArn: arn, creationDate: activity.created)
    }

    public func describeActivity(
        _ input: SFNAPI.DescribeActivityInput, context: RequestContext
    ) async throws -> SFNAPI.DescribeActivityOutput {
        let activity = try await requireActivity(input.activityArn, context)
        return .init(
            activityArn: activity.arn, name: activity.name, creationDate: activity.created,
            encryptionConfiguration: .init(type: .awsOwnedKey))
    }

    public func listActivities(_ input: SFNAPI.ListActivitiesInput, context: RequestContext) async throws -> SFNAPI.ListActivitiesOutput {
        let all = try await store.activities(account: context.accountId, region: context.region)
        let page = try Self.pages.page(all, maxResults: input.maxResults, nextToken: input.nextToken) {
            PageKey(PageKey.time($0.created), $0.name)
        }
        return .init(
            activities: page.items.map { .init(activityArn: $0.arn, name: $0.name, creationDate: $0.created) }, nextToken: page.nextToken)
    }

    public func deleteActivity(_ input: SFNAPI.DeleteActivityInput, context: RequestContext) async throws -> SFNAPI.DeleteActivityOutput {
        guard input.activityArn.hasPrefix("arn:aws:states:"), input.activityArn.contains(":activity:") else {
            throw SFNAPI.Errors.invalidArn("Invalid Arn: 'Resource type not valid in this context: \(input.activityArn)'")
        }
        // Only the caller's own activity (account and region) is deleted; deleting a missing one succeeds.
        if let activity = try await store.activity(input.activityArn), activity.account == context.accountId,
            activity.region == context.region
        {
            try await store.deleteActivity(activity.arn)
        }
        return .init()
    }

    /// Long-polls, as AWS does, for up to 60 seconds; answers no token when no work arrived meanwhile.
    public func getActivityTask(_ input: SFNAPI.GetActivityTaskInput, context: RequestContext) async throws -> SFNAPI.GetActivityTaskOutput
    {
        let activity = try await requireActivity(input.activityArn, context)
        // A stopping server answers pollers at once (no task) instead of holding its shutdown for the poll.
        let queue = activities
        let polled = await withGracefulShutdownHandler {
            await queue.poll(activity.arn, timeout: activityPollTimeout)
        } onGracefulShutdown: {
            queue.close()
        }
        guard let work = polled else { return .init() }
        await work.progress.started(worker: input.workerName ?? "")
        // A worker holds the token now: a restart must not offer the task to another.
        try? await store.setTaskStatus(work.token, .started, handle: ["workerName": .string(input.workerName ?? "")])
        return .init(taskToken: work.token, input: work.input)
    }
}

/// Work scheduled on activities and the workers waiting for it, in this process.
final class ActivityQueue: Sendable {
    struct Work: Sendable {
        var token: String
        var input: String
        var progress: TaskProgress
    }

    private struct Poller {
        var id: UInt64
        var continuation: CheckedContinuation<Work?, Never>
        /// Ends the poll with no work when its time is up; cancelled when work or a cancellation ends it first.
        var timer: Task<Void, Never>?
    }

    private struct State {
        var pending: [String: [Work]] = [:]
        var pollers: [String: [Poller]] = [:]
        var nextPollerId: UInt64 = 0
        /// Polls cancelled before they were registered (cancellation races registration).
        var cancelled: Set<UInt64> = []
        /// Set when the local cloud stops: every poll answers at once, so that no long poll holds the shutdown.
        var closed = false
    }

    private let state = Mutex(State())

    /// Hands `work` to a waiting worker, or keeps it for the next one.
    func schedule(_ activityArn: String, _ work: Work) {
        let poller = state.withLock { s -> Poller? in
            if var waiting = s.pollers[activityArn], !waiting.isEmpty {
                let first = waiting.removeFirst()
                s.pollers[activityArn] = waiting
                return first
            }
            s.pending[activityArn, default: []].append(work)
            return nil
        }
        poller?.timer?.cancel()
        poller?.continuation.resume(returning: work)
    }

    /// Withdraws work no worker took (its state timed out or its execution stopped).
    func withdraw(_ activityArn: String, token: String) {
        state.withLock { $0.pending[activityArn]?.removeAll { $0.token == token } }
    }

    /// Ends every poll under way with no work, and answers later ones at once.
    func close() {
        let pollers = state.withLock { s -> [Poller] in
            s.closed = true
            defer { s.pollers = [:] }
            return s.pollers.values.flatMap { $0 }
        }
        for poller in pollers {
            poller.timer?.cancel()
            poller.continuation.resume(returning: nil)
        }
    }

    /// Waits up to `timeout` for work on the activity. Ends early, with no work, when the calling task is
    /// cancelled (its client went away, or the server is stopping).
    func poll(_ activityArn: String, timeout: Duration) async -> Work? {
        let id = state.withLock { s -> UInt64 in
            s.nextPollerId += 1
            return s.nextPollerId
        }
        defer { state.withLock { _ = $0.cancelled.remove(id) } }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Work?, Never>) in
                let ready = state.withLock { s -> Work?? in
                    if s.closed || s.cancelled.remove(id) != nil { return .some(nil) }
                    if var pending = s.pending[activityArn], !pending.isEmpty {
                        let work = pending.removeFirst()
                        s.pending[activityArn] = pending
                        return .some(work)
                    }
                    s.pollers[activityArn, default: []].append(Poller(id: id, continuation: continuation))
                    return .none
                }
                if let ready {
                    continuation.resume(returning: ready)
                    return
                }
                let timer = Task {
                    try? await Task.sleep(for: timeout)
                    if !Task.isCancelled { self.end(activityArn, id) }
                }
                let stillWaiting = state.withLock { s -> Bool in
                    guard let index = s.pollers[activityArn]?.firstIndex(where: { $0.id == id }) else { return false }
                    s.pollers[activityArn]?[index].timer = timer
                    return true
                }
                if !stillWaiting { timer.cancel() }
            }
        } onCancel: {
            end(activityArn, id, cancelled: true)
        }
    }

    /// Ends poll `id` with no work, if it still waits; a cancellation that comes before the poll waits is kept.
    private func end(_ activityArn: String, _ id: UInt64, cancelled: Bool = false) {
        let poller = state.withLock { s -> Poller? in
            guard let index = s.pollers[activityArn]?.firstIndex(where: { $0.id == id }) else {
                if cancelled { s.cancelled.insert(id) }
                return nil
            }
            return s.pollers[activityArn]?.remove(at: index)
        }
        poller?.timer?.cancel()
        poller?.continuation.resume(returning: nil)
    }
}
