import Foundation

/// An XPath F&O 3.1 integer picture (`format-integer`): decimal digit patterns in any Unicode digit family with
/// grouping separators, `A`/`a` letters, `I`/`i` roman numerals, `W`/`w`/`Ww` words, and the `;o` ordinal
/// modifier. Used by `$formatInteger`, `$parseInteger` and the integer components of date/time pictures.
struct IntegerPicture {
    enum Primary { case decimal, letters, roman, words, sequence }
    enum LetterCase { case upper, lower, title }

    var primary: Primary = .decimal
    var letterCase: LetterCase = .lower
    var ordinal = false
    /// The zero of the decimal digit family (U+0030 for ASCII digits).
    var zeroCode: UInt32 = 0x30
    var mandatoryDigits = 0
    var optionalDigits = 0
    /// Grouping separators by position counted from the right; `regularInterval` > 0 when they repeat evenly.
    var separators: [(position: Int, character: String)] = []
    var regularInterval = 0
    /// The picture of an unsupported numbering sequence, for the error.
    var token = ""
    /// For year components: how many digits to keep (-1 for all); set by date/time pictures.
    var width = -1

    /// The zero code points of the Unicode decimal digit families (Nd) in the Basic Multilingual Plane.
    static let decimalGroups: [UInt32] = [
        0x30, 0x0660, 0x06F0, 0x07C0, 0x0966, 0x09E6, 0x0A66, 0x0AE6, 0x0B66, 0x0BE6, 0x0C66, 0x0CE6, 0x0D66, 0x0DE6,
        0x0E50, 0x0ED0, 0x0F20, 0x1040, 0x1090, 0x17E0, 0x1810, 0x1946, 0x19D0, 0x1A80, 0x1A90, 0x1B50, 0x1BB0, 0x1C40,
        0x1C50, 0xA620, 0xA8D0, 0xA900, 0xA9D0, 0xA9F0, 0xAA50, 0xABF0, 0xFF10,
    ]

    init(_ picture: String) throws(JSONataError) {
        var primaryFormat = picture
        if let semicolon = picture.lastIndex(of: ";") {
            primaryFormat = String(picture[..<semicolon])
            if picture[picture.index(after: semicolon)...].first == "o" { ordinal = true }
        }
        switch primaryFormat {
        case "A": (letterCase, primary) = (.upper, .letters)
        case "a": primary = .letters
        case "I": (letterCase, primary) = (.upper, .roman)
        case "i": primary = .roman
        case "W": (letterCase, primary) = (.upper, .words)
        case "Ww": (letterCase, primary) = (.title, .words)
        case "w": primary = .words
        default:
            var zero: UInt32?
            var position = 0
            var found: [(Int, String)] = []
            for scalar in primaryFormat.unicodeScalars.reversed() {
                if let group = Self.decimalGroups.first(where: { scalar.value >= $0 && scalar.value <= $0 + 9 }) {
                    mandatoryDigits += 1
                    position += 1
                    if zero == nil {
                        zero = group
                    } else if zero != group {
                        throw JSONataError(
                            code: "D3131", message: "In a decimal digit pattern, all digits must be from the same decimal group",
                            value: .string(picture))
                    }
                } else if scalar == "#" {
                    position += 1
                    optionalDigits += 1
                } else {
                    found.append((position, String(scalar)))
                }
            }
            guard mandatoryDigits > 0 else {
                primary = .sequence
                token = primaryFormat
                return
            }
            zeroCode = zero ?? 0x30
            separators = found
            regularInterval = Self.regularInterval(found)
        }
    }

    /// The interval of evenly spaced, identical grouping separators (0 when irregular or absent).
    static func regularInterval(_ separators: [(position: Int, character: String)]) -> Int {
        guard let first = separators.first, separators.allSatisfy({ $0.character == first.character }) else { return 0 }
        let positions = separators.map(\.position)
        func gcd(_ a: Int, _ b: Int) -> Int { b == 0 ? a : gcd(b, a % b) }
        let factor = positions.reduce(0, gcd)
        guard factor > 0 else { return 0 }
        for index in 1...positions.count where !positions.contains(index * factor) { return 0 }
        return factor
    }

    // MARK: Formatting

    func format(_ number: Int) throws(JSONataError) -> String { try format(Double(number)) }

