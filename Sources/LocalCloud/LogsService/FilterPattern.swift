import Foundation
import JSONCore

/// A CloudWatch Logs filter pattern, as FilterLogEvents and metric filters read it.
///
/// - Terms: `ERROR Exception` (every term must appear), `"exact phrase"`, `?ERROR ?WARN` (any of them),
///   `-DEBUG` (must not appear). Terms match case-sensitively anywhere in the message.
/// - JSON: `{ $.level = "error" }`, `{ $.latency > 500 && $.path != "/health" }`, `||`, parentheses,
///   `*` wildcards in strings, `IS TRUE`, `IS FALSE`, `IS NULL`, `EXISTS`, `NOT EXISTS`, arrays as `$.a[0]`.
///   Messages that are not JSON objects never match a JSON pattern.
/// - Space-delimited: `[ip, user, status=404, bytes>1000, ...]`, fields split on spaces with `"..."` and
///   `[...]` kept whole; `...` matches any number of fields.
public struct FilterPattern: Sendable {
    enum Kind: Sendable {
        case everything
        case terms(required: [String], optional: [String], excluded: [String])
        case json(JSONCondition)
        case delimited([DelimitedField])
    }

    let kind: Kind

    public init(_ text: String) throws(FilterPatternError) {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if trimmed.isEmpty || trimmed == "\"\"" {
            kind = .everything
        } else if trimmed.hasPrefix("{") {
            guard trimmed.hasSuffix("}") else { throw FilterPatternError("missing closing }") }
            var parser = JSONConditionParser(String(trimmed.dropFirst().dropLast()))
            kind = .json(try parser.parse())
        } else if trimmed.hasPrefix("[") {
            guard trimmed.hasSuffix("]") else { throw FilterPatternError("missing closing ]") }
            kind = .delimited(try DelimitedField.parse(String(trimmed.dropFirst().dropLast())))
        } else {
            kind = try Self.parseTerms(trimmed)
        }
    }

    public func matches(_ message: String) -> Bool {
        switch kind {
        case .everything:
            return true
        case .terms(let required, let optional, let excluded):
            if !required.allSatisfy({ message.contains($0) }) { return false }
            if !optional.isEmpty && !optional.contains(where: { message.contains($0) }) { return false }
            return !excluded.contains { message.contains($0) }
        case .json(let condition):
            guard let value = try? JSON(parsing: Array(message.utf8)), value.objectValue != nil else { return false }
            return condition.evaluate(value)
        case .delimited(let fields):
            return DelimitedField.matches(fields, DelimitedField.split(message))
        }
    }

    static func parseTerms(_ text: String) throws(FilterPatternError) -> Kind {
        var required: [String] = []
        var optional: [String] = []
        var excluded: [String] = []
        var index = text.startIndex
        while index < text.endIndex {
            if text[index] == " " || text[index] == "\t" { index = text.index(after: index); continue }
            var prefix: Character? = nil
            if text[index] == "?" || text[index] == "-" {
                prefix = text[index]
                index = text.index(after: index)
                guard index < text.endIndex else { throw FilterPatternError("a term must follow \(prefix!)") }
            }
            var term = ""
            if text[index] == "\"" {
                index = text.index(after: index)
                var closed = false
                while index < text.endIndex {
                    let character = text[index]
                    if character == "\\", text.index(after: index) < text.endIndex {
                        index = text.index(after: index)
                        term.append(text[index])
                    } else if character == "\"" {
                        closed = true
                        index = text.index(after: index)
                        break
                    } else {
                        term.append(character)
                    }
                    index = text.index(after: index)
                }
                guard closed else { throw FilterPatternError("unterminated quoted term") }
            } else {
                while index < text.endIndex, text[index] != " ", text[index] != "\t" {
                    term.append(text[index])
                    index = text.index(after: index)
                }
            }
            switch prefix {
            case "?": optional.append(term)
            case "-": excluded.append(term)
            default: required.append(term)
            }
        }
        return .terms(required: required, optional: optional, excluded: excluded)
    }
}

public struct FilterPatternError: Error, Sendable, CustomStringConvertible {
    public var message: String
    init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// A value a pattern compares with: a number, or a string that may hold `*` wildcards.
enum PatternValue: Sendable, Equatable {
    case number(Double)
    case string(String)

    /// Whether `text` equals this value: numerically for numbers, with `*` wildcards for strings.
    func equals(_ text: String) -> Bool {
        switch self {
        case .number(let number): return Double(text) == number
        case .string(let pattern): return Self.wildcard(pattern, text)
        }
    }

    static func wildcard(_ pattern: String, _ text: String) -> Bool {
        guard pattern.contains("*") else { return pattern == text }
        let parts = pattern.split(separator: "*", omittingEmptySubsequences: false).map(String.init)
        var rest = Substring(text)
        for (index, part) in parts.enumerated() {
            if index == 0 {
                guard rest.hasPrefix(part) else { return false }
                rest = rest.dropFirst(part.count)
            } else if index == parts.count - 1 {
                return part.isEmpty || rest.hasSuffix(part)
            } else if !part.isEmpty {
                guard let range = rest.range(of: part) else { return false }
                rest = rest[range.upperBound...]
            }
        }
        return true
    }
}

enum ComparisonOperator: String, Sendable {
    case equal = "=", notEqual = "!=", less = "<", greater = ">", lessOrEqual = "<=", greaterOrEqual = ">="

