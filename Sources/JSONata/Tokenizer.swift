/// A token of JSONata text. `position` is the offset just past the token, as jsonata-js reports it.
struct Token {
    enum Kind { case `operator`, string, number, name, variable, regex, value, end }
    var kind: Kind
    var text: String  // operator symbol, name, string contents, variable name (without $)
    var number: Double = 0
    var literal: Value? = nil  // true / false / null
    var regexFlags: String = ""
    var position: Int
}

/// Splits JSONata text into tokens on demand; whether `/` starts a regex depends on what the parser expects.
struct Tokenizer {
    let scalars: [Unicode.Scalar]
    var index = 0

    init(_ source: String) { scalars = Array(source.unicodeScalars) }

    static let operators: Set<String> = [
        ".", "[", "]", "{", "}", "(", ")", ",", "@", "#", ";", ":", "?", "+", "-", "*", "/", "%", "|", "=", "<",
        ">", "^", "**", "..", ":=", "!=", "<=", ">=", "~>", "?:", "??", "and", "or", "in", "&", "!", "~",
    ]
    static let singleOperators: Set<Unicode.Scalar> = [
        ".", "[", "]", "{", "}", "(", ")", ",", "@", "#", ";", ":", "?", "+", "-", "*", "/", "%", "|", "=", "<",
        ">", "^", "&", "!", "~",
    ]
    static let escapes: [Unicode.Scalar: String] = [
        "\"": "\"", "\\": "\\", "/": "/", "b": "\u{08}", "f": "\u{0C}", "n": "\n", "r": "\r", "t": "\t",
    ]

    func isWhitespace(_ c: Unicode.Scalar) -> Bool {
        c == " " || c == "\t" || c == "\n" || c == "\r" || c == "\u{0B}"
    }

    mutating func next(regexAllowed: Bool) throws -> Token {
        // Skip white space and comments.
        while index < scalars.count {
            let c = scalars[index]
            if isWhitespace(c) { index += 1; continue }
            if c == "/", index + 1 < scalars.count, scalars[index + 1] == "*" {
                let start = index
                index += 2
                while index + 1 < scalars.count, !(scalars[index] == "*" && scalars[index + 1] == "/") { index += 1 }
                if index + 1 >= scalars.count {
                    throw JSONataError(code: "S0106", position: start, message: "Comment has no closing tag")
                }
                index += 2
                continue
            }
            break
        }
        guard index < scalars.count else { return Token(kind: .end, text: "(end)", position: index) }
        let c = scalars[index]

        if regexAllowed && c == "/" {
            return try scanRegex()
        }
        // Two-character operators.
        if index + 1 < scalars.count {
            let pair = String(String.UnicodeScalarView([c, scalars[index + 1]]))
            if ["..", ":=", "!=", ">=", "<=", "**", "~>", "?:", "??"].contains(pair) {
                index += 2
                return Token(kind: .operator, text: pair, position: index)
            }
        }
        if Self.singleOperators.contains(c) {
            index += 1
            return Token(kind: .operator, text: String(c), position: index)
        }
        if c == "\"" || c == "'" {
            return try scanString(quote: c)
        }
        if ("0"..."9").contains(c) {
            return try scanNumber()
        }
        if c == "`" {
            let start = index
            index += 1
            var name = String.UnicodeScalarView()
            while index < scalars.count, scalars[index] != "`" { name.append(scalars[index]); index += 1 }
            guard index < scalars.count else {
                throw JSONataError(code: "S0105", position: start, message: "Quoted property name must be terminated with a backquote (`)")
            }
            index += 1
            return Token(kind: .name, text: String(name), position: index)
        }
        // Names and variables run up to white space or an operator character.
        var name = String.UnicodeScalarView()
        while index < scalars.count {
            let d = scalars[index]
            if isWhitespace(d) || Self.singleOperators.contains(d) || d == "\"" || d == "'" || d == "`" { break }
            // `?` and `!` etc. are operators already; keep going.
            name.append(d)
            index += 1
        }
        let text = String(name)
        if text.hasPrefix("$") {
            return Token(kind: .variable, text: String(text.dropFirst()), position: index)
        }
        switch text {
        case "and", "or", "in": return Token(kind: .operator, text: text, position: index)
        case "true": return Token(kind: .value, text: text, literal: .bool(true), position: index)
        case "false": return Token(kind: .value, text: text, literal: .bool(false), position: index)
        case "null": return Token(kind: .value, text: text, literal: .null, position: index)
        default:
            if text.isEmpty {
                throw JSONataError(code: "S0204", position: index, token: String(c), message: "Unknown operator: \(c)")
            }
            return Token(kind: .name, text: text, position: index)
        }
    }

