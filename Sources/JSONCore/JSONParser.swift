#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Why a text is not JSON, and where (a byte offset into the UTF-8 text).
public struct JSONParseError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public var offset: Int
    public init(_ message: String, offset: Int) {
        self.message = message
        self.offset = offset
    }
    public var description: String { "\(message) at offset \(offset)" }
}

extension JSON {
    /// Parses JSON text (RFC 8259). Any value may stand at the top; white space may surround it.
    public init(parsing text: String) throws(JSONParseError) {
        var text = text
        let result: Result<JSON, JSONParseError> = text.withUTF8 { Self.parse(utf8: $0) }
        self = try result.get()
    }

    /// Parses JSON from UTF-8 bytes.
    public init(parsing bytes: some Sequence<UInt8>) throws(JSONParseError) {
        let result: Result<JSON, JSONParseError>
        if let contiguous = bytes.withContiguousStorageIfAvailable({ Self.parse(utf8: $0) }) {
            result = contiguous
        } else {
            result = Array(bytes).withUnsafeBufferPointer { Self.parse(utf8: $0) }
        }
        self = try result.get()
    }

    /// The most deeply nested arrays and objects a parse accepts, so hostile input cannot exhaust the stack.
    public static let maximumParseDepth = 512

    static func parse(utf8: UnsafeBufferPointer<UInt8>) -> Result<JSON, JSONParseError> {
        var parser = JSONParser(bytes: utf8)
        do throws(JSONParseError) {
            parser.skipWhitespace()
            let value = try parser.parseValue(depth: 0)
            parser.skipWhitespace()
            if parser.index < utf8.count {
                throw JSONParseError("Unexpected character after the JSON value", offset: parser.index)
            }
            return .success(value)
        } catch {
            return .failure(error)
        }
    }
}

struct JSONParser {
    let bytes: UnsafeBufferPointer<UInt8>
    var index = 0