    func holds(_ text: String, _ value: PatternValue) -> Bool {
        switch self {
        case .equal: return value.equals(text)
        case .notEqual: return !value.equals(text)
        default:
            guard case .number(let limit) = value, let number = Double(text) else { return false }
            switch self {
            case .less: return number < limit
            case .greater: return number > limit
            case .lessOrEqual: return number <= limit
            default: return number >= limit
            }
        }
    }
}

/// The condition inside `{ ... }`.
indirect enum JSONCondition: Sendable {
    enum Test: Sendable { case compare(ComparisonOperator, PatternValue), isTrue, isFalse, isNull, exists, notExists }
    case test(path: [JSONPathStep], Test)
    case and(JSONCondition, JSONCondition)
    case or(JSONCondition, JSONCondition)

    func evaluate(_ document: JSON) -> Bool {
        switch self {
        case .and(let left, let right): return left.evaluate(document) && right.evaluate(document)
        case .or(let left, let right): return left.evaluate(document) || right.evaluate(document)
        case .test(let path, let test):
            var values: [JSON] = [document]
            for step in path {
                values = values.flatMap { value -> [JSON] in
                    switch step {
                    case .key(let key): return value[key].map { [$0] } ?? []
                    case .index(let index): return value[index].map { [$0] } ?? []
                    case .anyElement: return value.arrayValue ?? value.objectValue.map { Array($0.values) } ?? []
                    }
                }
            }
            switch test {
            case .exists: return !values.isEmpty
            case .notExists: return values.isEmpty
            case .isNull: return values.contains { $0.isNull }
            case .isTrue: return values.contains { $0.boolValue == true }
            case .isFalse: return values.contains { $0.boolValue == false }
            case .compare(let op, let expected):
                let scalars = values.compactMap { value -> String? in
                    switch value {
                    case .string(let text): return text
                    case .number(let number): return number == number.rounded() && abs(number) < 1e15 ? String(Int(number)) : String(number)
                    case .bool(let flag): return String(flag)
                    case .null: return "null"
                    default: return nil
                    }
                }
                if op == .notEqual { return !scalars.isEmpty && scalars.allSatisfy { op.holds($0, expected) } }
                return scalars.contains { op.holds($0, expected) }
            }
        }
    }
}

enum JSONPathStep: Sendable, Equatable {
    case key(String)
    case index(Int)
    case anyElement
}

/// Recursive descent over `selector op value (&& | ||) ...`, with `&&` binding tighter than `||`.
struct JSONConditionParser {
    let characters: [Character]
    var position = 0

    init(_ text: String) { characters = Array(text) }

    mutating func parse() throws(FilterPatternError) -> JSONCondition {
        let condition = try parseOr()
        skipSpaces()
        guard position == characters.count else { throw FilterPatternError("unexpected '\(String(characters[position...]))'") }
        return condition
    }

    mutating func parseOr() throws(FilterPatternError) -> JSONCondition {
        var left = try parseAnd()
        while consume("||") { left = .or(left, try parseAnd()) }
        return left
    }

    mutating func parseAnd() throws(FilterPatternError) -> JSONCondition {
        var left = try parsePrimary()
        while consume("&&") { left = .and(left, try parsePrimary()) }
        return left
    }

    mutating func parsePrimary() throws(FilterPatternError) -> JSONCondition {
        if consume("(") {
            let inner = try parseOr()
            guard consume(")") else { throw FilterPatternError("missing )") }
            return inner
        }
        skipSpaces()
        guard position < characters.count, characters[position] == "$" else {
            throw FilterPatternError("expected a selector starting with $")
        }
        position += 1
        var path: [JSONPathStep] = []
        while position < characters.count {
            let character = characters[position]
            if character == "." {
                position += 1
                var key = ""
                while position < characters.count,
                    characters[position].isLetter || characters[position].isNumber || "_-@:".contains(characters[position])
                {
                    key.append(characters[position]); position += 1
                }
                if key.isEmpty, position < characters.count, characters[position] == "*" {
                    position += 1; path.append(.anyElement); continue
                }
                guard !key.isEmpty else { throw FilterPatternError("expected a field name after .") }
                path.append(.key(key))
            } else if character == "[" {
                position += 1
                var digits = ""
                while position < characters.count, characters[position] != "]" { digits.append(characters[position]); position += 1 }
                guard position < characters.count else { throw FilterPatternError("missing ]") }
                position += 1
                if digits == "*" {
                    path.append(.anyElement)
                } else if let index = Int(digits) {
                    path.append(.index(index))
                } else {
                    throw FilterPatternError("invalid array index [\(digits)]")
                }
            } else {
                break
            }
        }
        skipSpaces()
        for (word, test) in [
            ("IS TRUE", JSONCondition.Test.isTrue), ("IS FALSE", .isFalse), ("IS NULL", .isNull), ("NOT EXISTS", .notExists),
            ("EXISTS", .exists),
        ] where consumeWord(word) {
            return .test(path: path, test)
        }
        var op: ComparisonOperator? = nil
        for candidate in ["!=", "<=", ">=", "=", "<", ">"] where consume(candidate) {
            op = ComparisonOperator(rawValue: candidate)
            break
        }
        guard let op else { throw FilterPatternError("expected a comparison operator after the selector") }
        skipSpaces()
        return .test(path: path, .compare(op, try parseValue()))
    }

