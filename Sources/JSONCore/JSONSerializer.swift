/// How `JSON.serialized` writes text.
public struct JSONWriteOptions: Sendable, Equatable {
    /// Spaces per level of indentation; 0 writes compact text with no white space at all.
    public var indent: Int
    /// Write object members sorted by key instead of in their own order.
    public var sortedKeys: Bool
    /// Escape "/" as "\/" (as AWS's Java services do); off by default, like JSON.stringify.
    public var escapeSlashes: Bool

    public init(indent: Int = 0, sortedKeys: Bool = false, escapeSlashes: Bool = false) {
        self.indent = indent
        self.sortedKeys = sortedKeys
        self.escapeSlashes = escapeSlashes
    }

    public static let compact = JSONWriteOptions()
    public static let pretty = JSONWriteOptions(indent: 2)
}

extension JSON {
    /// The value as JSON text, written as JavaScript's `JSON.stringify` writes it (numbers included).
    public func serialized(_ options: JSONWriteOptions = .compact) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(256)  // most values the local cloud writes (events, answers) fit
        let writer = JSONWriter(options: options)
        writer.write(self, into: &out, level: 0)
        return String(decoding: out, as: UTF8.self)
    }

    /// The value as UTF-8 JSON bytes.
    public func serializedBytes(_ options: JSONWriteOptions = .compact) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(64)
        let writer = JSONWriter(options: options)
        writer.write(self, into: &out, level: 0)
        return out
    }

    /// The value as JSON text, or nil as soon as the text is found to be longer than `maximumLength` bytes: an
    /// engine building text from values it does not control stops there rather than filling memory.
    public func serialized(_ options: JSONWriteOptions = .compact, maximumLength: Int) -> String? {
        var out: [UInt8] = []
        out.reserveCapacity(min(256, maximumLength + 1))
        let writer = JSONWriter(options: options, maximumLength: maximumLength)
        writer.write(self, into: &out, level: 0)
        guard out.count <= maximumLength else { return nil }
        return String(decoding: out, as: UTF8.self)
    }

    /// Whether the value's compact text is at most `limit` bytes long. A bound on the length, counted without
    /// writing anything, settles it for all but values near the limit, which are written to be measured.
    public func serializedSizeIsAtMost(_ limit: Int) -> Bool {
        var bound = 0
        return Self.boundSerializedSize(self, into: &bound, limit: limit) || serializedBytes().count <= limit
    }

    /// Adds to `bound` at least the length of the value's compact text; false as soon as it passes `limit`, or
    /// when the value nests too deeply to be walked recursively (then the caller measures the written text).
    private static func boundSerializedSize(_ value: JSON, into bound: inout Int, limit: Int, depth: Int = 0) -> Bool {
        switch value {
        case .null, .bool: bound += 5
        case .number: bound += 24  // the longest: -1.2345678901234567e-308
        case .string(let s): bound += 2 + 6 * s.utf8.count  // \u00XX for every byte at worst
        case .array(let elements):
            if depth >= JSONWriter.recursionDepth { return false }
            bound += 1 + elements.count
            for element in elements where !boundSerializedSize(element, into: &bound, limit: limit, depth: depth + 1) {
                return false
            }
        case .object(let members):
            if depth >= JSONWriter.recursionDepth { return false }
            bound += 1 + members.count * 2
            for (key, member) in members {
                bound += 2 + 6 * key.utf8.count
                if !boundSerializedSize(member, into: &bound, limit: limit, depth: depth + 1) { return false }
            }
        }
        return bound <= limit
    }

    /// A number formatted as JavaScript's `Number.prototype.toString` does (`1`, `0.5`, `1e+21`, `1e-7`).
    /// Not-a-number and infinities, which JSON cannot hold, are written as JSON.stringify writes them: `null`.
    public static func formatNumber(_ value: Double) -> String {
        var out: [UInt8] = []
        JSONWriter.writeNumber(value, into: &out)
        return String(decoding: out, as: UTF8.self)
    }
}

/// Writes JSON text. Recursive for the first ``recursionDepth`` levels of nesting, the fast path for every value
/// a service writes, and with a stack of its own below that, so that a value built in code (which the parser's
/// depth limit does not bound) is written however deep it is.
struct JSONWriter {
    let options: JSONWriteOptions
    /// Writing stops (leaving the text unfinished) once the text is longer than this.
    let maximumLength: Int

