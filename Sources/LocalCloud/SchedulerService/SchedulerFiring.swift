import AWSProtocol
import Foundation
import GRDB
import JSONCore
import LocalCloud
import Logging
import TargetDelivery

/// The timer loop: one task sleeping until the earliest due time in ``FireQueue``, then invoking every due
/// schedule's target and queueing its next fire.
extension SchedulerService {
    public func run() async throws {
        try await loadQueue()
        await queue.runTimerLoop(clock: clock) { now in await fireDue(now: now, waitForTargets: false) }
    }

    /// Rebuilds the queue from the database after a start. Missed due times older than the schedule's maximum
    /// event age are skipped (the schedule continues from now); younger ones fire at once, coalesced into one.
    public func loadQueue() async throws {
        let now = clock.now()
        // Only schedules already due need their document (to read their maximum event age).
        let rows = try await database.read { db in try ScheduleStore.enabledSchedules(db, documentsDueBefore: now) }
        for row in rows {
            let (key, due, document) = (row.key, row.nextFire, row.document)
            var nominal = Date(timeIntervalSince1970: due)
            var schedule = SchedulerAPI.GetScheduleOutput(state: .enabled)
            if let document, let stored = try? ScheduleStore.decodeSchedule(document) {
                schedule = stored
                let maximumAge = Double(stored.target?.retryPolicy?.maximumEventAgeInSeconds ?? 86400)
                if now.timeIntervalSince(nominal) > maximumAge {
                    guard let expression = try? Self.validate(stored),
                        let next = Self.nextFire(stored, expression: expression, after: now, missedWindow: false)
                    else {
                        try await finish(key, schedule: stored)
                        continue
                    }
                    nominal = next
                    _ = try await database.write { db in try ScheduleStore.setNextFire(db, key: key, nextFire: next, ifDocument: document) }
                }
            }
            enqueue(key, schedule: schedule, nominal: nominal)
        }
    }

    /// Fires every schedule due at `now` and queues its next fire; returns how many were due. The timer loop
    /// calls it with the clock's time; tests call it with theirs.
    ///
    /// Each due schedule fires in a task of its own (read, reschedule, invoke), so a batch due at the same second
    /// proceeds concurrently. With `waitForTargets` false (the timer loop) this all runs in the background, so a
    /// slow or failing target (and its retries) never holds up the next due time.
    @discardableResult
    public func fireDue(now: Date, waitForTargets: Bool = true) async -> Int {
        let due = queue.popDue(now: now)
        guard !due.isEmpty else { return 0 }
        let firing = Task {
            // One read for the whole batch: a thousand schedules due at the same second would otherwise queue a
            // thousand reads before the first target is invoked.
            let documents: [String?]
            do {
                documents = try await database.read { db in try due.map { try ScheduleStore.document(db, key: $0.key) } }
            } catch {
                environment.logger.error("Schedules due at \(now) could not be read: \(error)")
                return
            }
            await withTaskGroup(of: Void.self) { group in
                for (entry, document) in zip(due, documents) {
                    guard let document else { continue }  // deleted since it was queued
                    group.addTask { await self.fire(entry, document: document, now: now) }
                }
            }
        }
        if waitForTargets { await firing.value }
        return due.count
    }

    private func fire(_ entry: FireQueue.Entry, document: String, now: Date) async {
        let key = entry.key
        do {
            let schedule = try ScheduleStore.decodeSchedule(document)
            guard schedule.state != .disabled, let target = schedule.target else { return }
            let nominal = Date(timeIntervalSince1970: entry.nominal)
            // Queue the next fire before invoking, so a slow target never delays the schedule. The next occurrence
            // follows this one's nominal time, not the moment it fired (a flexible window delays that at random):
            // each occurrence fires once within its own window. Occurrences whose whole window has already passed
            // (Skiff was busy or down) were missed, and are coalesced into this fire.
            let expression = try Self.validate(schedule)
            let missedBefore = now.addingTimeInterval(-Self.flexibleWindow(schedule))
            let next = Self.nextFire(schedule, expression: expression, after: max(nominal, missedBefore), missedWindow: false)
            if let next {
                // Only the next-fire column, and only if no UpdateSchedule replaced the schedule since it was read
                // (the update has queued its own next fire).
                let current = try await database.write { db in
                    try ScheduleStore.setNextFire(db, key: key, nextFire: next, ifDocument: document)
                }
                if current { enqueue(key, schedule: schedule, nominal: next) }
            }
            await invokeWithRetries(target, key: key, nominal: nominal)
            if next == nil { try await finish(key, schedule: schedule) }
        } catch {
            environment.logger.error("Schedule \(key.arn) could not fire: \(error)")
        }
    }

    /// A schedule that will not fire again: deleted when its ActionAfterCompletion is DELETE, else kept with no
    /// next fire time, as AWS keeps completed one-time schedules.
    private func finish(_ key: ScheduleKey, schedule: SchedulerAPI.GetScheduleOutput) async throws {
        queue.remove(key)
        // Grouped: the schedules of a batch finish together, in one transaction.
        try await database.writeGrouped { db in
            guard try ScheduleStore.schedule(db, key: key)?.lastModificationDate == schedule.lastModificationDate else { return }
            if schedule.actionAfterCompletion == .delete {
                try ScheduleStore.delete(db, key: key)
            } else {
                try ScheduleStore.save(db, key: key, schedule: schedule, nextFire: nil)
            }
        }
    }

    /// Invokes `target`, retrying retryable failures with exponential backoff within the RetryPolicy.
    func invokeWithRetries(_ target: SchedulerAPI.Target, key: ScheduleKey, nominal: Date) async {
        let policy = Self.retryPolicy(target.retryPolicy)
        let context = RequestContext(accountId: key.account, region: key.region, requestId: RandomUUID.make())
        do {
            try await TargetDelivery.withRetries(
                maximumRetryAttempts: policy.maximumRetryAttempts ?? 185,
                maximumEventAge: Double(policy.maximumEventAgeInSeconds ?? 86400),
                origin: nominal, clock: clock
            ) {
                try await TargetDelivery.invoke(
                    arn: target.arn, input: target.input, ecsParameters: target.ecsParameters?.json(),
                    startedBy: "chronos-schedule/\(key.name)", directory: environment.directory, context: context)
            }
            environment.logger.info(
                "schedule fired",
                metadata: [
                    "service": "scheduler", "schedule": "\(key.arn)", "target": "\(target.arn)",
                    "scheduled-time": "\(Timestamps.iso8601(nominal))",
                ])
        } catch {
            var metadata: Logger.Metadata = [
                "service": "scheduler", "schedule": "\(key.arn)", "target": "\(target.arn)",
                "scheduled-time": "\(Timestamps.iso8601(nominal))",
                "error": "\(error)",
            ]
            // A dead-letter queue is SQS, which Skiff does not serve: the event is dropped, and the line says so.
            if let queue = target.deadLetterConfig?.arn { metadata["dead-letter-queue"] = "\(queue) (not served; event dropped)" }
            environment.logger.error("schedule failed to invoke its target", metadata: metadata)
        }
    }
}
