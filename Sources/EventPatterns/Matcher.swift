import Foundation
import JSONCore

/// One entry of a pattern field's array: an exact value or a comparison operator, tested against a field's leaf
/// values (it matches when any leaf does, except `exists`, which looks at whether there are leaves at all).
enum Matcher: Sendable {
    case equals(JSON)
    case prefix(String, ignoringCase: Bool)
    case suffix(String, ignoringCase: Bool)
    case equalsIgnoringCase(String)
    case wildcard(Wildcard)
    case anythingBut(Exclusion)
    case numeric([(NumericOperator, Double)])
    case exists(Bool)
    case cidr(CIDRBlock)

    enum NumericOperator: String, Sendable {
        case less = "<", lessOrEqual = "<=", greater = ">", greaterOrEqual = ">=", equal = "="
    }

    /// What `anything-but` excludes.
    enum Exclusion: Sendable {
        case values([JSON])
        case prefixes([String])
        case suffixes([String])
        case equalsIgnoringCase([String])
        case wildcards([Wildcard])
    }

    init(_ item: JSON) throws(EventPatternError) {
        guard case .object(let rule) = item else {
            if case .array = item { throw EventPatternError("Match value must be String, number, true, false, or null") }
            self = .equals(item)
            return
        }
        guard rule.count == 1, let (name, argument) = rule.elements.first.map({ ($0.key, $0.value) }) else {
            throw EventPatternError(rule.isEmpty ? "Empty objects are not allowed" : "A match object holds exactly one match type")
        }
        switch name {
        case "prefix", "suffix":
            let (text, ignoringCase) = try Self.affix(argument, name: name)
            self = name == "prefix" ? .prefix(text, ignoringCase: ignoringCase) : .suffix(text, ignoringCase: ignoringCase)
        case "equals-ignore-case":
            guard let text = argument.stringValue else { throw EventPatternError("equals-ignore-case match pattern must be a string") }
            self = .equalsIgnoringCase(text)
        case "wildcard":
            guard let text = argument.stringValue else { throw EventPatternError("wildcard match pattern must be a string") }
            self = .wildcard(try Wildcard(text))
        case "anything-but":
            self = .anythingBut(try Self.exclusion(argument))
        case "numeric":
            self = .numeric(try Self.numeric(argument))
        case "exists":
            guard let flag = argument.boolValue else { throw EventPatternError("exists match pattern must be either true or false.") }
            self = .exists(flag)
        case "cidr":
            guard let text = argument.stringValue else { throw EventPatternError("prefix/cidr match pattern must be a string") }
            guard let block = CIDRBlock(text) else { throw EventPatternError("Nonstandard IP address: \(text)") }
            self = .cidr(block)
        default:
            throw EventPatternError("Unrecognized match type \(name)")
        }
    }

    static func affix(_ argument: JSON, name: String) throws(EventPatternError) -> (String, Bool) {
        if let text = argument.stringValue { return (text, false) }
        if case .object(let o) = argument, o.count == 1, let text = o["equals-ignore-case"]?.stringValue { return (text, true) }
        throw EventPatternError("\(name) match pattern must be a string or an equals-ignore-case object")
    }

    static func exclusion(_ argument: JSON) throws(EventPatternError) -> Exclusion {
        func strings(_ value: JSON, _ kind: String) throws(EventPatternError) -> [String] {
            if let text = value.stringValue { return [text] }
            if case .array(let items) = value, !items.isEmpty, items.allSatisfy({ $0.stringValue != nil }) {
                return items.compactMap(\.stringValue)
            }
            throw EventPatternError("Value of \(kind) inside anything-but must be a string or an array of strings")
        }
        switch argument {
        case .string, .number:
            return .values([argument])
        case .array(let items):
            let allStrings = items.allSatisfy { $0.stringValue != nil }, allNumbers = items.allSatisfy { $0.numberValue != nil }
            guard !items.isEmpty, allStrings || allNumbers else {
                throw EventPatternError("Inside anything but list, start|null|boolean is not supported.")
            }
            return .values(items)
        case .object(let o):
            guard o.count == 1, let (name, value) = o.elements.first.map({ ($0.key, $0.value) }) else {
                throw EventPatternError("Value of anything-but must be an array or single string/number value.")
            }
            switch name {
            case "prefix": return .prefixes(try strings(value, name))
            case "suffix": return .suffixes(try strings(value, name))
            case "equals-ignore-case": return .equalsIgnoringCase(try strings(value, name))
            case "wildcard":
                var patterns: [Wildcard] = []
                for text in try strings(value, name) { patterns.append(try Wildcard(text)) }
                return .wildcards(patterns)
            default: throw EventPatternError("Unsupported anything-but pattern: \(name)")
            }
        default:
            throw EventPatternError("Value of anything-but must be an array or single string/number value.")
        }
    }

