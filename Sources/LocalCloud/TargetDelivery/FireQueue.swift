import Foundation
import HeapModule
import Synchronization

/// The next fire time of every enabled schedule or scheduled rule, in one min-heap: the timer loop sleeps until the earliest
/// entry (or until a new, earlier entry wakes it), so 100,000 schedules cost one task, not one each.
///
/// Updating or deleting a schedule does not search the heap: the current due time of each key is kept in a
/// dictionary and heap entries that no longer match it are dropped when they surface.
public final class FireQueue: Sendable {
    public struct Entry: Comparable, Sendable {
        public var fireAt: Double
        public var nominal: Double
        public var key: ScheduleKey
        public static func < (a: Entry, b: Entry) -> Bool { a.fireAt < b.fireAt }
        public static func == (a: Entry, b: Entry) -> Bool { a.fireAt == b.fireAt && a.key == b.key }
    }

    private struct State {
        var heap = Heap<Entry>()
        var current: [ScheduleKey: Double] = [:]
    }
    private let state = Mutex(State())
    private let wake: AsyncStream<Void>.Continuation
    public let wakeups: AsyncStream<Void>

    public init() {
        (wakeups, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// Schedules `key` to fire at `fireAt` (its nominal due time plus any flexible-window offset).
    public func set(_ key: ScheduleKey, nominal: Date, fireAt: Date) {
        let earliest = state.withLock { s -> Bool in
            s.current[key] = fireAt.timeIntervalSince1970
            s.heap.insert(Entry(fireAt: fireAt.timeIntervalSince1970, nominal: nominal.timeIntervalSince1970, key: key))
            return s.heap.min?.key == key
        }
        if earliest { wake.yield() }
    }

    public func remove(_ key: ScheduleKey) {
        _ = state.withLock { $0.current.removeValue(forKey: key) }
    }

    /// Removes and returns the entries due at `now`, earliest first.
    public func popDue(now: Date) -> [Entry] {
        let t = now.timeIntervalSince1970
        return state.withLock { s in
            var due: [Entry] = []
            while let top = s.heap.min, top.fireAt <= t {
                s.heap.removeMin()
                if s.current[top.key] == top.fireAt {
                    s.current.removeValue(forKey: top.key)
                    due.append(top)
                }
            }
            return due
        }
    }

    public var earliest: Date? {
        state.withLock { s in
            while let top = s.heap.min, s.current[top.key] != top.fireAt { s.heap.removeMin() }
            return s.heap.min.map { Date(timeIntervalSince1970: $0.fireAt) }
        }
    }

    public var count: Int { state.withLock { $0.current.count } }
}

/// Where a schedule or a scheduled rule lives: account, region, group (a rule's event bus) and name.
public struct ScheduleKey: Hashable, Sendable {
    public var account: String
    public var region: String
    public var group: String
    public var name: String

    public init(account: String, region: String, group: String, name: String) {
        self.account = account
        self.region = region
        self.group = group
        self.name = name
    }
}

/// The time source of a timer loop; tests drive a service's `fireDue(now:)` with their own dates.
public protocol SchedulerClock: Sendable {
    func now() -> Date
}

public struct SystemSchedulerClock: SchedulerClock {
    public init() {}
    public func now() -> Date { Date() }
}
