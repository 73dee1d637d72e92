import Foundation

/// `$formatNumber`: XPath F&O 3.1 `format-number` with a decimal format given as an options object
/// (`decimal-separator`, `grouping-separator`, `exponent-separator`, `minus-sign`, `percent`, `per-mille`,
/// `zero-digit`, `digit`, `pattern-separator`). Errors D3080-D3093 as jsonata-js reports them.
enum NumberPicture {
    struct Properties {
        var values: [String: String] = [
            "decimal-separator": ".", "grouping-separator": ",", "exponent-separator": "e", "infinity": "Infinity",
            "minus-sign": "-", "NaN": "NaN", "percent": "%", "per-mille": "\u{2030}", "zero-digit": "0", "digit": "#",
            "pattern-separator": ";",
        ]
        subscript(_ key: String) -> Character { values[key]?.first ?? " " }
    }

    /// The parts of one sub-picture (positive or negative).
    struct Parts {
        var prefix: [Character], suffix: [Character], active: [Character], mantissa: [Character]
        var exponent: [Character]?
        var integer: [Character], fractional: [Character]
        var subpicture: [Character]
    }

    struct Analysis {
        var integerGroupingPositions: [Int]
        var regularGrouping: Int
        var minimumIntegerPartSize: Int
        var scalingFactor: Int
        var prefix: [Character]
        var fractionalGroupingPositions: [Int]
        var minimumFractionalPartSize: Int
        var maximumFractionalPartSize: Int
        var minimumExponentSize: Int
        var suffix: [Character]
        var picture: [Character]
    }

    static func format(_ value: Double, picture: String, options: [String: String]?) throws(JSONataError) -> String {
        var properties = Properties()
        for (k, v) in options ?? [:] { properties.values[k] = v }
        let zero = properties["zero-digit"]
        let family: [Character] = (0..<10).map { Character(Unicode.Scalar(zero.unicodeScalars.first!.value + UInt32($0))!) }
        let active =
            family + [
                properties["decimal-separator"], properties["exponent-separator"], properties["grouping-separator"],
                properties["digit"], properties["pattern-separator"],
            ]
        let subPictures = picture.split(separator: properties["pattern-separator"], omittingEmptySubsequences: false).map { Array($0) }
        if subPictures.count > 2 {
            throw JSONataError(
                code: "D3080", message: "The sub-picture must not contain more than one instance of the 'pattern-separator' character",
                value: .string(picture))
        }
        let parts = subPictures.map { split($0, active: active, properties: properties) }
        for p in parts { try validate(p, family: family, active: active, properties: properties) }
        var analyses = parts.map { analyse($0, family: family, properties: properties) }
        if analyses.count == 1 {
            var negative = analyses[0]
            negative.prefix = Array(properties.values["minus-sign"] ?? "-") + negative.prefix
            analyses.append(negative)
        }
        let pic = value >= 0 ? analyses[0] : analyses[1]
        var adjusted = value
        if pic.picture.contains(properties["percent"]) {
            adjusted = value * 100
        } else if pic.picture.contains(properties["per-mille"]) {
            adjusted = value * 1000
        }
        var mantissa = adjusted
        var exponent: Int?
        if pic.minimumExponentSize != 0 {
            let maxMantissa = pow(10, Double(pic.scalingFactor)), minMantissa = pow(10, Double(pic.scalingFactor - 1))
            // On the magnitude (the sign is the sub-picture's prefix); zero keeps exponent 0.
            var e = 0
            mantissa = abs(mantissa)
            if mantissa != 0 && mantissa.isFinite {
                while mantissa < minMantissa { mantissa *= 10; e -= 1 }
                while mantissa > maxMantissa { mantissa /= 10; e += 1 }
            }
            exponent = e
        }
        let rounded = roundHalfEven(mantissa, pic.maximumFractionalPartSize)
        func digits(_ v: Double, _ places: Int) -> [Character] {
            var text = Array(toFixed(abs(v), places))
            if zero != "0" {
                text = text.map { c in c.isASCII && c.isNumber ? family[Int(c.asciiValue! - 48)] : c }
            }
            return text
        }
        let decimal = properties["decimal-separator"], grouping = properties["grouping-separator"]
        var s = digits(rounded, pic.maximumFractionalPartSize)
        if let dot = s.firstIndex(of: ".") { s[dot] = decimal } else { s.append(decimal) }
        while s.first == zero { s.removeFirst() }
        while s.last == zero { s.removeLast() }
        var decimalPos = s.firstIndex(of: decimal)!
        let padLeft = pic.minimumIntegerPartSize - decimalPos
        let padRight = pic.minimumFractionalPartSize - (s.count - decimalPos - 1)
        if padLeft > 0 { s = Array(repeating: zero, count: padLeft) + s }
        if padRight > 0 { s += Array(repeating: zero, count: padRight) }
        decimalPos = s.firstIndex(of: decimal)!
        if pic.regularGrouping > 0 {
            let groups = (decimalPos - 1) / pic.regularGrouping
            if groups >= 1 {
                for group in 1...groups { s.insert(grouping, at: decimalPos - group * pic.regularGrouping) }
            }
        } else {
            for position in pic.integerGroupingPositions {
                s.insert(grouping, at: decimalPos - position)
                decimalPos += 1
            }
        }
        decimalPos = s.firstIndex(of: decimal)!
        for position in pic.fractionalGroupingPositions {
            let at = position + decimalPos + 1
            if at <= s.count { s.insert(grouping, at: at) }
        }
        decimalPos = s.firstIndex(of: decimal)!
        if !pic.picture.contains(decimal) || decimalPos == s.count - 1 { s.removeLast() }
        if let exponent {
            var e = digits(Double(exponent), 0)
            let pad = pic.minimumExponentSize - e.count
            if pad > 0 { e = Array(repeating: zero, count: pad) + e }
            s +=
                Array(properties.values["exponent-separator"] ?? "e") + (exponent < 0 ? Array(properties.values["minus-sign"] ?? "-") : [])
                + e
        }
        return String(pic.prefix + s + pic.suffix)
    }

