import Foundation
import GRDB
import JSONCore
import LocalCloud
import States
import Synchronization

/// Writes an execution's events and snapshots to the store as they happen, in order.
///
/// Events and the snapshots after pure states are buffered here and written by one group-commit write queued
/// when the buffer stops being empty: it writes whatever the buffer holds when its batch commits, so an
/// execution running several states between two commits costs one write, not one per event, and only the latest
/// of its buffered snapshots is serialized. Nothing waits for that write; what must be durable (a snapshot
/// before a state with effects, a timer, the outcome) is written with ``CloudDatabase/writeGrouped(_:)``, which
/// commits after every write queued before it, so after the events recorded before it.
///
/// A recorder made `holding` queues nothing: its owner writes the whole record at once with
/// ``writeHeldEvents(into:)`` and ``heldSnapshot``, as for an execution run to its end within StartExecution.
final class HistoryRecorder: ExecutionObserver, @unchecked Sendable {
    let store: StepFunctionsStore
    let executionArn: String
    /// The error and cause StopExecution gave, for the ExecutionAborted event and the execution's record.
    private let reason = Mutex<(error: String?, cause: String?)>((nil, nil))
    private let buffer = Mutex(Buffer())

    /// Records not yet written. Whenever it holds any, a write that takes them is queued and has not run yet.
    private struct Buffer {
        var events: [(id: Int, text: String)] = []
        var snapshot: ExecutionSnapshot?
        var writeQueued = false

        var isEmpty: Bool { events.isEmpty && snapshot == nil }
    }

    /// Buffered events beyond which recording waits for them to be committed, so that an execution looping
    /// through pure states cannot outrun the database without bound.
    static let bufferLimit = 1000

    private let holding: Bool
    /// The events a resumed execution recorded after its snapshot, before the server stopped, not yet repeated: while
    /// the run records the same events again (same id and type), the first records stand, with the times they
    /// happened; at the first that differs, those left are dropped and recording goes on as usual.
    private let replay: Mutex<[JSON]>

    init(store: StepFunctionsStore, executionArn: String, holding: Bool = false, replaying: [JSON] = []) {
        self.store = store
        self.executionArn = executionArn
        self.holding = holding
        self.replay = Mutex(replaying)
    }

    /// Whether `event` repeats the next event recorded before the resume (it is then not recorded again); when it
    /// differs, the events recorded from there on are dropped.
    private func repeatsRecordedEvent(_ event: HistoryEvent) async -> Bool {
        let verdict = replay.withLock { recorded -> Bool? in
            guard let next = recorded.first else { return nil }
            if next["id"]?.intValue == event.id && next["type"]?.stringValue == event.type {
                recorded.removeFirst()
                return true
            }
            recorded.removeAll()
            return false
        }
        guard let verdict else { return false }
        if !verdict { try? await store.truncateHistory(executionArn, after: event.id - 1) }
        return verdict
    }

    func setAbortReason(error: String?, cause: String?) { reason.withLock { $0 = (error, cause) } }
    var abortReason: (error: String?, cause: String?) { reason.withLock { $0 } }

    func record(_ event: HistoryEvent) async {
        var event = event
        if event.type == "ExecutionAborted" {
            let (error, cause) = abortReason
            var details: JSONObject = [:]
            if let error { details["error"] = .string(error) }
            if let cause { details["cause"] = .string(cause) }
            event.details = .object(details)
        }
        if await repeatsRecordedEvent(event) { return }
        let text = event.json.serialized()
        let buffered = buffer.withLock { buffer in
            buffer.events.append((event.id, text))
            return buffer.events.count
        }
        await queueWrite()
        if buffered >= Self.bufferLimit && !holding { try? await store.database.writeGrouped { _ in } }
    }

    func checkpoint(timer key: String, deadline: Date?) async {
        try? await store.saveTimer(executionArn, key: key, deadline: deadline)
    }

    func checkpoint(_ snapshot: ExecutionSnapshot) async {
        await checkpoint(snapshot, durable: true)
    }

