import EventPatterns
import LocalCloud

/// The enabled rules with event patterns of each bus, compiled, with their targets: what every published event
/// is matched against. Kept because every event of every service (an execution's status changes, a task's state
/// changes) would otherwise read them; emptied by every operation that may change rules, targets or buses.
typealias MatchableRules = ReadThroughCache<MatchableRule.Bus, [MatchableRule]>

struct MatchableRule: Sendable {
    struct Bus: Hashable, Sendable {
        var account: String
        var region: String
        var bus: String
    }

    var rule: EventsAPI.DescribeRuleResponse
    var pattern: EventPattern
    var targets: [EventsAPI.Target]
}
