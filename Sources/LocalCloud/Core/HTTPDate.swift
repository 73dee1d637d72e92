import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The value of the `Date` header every answer carries, as AWS's do: RFC 9110's IMF-fixdate
/// ("Sun, 06 Nov 1994 08:49:37 GMT"), formatted at most once a second.
///
/// Formatted with integer arithmetic rather than Foundation's date formatting: that builds a Gregorian calendar in
/// the current time zone, which opens ICU's time-zone data (about 1 MiB of pages kept resident by a server that
/// only ever writes UTC), and a timer refreshing a cached value would wake the idle server every second.
final class HTTPDateHeader: Sendable {
    /// The one every connection of the server shares.
    static let shared = HTTPDateHeader()

    private let cache = Mutex<(second: Int64, text: String)>((.min, ""))

    /// The header for the current second.
    func current() -> String {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return value(atSecond: Int64(now.tv_sec))
    }

    /// The header for `second` seconds since 1970-01-01T00:00:00Z, reusing the last one formatted when it is for
    /// the same second.
    func value(atSecond second: Int64) -> String {
        cache.withLock { cache in
            if cache.second != second { cache = (second, Self.format(secondsSince1970: second)) }
            return cache.text
        }
    }

    private static let weekdays = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"]  // 1970-01-01 was a Thursday
    private static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    /// IMF-fixdate of a UTC instant, for any instant from year 0 to 9999.
    static func format(secondsSince1970 seconds: Int64) -> String {
        let (days, secondOfDay) = floorDivision(seconds, 86_400)
        let (year, month, day) = civilDate(daysSince1970: days)
        let weekday = weekdays[Int(floorDivision(days, 7).remainder)]
        return "\(weekday), \(twoDigits(day)) \(months[month - 1]) \(year) "
            + "\(twoDigits(Int(secondOfDay / 3600))):\(twoDigits(Int(secondOfDay / 60 % 60))):\(twoDigits(Int(secondOfDay % 60))) GMT"
    }

    /// The proleptic Gregorian date of a day counted from 1970-01-01 (Howard Hinnant's `civil_from_days`).
    static func civilDate(daysSince1970 days: Int64) -> (year: Int, month: Int, day: Int) {
        let shifted = days + 719_468  // days since 0000-03-01, so that a leap day ends each 4-year cycle
        let (era, dayOfEra) = floorDivision(shifted, 146_097)
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthFromMarch = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthFromMarch + 2) / 5 + 1
        let month = monthFromMarch < 10 ? monthFromMarch + 3 : monthFromMarch - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        return (Int(year), Int(month), Int(day))
    }

    private static func floorDivision(_ value: Int64, _ divisor: Int64) -> (quotient: Int64, remainder: Int64) {
        let remainder = value % divisor
        return remainder < 0 ? (value / divisor - 1, remainder + divisor) : (value / divisor, remainder)
    }

    private static func twoDigits(_ value: Int) -> String { value < 10 ? "0\(value)" : "\(value)" }
}
