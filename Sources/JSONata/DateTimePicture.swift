import Foundation
import JSONCore

/// An XPath F&O 3.1 date/time picture (`format-dateTime`): literals and `[...]` variable markers such as
/// `[Y0001]`, `[MNn,*-3]`, `[D1o]`, `[FNn]`, `[H01]:[m01]`, `[Z01:01t]`. Used by `$fromMillis` and `$toMillis`.
struct DateTimePicture {
    struct Marker {
        var component: Character
        var presentation1: String
        var presentation2: Character?
        var minWidth: Int?
        var maxWidth: Int?
        var names: IntegerPicture.LetterCase?
        var integer: IntegerPicture?
        /// Year digits to keep (-1 for all).
        var yearDigits = -1
    }

    enum Part {
        case literal(String)
        case marker(Marker)
    }

    var parts: [Part] = []

    static let defaultPresentation: [Character: String] = [
        "Y": "1", "M": "1", "D": "1", "d": "1", "F": "n", "W": "1", "w": "1", "X": "1", "x": "1", "H": "1", "h": "1",
        "P": "n", "m": "01", "s": "01", "f": "1", "Z": "01:01", "z": "01:01", "C": "n", "E": "n",
    ]
    static let iso8601 = "[Y0001]-[M01]-[D01]T[H01]:[m01]:[s01].[f001][Z01:01t]"

    init(_ picture: String) throws(JSONataError) {
        let chars = Array(picture)
        var start = 0, pos = 0
        func addLiteral(_ from: Int, _ to: Int) {
            if to > from { parts.append(.literal(String(chars[from..<to]).replacingOccurrences(of: "]]", with: "]"))) }
        }
        while pos < chars.count {
            if chars[pos] == "[" {
                if pos + 1 < chars.count && chars[pos + 1] == "[" {
                    addLiteral(start, pos)
                    parts.append(.literal("["))
                    pos += 2
                    start = pos
                    continue
                }
                addLiteral(start, pos)
                start = pos
                guard let close = chars[start...].firstIndex(of: "]") else {
                    throw JSONataError(
                        code: "D3135", message: "No matching closing bracket ']' in date/time picture string", value: .string(picture))
                }
                pos = close
                let marker = String(chars[(start + 1)..<pos]).filter { !$0.isWhitespace }
                parts.append(.marker(try Self.marker(marker, picture: picture)))
                start = pos + 1
            }
            pos += 1
        }
        addLiteral(start, chars.count)
    }

    /// The widest component a picture may ask for.
    static let maximumWidth = 10_000

    static func marker(_ text: String, picture: String) throws(JSONataError) -> Marker {
        guard let component = text.first else {
            throw JSONataError(code: "D3132", message: "Unknown component specifier in date/time picture string", value: .string(""))
        }
        var marker = Marker(component: component, presentation1: "")
        var presentation: String
        if let comma = text.lastIndex(of: ",") {
            let widths = String(text[text.index(after: comma)...])
            func width(_ s: Substring?) -> Int? {
                guard let s, s != "*" else { return nil }
                return Int(s.prefix { $0.isNumber })
            }
            if let dash = widths.firstIndex(of: "-") {
                marker.minWidth = width(widths[..<dash])
                marker.maxWidth = width(widths[widths.index(after: dash)...])
            } else {
                marker.minWidth = width(Substring(widths))
            }
            // Widths pad with as many characters: a width of millions is a string of megabytes.
            for case let w? in [marker.minWidth, marker.maxWidth] where w > Self.maximumWidth {
                throw JSONataError(
                    code: "D2015", message: "The width \(w) in the date/time picture string exceeds the maximum of \(Self.maximumWidth)",
                    value: .number(Double(w)))
            }
            presentation = String(text[text.index(after: text.startIndex)..<comma])
        } else {
            presentation = String(text.dropFirst())
        }
        if presentation.count == 1 {
            marker.presentation1 = presentation
        } else if presentation.count > 1 {
            let last = presentation.last!
            if "atco".contains(last) {
                marker.presentation2 = last
                marker.presentation1 = String(presentation.dropLast())
            } else {
                marker.presentation1 = presentation
            }
        } else {
            guard let preset = defaultPresentation[component] else {
                throw JSONataError(
                    code: "D3132", message: "Unknown component specifier \(component) in date/time picture string",
                    value: .string(String(component)))
            }
            marker.presentation1 = preset
        }
        let p1 = Array(marker.presentation1)
        if p1.first == "n" {
            marker.names = .lower
        } else if p1.first == "N" {
            marker.names = p1.count > 1 && p1[1] == "n" ? .title : .upper
        } else if "YMDdFWwXxHhmsf".contains(component) {
            var pattern = marker.presentation1
            if let p2 = marker.presentation2 { pattern += ";\(p2)" }
            var integer = try IntegerPicture(pattern)
            if let min = marker.minWidth, integer.mandatoryDigits < min { integer.mandatoryDigits = min }
            if component == "Y" {
                if let max = marker.maxWidth {
                    marker.yearDigits = max
                    integer.mandatoryDigits = max
                } else if integer.mandatoryDigits + integer.optionalDigits >= 2 {
                    marker.yearDigits = integer.mandatoryDigits + integer.optionalDigits
                }
            }
            marker.integer = integer
        }
        if component == "Z" || component == "z" {
            marker.integer = try IntegerPicture(marker.presentation1)
        }
        return marker
    }