    init(bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

    @inline(__always) mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x0A, 0x0D, 0x09: index += 1
            default: return
            }
        }
    }

    mutating func parseValue(depth: Int) throws(JSONParseError) -> JSON {
        guard index < bytes.count else { throw JSONParseError("Unexpected end of JSON input", offset: index) }
        switch bytes[index] {
        case UInt8(ascii: "{"): return try parseObject(depth: depth + 1)
        case UInt8(ascii: "["): return try parseArray(depth: depth + 1)
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): try expectLiteral("true"); return .bool(true)
        case UInt8(ascii: "f"): try expectLiteral("false"); return .bool(false)
        case UInt8(ascii: "n"): try expectLiteral("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try parseNumber())
        default: throw unexpected()
        }
    }

    func unexpected() -> JSONParseError {
        if index >= bytes.count { return JSONParseError("Unexpected end of JSON input", offset: index) }
        let byte = bytes[index]
        if byte >= 0x20 && byte < 0x7F {
            return JSONParseError("Unexpected character '\(Character(Unicode.Scalar(byte)))'", offset: index)
        }
        return JSONParseError("Unexpected byte 0x\(String(byte, radix: 16))", offset: index)
    }

    mutating func expectLiteral(_ literal: StaticString) throws(JSONParseError) {
        let count = literal.utf8CodeUnitCount
        guard index + count <= bytes.count else { throw JSONParseError("Unexpected end of JSON input", offset: bytes.count) }
        let start = literal.utf8Start
        for i in 0..<count where bytes[index + i] != start[i] {
            index += i
            throw unexpected()
        }
        index += count
    }

    mutating func parseObject(depth: Int) throws(JSONParseError) -> JSON {
        guard depth <= JSON.maximumParseDepth else { throw JSONParseError("JSON nested too deeply", offset: index) }
        index += 1
        var object = JSONObject()
        skipWhitespace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "}") {
            index += 1
            return .object(object)
        }
        while true {
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else {
                if index < bytes.count { throw JSONParseError("Expected a string key in object", offset: index) }
                throw unexpected()
            }
            let key = try parseString()
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else {
                throw JSONParseError("Expected ':' after object key", offset: index)
            }
            index += 1
            skipWhitespace()
            let value = try parseValue(depth: depth)
            object[key] = value
            skipWhitespace()
            guard index < bytes.count else { throw unexpected() }
            switch bytes[index] {
            case UInt8(ascii: ","): index += 1
            case UInt8(ascii: "}"): index += 1; return .object(object)
            default: throw JSONParseError("Expected ',' or '}' in object", offset: index)
            }
        }
    }

    mutating func parseArray(depth: Int) throws(JSONParseError) -> JSON {
        guard depth <= JSON.maximumParseDepth else { throw JSONParseError("JSON nested too deeply", offset: index) }
        index += 1
        var array: [JSON] = []
        skipWhitespace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "]") {
            index += 1
            return .array(array)
        }
        while true {
            skipWhitespace()
            array.append(try parseValue(depth: depth))
            skipWhitespace()
            guard index < bytes.count else { throw unexpected() }
            switch bytes[index] {
            case UInt8(ascii: ","): index += 1
            case UInt8(ascii: "]"): index += 1; return .array(array)
            default: throw JSONParseError("Expected ',' or ']' in array", offset: index)
            }
        }
    }

    mutating func parseString() throws(JSONParseError) -> String {
        index += 1  // opening quote
        let start = index
        // Fast path: no escapes.
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                let slice = UnsafeBufferPointer(rebasing: bytes[start..<index])
                index += 1
                return try Self.validatedString(slice, offset: start)
            }
            if byte == UInt8(ascii: "\\") { break }
            if byte < 0x20 { throw JSONParseError("Unescaped control character in string", offset: index) }
            index += 1
        }
        guard index < bytes.count else { throw JSONParseError("Unterminated string", offset: start - 1) }
        // Slow path: decode escapes into a buffer.
        var buffer = [UInt8](UnsafeBufferPointer(rebasing: bytes[start..<index]))
        while index < bytes.count {
            let byte = bytes[index]
            switch byte {
            case UInt8(ascii: "\""):
                index += 1
                return try buffer.withUnsafeBufferPointer { buf throws(JSONParseError) in
                    try Self.validatedString(buf, offset: start)
                }
            case UInt8(ascii: "\\"):
                index += 1
                guard index < bytes.count else { throw JSONParseError("Unterminated string", offset: start - 1) }
                let escape = bytes[index]
                index += 1
                switch escape {
                case UInt8(ascii: "\""): buffer.append(0x22)
                case UInt8(ascii: "\\"): buffer.append(0x5C)
                case UInt8(ascii: "/"): buffer.append(0x2F)
                case UInt8(ascii: "b"): buffer.append(0x08)
                case UInt8(ascii: "f"): buffer.append(0x0C)
                case UInt8(ascii: "n"): buffer.append(0x0A)
                case UInt8(ascii: "r"): buffer.append(0x0D)
                case UInt8(ascii: "t"): buffer.append(0x09)
                case UInt8(ascii: "u"):
                    var scalar = try parseHex4()
                    if (0xD800...0xDBFF).contains(scalar), index + 1 < bytes.count,
                        bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u")
                    {
                        let save = index
                        index += 2
                        let low = try parseHex4()
                        if (0xDC00...0xDFFF).contains(low) {
                            scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                        } else {
                            index = save
                        }
                    }
                    // Lone surrogates cannot be represented in a Swift string: use U+FFFD as JavaScript's
                    // well-formed conversions do.
                    let unicode = Unicode.Scalar(scalar) ?? "\u{FFFD}"
                    buffer.append(contentsOf: String(Character(unicode)).utf8)
                default:
                    throw JSONParseError("Invalid escape character in string", offset: index - 1)
                }
            default:
                if byte < 0x20 { throw JSONParseError("Unescaped control character in string", offset: index) }
                buffer.append(byte)
                index += 1
            }
        }
        throw JSONParseError("Unterminated string", offset: start - 1)
    }

    static func validatedString(_ bytes: UnsafeBufferPointer<UInt8>, offset: Int) throws(JSONParseError) -> String {
        if let string = String(validating: bytes, as: UTF8.self) { return string }
        throw JSONParseError("Invalid UTF-8 in string", offset: offset)
    }

    mutating func parseHex4() throws(JSONParseError) -> UInt32 {
        guard index + 4 <= bytes.count else { throw JSONParseError("Invalid \\u escape", offset: index) }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = bytes[index]
            let digit: UInt32
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(byte - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(byte - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(byte - UInt8(ascii: "A") + 10)
            default: throw JSONParseError("Invalid \\u escape", offset: index)
            }
            value = value << 4 | digit
            index += 1
        }
        return value
    }

    mutating func parseNumber() throws(JSONParseError) -> Double {
        let start = index
        var isInteger = true
        if bytes[index] == UInt8(ascii: "-") { index += 1 }
        guard index < bytes.count else { throw JSONParseError("Invalid number", offset: start) }
        if bytes[index] == UInt8(ascii: "0") {
            index += 1
        } else if (UInt8(ascii: "1")...UInt8(ascii: "9")).contains(bytes[index]) {
            while index < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) { index += 1 }
        } else {
            throw JSONParseError("Invalid number", offset: start)
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            isInteger = false
            index += 1
            let digits = index
            while index < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) { index += 1 }
            if index == digits { throw JSONParseError("Invalid number: expected digits after '.'", offset: index) }
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
            isInteger = false
            index += 1
            if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") { index += 1 }
            let digits = index
            while index < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) { index += 1 }
            if index == digits { throw JSONParseError("Invalid number: expected exponent digits", offset: index) }
        }
        let length = index - start
        // Integers of up to 15 digits are exact in a double: accumulate them directly.
        if isInteger && length <= 16 {
            var value: Int64 = 0
            var i = start
            let negative = bytes[i] == UInt8(ascii: "-")
            if negative { i += 1 }
            if index - i <= 15 {
                while i < index {
                    value = value * 10 + Int64(bytes[i] - UInt8(ascii: "0"))
                    i += 1
                }
                return negative ? -Double(value) : Double(value)
            }
        }
        return Self.strtod(bytes, start: start, length: length)
    }

    static func strtod(_ bytes: UnsafeBufferPointer<UInt8>, start: Int, length: Int) -> Double {
        withUnsafeTemporaryAllocation(of: CChar.self, capacity: length + 1) { buffer in
            for i in 0..<length { buffer[i] = CChar(bitPattern: bytes[start + i]) }
            buffer[length] = 0
            return _strtod(buffer.baseAddress!)
        }
    }
}

@inline(__always) private func _strtod(_ pointer: UnsafePointer<CChar>) -> Double {
    strtod(pointer, nil)
}