    /// JavaScript's `Number.prototype.toFixed` for the magnitudes format-number meets.
    static func toFixed(_ v: Double, _ places: Int) -> String {
        String(format: "%.\(places)f", v)
    }

    static func split(_ picture: [Character], active: [Character], properties: Properties) -> Parts {
        let exponentSeparator = properties["exponent-separator"]
        let isActive = { (c: Character) in active.contains(c) && c != exponentSeparator }
        let prefixEnd = picture.firstIndex(where: isActive) ?? picture.count
        let suffixStart = (picture.lastIndex(where: isActive).map { $0 + 1 }) ?? picture.count
        let prefix = Array(picture[..<prefixEnd])
        let suffix = prefixEnd < suffixStart ? Array(picture[suffixStart...]) : []
        let activePart = prefixEnd < suffixStart ? Array(picture[prefixEnd..<suffixStart]) : []
        var mantissa = activePart
        var exponent: [Character]?
        // As jsonata-js, the exponent separator's index in the whole sub-picture cuts the active part.
        if prefix.count <= picture.count, let e = picture[prefix.count...].firstIndex(of: exponentSeparator),
            e <= picture.count - suffix.count
        {
            mantissa = Array(activePart.prefix(e))
            exponent = e + 1 <= activePart.count ? Array(activePart[(e + 1)...]) : []
        }
        let decimal = properties["decimal-separator"]
        var integer = mantissa, fractional = suffix
        if let d = mantissa.firstIndex(of: decimal) {
            integer = Array(mantissa[..<d])
            fractional = Array(mantissa[(d + 1)...])
        }
        return Parts(
            prefix: prefix, suffix: suffix, active: activePart, mantissa: mantissa, exponent: exponent,
            integer: integer, fractional: fractional, subpicture: picture)
    }

