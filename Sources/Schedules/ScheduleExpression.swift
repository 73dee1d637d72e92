import Foundation

/// Why a schedule expression was refused. The services word it as AWS does (EventBridge: "Parameter
/// ScheduleExpression is not valid."; Scheduler: "Invalid Schedule Expression ..."); ``reason`` says what is
/// wrong, for the CLI and for logs.
public struct ScheduleExpressionError: Error, Sendable, Equatable, CustomStringConvertible {
    public var expression: String
    public var reason: String

    public init(expression: String, reason: String) {
        self.expression = expression
        self.reason = reason
    }

    public var description: String { "\(expression) is not a valid schedule expression: \(reason)" }
}

/// An AWS schedule expression: `at(yyyy-mm-ddThh:mm:ss)`, `rate(value unit)` or `cron(six fields)`.
///
/// EventBridge rules take `rate` and `cron` (evaluated in UTC); EventBridge Scheduler takes all three, in the
/// schedule's IANA time zone. The expression is a value: parsing validates it and ``nextFire(after:anchor:in:)``
/// answers its fire times.
public struct ScheduleExpression: Sendable, Hashable, CustomStringConvertible {
    public enum RateUnit: String, Sendable, Hashable, CaseIterable {
        case minute, hour, day

        public var seconds: Int {
            switch self {
            case .minute: 60
            case .hour: 3600
            case .day: 86400
            }
        }
    }

    public enum Kind: Sendable, Hashable {
        /// A one-time schedule: a wall-clock time in the schedule's time zone.
        case at(LocalDateTime)
        case rate(value: Int, unit: RateUnit)
        case cron(CronExpression)
    }

    public let kind: Kind
    public let description: String

    public var isOneTime: Bool { if case .at = kind { true } else { false } }

    /// Parses `text`; the error says why it is refused.
    public init(_ text: String) throws(ScheduleExpressionError) {
        description = text
        func fail(_ reason: String) -> ScheduleExpressionError { ScheduleExpressionError(expression: text, reason: reason) }
        guard text.hasSuffix(")"), let open = text.firstIndex(of: "(") else {
            throw fail("expected at(...), rate(...) or cron(...)")
        }
        let body = String(text[text.index(after: open)..<text.index(before: text.endIndex)])
        switch text[..<open] {
        case "at":
            guard let time = Self.parseAt(body) else {
                throw fail("at() takes a date and time as yyyy-mm-ddThh:mm:ss, as in at(2026-11-24T09:30:00)")
            }
            kind = .at(time)
        case "rate":
            let parts = body.split(separator: " ", omittingEmptySubsequences: false)
            guard parts.count == 2, !parts[0].isEmpty, parts[0].allSatisfy({ $0.isASCII && $0.isNumber }) else {
                throw fail("rate() takes a whole number and a unit, as in rate(5 minutes)")
            }
            guard let value = Int(parts[0]) else { throw fail("the rate value \(parts[0]) is too large") }
            guard value > 0 else { throw fail("the rate value must be a positive whole number") }
            let unitName = value == 1 ? parts[1] : parts[1].hasSuffix("s") ? parts[1].dropLast() : ""
            guard let unit = RateUnit(rawValue: String(unitName)) else {
                throw fail(
                    value == 1
                        ? "with the value 1 the unit is minute, hour or day (singular)"
                        : "with a value above 1 the unit is minutes, hours or days (plural)")
            }
            kind = .rate(value: value, unit: unit)
        case "cron":
            kind = .cron(try CronExpression(fields: body))
        default:
            throw fail("expected at(...), rate(...) or cron(...)")
        }
    }

    static func parseAt(_ body: String) -> LocalDateTime? {
        let bytes = Array(body.utf8)
        guard bytes.count == 19, bytes[4] == UInt8(ascii: "-"), bytes[7] == UInt8(ascii: "-"), bytes[10] == UInt8(ascii: "T"),
            bytes[13] == UInt8(ascii: ":"), bytes[16] == UInt8(ascii: ":")
        else { return nil }
        func number(_ range: Range<Int>) -> Int? {
            var n = 0
            for b in bytes[range] {
                guard b >= UInt8(ascii: "0"), b <= UInt8(ascii: "9") else { return nil }
                n = n * 10 + Int(b - UInt8(ascii: "0"))
            }
            return n
        }
        guard let y = number(0..<4), let mo = number(5..<7), let d = number(8..<10),
            let h = number(11..<13), let mi = number(14..<16), let s = number(17..<19)
        else { return nil }
        let time = LocalDateTime(year: y, month: mo, day: d, hour: h, minute: mi, second: s)
        return time.isValid ? time : nil
    }

    /// The first fire time strictly after `after`, or nil when the expression never fires again.
    ///
    /// - `at`: its time in `zone`, if still ahead.
    /// - `rate`: `anchor` + k·interval for k ≥ 0, in elapsed time (a day is 24 hours, across daylight-saving
    ///   changes too, as EventBridge Scheduler counts it). The anchor is itself the first occurrence: Scheduler's
    ///   StartDate "sets the first occurrence", and without one a schedule "starts invoking the target
    ///   immediately"; an EventBridge rate rule "starts when you create the scheduled event rule".
    /// - `cron`: the next matching wall-clock minute in `zone` (see ``CronExpression/next(after:in:)``).
    public func nextFire(after: Date, anchor: Date, in zone: TimeZone) -> Date? {
        switch kind {
        case .at(let time):
            let date = time.instant(in: zone)
            return date > after ? date : nil
        case .rate(let value, let unit):
            // In doubles: a rate of 2^62 days is a valid expression, and its seconds are no Int.
            let interval = Double(value) * Double(unit.seconds)
            let elapsed = after.timeIntervalSince(anchor)
            var k = max(0, (elapsed / interval).rounded(.down) + 1)
            // Floating-point error must never return `after` itself, which would fire twice.
            // Past 2^53 intervals, `k + 1 == k`: step by at least the next representable count so the loop ends.
            while anchor.addingTimeInterval(k * interval) <= after { k = max(k + 1, k.nextUp) }
            return anchor.addingTimeInterval(k * interval)
        case .cron(let cron):
            return cron.next(after: after, in: zone)
        }
    }

    /// Up to `count` fire times after `after`: what a console's "next trigger dates" shows.
    public func fireTimes(after: Date, anchor: Date, in zone: TimeZone, count: Int) -> [Date] {
        var times: [Date] = []
        var cursor = after
        while times.count < count, let next = nextFire(after: cursor, anchor: anchor, in: zone) {
            times.append(next)
            cursor = next
        }
        return times
    }
}