    mutating func scanString(quote: Unicode.Scalar) throws -> Token {
        let start = index
        index += 1
        var out = String.UnicodeScalarView()
        while index < scalars.count {
            let c = scalars[index]
            if c == "\\" {
                index += 1
                guard index < scalars.count else { break }
                let e = scalars[index]
                if let mapped = Self.escapes[e] {
                    out.append(contentsOf: mapped.unicodeScalars)
                    index += 1
                } else if e == "u" {
                    guard index + 4 < scalars.count + 0, index + 4 <= scalars.count - 0,
                        let code = UInt32(String(String.UnicodeScalarView(scalars[(index + 1)...(index + 4)])), radix: 16)
                    else {
                        throw JSONataError(
                            code: "S0104", position: index, message: "The escape sequence \\u must be followed by 4 hex digits")
                    }
                    index += 5
                    var scalarValue = code
                    // Surrogate pair?
                    if (0xD800...0xDBFF).contains(code), index + 5 < scalars.count, scalars[index] == "\\", scalars[index + 1] == "u",
                        let low = UInt32(String(String.UnicodeScalarView(scalars[(index + 2)...(index + 5)])), radix: 16),
                        (0xDC00...0xDFFF).contains(low)
                    {
                        scalarValue = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                        index += 6
                    }
                    out.append(Unicode.Scalar(scalarValue) ?? "\u{FFFD}")
                } else {
                    throw JSONataError(code: "S0103", position: index, token: String(e), message: "Unsupported escape sequence: \\\(e)")
                }
            } else if c == quote {
                index += 1
                return Token(kind: .string, text: String(out), position: index)
            } else {
                out.append(c)
                index += 1
            }
        }
        throw JSONataError(code: "S0101", position: start, message: "String literal must be terminated by a matching quote")
    }

    mutating func scanNumber() throws -> Token {
        let start = index
        func digits() { while index < scalars.count, ("0"..."9").contains(scalars[index]) { index += 1 } }
        if scalars[index] == "0" { index += 1 } else { digits() }
        if index + 1 < scalars.count, scalars[index] == ".", ("0"..."9").contains(scalars[index + 1]) {
            index += 1
            digits()
        }
        if index < scalars.count, scalars[index] == "e" || scalars[index] == "E" {
            var look = index + 1
            if look < scalars.count, scalars[look] == "+" || scalars[look] == "-" { look += 1 }
            if look < scalars.count, ("0"..."9").contains(scalars[look]) {
                index = look
                digits()
            }
        }
        let text = String(String.UnicodeScalarView(scalars[start..<index]))
        guard let value = Double(text), value.isFinite else {
            throw JSONataError(code: "S0102", position: index, token: text, message: "Number out of range: \(text)")
        }
        return Token(kind: .number, text: text, number: value, position: index)
    }

    mutating func scanRegex() throws -> Token {
        let start = index
        index += 1
        var pattern = String.UnicodeScalarView()
        var depth = 0
        while index < scalars.count {
            let c = scalars[index]
            if c == "/" && depth == 0 && (pattern.last != "\\" || isEscapedSlashEnd(pattern)) {
                break
            }
            if c == "[" { depth += 1 } else if c == "]" && depth > 0 { depth -= 1 }
            pattern.append(c)
            index += 1
        }
        guard index < scalars.count else {
            throw JSONataError(code: "S0302", position: start, message: "No terminating / in regular expression")
        }
        index += 1
        var flags = ""
        while index < scalars.count, ["i", "m", "g", "s", "u", "y"].contains(scalars[index]) {
            flags.unicodeScalars.append(scalars[index])
            index += 1
        }
        let text = String(pattern)
        if text.isEmpty {
            throw JSONataError(code: "S0301", position: index, message: "Empty regular expressions are not allowed")
        }
        return Token(kind: .regex, text: text, regexFlags: flags, position: index)
    }

    /// `\\/` ends a regex (an escaped backslash before the slash); `\/` does not.
    func isEscapedSlashEnd(_ pattern: String.UnicodeScalarView) -> Bool {
        var backslashes = 0
        var i = pattern.endIndex
        while i > pattern.startIndex {
            i = pattern.index(before: i)
            if pattern[i] == "\\" { backslashes += 1 } else { break }
        }
        return backslashes % 2 == 0
    }
}
