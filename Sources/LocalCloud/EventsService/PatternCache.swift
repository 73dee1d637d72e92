import AWSProtocol
import EventPatterns
import Synchronization

/// Compiled event patterns by their text, so delivering an event does not re-parse every rule's pattern.
final class PatternCache: Sendable {
    private let compiled = Mutex<[String: EventPattern]>([:])
    /// Bounds the cache; rules beyond it still work, compiled on each use.
    private let capacity = 10_000

    func compile(_ text: String) throws(AWSError) -> EventPattern {
        if let pattern = compiled.withLock({ $0[text] }) { return pattern }
        let pattern: EventPattern
        do { pattern = try EventPattern(text) } catch {
            throw EventsAPI.Errors.invalidEventPatternException(error.description)
        }
        compiled.withLock { if $0.count < capacity { $0[text] = pattern } }
        return pattern
    }
}