    func format(_ number: Double) throws(JSONataError) -> String {
        let negative = number < 0
        // Words reach beyond Int64 (1e46 is "ten billion trillion trillion trillion"); digits clamp there.
        let magnitude = abs(number)
        let value: UInt = magnitude < 1.8e19 ? UInt(magnitude) : UInt.max
        var text: String
        switch primary {
        case .letters:
            text = Self.letters(value, upper: letterCase == .upper)
        case .roman:
            text = try Self.roman(value)
            if letterCase == .upper { text = text.uppercased() }
        case .words:
            text = NumberWords.words(magnitude, ordinal: ordinal)
            if letterCase == .upper { text = text.uppercased() } else if letterCase == .lower { text = text.lowercased() }
        case .decimal:
            text = String(value)
            if text.count < mandatoryDigits { text = String(repeating: "0", count: mandatoryDigits - text.count) + text }
            if zeroCode != 0x30 {
                text = String(String.UnicodeScalarView(text.unicodeScalars.map { Unicode.Scalar($0.value + zeroCode - 0x30) ?? $0 }))
            }
            var characters = text.map(String.init)
            if regularInterval > 0, let separator = separators.first?.character {
                let count = (characters.count - 1) / regularInterval
                if count > 0 {
                    for group in stride(from: count, to: 0, by: -1) {
                        characters.insert(separator, at: characters.count - group * regularInterval)
                    }
                }
            } else {
                for separator in separators.reversed() {
                    characters.insert(separator.character, at: max(0, characters.count - separator.position))
                }
            }
            text = characters.joined()
            if ordinal {
                let digits = Array(text)
                var suffix = ["1": "st", "2": "nd", "3": "rd"][String(digits.last ?? "0")] ?? "th"
                if digits.count > 1 && digits[digits.count - 2] == "1" { suffix = "th" }
                text += suffix
            }
        case .sequence:
            throw JSONataError(
                code: "D3130",
                message: "Formatting or parsing an integer as a sequence starting with \(token) is not supported by this implementation",
                value: .string(token))
        }
        return negative ? "-" + text : text
    }

    static func letters(_ value: UInt, upper: Bool) -> String {
        let base: UInt = upper ? 65 : 97
        var scalars: [Character] = []
        var v = value
        while v > 0 {
            scalars.insert(Character(Unicode.Scalar(UInt8((v - 1) % 26 + base))), at: 0)
            v = (v - 1) / 26
        }
        return String(scalars)
    }

    /// The largest number written in roman numerals: its `m`s alone are a million characters.
    static let maximumRoman: UInt = 1_000_000_000

    static let romanNumerals: [(Int, String)] = [
        (1000, "m"), (900, "cm"), (500, "d"), (400, "cd"), (100, "c"), (90, "xc"), (50, "l"), (40, "xl"),
        (10, "x"), (9, "ix"), (5, "v"), (4, "iv"), (1, "i"),
    ]

    static func roman(_ value: UInt) throws(JSONataError) -> String {
        guard value <= maximumRoman else {
            throw JSONataError(
                code: "D2015",
                message:
                    "The roman numeral for \(value) would be \(value / 1000) characters long; numbers up to \(maximumRoman) are written in roman numerals",
                value: .number(Double(value)))
        }
        var v = Int(value)
        var out = ""
        for (n, numeral) in romanNumerals {
            while v >= n { out += numeral; v -= n }
        }
        return out
    }

    // MARK: Parsing

    /// The regular expression that matches this picture's output (for date/time parsing), with `digits` fixed
    /// digits for fixed-width decimal components.
    func regex(digits: Int? = nil) throws(JSONataError) -> String {
        let upper = letterCase == .upper
        switch primary {
        case .letters: return upper ? "[A-Z]+" : "[a-z]+"
        case .roman: return upper ? "[MDCLXVI]+" : "[mdclxvi]+"
        case .words:
            let words = NumberWords.values.keys.sorted { $0.count > $1.count }
            return "(?:" + (words + ["and", "[\\-, ]"]).joined(separator: "|") + ")+"
        case .decimal:
            var pattern = "[0-9]" + (digits.map { $0 > 0 ? "{\($0)}" : "+" } ?? "+")
            if ordinal { pattern += "(?:th|st|nd|rd)" }
            return pattern
        case .sequence:
            throw JSONataError(
                code: "D3130",
                message: "Formatting or parsing an integer as a sequence starting with \(token) is not supported by this implementation",
                value: .string(token))
        }
    }

    func parse(_ text: String) throws(JSONataError) -> Double? {
        switch primary {
        case .letters:
            let base = letterCase == .upper ? 65 : 97
            var value = 0.0
            for (i, scalar) in text.unicodeScalars.reversed().enumerated() {
                value += Double(Int(scalar.value) - base + 1) * pow(26, Double(i))
            }
            return value
        case .roman:
            let values: [Character: Int] = ["M": 1000, "D": 500, "C": 100, "L": 50, "X": 10, "V": 5, "I": 1]
            var decimal = 0, maximum = 1
            for c in text.uppercased().reversed() {
                let v = values[c] ?? 0
                if v < maximum { decimal -= v } else { maximum = v; decimal += v }
            }
            return Double(decimal)
        case .words:
            return NumberWords.number(text.lowercased())
        case .decimal:
            var digits = text
            if ordinal { digits = String(digits.dropLast(2)) }
            if regularInterval > 0 {
                digits = digits.replacingOccurrences(of: ",", with: "")
            } else {
                for separator in separators { digits = digits.replacingOccurrences(of: separator.character, with: "") }
            }
            if zeroCode != 0x30 {
                digits = String(String.UnicodeScalarView(digits.unicodeScalars.map { Unicode.Scalar($0.value - zeroCode + 0x30) ?? $0 }))
            }
            // parseInt: the leading digits.
            let leading = digits.prefix { $0.isASCII && $0.isNumber }
            return Double(leading)
        case .sequence:
            throw JSONataError(
                code: "D3130",
                message: "Formatting or parsing an integer as a sequence starting with \(token) is not supported by this implementation",
                value: .string(token))
        }
    }
}