    mutating func parseValue() throws(FilterPatternError) -> PatternValue {
        guard position < characters.count else { throw FilterPatternError("expected a value") }
        if characters[position] == "\"" {
            position += 1
            var text = ""
            while position < characters.count, characters[position] != "\"" {
                if characters[position] == "\\", position + 1 < characters.count { position += 1 }
                text.append(characters[position]); position += 1
            }
            guard position < characters.count else { throw FilterPatternError("unterminated string") }
            position += 1
            return .string(text)
        }
        var text = ""
        while position < characters.count, !characters[position].isWhitespace, characters[position] != ")",
            !(characters[position] == "&" || characters[position] == "|")
        {
            text.append(characters[position]); position += 1
        }
        guard !text.isEmpty else { throw FilterPatternError("expected a value") }
        if let number = Double(text) { return .number(number) }
        return .string(text)
    }

    mutating func skipSpaces() {
        while position < characters.count, characters[position].isWhitespace { position += 1 }
    }

    mutating func consume(_ token: String) -> Bool {
        skipSpaces()
        let tokenCharacters = Array(token)
        guard position + tokenCharacters.count <= characters.count,
            Array(characters[position..<position + tokenCharacters.count]) == tokenCharacters
        else { return false }
        position += tokenCharacters.count
        return true
    }

    mutating func consumeWord(_ word: String) -> Bool {
        let start = position
        for part in word.split(separator: " ") {
            skipSpaces()
            let partCharacters = Array(part)
            guard position + partCharacters.count <= characters.count,
                Array(characters[position..<position + partCharacters.count]) == partCharacters
            else { position = start; return false }
            position += partCharacters.count
        }
        return true
    }
}

/// One field of a space-delimited pattern: a name, optionally with a condition, or `...`.
struct DelimitedField: Sendable {
    var name: String
    var condition: (ComparisonOperator, PatternValue)?
    var isEllipsis: Bool { name == "..." }

    static func parse(_ text: String) throws(FilterPatternError) -> [DelimitedField] {
        var fields: [DelimitedField] = []
        for raw in text.split(separator: ",") {
            let item = raw.trimmingCharacters(in: .whitespaces)
            guard !item.isEmpty else { throw FilterPatternError("empty field in [...]") }
            var found: (String, ComparisonOperator, String)? = nil
            for candidate in ["!=", "<=", ">=", "=", "<", ">"] {
                if let range = item.range(of: candidate) {
                    found = (
                        String(item[..<range.lowerBound]).trimmingCharacters(in: .whitespaces),
                        ComparisonOperator(rawValue: candidate)!,
                        String(item[range.upperBound...]).trimmingCharacters(in: .whitespaces)
                    )
                    break
                }
            }
            if let (name, op, valueText) = found {
                var value = valueText
                if value.hasPrefix("\""), value.hasSuffix("\""), value.count >= 2 { value = String(value.dropFirst().dropLast()) }
                fields.append(DelimitedField(name: name, condition: (op, Double(value).map(PatternValue.number) ?? .string(value))))
            } else {
                fields.append(DelimitedField(name: item, condition: nil))
            }
        }
        return fields
    }

    /// Splits a message on spaces, keeping `"quoted"` and `[bracketed]` fields whole (without their delimiters).
    static func split(_ message: String) -> [String] {
        var fields: [String] = []
        var current = ""
        var closing: Character? = nil
        var started = false
        for character in message {
            if let close = closing {
                if character == close { closing = nil } else { current.append(character) }
            } else if character == " " {
                if started { fields.append(current); current = ""; started = false }
            } else if !started && (character == "\"" || character == "[") {
                closing = character == "\"" ? "\"" : "]"
                started = true
            } else {
                current.append(character)
                started = true
            }
        }
        if started { fields.append(current) }
        return fields
    }

    static func matches(_ pattern: [DelimitedField], _ values: [String]) -> Bool {
        guard let first = pattern.first else { return values.isEmpty }
        if first.isEllipsis {
            for skip in 0...values.count where matches(Array(pattern.dropFirst()), Array(values.dropFirst(skip))) { return true }
            return false
        }
        guard let value = values.first else { return false }
        if let (op, expected) = first.condition, !op.holds(value, expected) { return false }
        return matches(Array(pattern.dropFirst()), Array(values.dropFirst()))
    }
}
