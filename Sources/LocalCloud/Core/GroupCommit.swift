import Dispatch
import GRDB
import Synchronization

/// Group commit: small writes from many concurrent callers (history events, snapshots) committed together in
/// one transaction, each caller resumed once its write is durable.
///
/// A transaction costs far more than an insert, so one commit for every queued write keeps throughput up when
/// many executions run at once, while each caller still waits for its own write (nothing is acknowledged before
/// it is committed). A failing write fails only its caller: the batch is then committed again write by write.
///
/// Batches are committed by a serial dispatch queue of their own, with GRDB's blocking writes: a writer then
/// costs one thread hand-off to the queue and one back when resumed, where an async drain task calling GRDB's
/// async `write` cost four (to the task, to GRDB's queue, back to the task, to the writer). Hand-offs were the
/// largest part of a write's cost under load.
final class GroupCommit: Sendable {
    private struct Pending {
        var body: @Sendable (Database) throws -> Void
        /// Nil for a write queued without waiting (see ``queue(_:)``).
        var continuation: CheckedContinuation<Void, any Error>?
    }

    private struct State {
        var queue: [Pending] = []
        var draining = false
    }

    /// Queued writes beyond which ``queue(_:)`` waits for its commit like ``write(_:)``: writers that do not
    /// wait must not outrun the database without bound.
    static let unacknowledgedLimit = 4096

    private let writer: any DatabaseWriter
    private let state = Mutex(State())
    private let committer = DispatchQueue(label: "skiff.group-commit")

    init(writer: any DatabaseWriter) {
        self.writer = writer
    }

    /// Queues `body` and returns once it is committed.
    func write(_ body: @escaping @Sendable (Database) throws -> Void) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            enqueue(Pending(body: body, continuation: continuation))
        }
    }

    /// Queues `body` to be committed with the next batch and returns at once (unless the queue is full). Writes
    /// commit in the order they were queued, so a later ``write(_:)`` returning means this one is committed
    /// too; a failure of this one is not reported.
    func queue(_ body: @escaping @Sendable (Database) throws -> Void) async {
        if state.withLock({ $0.queue.count }) >= Self.unacknowledgedLimit {
            try? await write(body)
        } else {
            enqueue(Pending(body: body, continuation: nil))
        }
    }

    private func enqueue(_ pending: Pending) {
        let startDrain = state.withLock { s -> Bool in
            s.queue.append(pending)
            if s.draining { return false }
            s.draining = true
            return true
        }
        if startDrain { committer.async { self.drain() } }
    }

    /// Runs `body` in an immediate transaction, begun and ended through cached statements: GRDB's own `write`
    /// prepares `BEGIN` and `COMMIT` anew for every transaction, 20K of the 738K instructions of a StartExecution.
    /// A failure rolls back (SQLite may have rolled back already, hence the ignored error) and is rethrown.
    static func inTransaction(_ db: Database, _ body: () throws -> Void) throws {
        try db.executeCached("BEGIN IMMEDIATE TRANSACTION")
        do {
            try body()
            try db.executeCached("COMMIT TRANSACTION")
        } catch {
            if !db.isInsideTransaction { throw error }
            try? db.executeCached("ROLLBACK TRANSACTION")
            throw error
        }
    }

    /// Commits batches until the queue is empty; writes queued meanwhile go into the next batch.
    private func drain() {
        while true {
            let batch = state.withLock { s -> [Pending] in
                let batch = s.queue
                s.queue = []
                if batch.isEmpty { s.draining = false }
                return batch
            }
            if batch.isEmpty { return }
            let bodies = batch.map(\.body)
            var results: [Result<Void, any Error>]
            do {
                try writer.writeWithoutTransaction { db in try Self.inTransaction(db) { for body in bodies { try body(db) } } }
                results = Array(repeating: .success(()), count: batch.count)
            } catch {
                // One write failed and the batch rolled back: commit each on its own, so that only the failing
                // ones fail. (A savepoint around every write would spare this, at two statements a write.)
                results = []
                for body in bodies {
                    do {
                        try writer.write { db in try body(db) }
                        results.append(.success(()))
                    } catch {
                        results.append(.failure(error))
                    }
                }
            }
            for (pending, result) in zip(batch, results) { pending.continuation?.resume(with: result) }
        }
    }
}