/// English number words, cardinal and ordinal, both ways.
enum NumberWords {
    static let few = [
        "Zero", "One", "Two", "Three", "Four", "Five", "Six", "Seven", "Eight", "Nine", "Ten", "Eleven", "Twelve",
        "Thirteen", "Fourteen", "Fifteen", "Sixteen", "Seventeen", "Eighteen", "Nineteen",
    ]
    static let ordinals = [
        "Zeroth", "First", "Second", "Third", "Fourth", "Fifth", "Sixth", "Seventh", "Eighth", "Ninth", "Tenth",
        "Eleventh", "Twelfth", "Thirteenth", "Fourteenth", "Fifteenth", "Sixteenth", "Seventeenth", "Eighteenth", "Nineteenth",
    ]
    static let decades = ["Twenty", "Thirty", "Forty", "Fifty", "Sixty", "Seventy", "Eighty", "Ninety", "Hundred"]
    static let magnitudes = ["Thousand", "Million", "Billion", "Trillion"]

    static func words(_ value: Double, ordinal: Bool) -> String { lookup(value, previous: false, ordinal: ordinal) }

    private static func lookup(_ num: Double, previous: Bool, ordinal: Bool) -> String {
        if num <= 19 {
            let n = Int(num)
            return (previous ? " and " : "") + (ordinal ? ordinals[n] : few[n])
        }
        if num < 100 {
            let tens = Int(num / 10), remainder = Int(num.truncatingRemainder(dividingBy: 10))
            var words = (previous ? " and " : "") + decades[tens - 2]
            if remainder > 0 {
                words += "-" + lookup(Double(remainder), previous: false, ordinal: ordinal)
            } else if ordinal {
                words = String(words.dropLast()) + "ieth"
            }
            return words
        }
        if num < 1000 {
            let hundreds = Int(num / 100), remainder = num.truncatingRemainder(dividingBy: 100)
            var words = (previous ? ", " : "") + few[hundreds] + " Hundred"
            if remainder > 0 { words += lookup(remainder, previous: true, ordinal: ordinal) } else if ordinal { words += "th" }
            return words
        }
        var magnitude = Int((log10(num) / 3).rounded(.down))
        if magnitude > magnitudes.count { magnitude = magnitudes.count }
        let factor = pow(10, Double(magnitude * 3))
        let mantissa = (num / factor).rounded(.down)
        let remainder = num - mantissa * factor
        var words = (previous ? ", " : "") + lookup(mantissa, previous: false, ordinal: false) + " " + magnitudes[magnitude - 1]
        if remainder > 0 { words += lookup(remainder, previous: true, ordinal: ordinal) } else if ordinal { words += "th" }
        return words
    }

    /// Every word's value, in lower case.
    static let values: [String: Double] = {
        var values: [String: Double] = [:]
        for (i, w) in few.enumerated() { values[w.lowercased()] = Double(i) }
        for (i, w) in ordinals.enumerated() { values[w.lowercased()] = Double(i) }
        for (i, w) in decades.enumerated() {
            let lower = w.lowercased()
            values[lower] = Double((i + 2) * 10)
            values[String(lower.dropLast()) + "ieth"] = Double((i + 2) * 10)
        }
        values["hundredth"] = 100
        for (i, w) in magnitudes.enumerated() {
            let v = pow(10, Double((i + 1) * 3))
            values[w.lowercased()] = v
            values[w.lowercased() + "th"] = v
        }
        return values
    }()

    static func number(_ text: String) -> Double? {
        let parts = text.replacingOccurrences(of: ", ", with: " ").replacingOccurrences(of: " and ", with: " ")
            .split(whereSeparator: { $0 == " " || $0 == "-" || $0 == "\\" }).map(String.init)
        var segments: [Double] = [0]
        for part in parts {
            guard let value = values[part] else { return nil }
            if value < 100 {
                var top = segments.removeLast()
                if top >= 1000 { segments.append(top); top = 0 }
                segments.append(top + value)
            } else {
                segments.append(segments.removeLast() * value)
            }
        }
        return segments.reduce(0, +)
    }
}
