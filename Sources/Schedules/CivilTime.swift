import Foundation

/// A wall-clock date and time with no time zone: what a cron field or an `at()` expression names.
///
/// Schedules do their calendar arithmetic on these plain values (proleptic Gregorian, days counted from
/// 1970-01-01) rather than through `Calendar`, which is both much faster for the tight loops of next-fire
/// searches and free of the host's locale. A time zone only enters when a wall-clock time becomes an instant.
public struct LocalDateTime: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var year: Int
    public var month: Int
    public var day: Int
    public var hour: Int
    public var minute: Int
    public var second: Int

    public init(year: Int, month: Int, day: Int, hour: Int = 0, minute: Int = 0, second: Int = 0) {
        (self.year, self.month, self.day, self.hour, self.minute, self.second) = (year, month, day, hour, minute, second)
    }

    /// The wall-clock time `seconds` after 1970-01-01T00:00:00 (seconds may be negative).
    init(localSeconds seconds: Int) {
        let days = Int((Double(seconds) / 86400).rounded(.down))
        let rest = seconds - days * 86400
        let date = CivilDate(days: days)
        self.init(year: date.year, month: date.month, day: date.day, hour: rest / 3600, minute: rest % 3600 / 60, second: rest % 60)
    }

    /// Seconds since 1970-01-01T00:00:00 on the same wall clock.
    var localSeconds: Int {
        CivilDate(year: year, month: month, day: day).days * 86400 + hour * 3600 + minute * 60 + second
    }

    /// Whether the fields name a real date and time (February 29 only in leap years, hours below 24, ...).
    public var isValid: Bool {
        (1...12).contains(month) && day >= 1 && day <= CivilDate.daysInMonth(year: year, month: month)
            && (0..<24).contains(hour) && (0..<60).contains(minute) && (0..<60).contains(second)
    }

    /// The wall-clock time of `date` in `zone`.
    public init(_ date: Date, in zone: TimeZone) {
        self.init(localSeconds: Self.wholeSeconds(date) + zone.secondsFromGMT(for: date))
    }

    /// The most seconds either side of 1970 that calendar arithmetic takes: a million years, far past the year
    /// 2199 where AWS schedules end, and far from overflowing an Int.
    static let secondsRange = -31_556_952_000_000...31_556_952_000_000

    /// `date`'s whole seconds since 1970, held within ``secondsRange`` (a `Date` can hold 1e300 seconds, and
    /// converting that to an Int would trap).
    static func wholeSeconds(_ date: Date) -> Int {
        let seconds = date.timeIntervalSince1970.rounded(.down)
        guard !seconds.isNaN else { return 0 }
        return Int(max(Double(secondsRange.lowerBound), min(Double(secondsRange.upperBound), seconds)))
    }

    /// Every instant at which clocks in `zone` show this time, earliest first: none in a daylight-saving gap
    /// (spring forward), two in the repeated hour (fall back), one otherwise.
    public func instants(in zone: TimeZone) -> [Date] {
        let local = localSeconds
        // Offsets in force half a day either side cover every real transition (they are months apart).
        let offsets = Set([local - 43_200, local + 43_200].map { zone.secondsFromGMT(for: Date(timeIntervalSince1970: Double($0))) })
        return offsets.compactMap { offset -> Date? in
            let instant = Date(timeIntervalSince1970: Double(local - offset))
            return zone.secondsFromGMT(for: instant) == offset ? instant : nil
        }.sorted()
    }

    /// The instant this wall-clock time names in `zone`; in the repeated hour of a fall-back, the first. A time
    /// inside a spring-forward gap is moved forward by the gap (02:30 becomes 03:30), as clocks are.
    public func instant(in zone: TimeZone) -> Date {
        if let first = instants(in: zone).first { return first }
        let before = zone.secondsFromGMT(for: Date(timeIntervalSince1970: Double(localSeconds - 43_200)))
        return Date(timeIntervalSince1970: Double(localSeconds - before))
    }

    public static func < (a: LocalDateTime, b: LocalDateTime) -> Bool {
        (a.year, a.month, a.day, a.hour, a.minute, a.second) < (b.year, b.month, b.day, b.hour, b.minute, b.second)
    }

    /// `yyyy-MM-ddTHH:mm:ss`, the form of `at()`.
    public var description: String {
        func two(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }
        let y = String(year)
        return
            "\(String(repeating: "0", count: max(0, 4 - y.count)))\(y)-\(two(month))-\(two(day))T\(two(hour)):\(two(minute)):\(two(second))"
    }
}

/// A proleptic Gregorian date and its day number (days since 1970-01-01), after Howard Hinnant's algorithms.
struct CivilDate: Hashable {
    var year: Int
    var month: Int
    var day: Int

    init(year: Int, month: Int, day: Int) { (self.year, self.month, self.day) = (year, month, day) }

    init(days: Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let shiftedMonth = (5 * dayOfYear + 2) / 153
        day = dayOfYear - (153 * shiftedMonth + 2) / 5 + 1
        month = shiftedMonth < 10 ? shiftedMonth + 3 : shiftedMonth - 9
        year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
    }

    var days: Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    /// AWS's day-of-week numbering: 1 = Sunday ... 7 = Saturday. 1970-01-01 was a Thursday (5).
    var weekday: Int { ((days + 4) % 7 + 7) % 7 + 1 }

    static func isLeapYear(_ year: Int) -> Bool { year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) }

    static func daysInMonth(year: Int, month: Int) -> Int {
        switch month {
        case 2: isLeapYear(year) ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }
}