    static func integer(_ marker: Marker, default picture: String) throws(JSONataError) -> IntegerPicture {
        if let integer = marker.integer { return integer }
        return try IntegerPicture(picture)
    }

    // MARK: Formatting

    static let days = ["", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
    static let months = [
        "January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December",
    ]

    /// Formats `millis` (since the epoch) shifted by `offset` (±hhmm as given to `$fromMillis`).
    func format(millis: Double, offsetHours: Int, offsetMinutes: Int) throws(JSONataError) -> String {
        let shifted = millis + (60 * Double(offsetHours) + Double(offsetMinutes)) * 60_000
        guard abs(shifted) <= maximumMillis + 86_400_000 else {
            throw JSONataError(code: "D1001", message: "Number out of range: \(JSON.formatNumber(millis))", value: .number(millis))
        }
        let fields = CalendarFields(millis: shifted)
        var out = ""
        for part in parts {
            switch part {
            case .literal(let text): out += text
            case .marker(let marker): out += try format(marker, fields, offsetHours: offsetHours, offsetMinutes: offsetMinutes)
            }
        }
        return out
    }

    func format(_ marker: Marker, _ fields: CalendarFields, offsetHours: Int, offsetMinutes: Int) throws(JSONataError) -> String {
        let c = marker.component
        if "YMDdFWwXxHhms".contains(c) {
            var value = fields.component(c) ?? 0
            if c == "Y", marker.yearDigits != -1 {
                // A width of 19 digits or more keeps every year whole (and 10^19 is no Int).
                if marker.yearDigits < 19 { value = value % Int(pow(10, Double(marker.yearDigits))) }
            }
            if let names = marker.names {
                var name: String
                if c == "M" || c == "x" {
                    name = Self.months[value - 1]
                } else if c == "F" {
                    name = Self.days[value]
                } else {
                    throw JSONataError(
                        code: "D3133", message: "The component \(c) in a date/time picture string cannot be presented as a name",
                        value: .string(String(c)))
                }
                if names == .upper { name = name.uppercased() } else if names == .lower { name = name.lowercased() }
                if let max = marker.maxWidth, name.count > max { name = String(name.prefix(max)) }
                return name
            }
            return try Self.integer(marker, default: "1").format(value)
        }
        switch c {
        case "f":
            return try Self.integer(marker, default: "1").format(fields.millisecond)
        case "Z", "z":
            let offset = offsetHours * 100 + offsetMinutes
            let integer = try Self.integer(marker, default: "01:01")
            var text: String
            if integer.regularInterval > 0 {
                text = try integer.format(offset)
            } else {
                switch integer.mandatoryDigits {
                case 1, 2:
                    text = try integer.format(offsetHours)
                    if offsetMinutes != 0 { text += ":" + (try IntegerPicture("00").format(offsetMinutes)) }
                case 3, 4:
                    text = try integer.format(offset)
                default:
                    throw JSONataError(
                        code: "D3134", message: "The timezone integer format specifier cannot have more than four digits",
                        value: .number(Double(integer.mandatoryDigits)))
                }
            }
            if offset >= 0 { text = "+" + text }
            if c == "z" { text = "GMT" + text }
            if offset == 0 && marker.presentation2 == "t" { text = "Z" }
            return text
        case "P":
            let text = fields.hour >= 12 ? "pm" : "am"
            switch marker.names {
            case .upper?: return text.uppercased()
            default: return text
            }
        case "C", "E":
            return "ISO"
        default:
            throw JSONataError(
                code: "D3132", message: "Unknown component specifier \(c) in date/time picture string", value: .string(String(c)))
        }
    }

    // MARK: Parsing

    /// Parses `text` by this picture into epoch millis (nil when it does not match); components left out before
    /// the given ones default to `now`'s, after them to their minimum.
    func parse(_ text: String, now: Double) throws(JSONataError) -> Double? {
        var regexParts: [String] = []
        var parsers: [(Character, (String) -> Double?)] = []
        for part in parts {
            switch part {
            case .literal(let literal):
                regexParts.append(NSRegularExpression.escapedPattern(for: literal))
                parsers.append((" ", { _ in nil }))
            case .marker(let marker):
                let (regex, parse) = try Self.matcher(marker)
                regexParts.append(regex)
                parsers.append((marker.component, parse))
            }
        }
        let pattern = "^" + regexParts.map { "(\($0))" }.joined() + "$"
        guard let regex = try? NSRegularExpression(pattern: pattern, options: [.caseInsensitive]) else { return nil }
        let ns = text as NSString
        guard let match = regex.firstMatch(in: text, range: NSRange(location: 0, length: ns.length)) else { return nil }
        var components: [Character: Double] = [:]
        for (i, (component, parse)) in parsers.enumerated() where component != " " {
            let range = match.range(at: i + 1)
            guard range.location != NSNotFound, let value = parse(ns.substring(with: range)) else { continue }
            components[component] = value
        }
        if components.isEmpty { return nil }

        func mask(_ letters: String) -> Int { letters.reduce(0) { ($0 << 1) + (components[$1] != nil ? 1 : 0) } }
        func isType(_ type: Int, _ m: Int) -> Bool { (~type & m) == 0 && (type & m) != 0 }
        let dateMask = mask("YXMxWwdD")
        let dateA = isType(161, dateMask)
        let dateB = !dateA && isType(130, dateMask)
        let dateC = isType(84, dateMask)
        let dateD = !dateC && isType(72, dateMask)
        let timeMask = mask("PHhmsf")
        let timeA = isType(23, timeMask)
        let timeB = !timeA && isType(47, timeMask)
        let dateComps = dateB ? "YD" : dateC ? "XxwF" : dateD ? "XWF" : "YMD"
        let timeComps = timeB ? "Phmsf" : "Hmsf"
        let nowFields = CalendarFields(millis: now)
        var startSpecified = false, endSpecified = false
        for part in dateComps + timeComps {
            if components[part] == nil {
                if startSpecified {
                    components[part] = "MDd".contains(part) ? 1 : 0
                    endSpecified = true
                } else {
                    components[part] = Double(nowFields.component(part) ?? 0)
                }
            } else {
                startSpecified = true
                if endSpecified {
                    throw JSONataError(
                        code: "D3136", message: "The date/time picture string is missing specifiers required to parse the timestamp",
                        value: nil as Value?)
                }
            }
        }
        var month = (components["M"] ?? 1) > 0 ? (components["M"] ?? 1) - 1 : 0
        var day = components["D"] ?? 1
        let year = components["Y"] ?? 1970
        if dateB {
            let derived = CalendarFields(millis: Self.utc(year: year, month: 0, day: 1) + ((components["d"] ?? 1) - 1) * 86_400_000)
            month = Double(derived.month - 1)
            day = Double(derived.day)
        }
        if dateC || dateD {
            throw JSONataError(
                code: "D3136", message: "The date/time picture string is missing specifiers required to parse the timestamp",
                value: nil as Value?)
        }
        var hour = components["H"] ?? 0
        if timeB {
            let h = components["h"] ?? 0
            hour = h == 12 ? 0 : h
            if components["P"] == 1 { hour += 12 }
        }
        var millis =
            Self.utc(year: year, month: month, day: day) + hour * 3_600_000 + (components["m"] ?? 0) * 60_000
            + (components["s"] ?? 0) * 1000 + (components["f"] ?? 0)
        if let zone = components["Z"] ?? components["z"], zone != 0 { millis -= zone * 60_000 }
        // A date past JavaScript's (a year of 300,000) is no date: undefined.
        return millis.isFinite ? millis : nil
    }

    /// `Date.UTC(year, month, day)` (month 0-based; overflowing days and months roll over as in JavaScript).
    static func utc(year: Double, month: Double, day: Double) -> Double {
        // Past JavaScript's dates (about 275,000 years, 100 million days), Date.UTC answers NaN.
        guard abs(year) < 300_000, abs(month) < 4_000_000, abs(day) < 200_000_000 else { return .nan }
        let y = Int(year) + Int((month / 12).rounded(.down))
        let m = Int(month) - Int((month / 12).rounded(.down)) * 12 + 1
        return Double(CalendarFields.daysFromCivil(y, m, 1) + Int(day) - 1) * 86_400_000
    }

    static func matcher(_ marker: Marker) throws(JSONataError) -> (String, (String) -> Double?) {
        let c = marker.component
        if c == "Z" || c == "z" {
            let integer = try Self.integer(marker, default: "01:01")
            let separator = integer.regularInterval > 0 ? integer.separators.first?.character : nil
            var regex = c == "z" ? "GMT" : ""
            regex += "[-+][0-9]+"
            if let separator { regex += NSRegularExpression.escapedPattern(for: separator) + "[0-9]+" }
            return (
                regex,
                { value in
                    var v = Substring(value)
                    if c == "z" { v = v.dropFirst(3) }
                    var hours = 0.0, minutes = 0.0
                    // As jsonata-js: hours and minutes parsed separately and added (so -05:30 is -270 minutes).
                    if let separator, let index = v.range(of: separator) {
                        hours = Double(Int(v[..<index.lowerBound]) ?? 0)
                        minutes = Double(Int(v[index.upperBound...]) ?? 0)
                    } else if v.count - 1 <= 2 {
                        hours = Double(Int(v) ?? 0)
                    } else {
                        hours = Double(Int(v.prefix(3)) ?? 0)
                        minutes = Double(Int(v.dropFirst(3)) ?? 0)
                    }
                    return hours * 60 + minutes
                }
            )
        }
        if let integer = marker.integer {
            if c == "f" {
                // Fractional seconds: the digits are a fraction of a second, whatever their number.
                return ("[0-9]+", { value in Double("0." + value).map { ($0 * 1000).rounded(.down) } })
            }
            // Fixed-width digits (a year's width, or a zero-padded pattern such as 01) let adjacent components
            // run together, as in [Y0001][M01][D01].
            var width: Int? = marker.yearDigits > 0 ? marker.yearDigits : nil
            if c != "Y", integer.primary == .decimal, integer.separators.isEmpty, integer.mandatoryDigits >= 2 {
                width = integer.mandatoryDigits
            }
            let regex = try integer.regex(digits: width)
            return (regex, { value in try? integer.parse(value) ?? nil })
        }
        var lookup: [String: Double] = [:]
        switch c {
        case "M", "x":
            for (i, name) in months.enumerated() {
                lookup[(marker.maxWidth.map { String(name.prefix($0)) } ?? name).lowercased()] = Double(i + 1)
            }
        case "F":
            for (i, name) in days.enumerated() where i > 0 {
                lookup[(marker.maxWidth.map { String(name.prefix($0)) } ?? name).lowercased()] = Double(i)
            }
        case "P":
            lookup = ["am": 0, "pm": 1]
        default:
            throw JSONataError(
                code: "D3133", message: "The component \(c) in a date/time picture string cannot be presented as a name",
                value: .string(String(c)))
        }
        return ("[a-zA-Z]+", { value in lookup[value.lowercased()] })
    }
}

/// The calendar fields of an instant in UTC, with the ISO week numbering extensions jsonata-js defines.
struct CalendarFields {
    var year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int, millisecond: Int
    var days: Int

