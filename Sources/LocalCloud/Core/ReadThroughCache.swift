import Synchronization

/// Values read from the database, kept in memory for the hot paths that read them on every request (a state
/// machine on every StartExecution, a bus's rules on every published event). This process is the only writer
/// of its database, so whatever changes a value removes it here.
///
/// A read runs outside the lock. So that a read that began before a removal cannot put back what it read, every
/// removal advances a generation. ``keep(_:for:readAt:)`` stores only if no removal has happened since the
/// matching ``value(for:)``.
public final class ReadThroughCache<Key: Hashable & Sendable, Value: Sendable>: Sendable {
    private struct State {
        var values: [Key: Value] = [:]
        var generation = 0
    }

    private let state = Mutex(State())

    public init() {}

    /// The value of `key` if kept, and the generation to hand back to ``keep(_:for:readAt:)`` otherwise.
    public func value(for key: Key) -> (Value?, generation: Int) {
        state.withLock { ($0.values[key], $0.generation) }
    }

    /// Keeps `value`, read after ``value(for:)`` answered `generation`, unless something was removed since.
    public func keep(_ value: Value, for key: Key, readAt generation: Int) {
        state.withLock { s in
            if s.generation == generation { s.values[key] = value }
        }
    }

    /// Keeps `value` as just written by this process.
    public func store(_ value: Value, for key: Key) {
        state.withLock { $0.values[key] = value }
    }

    public func remove(_ key: Key) {
        state.withLock { s in
            s.values.removeValue(forKey: key)
            s.generation += 1
        }
    }

    public func removeAll() {
        state.withLock { s in
            s.values = [:]
            s.generation += 1
        }
    }
}
