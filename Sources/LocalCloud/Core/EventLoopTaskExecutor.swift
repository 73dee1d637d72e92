import NIOCore

/// Runs a task's jobs on a NIO event loop's thread.
///
/// A connection's requests are read and written on its channel's event loop. Handled on Swift's global executor,
/// each request crosses threads twice (the event loop wakes a pool thread to handle it, the pool thread wakes the
/// event loop to write the answer), and those wake-ups were most of the server's cost per request. Preferring the
/// connection's own event loop keeps a request on one thread from its first byte to its answer. Only the
/// connection's structured work runs there: unstructured tasks (executions, runners, timers) do not inherit a task
/// executor preference and stay on the global executor.
final class EventLoopTaskExecutor: TaskExecutor, @unchecked Sendable {
    // @unchecked: `eventLoop` is immutable and event loops are thread-safe to schedule on.
    let eventLoop: any EventLoop

    init(eventLoop: any EventLoop) { self.eventLoop = eventLoop }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let executor = asUnownedTaskExecutor()
        eventLoop.execute { job.runSynchronously(on: executor) }
    }
}