    init(millis: Double) {
        // Held within JavaScript's dates (callers check), so that no conversion below can trap.
        let millis = millis.isFinite ? max(-9e15, min(9e15, millis)) : 0
        let dayNumber = Int((millis / 86_400_000).rounded(.down))
        var rest = Int(millis - Double(dayNumber) * 86_400_000)
        days = dayNumber
        (year, month, day) = Self.civil(dayNumber)
        hour = rest / 3_600_000
        rest %= 3_600_000
        minute = rest / 60_000
        rest %= 60_000
        second = rest / 1000
        millisecond = rest % 1000
    }

    static func daysFromCivil(_ year: Int, _ month: Int, _ day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        return era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468
    }

    static func civil(_ days: Int) -> (Int, Int, Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, d)
    }

    /// ISO day of week: 1 = Monday ... 7 = Sunday.
    static func isoWeekday(_ days: Int) -> Int { ((days + 3) % 7 + 7) % 7 + 1 }

    /// The first day (Monday) of the first week of a year or month: the week holding its first Thursday.
    static func startOfFirstWeek(year: Int, month: Int) -> Int {
        var y = year, m = month
        while m > 12 { m -= 12; y += 1 }
        while m < 1 { m += 12; y -= 1 }
        let first = daysFromCivil(y, m, 1)
        let weekday = isoWeekday(first)
        return weekday > 4 ? first + (8 - weekday) : first - (weekday - 1)
    }