    /// Levels written by recursion before the writer switches to its own stack: a few kilobytes of stack at most.
    static let recursionDepth = 64

    init(options: JSONWriteOptions, maximumLength: Int = .max) {
        self.options = options
        self.maximumLength = maximumLength
    }

    func write(_ value: JSON, into out: inout [UInt8], level: Int) {
        switch value {
        case .null: out.append(contentsOf: [0x6E, 0x75, 0x6C, 0x6C])
        case .bool(true): out.append(contentsOf: [0x74, 0x72, 0x75, 0x65])
        case .bool(false): out.append(contentsOf: [0x66, 0x61, 0x6C, 0x73, 0x65])
        case .number(let n): Self.writeNumber(n, into: &out)
        case .string(let s): writeString(s, into: &out)
        case .array(let elements):
            if level >= Self.recursionDepth { return writeNested(value, into: &out, level: level) }
            out.append(UInt8(ascii: "["))
            if elements.isEmpty { out.append(UInt8(ascii: "]")); return }
            for (i, element) in elements.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                newline(into: &out, level: level + 1)
                write(element, into: &out, level: level + 1)
                if out.count > maximumLength { return }
            }
            newline(into: &out, level: level)
            out.append(UInt8(ascii: "]"))
        case .object(let members):
            if level >= Self.recursionDepth { return writeNested(value, into: &out, level: level) }
            out.append(UInt8(ascii: "{"))
            if members.isEmpty { out.append(UInt8(ascii: "}")); return }
            var first = true
            func member(_ key: String, _ value: JSON) {
                if !first { out.append(UInt8(ascii: ",")) }
                first = false
                newline(into: &out, level: level + 1)
                writeMemberName(key, into: &out)
                write(value, into: &out, level: level + 1)
            }
            if options.sortedKeys {
                for key in members.keys.sorted() where out.count <= maximumLength { member(key, members[key]!) }
            } else {
                for (key, value) in members where out.count <= maximumLength { member(key, value) }
            }
            if out.count > maximumLength { return }
            newline(into: &out, level: level)
            out.append(UInt8(ascii: "}"))
        }
    }

    @inline(__always) func writeMemberName(_ key: String, into out: inout [UInt8]) {
        writeString(key, into: &out)
        out.append(UInt8(ascii: ":"))
        if options.indent > 0 { out.append(UInt8(ascii: " ")) }
    }

    /// An array or object being written by ``writeNested``: its members, in the order they are written, and
    /// how many are written.
    private struct OpenContainer {
        enum Members { case elements([JSON]), members(JSONObject, keys: [String]?) }
        var members: Members
        var written = 0
        var count: Int {
            switch members {
            case .elements(let elements): elements.count
            case .members(let object, _): object.count
            }
        }
    }

    /// What ``write(_:into:level:)`` writes, with a stack of open arrays and objects instead of recursion.
    func writeNested(_ value: JSON, into out: inout [UInt8], level: Int) {
        var stack: [OpenContainer] = []
        var next: JSON? = value
        while true {
            if let current = next {
                next = nil
                switch current {
                case .array(let elements):
                    out.append(UInt8(ascii: "["))
                    if elements.isEmpty { out.append(UInt8(ascii: "]")) } else { stack.append(OpenContainer(members: .elements(elements))) }
                case .object(let members):
                    out.append(UInt8(ascii: "{"))
                    if members.isEmpty {
                        out.append(UInt8(ascii: "}"))
                    } else {
                        stack.append(OpenContainer(members: .members(members, keys: options.sortedKeys ? members.keys.sorted() : nil)))
                    }
                default:
                    write(current, into: &out, level: level)
                }
            }
            if out.count > maximumLength { return }
            guard var top = stack.popLast() else { return }
            // The level of the container on top: `level` for the outermost.
            let containerLevel = level + stack.count
            if top.written == top.count {
                newline(into: &out, level: containerLevel)
                if case .elements = top.members { out.append(UInt8(ascii: "]")) } else { out.append(UInt8(ascii: "}")) }
                continue
            }
            if top.written > 0 { out.append(UInt8(ascii: ",")) }
            newline(into: &out, level: containerLevel + 1)
            switch top.members {
            case .elements(let elements):
                next = elements[top.written]
            case .members(let object, let keys):
                if let keys {
                    writeMemberName(keys[top.written], into: &out)
                    next = object[keys[top.written]]!
                } else {
                    let member = object.elements[top.written]
                    writeMemberName(member.key, into: &out)
                    next = member.value
                }
            }
            top.written += 1
            stack.append(top)
        }
    }

    @inline(__always) func newline(into out: inout [UInt8], level: Int) {
        guard options.indent > 0 else { return }
        out.append(0x0A)
        out.append(contentsOf: repeatElement(UInt8(ascii: " "), count: options.indent * level))
    }

    private static let hex: [UInt8] = Array("0123456789abcdef".utf8)

    /// For each byte, the character after the backslash that escapes it, or 0 when it is written as it is; `/` is
    /// escaped only when asked (``JSONWriteOptions/escapeSlashes``), so it is left out here.
    private static let escapes: [UInt8] = (0..<256).map { byte -> UInt8 in
        switch byte {
        case 0x22: UInt8(ascii: "\"")
        case 0x5C: UInt8(ascii: "\\")
        case 0x0A: UInt8(ascii: "n")
        case 0x0D: UInt8(ascii: "r")
        case 0x09: UInt8(ascii: "t")
        case 0x08: UInt8(ascii: "b")
        case 0x0C: UInt8(ascii: "f")
        case 0..<0x20: UInt8(ascii: "u")
        default: 0
        }
    }

    func writeString(_ string: String, into out: inout [UInt8]) {
        let escapeSlashes = options.escapeSlashes
        let written: Void? = string.utf8.withContiguousStorageIfAvailable { bytes in
            Self.writeEscaped(bytes, escapeSlashes: escapeSlashes, into: &out)
        }
        if written == nil {
            Array(string.utf8).withUnsafeBufferPointer { Self.writeEscaped($0, escapeSlashes: escapeSlashes, into: &out) }
        }
    }

    /// Writes `bytes` as a JSON string: runs of bytes that need no escape are copied whole, found with a table.
    static func writeEscaped(_ bytes: UnsafeBufferPointer<UInt8>, escapeSlashes: Bool, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        escapes.withUnsafeBufferPointer { table in
            var runStart = bytes.startIndex
            var index = runStart
            while index < bytes.endIndex {
                let byte = bytes[index]
                var escape = table[Int(byte)]
                if escape == 0 {
                    guard escapeSlashes && byte == UInt8(ascii: "/") else {
                        index += 1
                        continue
                    }
                    escape = UInt8(ascii: "/")
                }
                out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<index]))
                out.append(UInt8(ascii: "\\"))
                out.append(escape)
                if escape == UInt8(ascii: "u") {
                    out.append(contentsOf: [0x30, 0x30, hex[Int(byte >> 4)], hex[Int(byte & 0xF)]])
                }
                index += 1
                runStart = index
            }
            out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<bytes.endIndex]))
        }
        out.append(UInt8(ascii: "\""))
    }

    static func writeNumber(_ value: Double, into out: inout [UInt8]) {
        guard value.isFinite else {
            out.append(contentsOf: [0x6E, 0x75, 0x6C, 0x6C])
            return
        }
        if value == 0 {
            out.append(UInt8(ascii: "0"))  // JavaScript writes -0 as 0
            return
        }
        // Integers below 2^53 print their digits.
        if value.rounded(.towardZero) == value, abs(value) < 9_007_199_254_740_992 {
            writeInteger(Int64(value), into: &out)
            return
        }
        if writeShortDecimal(value, into: &out) { return }
        writeShortestDigits(value, into: &out)
    }

    /// Writes `value` when it is a decimal of one to three fraction digits and at most fifteen significant ones
    /// (timestamps in milliseconds, most amounts), as `m / 10^k` with the point put back; false, writing nothing,
    /// otherwise.
    ///
    /// The text is the general path's: `m / 10^k` divided in doubles is the double nearest that decimal, so the
    /// text reads back as `value`; and decimals of fifteen significant digits or fewer are distinct doubles, so no
    /// shorter text does. Such numbers are most of what the local cloud writes, and the general path goes through
    /// a String of Swift's description for each.
    static func writeShortDecimal(_ value: Double, into out: inout [UInt8]) -> Bool {
        let magnitude = abs(value)
        guard magnitude >= 0.001, magnitude < 1e12 else { return false }
        var scale = 1.0
        for fractionDigits in 1...3 {
            scale *= 10
            let scaled = (magnitude * scale).rounded()
            guard scaled / scale == magnitude else { continue }
            // Below 10^15, so exact in an integer.
            let scaledInteger = UInt64(scaled)
            if value < 0 { out.append(UInt8(ascii: "-")) }
            let count = digitCount(scaledInteger)
            if count > fractionDigits {
                appendDigits(scaledInteger, count: count, into: &out)
                out.insert(UInt8(ascii: "."), at: out.count - fractionDigits)
            } else {
                out.append(contentsOf: [UInt8(ascii: "0"), UInt8(ascii: ".")])
                out.append(contentsOf: repeatElement(UInt8(ascii: "0"), count: fractionDigits - count))
                appendDigits(scaledInteger, count: count, into: &out)
            }
            return true
        }
        return false
    }

    static func digitCount(_ value: UInt64) -> Int {
        var count = 1
        var rest = value / 10
        while rest > 0 { count += 1; rest /= 10 }
        return count
    }

    /// Appends the `count` decimal digits of `value`, most significant first, with no buffer of their own.
    static func appendDigits(_ value: UInt64, count: Int, into out: inout [UInt8]) {
        out.append(contentsOf: repeatElement(UInt8(ascii: "0"), count: count))
        var rest = value
        var index = out.count
        repeat {
            index -= 1
            out[index] = UInt8(ascii: "0") + UInt8(rest % 10)
            rest /= 10
        } while rest > 0
    }

    static func writeInteger(_ value: Int64, into out: inout [UInt8]) {
        if value < 0 { out.append(UInt8(ascii: "-")) }
        appendDigits(value.magnitude, count: digitCount(value.magnitude), into: &out)
    }

    /// The general case: the shortest digits that read back as `value` (Swift's description finds them), laid out
    /// by ECMAScript's Number::toString rules.
    static func writeShortestDigits(_ value: Double, into out: inout [UInt8]) {
        let text = abs(value).description
        var digits: [UInt8] = []
        digits.reserveCapacity(20)
        var exponent = 0
        var pointPosition: Int? = nil
        var seenExponent = false
        var expSign = 1
        var expDigits = 0
        for byte in text.utf8 {
            if seenExponent {
                if byte == UInt8(ascii: "-") {
                    expSign = -1
                } else if byte == UInt8(ascii: "+") {
                    continue
                } else {
                    expDigits = expDigits * 10 + Int(byte - UInt8(ascii: "0"))
                }
            } else if byte == UInt8(ascii: ".") {
                pointPosition = digits.count
            } else if byte == UInt8(ascii: "e") || byte == UInt8(ascii: "E") {
                seenExponent = true
            } else {
                digits.append(byte)
            }
        }
        exponent = expSign * expDigits
        // n: position of the decimal point relative to the start of the digit string.
        var n = (pointPosition ?? digits.count) + exponent
        // Strip leading zeros (e.g. "0.001") and trailing zeros.
        var leading = 0
        while leading < digits.count - 1, digits[leading] == UInt8(ascii: "0") { leading += 1; n -= 1 }
        digits.removeFirst(leading)
        while digits.count > 1, digits.last == UInt8(ascii: "0") { digits.removeLast() }
        let k = digits.count

        if value < 0 { out.append(UInt8(ascii: "-")) }
        if k <= n && n <= 21 {
            out.append(contentsOf: digits)
            out.append(contentsOf: repeatElement(UInt8(ascii: "0"), count: n - k))
        } else if 0 < n && n <= 21 {
            out.append(contentsOf: digits[0..<n])
            out.append(UInt8(ascii: "."))
            out.append(contentsOf: digits[n...])
        } else if -6 < n && n <= 0 {
            out.append(contentsOf: [UInt8(ascii: "0"), UInt8(ascii: ".")])
            out.append(contentsOf: repeatElement(UInt8(ascii: "0"), count: -n))
            out.append(contentsOf: digits)
        } else {
            out.append(digits[0])
            if k > 1 {
                out.append(UInt8(ascii: "."))
                out.append(contentsOf: digits[1...])
            }
            out.append(UInt8(ascii: "e"))
            let e = n - 1
            out.append(e < 0 ? UInt8(ascii: "-") : UInt8(ascii: "+"))
            out.append(contentsOf: String(abs(e)).utf8)
        }
    }
}
