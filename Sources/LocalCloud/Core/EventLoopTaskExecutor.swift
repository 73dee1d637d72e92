import HummingbirdCore
import Logging
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

/// A server child channel whose connections are handled on their own event loop (see ``EventLoopTaskExecutor``).
struct EventLoopAffineChildChannel<Inner: ServerChildChannel>: ServerChildChannel {
    typealias Value = Inner.Value

    let inner: Inner
    /// One executor per event loop of the server's group, keyed by the loop's identity.
    let executors: [ObjectIdentifier: EventLoopTaskExecutor]

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        inner.setup(channel: channel, logger: logger)
    }

    func handle(value: Value, logger: Logger) async {
        guard let executor = executors[ObjectIdentifier(value.channel.eventLoop)] else {
            // A channel on a loop outside the group (not made by this server): handled where it is.
            return await inner.handle(value: value, logger: logger)
        }
        await withTaskExecutorPreference(executor) { await inner.handle(value: value, logger: logger) }
    }
}

extension HTTPServerBuilder {
    /// HTTP/1.1 as Hummingbird serves it, with each connection handled on its event loop of `group`.
    static func http1OnEventLoops(of group: any EventLoopGroup) -> HTTPServerBuilder {
        var executors: [ObjectIdentifier: EventLoopTaskExecutor] = [:]
        for loop in group.makeIterator() { executors[ObjectIdentifier(loop)] = EventLoopTaskExecutor(eventLoop: loop) }
        let table = executors
        return .init { responder in EventLoopAffineChildChannel(inner: HTTP1Channel(responder: responder), executors: table) }
    }
}
