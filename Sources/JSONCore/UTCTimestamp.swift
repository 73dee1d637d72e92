/// ISO 8601 timestamps in UTC (`2024-01-02T03:04:05.678Z`), as AWS writes them in events, context objects and
/// responses.
///
/// Written out by arithmetic: Foundation's ISO8601DateFormatter goes through ICU and costs tens of microseconds
/// a call, which showed as a tenth of the server's time when every execution publishes its status changes.
public enum UTCTimestamp {
    /// `secondsSince1970` written with `fractionDigits` (0, 3 or any up to 9) digits of fractional seconds.
    /// Times past JavaScript's range of dates (8.64e12 seconds either side of 1970) are written as its ends.
    public static func iso8601(secondsSince1970 seconds: Double, fractionDigits: Int = 0) -> String {
        let digits = max(0, min(9, fractionDigits))
        var scale: Int64 = 1
        for _ in 0..<digits { scale *= 10 }
        // Round to the unit of the last digit first, so 59.9996 with three digits carries into the next minute.
        // Held within JavaScript's dates (±8.64e12 s, years -271821 to 275760), so that no conversion traps.
        let seconds = seconds.isNaN ? 0 : max(-8.64e12, min(8.64e12, seconds))
        let scaled = (seconds * Double(scale)).rounded(.down)
        let whole: Int64, fraction: Int64
        if abs(scaled) < 9e18 {
            let units = Int64(scaled)
            whole = floorDivide(units, scale)
            fraction = units - whole * scale
        } else {
            // Nine digits of a time millennia away: too many units for an Int64, so seconds and fraction apart.
            let wholeSeconds = seconds.rounded(.down)
            whole = Int64(wholeSeconds)
            fraction = min(scale - 1, Int64(((seconds - wholeSeconds) * Double(scale)).rounded(.down)))
        }
        let days = floorDivide(whole, 86_400)
        let secondOfDay = Int(whole - days * 86_400)
        let (year, month, day) = civil(fromDays: days)

        var text = ""
        text.reserveCapacity(20 + digits + 1)
        append(year, width: 4, to: &text)
        text.append("-")
        append(Int64(month), width: 2, to: &text)
        text.append("-")
        append(Int64(day), width: 2, to: &text)
        text.append("T")
        append(Int64(secondOfDay / 3600), width: 2, to: &text)
        text.append(":")
        append(Int64(secondOfDay / 60 % 60), width: 2, to: &text)
        text.append(":")
        append(Int64(secondOfDay % 60), width: 2, to: &text)
        if digits > 0 {
            text.append(".")
            append(fraction, width: digits, to: &text)
        }
        text.append("Z")
        return text
    }

    /// Year, month and day of the proleptic Gregorian calendar for a count of days since 1970-01-01
    /// (Howard Hinnant's `civil_from_days`).
    static func civil(fromDays days: Int64) -> (year: Int64, month: Int, day: Int) {
        let z = days + 719_468
        let era = floorDivide(z, 146_097)
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        let day = Int(dayOfYear - (153 * monthIndex + 2) / 5 + 1)
        let month = Int(monthIndex < 10 ? monthIndex + 3 : monthIndex - 9)
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    private static func floorDivide(_ a: Int64, _ b: Int64) -> Int64 {
        let q = a / b
        return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q
    }

    private static func append(_ value: Int64, width: Int, to text: inout String) {
        let digits = String(value)
        if digits.count < width { text.append(String(repeating: "0", count: width - digits.count)) }
        text.append(digits)
    }
}
