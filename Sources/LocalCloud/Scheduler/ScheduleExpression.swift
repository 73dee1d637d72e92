import AWSProtocol
import Foundation

/// A parsed `at()`, `rate()` or `cron()` schedule expression and its next fire times.
///
/// This is the smallest adapter the Scheduler service needs until the `Schedules` library (branch `schedules`)
/// lands with AWS's full grammar; it accepts the common forms and rejects everything else with AWS's message.
public struct ScheduleExpression: Sendable {
    public enum Kind: Sendable {
        case at(Date)
        case rate(seconds: Double)
        case cron(CronFields)
    }
    public var kind: Kind
    public var timeZone: TimeZone

    public var isOneTime: Bool { if case .at = kind { true } else { false } }

    public init(_ text: String, timeZone name: String?) throws(AWSError) {
        let invalid = AWSError("ValidationException", "Invalid Schedule Expression \(text).")
        guard let zone = TimeZone(identifier: name ?? "UTC") else {
            throw AWSError("ValidationException", "Invalid ScheduleExpressionTimezone \(name ?? "").")
        }
        timeZone = zone
        guard text.hasSuffix(")"), let open = text.firstIndex(of: "(") else { throw invalid }
        let keyword = text[..<open]
        let body = String(text[text.index(after: open)..<text.index(before: text.endIndex)])
        switch keyword {
        case "at":
            let f = DateFormatter()
            f.locale = Locale(identifier: "en_US_POSIX")
            f.timeZone = zone
            f.dateFormat = "yyyy-MM-dd'T'HH:mm:ss"
            guard body.count == 19, let date = f.date(from: body) else { throw invalid }
            kind = .at(date)
        case "rate":
            let parts = body.split(separator: " ")
            guard parts.count == 2, let value = Int(parts[0]), value > 0 else { throw invalid }
            let unit: Double
            switch (parts[1], value == 1) {
            case ("minute", true), ("minutes", false): unit = 60
            case ("hour", true), ("hours", false): unit = 3600
            case ("day", true), ("days", false): unit = 86400
            default: throw invalid
            }
            kind = .rate(seconds: Double(value) * unit)
        case "cron":
            guard let fields = CronFields(body) else { throw invalid }
            kind = .cron(fields)
        default:
            throw invalid
        }
    }

    /// The first fire time strictly after `after`, for a schedule anchored at `anchor` (its start date or
    /// creation), or nil when it never fires again.
    public func nextFire(after: Date, anchor: Date) -> Date? {
        switch kind {
        case .at(let date):
            return date > after ? date : nil
        case .rate(let seconds):
            // Rate schedules fire at anchor + k·interval, k ≥ 1.
            let elapsed = after.timeIntervalSince(anchor)
            var k = max(1, (elapsed / seconds).rounded(.down) + 1)
            // Guard against floating-point error returning `after` itself (which would fire twice).
            while anchor.addingTimeInterval(k * seconds) <= after.addingTimeInterval(0.000_5) { k += 1 }
            return anchor.addingTimeInterval(k * seconds)
        case .cron(let fields):
            return fields.next(after: after, in: timeZone)
        }
    }
}

/// The six fields of an AWS cron expression: minutes hours day-of-month month day-of-week year.
/// Supports `*`, `?`, lists, ranges, steps and names; `L`, `W` and `#` are rejected.
public struct CronFields: Sendable {
    var minutes: Set<Int>, hours: Set<Int>, days: Set<Int>?, months: Set<Int>, weekdays: Set<Int>?, years: Set<Int>?

    init?(_ text: String) {
        let f = text.split(separator: " ").map(String.init)
        guard f.count == 6 else { return nil }
        let monthNames = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
        let dayNames = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]
        guard let mi = Self.field(f[0], 0, 59, names: []), let h = Self.field(f[1], 0, 23, names: []),
              let mo = Self.field(f[3], 1, 12, names: monthNames) else { return nil }
        // Exactly one of day-of-month and day-of-week must be `?`.
        if (f[2] == "?") == (f[4] == "?") { return nil }
        let d = f[2] == "?" ? nil : Self.field(f[2], 1, 31, names: [])
        let w = f[4] == "?" ? nil : Self.field(f[4], 1, 7, names: dayNames)
        if f[2] != "?" && d == nil || f[4] != "?" && w == nil { return nil }
        let y: Set<Int>?
        if f[5] == "*" { y = nil } else { guard let v = Self.field(f[5], 1970, 2199, names: []) else { return nil }; y = v }
        minutes = mi; hours = h; days = d; months = mo; weekdays = w; years = y
    }

    static func field(_ text: String, _ low: Int, _ high: Int, names: [String]) -> Set<Int>? {
        var result = Set<Int>()
        func value(_ s: Substring) -> Int? {
            if let n = Int(s) { return (low...high).contains(n) ? n : nil }
            if let i = names.firstIndex(of: s.uppercased()) { return low + i }
            return nil
        }
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            let pieces = part.split(separator: "/", omittingEmptySubsequences: false)
            guard pieces.count <= 2 else { return nil }
            var step = 1
            if pieces.count == 2 { guard let s = Int(pieces[1]), s > 0 else { return nil }; step = s }
            let range: ClosedRange<Int>
            if pieces[0] == "*" { range = low...high }
            else if let dash = pieces[0].firstIndex(of: "-") {
                guard let a = value(pieces[0][..<dash]), let b = value(pieces[0][pieces[0].index(after: dash)...]), a <= b else { return nil }
                range = a...b
            } else {
                guard let a = value(pieces[0]) else { return nil }
                range = a...(pieces.count == 2 ? high : a)
            }
            result.formUnion(stride(from: range.lowerBound, through: range.upperBound, by: step))
        }
        return result.isEmpty ? nil : result
    }

    /// The first matching minute strictly after `after`, searching day by day (at most ~5 years ahead).
    func next(after: Date, in zone: TimeZone) -> Date? {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = zone
        let start = after.addingTimeInterval(60 - after.timeIntervalSince1970.truncatingRemainder(dividingBy: 60))
        var day = calendar.startOfDay(for: start)
        let sortedHours = hours.sorted(), sortedMinutes = minutes.sorted()
        for _ in 0..<(366 * 5) {
            let c = calendar.dateComponents([.year, .month, .day, .weekday], from: day)
            if (years?.contains(c.year!) ?? true) && months.contains(c.month!)
                && (days?.contains(c.day!) ?? true) && (weekdays?.contains(c.weekday!) ?? true) {
                for h in sortedHours {
                    for m in sortedMinutes {
                        if let t = calendar.date(bySettingHour: h, minute: m, second: 0, of: day), t >= start { return t }
                    }
                }
            }
            guard let nextDay = calendar.date(byAdding: .day, value: 1, to: day) else { return nil }
            day = nextDay
        }
        return nil
    }
}
