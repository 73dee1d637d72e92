import Foundation

/// The six fields of an AWS cron expression — minutes, hours, day-of-month, month, day-of-week, year — as
/// EventBridge and EventBridge Scheduler define them (Quartz's grammar without seconds).
///
/// Every field takes `,` lists, `-` ranges, `*` and `/` increments (`1/10`, `5-50/15`, `*/5`). Months and
/// days of the week take names (`JAN`, `MON`, any case). Day-of-month also takes `L` (last day), `L-n` (n days
/// before it), `nW` (the weekday nearest day n, within the month) and `LW` (the last weekday). Day-of-week
/// takes `L` (Saturday, the last day of the week), `nL` (the last day n of the month) and `n#k` (the k-th day
/// n of the month, alone in its field). Exactly one of day-of-month and day-of-week is `?`.
public struct CronExpression: Sendable, Hashable {
    public enum DayOfMonth: Sendable, Hashable {
        case any
        case days(Set<Int>)
        /// `L` (offset 0) or `L-n`.
        case last(offset: Int)
        case lastWeekday
        case nearestWeekday(Int)
    }

    public enum DayOfWeek: Sendable, Hashable {
        case any
        /// 1 = Sunday ... 7 = Saturday.
        case days(Set<Int>)
        /// `nL`: the last such day of the month.
        case last(Int)
        /// `n#k`: the k-th such day of the month.
        case nth(Int, Int)
    }

    public let minutes: [Int]
    public let hours: [Int]
    public let dayOfMonth: DayOfMonth
    public let months: [Int]
    public let dayOfWeek: DayOfWeek
    /// Nil when every year (`*`).
    public let years: [Int]?