    /// A durable snapshot returns once committed (with every event recorded before it). Others are buffered: a
    /// crash may lose them, and the execution then resumes from the durable one before, re-running only pure
    /// states.
    func checkpoint(_ snapshot: ExecutionSnapshot, durable: Bool) async {
        if durable {
            // It supersedes a buffered one, which would otherwise be written (before it) for nothing.
            buffer.withLock { $0.snapshot = nil }
            try? await store.saveSnapshot(snapshot.serialized(), for: executionArn)
        } else {
            buffer.withLock { $0.snapshot = snapshot }
            await queueWrite()
        }
    }

    func checkpoint(branch: String, progress: BranchProgress) async {
        try? await store.saveBranch(executionArn, key: branch, progress: progress.serialized())
    }

    func clearBranches() async {
        try? await store.clearBranches(executionArn)
    }

    /// Writes the execution's outcome, after everything recorded before it; returns once committed.
    func finish(status: SFNAPI.ExecutionStatus, ending: StepFunctionsService.Ending) async {
        // Events recorded before the resume that the run did not repeat (it ended before reaching them).
        if let stale = replay.withLock({ recorded -> Int? in
            defer { recorded.removeAll() }; return recorded.first?["id"]?.intValue
        }) {
            try? await store.truncateHistory(executionArn, after: stale - 1)
        }
        // A succeeded execution's snapshot is cleared by the same write: a buffered one need not be written.
        if status == .succeeded { buffer.withLock { $0.snapshot = nil } }
        try? await store.finish(
            executionArn, status: status, output: ending.output, error: ending.error, cause: ending.cause, stopped: ending.stopped)
    }

    /// Queues the write that takes the buffer, unless one is queued already.
    private func queueWrite() async {
        let queue = buffer.withLock { buffer -> Bool in
            if holding || buffer.writeQueued || buffer.isEmpty { return false }
            buffer.writeQueued = true
            return true
        }
        guard queue else { return }
        let taken = TakenRecords()
        await store.database.queueGrouped { [self] db in
            if taken.records == nil {
                taken.records = buffer.withLock { buffer in
                    let records = buffer
                    buffer = Buffer()
                    return records
                }
            }
            guard let records = taken.records else { return }
            try Self.write(records, of: executionArn, into: db)
        }
    }

    /// Writes the events a holding recorder recorded, in `db`'s transaction: as one row of the history, an array
    /// of them under the last one's id (see ``StepFunctionsStore/history(_:)``). The run has ended, so none of
    /// them is ever dropped for a resume (``StepFunctionsStore/truncateHistory(_:after:)`` drops rows after a snapshot's
    /// last event), and a redrive records its events after them. One row for a whole run spares an insert per event,
    /// a third of what writing such an execution cost.
    func writeHeldEvents(into db: Database) throws {
        let events = buffer.withLock { $0.events }
        guard let last = events.last else { return }
        let text = events.count == 1 ? last.text : "[" + events.map(\.text).joined(separator: ",") + "]"
        try db.executeCached(StepFunctionsStore.insertHistoryRow, arguments: [executionArn, last.id, text])
    }

    /// The last snapshot a holding recorder was given.
    var heldSnapshot: ExecutionSnapshot? { buffer.withLock { $0.snapshot } }

    private static func write(_ records: Buffer, of executionArn: String, into db: Database) throws {
        for event in records.events {
            try db.executeCached(StepFunctionsStore.insertHistoryRow, arguments: [executionArn, event.id, event.text])
        }
        if let snapshot = records.snapshot {
            try db.executeCached(
                "UPDATE sfn_executions SET snapshot = ? WHERE arn = ? AND status = 'RUNNING'",
                arguments: [snapshot.serialized(), executionArn])
        }
    }

    /// What one queued write took from the buffer. The group commit runs a write again, alone, when its batch
    /// failed for another write's sake; the second run must write the same records, not the now empty buffer.
    /// Only the group commit's queue touches it, one write at a time.
    private final class TakenRecords: @unchecked Sendable {
        var records: Buffer?
    }
}
