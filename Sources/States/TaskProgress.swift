import Foundation
import Synchronization

/// What a running task tells its state from outside the engine: that a worker took it (activities) and that
/// it is still alive (heartbeats, for activities and `.waitForTaskToken` callbacks).
///
/// The host hands it to whoever completes the task (an activity worker polling GetActivityTask, a callback
/// calling SendTaskHeartbeat); the engine watches it to enforce HeartbeatSeconds.
public final class TaskProgress: Sendable {
    private struct State {
        var lastBeat: Date
        var onStart: (@Sendable (String) async -> Void)?
        var started = false
    }
    private let state: Mutex<State>

    init(now: Date, onStart: (@Sendable (String) async -> Void)?) {
        state = Mutex(State(lastBeat: now, onStart: onStart))
    }

    /// A task with no one to report to (tests, TestState).
    public convenience init() { self.init(now: Date(), onStart: nil) }

    /// SendTaskHeartbeat: the task is alive; its HeartbeatSeconds count again from `now`.
    public func beat(at now: Date = Date()) {
        state.withLock { $0.lastBeat = now }
    }

    /// A worker took the task (GetActivityTask): records ActivityStarted once, and counts as a heartbeat.
    public func started(worker: String, at now: Date = Date()) async {
        let onStart = state.withLock { s -> (@Sendable (String) async -> Void)? in
            s.lastBeat = now
            if s.started { return nil }
            s.started = true
            return s.onStart
        }
        await onStart?(worker)
    }

    var lastBeat: Date { state.withLock { $0.lastBeat } }
}