    static func validate(_ p: Parts, family: [Character], active: [Character], properties: Properties) throws(JSONataError) {
        var code: String?
        let sub = p.subpicture
        let decimal = properties["decimal-separator"], grouping = properties["grouping-separator"], digit = properties["digit"]
        func count(_ c: Character) -> Int { sub.filter { $0 == c }.count }
        if count(decimal) > 1 { code = "D3081" }
        if count(properties["percent"]) > 1 { code = "D3082" }
        if count(properties["per-mille"]) > 1 { code = "D3083" }
        if sub.contains(properties["percent"]) && sub.contains(properties["per-mille"]) { code = "D3084" }
        if !p.mantissa.contains(where: { family.contains($0) || $0 == digit }) { code = "D3085" }
        if p.active.contains(where: { !active.contains($0) }) { code = "D3086" }
        if let d = sub.firstIndex(of: decimal) {
            if (d > 0 && sub[d - 1] == grouping) || (d + 1 < sub.count && sub[d + 1] == grouping) { code = "D3087" }
        } else if p.integer.last == grouping {
            code = "D3088"
        }
        if zip(sub, sub.dropFirst()).contains(where: { $0 == grouping && $1 == grouping }) { code = "D3089" }
        if let f = p.integer.firstIndex(of: digit), p.integer[..<f].contains(where: { family.contains($0) }) { code = "D3090" }
        if let f = p.fractional.lastIndex(of: digit), p.fractional[f...].contains(where: { family.contains($0) }) { code = "D3091" }
        if let exponent = p.exponent {
            if !exponent.isEmpty && (sub.contains(properties["percent"]) || sub.contains(properties["per-mille"])) { code = "D3092" }
            if exponent.isEmpty || exponent.contains(where: { !family.contains($0) }) { code = "D3093" }
        }
        // A picture with no digit, separator or exponent at all (such as "%%") has no active part.
        if p.active.isEmpty { code = "D3086" }
        if let code {
            throw JSONataError(code: code, message: "Invalid picture string for $formatNumber (\(code))", value: .string(String(sub)))
        }
    }

    static func analyse(_ p: Parts, family: [Character], properties: Properties) -> Analysis {
        let grouping = properties["grouping-separator"], digit = properties["digit"]
        func positions(_ part: [Character], fromLeft: Bool) -> [Int] {
            var result: [Int] = []
            var index = part.firstIndex(of: grouping)
            while let i = index {
                let slice = fromLeft ? Array(part[..<i]) : Array(part[i...])
                result.append(slice.filter { family.contains($0) || $0 == digit }.count)
                index = p.integer.count > i + 1 ? p.integer[(i + 1)...].firstIndex(of: grouping) : nil
            }
            return result
        }
        let integerPositions = positions(p.integer, fromLeft: false)
        let regular = IntegerPicture.regularInterval(integerPositions.map { ($0, String(grouping)) })
        let fractionalPositions = positions(p.fractional, fromLeft: true)
        var minimumInteger = p.integer.filter { family.contains($0) }.count
        let scaling = minimumInteger
        var minimumFractional = p.fractional.filter { family.contains($0) }.count
        var maximumFractional = p.fractional.filter { family.contains($0) || $0 == digit }.count
        let exponentPresent = p.exponent != nil
        if minimumInteger == 0 && maximumFractional == 0 {
            if exponentPresent { minimumFractional = 1; maximumFractional = 1 } else { minimumInteger = 1 }
        }
        if exponentPresent && minimumInteger == 0 && p.integer.contains(digit) { minimumInteger = 1 }
        if minimumInteger == 0 && minimumFractional == 0 { minimumFractional = 1 }
        let minimumExponent = p.exponent.map { $0.filter { family.contains($0) }.count } ?? 0
        return Analysis(
            integerGroupingPositions: integerPositions, regularGrouping: regular, minimumIntegerPartSize: minimumInteger,
            scalingFactor: scaling, prefix: p.prefix, fractionalGroupingPositions: fractionalPositions,
            minimumFractionalPartSize: minimumFractional, maximumFractionalPartSize: maximumFractional,
            minimumExponentSize: minimumExponent, suffix: p.suffix, picture: p.subpicture)
    }
}
