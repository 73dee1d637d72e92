import AWSProtocol
import Foundation
import JSONCore

/// An EventBridge event pattern: validated when a rule is put, matched against each event.
///
/// The smallest adapter until the `EventPatterns` library (branch `schedules`) lands: exact values, nested
/// fields, arrays in events, `prefix`, `suffix`, `equals-ignore-case`, `anything-but`, `exists`, `numeric`,
/// and `$or`.
public struct EventPattern: Sendable {
    let root: JSONObject

    public init(_ text: String) throws(AWSError) {
        guard let json = try? JSON(parsing: text), case .object(let object) = json else {
            throw Self.invalid("Filter is not an object")
        }
        try Self.validate(object)
        root = object
    }

    static func invalid(_ reason: String) -> AWSError {
        AWSError("InvalidEventPatternException", "Event pattern is not valid. Reason: \(reason)")
    }

    static func validate(_ object: JSONObject) throws(AWSError) {
        for (key, value) in object {
            switch value {
            case .object(let nested): try validate(nested)
            case .array(let items):
                if key == "$or" {
                    for item in items {
                        guard case .object(let branch) = item else { throw invalid("$or must contain objects") }
                        try validate(branch)
                    }
                    continue
                }
                for item in items {
                    if case .object(let rule) = item {
                        guard rule.count == 1, let name = rule.keys.first,
                              ["prefix", "suffix", "equals-ignore-case", "anything-but", "exists", "numeric", "wildcard", "cidr"].contains(name) else {
                            throw invalid("Unrecognized match type \(rule.keys.first ?? "")")
                        }
                        if name == "numeric", rule[name]?.arrayValue == nil { throw invalid("Value of numeric must be an array.") }
                        if name == "exists", rule[name]?.boolValue == nil { throw invalid("exists match pattern must be either true or false.") }
                    } else if case .array = item {
                        throw invalid("Match value must be String, number, true, false, or null")
                    }
                }
            default:
                throw invalid("Match value must be String, number, true, false, or null")
            }
        }
    }

    public func matches(_ event: JSON) -> Bool { Self.match(root, event.objectValue ?? [:]) }

    static func match(_ pattern: JSONObject, _ event: JSONObject) -> Bool {
        for (key, value) in pattern {
            if key == "$or" {
                guard let branches = value.arrayValue, branches.contains(where: { match($0.objectValue ?? [:], event) }) else { return false }
                continue
            }
            let field = event[key]
            switch value {
            case .object(let nested):
                guard case .object(let inner)? = field else { return false }
                if !match(nested, inner) { return false }
            case .array(let matchers):
                let values: [JSON?] = field.map { if case .array(let a) = $0 { a.map { Optional($0) } } else { [$0] } } ?? [nil]
                guard matchers.contains(where: { matcher in values.contains { matchValue(matcher, $0) } }) else { return false }
            default:
                return false
            }
        }
        return true
    }

    static func matchValue(_ matcher: JSON, _ value: JSON?) -> Bool {
        guard case .object(let rule) = matcher, let name = rule.keys.first, let argument = rule[name] else {
            guard let value else { return false }
            return matcher == value
        }
        switch name {
        case "exists": return (value != nil) == (argument.boolValue ?? true)
        case "prefix":
            if case .object(let o) = argument, let p = o["equals-ignore-case"]?.stringValue {
                return value?.stringValue?.lowercased().hasPrefix(p.lowercased()) ?? false
            }
            return argument.stringValue.map { p in value?.stringValue?.hasPrefix(p) ?? false } ?? false
        case "suffix":
            if case .object(let o) = argument, let p = o["equals-ignore-case"]?.stringValue {
                return value?.stringValue?.lowercased().hasSuffix(p.lowercased()) ?? false
            }
            return argument.stringValue.map { p in value?.stringValue?.hasSuffix(p) ?? false } ?? false
        case "equals-ignore-case":
            return value?.stringValue?.lowercased() == argument.stringValue?.lowercased()
        case "wildcard":
            guard let text = value?.stringValue, let p = argument.stringValue else { return false }
            return wildcard(Array(p), Array(text))
        case "anything-but":
            guard let value else { return false }
            switch argument {
            case .array(let excluded): return !excluded.contains(value)
            case .object(let o):
                if let p = o["prefix"]?.stringValue { return !(value.stringValue?.hasPrefix(p) ?? false) }
                if let s = o["suffix"]?.stringValue { return !(value.stringValue?.hasSuffix(s) ?? false) }
                return true
            default: return argument != value
            }
        case "numeric":
            guard let n = value?.numberValue, let terms = argument.arrayValue else { return false }
            var i = 0
            while i + 1 < terms.count {
                guard let op = terms[i].stringValue, let bound = terms[i + 1].numberValue else { return false }
                let ok = switch op {
                case "<": n < bound
                case "<=": n <= bound
                case ">": n > bound
                case ">=": n >= bound
                case "=": n == bound
                default: false
                }
                if !ok { return false }
                i += 2
            }
            return true
        default:
            return false
        }
    }

    static func wildcard(_ p: [Character], _ s: [Character]) -> Bool {
        var (pi, si, star, mark) = (0, 0, -1, 0)
        while si < s.count {
            if pi < p.count && p[pi] == s[si] { pi += 1; si += 1 }
            else if pi < p.count && p[pi] == "*" { star = pi; mark = si; pi += 1 }
            else if star >= 0 { pi = star + 1; mark += 1; si = mark }
            else { return false }
        }
        while pi < p.count && p[pi] == "*" { pi += 1 }
        return pi == p.count
    }
}