    static func numeric(_ argument: JSON) throws(EventPatternError) -> [(NumericOperator, Double)] {
        guard case .array(let terms) = argument, !terms.isEmpty, terms.count % 2 == 0 else {
            throw EventPatternError("Value of numeric must be an array.")
        }
        var comparisons: [(NumericOperator, Double)] = []
        for index in stride(from: 0, to: terms.count, by: 2) {
            guard let name = terms[index].stringValue, let op = NumericOperator(rawValue: name) else {
                throw EventPatternError("Unrecognized numeric range operator: \(terms[index].serialized())")
            }
            guard let bound = terms[index + 1].numberValue else {
                throw EventPatternError("Value of \(name) must be numeric")
            }
            comparisons.append((op, bound))
        }
        // At most one lower and one upper bound (or a single `=`), lower first, as EventBridge requires.
        let lowers = comparisons.filter { $0.0 == .greater || $0.0 == .greaterOrEqual }
        let uppers = comparisons.filter { $0.0 == .less || $0.0 == .lessOrEqual }
        let equals = comparisons.filter { $0.0 == .equal }
        if comparisons.count > 2 || lowers.count > 1 || uppers.count > 1 || (!equals.isEmpty && comparisons.count > 1) {
            throw EventPatternError("Too many elements in numeric expression")
        }
        if let low = lowers.first?.1, let high = uppers.first?.1, low >= high {
            throw EventPatternError("Bottom must be less than top")
        }
        return comparisons
    }

    // MARK: Matching

    func matches(_ leaves: [JSON]) -> Bool {
        switch self {
        case .exists(let wanted): return leaves.isEmpty != wanted
        default: return leaves.contains(where: matches)
        }
    }

    func matches(_ value: JSON) -> Bool {
        switch self {
        case .equals(let expected):
            return expected == value
        case .prefix(let text, let ignoringCase):
            guard let string = value.stringValue else { return false }
            return ignoringCase ? string.lowercased().hasPrefix(text.lowercased()) : string.hasPrefix(text)
        case .suffix(let text, let ignoringCase):
            guard let string = value.stringValue else { return false }
            return ignoringCase ? string.lowercased().hasSuffix(text.lowercased()) : string.hasSuffix(text)
        case .equalsIgnoringCase(let text):
            return value.stringValue?.lowercased() == text.lowercased()
        case .wildcard(let pattern):
            return value.stringValue.map(pattern.matches) ?? false
        case .anythingBut(let exclusion):
            return exclusion.admits(value)
        case .numeric(let comparisons):
            guard let n = value.numberValue else { return false }
            return comparisons.allSatisfy { op, bound in
                switch op {
                case .less: n < bound
                case .lessOrEqual: n <= bound
                case .greater: n > bound
                case .greaterOrEqual: n >= bound
                case .equal: n == bound
                }
            }
        case .exists:
            return true
        case .cidr(let block):
            return value.stringValue.flatMap(IPAddress.init).map(block.contains) ?? false
        }
    }
}

extension Matcher.Exclusion {
    /// Whether a leaf value is outside the exclusion. Affix and wildcard exclusions only admit strings.
    func admits(_ value: JSON) -> Bool {
        switch self {
        case .values(let excluded): return !excluded.contains(value)
        case .prefixes(let p): return value.stringValue.map { s in !p.contains(where: s.hasPrefix) } ?? false
        case .suffixes(let p): return value.stringValue.map { s in !p.contains(where: s.hasSuffix) } ?? false
        case .equalsIgnoringCase(let p):
            return value.stringValue.map { s in !p.contains(where: { $0.lowercased() == s.lowercased() }) } ?? false
        case .wildcards(let p): return value.stringValue.map { s in !p.contains(where: { $0.matches(s) }) } ?? false
        }
    }
}

/// A `wildcard` pattern: `*` matches any run of characters, `\*` a literal star and `\\` a backslash.
struct Wildcard: Sendable {
    enum Piece: Sendable, Equatable { case literal(Character), star }
    let pieces: [Piece]

    init(_ text: String) throws(EventPatternError) {
        var pieces: [Piece] = []
        var escaped = false
        for (offset, c) in text.enumerated() {
            if escaped {
                guard c == "*" || c == "\\" else { throw EventPatternError("Invalid escape character at pos \(offset)") }
                pieces.append(.literal(c))
                escaped = false
            } else if c == "\\" {
                escaped = true
            } else if c == "*" {
                if pieces.last == .star { throw EventPatternError("Consecutive wildcard characters at pos \(offset)") }
                pieces.append(.star)
            } else {
                pieces.append(.literal(c))
            }
        }
        if escaped { throw EventPatternError("Invalid escape character at pos \(text.count - 1)") }
        self.pieces = pieces
    }

    /// Greedy matching with backtracking to the last star: linear for the patterns EventBridge admits.
    func matches(_ text: String) -> Bool {
        let s = Array(text)
        var (p, i, star, mark) = (0, 0, -1, 0)
        while i < s.count {
            if p < pieces.count, case .literal(let c) = pieces[p], c == s[i] {
                p += 1; i += 1
            } else if p < pieces.count, pieces[p] == .star {
                star = p; mark = i; p += 1
            } else if star >= 0 {
                p = star + 1; mark += 1; i = mark
            } else {
                return false
            }
        }
        while p < pieces.count, pieces[p] == .star { p += 1 }
        return p == pieces.count
    }
}