    static let yearRange = 1970...2199
    static let monthNames = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
    static let dayNames = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]

    /// Parses the text between `cron(` and `)`; the error's reason names the field and what is wrong with it.
    public init(fields text: String) throws(ScheduleExpressionError) {
        func fail(_ reason: String) -> ScheduleExpressionError { ScheduleExpressionError(expression: "cron(\(text))", reason: reason) }
        let fields = text.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        guard fields.count == 6 else {
            throw fail("a cron expression has six fields (minutes hours day-of-month month day-of-week year), found \(fields.count)")
        }
        let (dom, dow) = (fields[2], fields[4])
        if dom == "?" && dow == "?" { throw fail("only one of day-of-month and day-of-week can be ?") }
        if dom != "?" && dow != "?" {
            throw fail("day-of-month and day-of-week cannot both be specified: one of them must be ?")
        }
        do {
            minutes = try Self.values(fields[0], 0...59, name: "minutes").sorted()
            hours = try Self.values(fields[1], 0...23, name: "hours").sorted()
            months = try Self.values(fields[3], 1...12, name: "month", names: Self.monthNames).sorted()
            years = fields[5] == "*" ? nil : try Self.values(fields[5], Self.yearRange, name: "year").sorted()
            dayOfMonth = dom == "?" ? .any : try Self.dayOfMonth(dom)
            dayOfWeek = dow == "?" ? .any : try Self.dayOfWeek(dow)
        } catch {
            throw fail(error.reason)
        }
    }

    // MARK: Parsing

    /// A field error before the expression is known; ``init(fields:)`` wraps it.
    struct FieldError: Error { var reason: String }

    /// The values of a field of lists, ranges, `*` and increments.
    static func values(_ text: String, _ range: ClosedRange<Int>, name: String, names: [String] = []) throws(FieldError) -> Set<Int> {
        if text == "?" { throw FieldError(reason: "? is allowed only in day-of-month and day-of-week, not in \(name)") }
        var result = Set<Int>()
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            result.formUnion(try item(part, range, name: name, names: names))
        }
        return result
    }

    static func item(_ part: Substring, _ range: ClosedRange<Int>, name: String, names: [String]) throws(FieldError) -> [Int] {
        if part.isEmpty { throw FieldError(reason: "\(name) has an empty list item") }
        let pieces = part.split(separator: "/", omittingEmptySubsequences: false)
        guard pieces.count <= 2 else { throw FieldError(reason: "\(name) item \(part) has more than one /") }
        var step = 1
        if pieces.count == 2 {
            guard pieces[1].allSatisfy({ $0.isASCII && $0.isNumber }), let s = Int(pieces[1]), s >= 1, s <= range.upperBound else {
                throw FieldError(reason: "\(name) increment \(pieces[1]) must be a whole number from 1 to \(range.upperBound)")
            }
            step = s
        }
        let base = pieces[0]
        let low: Int, high: Int
        if base == "*" {
            (low, high) = (range.lowerBound, range.upperBound)
        } else if let dash = base.dropFirst().firstIndex(of: "-") {
            low = try value(base[..<dash], range, name: name, names: names)
            high = try value(base[base.index(after: dash)...], range, name: name, names: names)
            if low > high { throw FieldError(reason: "\(name) range \(base) runs backwards") }
        } else {
            low = try value(base, range, name: name, names: names)
            // `a/n` means from a to the field's end in steps of n.
            high = pieces.count == 2 ? range.upperBound : low
        }
        return Array(stride(from: low, through: high, by: step))
    }

    static func value(_ text: Substring, _ range: ClosedRange<Int>, name: String, names: [String]) throws(FieldError) -> Int {
        // Digits only: Int("+5") would read a sign AWS refuses.
        if !text.isEmpty, text.allSatisfy({ $0.isASCII && $0.isNumber }), let n = Int(text) {
            guard range.contains(n) else {
                throw FieldError(reason: "\(name) value \(n) is outside \(range.lowerBound)-\(range.upperBound)")
            }
            return n
        }
        if let index = names.firstIndex(of: text.uppercased()) { return range.lowerBound + index }
        throw FieldError(
            reason: "\(name) value \(text) is not a number\(names.isEmpty ? "" : " or a name (\(names.first!)-\(names.last!))")")
    }

    static func dayOfMonth(_ text: String) throws(FieldError) -> DayOfMonth {
        let upper = text.uppercased()
        if upper == "L" { return .last(offset: 0) }
        if upper == "LW" { return .lastWeekday }
        if (upper.contains("L") || upper.contains("W")) && upper.contains(",") {
            throw FieldError(reason: "day-of-month \(text): L and W cannot be combined with lists, ranges or increments")
        }
        if upper.hasPrefix("L-") {
            guard let n = Int(upper.dropFirst(2)), (1...30).contains(n) else {
                throw FieldError(reason: "day-of-month \(text): L-n takes n from 1 to 30")
            }
            return .last(offset: n)
        }
        if upper.hasSuffix("W") {
            guard let n = Int(upper.dropLast()), (1...31).contains(n) else {
                throw FieldError(reason: "day-of-month \(text): W follows a single day from 1 to 31 (as in 15W) or L (LW)")
            }
            return .nearestWeekday(n)
        }
        if upper.contains("L") || upper.contains("W") {
            throw FieldError(reason: "day-of-month \(text): L and W cannot be combined with lists, ranges or increments")
        }
        return .days(try values(text, 1...31, name: "day-of-month"))
    }

    static func dayOfWeek(_ text: String) throws(FieldError) -> DayOfWeek {
        let upper = text.uppercased()
        if upper == "L" { return .days([7]) }
        // Checked before nL and n#k, whose parsing would otherwise report `MON,` as a bad day name.
        if upper.contains("L") && (upper.contains(",") || upper.contains("-") || upper.contains("/")) {
            throw FieldError(reason: "day-of-week \(text): L cannot be combined with lists, ranges or increments")
        }
        if let hash = upper.firstIndex(of: "#") {
            if upper.contains(",") { throw FieldError(reason: "day-of-week \(text): with #, the field holds one expression only") }
            let day = try value(upper[..<hash], 1...7, name: "day-of-week", names: dayNames)
            guard let k = Int(upper[upper.index(after: hash)...]), (1...5).contains(k) else {
                throw FieldError(reason: "day-of-week \(text): the instance after # must be from 1 to 5")
            }
            return .nth(day, k)
        }
        if upper.count > 1, upper.hasSuffix("L") {
            let day = try value(upper.dropLast(), 1...7, name: "day-of-week", names: dayNames)
            return .last(day)
        }
        if upper.contains("L") {
            throw FieldError(reason: "day-of-week \(text): L cannot be combined with lists, ranges or increments")
        }
        return .days(try values(text, 1...7, name: "day-of-week", names: dayNames))
    }

    // MARK: Next fire times

    /// The first time strictly after `after` whose wall clock in `zone` matches every field, or nil when none
    /// remains before 2200.
    ///
    /// Daylight saving follows EventBridge Scheduler: a time that does not exist (spring forward) is skipped, and a
    /// time that occurs twice (fall back) fires once, at its first occurrence.
    public func next(after: Date, in zone: TimeZone) -> Date? {
        // Search from the wall-clock minute after `after`, field by field, so each step skips whole months,
        // days or hours that cannot match.
        let wallSeconds = LocalDateTime.wholeSeconds(after) + zone.secondsFromGMT(for: after)
        let minuteFloor = Int((Double(wallSeconds) / 60).rounded(.down)) * 60
        let localStart = LocalDateTime(localSeconds: minuteFloor + 60)
        let start = (localStart.year, localStart.month, localStart.day, localStart.hour, localStart.minute)
        for year in years ?? Array(Self.yearRange) where year >= start.0 {
            for month in months where (year, month) >= (start.0, start.1) {
                for day in days(year: year, month: month) {
                    if (year, month, day) < (start.0, start.1, start.2) { continue }
                    let sameDay = (year, month, day) == (start.0, start.1, start.2)
                    for hour in hours where !sameDay || hour >= start.3 {
                        let sameHour = sameDay && hour == start.3
                        for minute in minutes where !sameHour || minute >= start.4 {
                            let wall = LocalDateTime(year: year, month: month, day: day, hour: hour, minute: minute)
                            // Skipped in a gap (no instant); the first occurrence only in a repeated hour.
                            guard let instant = wall.instants(in: zone).first else { continue }
                            if instant > after { return instant }
                        }
                    }
                }
            }
        }
        return nil
    }

    /// The days of `month` in `year` that match the day-of-month and day-of-week fields, ascending.
    public func days(year: Int, month: Int) -> [Int] {
        let length = CivilDate.daysInMonth(year: year, month: month)
        let firstWeekday = CivilDate(year: year, month: month, day: 1).weekday
        func weekday(_ day: Int) -> Int { (firstWeekday - 1 + day - 1) % 7 + 1 }
        switch (dayOfMonth, dayOfWeek) {
        case (.days(let set), _):
            return (1...length).filter { set.contains($0) }
        case (.last(let offset), _):
            return length - offset >= 1 ? [length - offset] : []
        case (.lastWeekday, _):
            var day = length
            while weekday(day) == 1 || weekday(day) == 7 { day -= 1 }
            return [day]
        case (.nearestWeekday(let target), _):
            guard target <= length else { return [] }
            switch weekday(target) {
            case 7: return [target == 1 ? 3 : target - 1]  // Saturday: the Friday before, or Monday the 3rd
            case 1: return [target == length ? target - 2 : target + 1]  // Sunday: the Monday after, or the Friday before
            default: return [target]
            }
        case (.any, .days(let set)):
            return (1...length).filter { set.contains(weekday($0)) }
        case (.any, .last(let wanted)):
            var day = length
            while weekday(day) != wanted { day -= 1 }
            return [day]
        case (.any, .nth(let wanted, let k)):
            let first = (wanted - firstWeekday + 7) % 7 + 1
            let day = first + (k - 1) * 7
            return day <= length ? [day] : []
        case (.any, .any):
            return Array(1...length)
        }
    }
}
