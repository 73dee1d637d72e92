import GRDB
import Synchronization

/// Group commit: small writes from many concurrent callers (history events, snapshots) committed together in
/// one transaction, each caller resumed once its write is durable.
///
/// A transaction costs far more than an insert, so one commit for every queued write keeps throughput up when
/// many executions run at once, while each caller still waits for its own write (nothing is acknowledged before
/// it is committed). Each write runs in a savepoint of its own, so one failing write fails only its caller.
final class GroupCommit: Sendable {
    private struct Pending {
        var body: @Sendable (Database) throws -> Void
        var continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var queue: [Pending] = []
        var draining = false
    }

    private let writer: any DatabaseWriter
    private let state = Mutex(State())

    init(writer: any DatabaseWriter) {
        self.writer = writer
    }

    func write(_ body: @escaping @Sendable (Database) throws -> Void) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let startDrain = state.withLock { s -> Bool in
                s.queue.append(Pending(body: body, continuation: continuation))
                if s.draining { return false }
                s.draining = true
                return true
            }
            if startDrain { Task { await self.drain() } }
        }
    }

    /// Commits batches until the queue is empty; writes queued meanwhile go into the next batch.
    private func drain() async {
        while true {
            let batch = state.withLock { s -> [Pending] in
                let batch = s.queue
                s.queue = []
                if batch.isEmpty { s.draining = false }
                return batch
            }
            if batch.isEmpty { return }
            let bodies = batch.map(\.body)
            let results: [Result<Void, any Error>]
            do {
                results = try await writer.write { db in
                    bodies.map { body in
                        Result { try db.inSavepoint { try body(db); return .commit } }
                    }
                }
            } catch {
                results = Array(repeating: .failure(error), count: batch.count)
            }
            for (pending, result) in zip(batch, results) { pending.continuation.resume(with: result) }
        }
    }
}