    func component(_ c: Character) -> Int? {
        switch c {
        case "Y": return year
        case "M": return month
        case "D": return day
        case "d": return days - Self.daysFromCivil(year, 1, 1) + 1
        case "F": return Self.isoWeekday(days)
        case "W":
            let start = Self.startOfFirstWeek(year: year, month: 1)
            var week = Double(days - start) / 7 + 1
            if week > 52 {
                if days >= Self.startOfFirstWeek(year: year + 1, month: 1) { week = 1 }
            } else if week < 1 {
                week = Double(days - Self.startOfFirstWeek(year: year - 1, month: 1)) / 7 + 1
            }
            return Int(week.rounded(.down))
        case "w":
            let start = Self.startOfFirstWeek(year: year, month: month)
            var week = Double(days - start) / 7 + 1
            if week > 4 {
                if days >= Self.startOfFirstWeek(year: year, month: month + 1) { week = 1 }
            } else if week < 1 {
                week = Double(days - Self.startOfFirstWeek(year: year, month: month - 1)) / 7 + 1
            }
            return Int(week.rounded(.down))
        case "X":
            if days < Self.startOfFirstWeek(year: year, month: 1) { return year - 1 }
            if days >= Self.startOfFirstWeek(year: year + 1, month: 1) { return year + 1 }
            return year
        case "x":
            if days < Self.startOfFirstWeek(year: year, month: month) { return month == 1 ? 12 : month - 1 }
            if days >= Self.startOfFirstWeek(year: year, month: month + 1) { return month == 12 ? 1 : month + 1 }
            return month
        case "H": return hour
        case "h": return hour % 12 == 0 ? 12 : hour % 12
        case "P": return hour >= 12 ? 1 : 0
        case "m": return minute
        case "s": return second
        case "f": return millisecond
        default: return nil
        }
    }
}
