import EventPatterns
import Synchronization

/// The enabled rules with event patterns of each bus, compiled, with their targets: what every published event
/// is matched against. Kept in memory because every event of every service (an execution's status changes, a
/// task's state changes) would otherwise read them; dropped whenever an operation may change rules, targets or
/// buses (this process is the only writer of those tables).
final class MatchableRules: Sendable {
    struct Key: Hashable, Sendable {
        var account: String
        var region: String
        var bus: String
    }

    struct Rule: Sendable {
        var rule: EventsAPI.DescribeRuleResponse
        var pattern: EventPattern
        var targets: [EventsAPI.Target]
    }

    private struct State {
        var byBus: [Key: [Rule]] = [:]
        /// Counts invalidations, so that rules read before one are not kept after it.
        var generation = 0
    }

    private let state = Mutex(State())

    /// The rules of `key` if known, and the generation to hand back to ``keep(_:for:readAt:)`` otherwise.
    func rules(for key: Key) -> ([Rule]?, generation: Int) {
        state.withLock { ($0.byBus[key], $0.generation) }
    }

    func keep(_ rules: [Rule], for key: Key, readAt generation: Int) {
        state.withLock { s in
            if s.generation == generation { s.byBus[key] = rules }
        }
    }

    func invalidate() {
        state.withLock { s in
            s.byBus = [:]
            s.generation += 1
        }
    }
}
