import Foundation
import JSONCore

/// A rule of a Choice state: a JSONPath comparison (`Variable` + operator), a boolean combination
/// (`And`/`Or`/`Not`), or a JSONata `Condition`.
public indirect enum ChoiceRuleKind: Sendable {
    case compare(variable: String, op: String, value: JSON)
    case and([ChoiceRule])
    case or([ChoiceRule])
    case not(ChoiceRule)
    case condition(String)
}

public struct ChoiceRule: Sendable {
    public var kind: ChoiceRuleKind
    public var next: String?
    public var assign: JSON?
    public var output: JSON?

    static let comparisons: Set<String> = [
        "StringEquals", "StringEqualsPath", "StringLessThan", "StringLessThanPath", "StringGreaterThan", "StringGreaterThanPath",
        "StringLessThanEquals", "StringLessThanEqualsPath", "StringGreaterThanEquals", "StringGreaterThanEqualsPath", "StringMatches",
        "NumericEquals", "NumericEqualsPath", "NumericLessThan", "NumericLessThanPath", "NumericGreaterThan", "NumericGreaterThanPath",
        "NumericLessThanEquals", "NumericLessThanEqualsPath", "NumericGreaterThanEquals", "NumericGreaterThanEqualsPath",
        "BooleanEquals", "BooleanEqualsPath", "TimestampEquals", "TimestampEqualsPath", "TimestampLessThan", "TimestampLessThanPath",
        "TimestampGreaterThan", "TimestampGreaterThanPath", "TimestampLessThanEquals", "TimestampLessThanEqualsPath",
        "TimestampGreaterThanEquals", "TimestampGreaterThanEqualsPath", "IsNull", "IsPresent", "IsNumeric", "IsString", "IsBoolean",
        "IsTimestamp",
    ]

    /// How deep `And`, `Or` and `Not` may nest. Parsing a rule and evaluating it recurse once per level (a debug
    /// build spends about 5 KB of stack on each level of parsing): a bound well within what a thread's stack
    /// survives, and far beyond what a workflow uses.
    public static let maxNesting = 100

    /// `depth` counts this rule: 1 for a rule of `Choices`, 2 for a rule in its `And`, `Or` or `Not`, ...
    static func parse(
        _ json: JSON, path: String, top: Bool, language: QueryLanguage, depth: Int = 1, diagnostics: inout [Diagnostic]
    ) -> ChoiceRule {
        var rule = ChoiceRule(kind: .and([]), next: json["Next"]?.stringValue, assign: json["Assign"], output: json["Output"])
        guard depth <= maxNesting else {
            diagnostics.append(
                Diagnostic(
                    code: "SCHEMA_VALIDATION_FAILED", message: "Choice rules nest And, Or and Not at most \(maxNesting) deep",
                    location: path))
            return rule
        }
        if top && rule.next == nil {
            diagnostics.append(Diagnostic(code: "SCHEMA_VALIDATION_FAILED", message: "These fields are required: [Next]", location: path))
        }
        if let assign = json["Assign"] {
            if language == .jsonPath {
                PayloadTemplate.validate(assign, at: path + "/Assign", &diagnostics)
            } else {
                StateDefinition.validateJSONata(assign, at: path + "/Assign", &diagnostics)
            }
            Assignment.validate(assign, at: path + "/Assign", &diagnostics)
        }
        if language == .jsonata {
            guard let condition = json["Condition"]?.stringValue else {
                diagnostics.append(
                    Diagnostic(code: "SCHEMA_VALIDATION_FAILED", message: "These fields are required: [Condition]", location: path))
                return rule
            }
            StateDefinition.validateJSONata(.string(condition), at: path + "/Condition", &diagnostics)
            rule.kind = .condition(condition)
            return rule
        }
        if let and = json["And"]?.arrayValue {
            rule.kind = .and(
                and.enumerated().map {
                    parse($1, path: "\(path)/And/\($0)", top: false, language: language, depth: depth + 1, diagnostics: &diagnostics)
                })
        } else if let or = json["Or"]?.arrayValue {
            rule.kind = .or(
                or.enumerated().map {
                    parse($1, path: "\(path)/Or/\($0)", top: false, language: language, depth: depth + 1, diagnostics: &diagnostics)
                })
        } else if let not = json["Not"] {
            rule.kind = .not(parse(not, path: "\(path)/Not", top: false, language: language, depth: depth + 1, diagnostics: &diagnostics))
        } else if let variable = json["Variable"]?.stringValue, let op = json.objectValue?.keys.first(where: comparisons.contains) {
            rule.kind = .compare(variable: variable, op: op, value: json[op]!)
            if !PayloadTemplate.isValidPath(variable) {
                diagnostics.append(
                    Diagnostic(
                        code: "INVALID_JSON_PATH", message: "Invalid JSON path in field Variable: \(variable)", location: path + "/Variable"
                    ))
            }
            if op.hasSuffix("Path"), let other = json[op]?.stringValue, !PayloadTemplate.isValidPath(other) {
                diagnostics.append(
                    Diagnostic(code: "INVALID_JSON_PATH", message: "Invalid JSON path in field \(op): \(other)", location: path + "/" + op))
            }
        } else {
            diagnostics.append(
                Diagnostic(
                    code: "SCHEMA_VALIDATION_FAILED", message: "A choice rule needs Variable and a comparison operator, or And, Or, Not",
                    location: path))
        }
        return rule
    }

    func matches(input: JSON, context: JSON, variables: VariableScope? = nil, evaluateCondition: (String) throws -> Bool) throws -> Bool {
        switch kind {
        case .and(let rules):
            for r in rules where try !r.matches(input: input, context: context, variables: variables, evaluateCondition: evaluateCondition)
            { return false }
            return true
        case .or(let rules):
            for r in rules where try r.matches(input: input, context: context, variables: variables, evaluateCondition: evaluateCondition) {
                return true
            }
            return false
        case .not(let r):
            return try !r.matches(input: input, context: context, variables: variables, evaluateCondition: evaluateCondition)
        case .condition(let c):
            return try evaluateCondition(c)
        case .compare(let variable, let op, let expected):
            let value = try PayloadTemplate.select(variable, input: input, context: context, variables: variables)
            switch op {
            case "IsPresent": return (value != nil) == (expected.boolValue ?? true)
            case "IsNull": return (value == .null) == (expected.boolValue ?? true)
            case "IsNumeric": return (value?.numberValue != nil) == (expected.boolValue ?? true)
            case "IsString": return (value?.stringValue != nil) == (expected.boolValue ?? true)
            case "IsBoolean": return (value?.boolValue != nil) == (expected.boolValue ?? true)
            case "IsTimestamp": return (value?.stringValue.flatMap(Self.timestamp) != nil) == (expected.boolValue ?? true)
            default: break
            }
            guard let value else {
                throw StatesError(
                    "States.Runtime", "Invalid path '\(variable)': The choice state's condition path references an invalid value.")
            }
            var target = expected
            var base = op
            if op.hasSuffix("Path") {
                base = String(op.dropLast(4))
                guard case .string(let p) = expected,
                    let v = try PayloadTemplate.select(p, input: input, context: context, variables: variables)
                else { return false }
                target = v
            }
            if base == "StringMatches" {
                guard let s = value.stringValue, let pattern = target.stringValue else { return false }
                return Self.wildcardMatch(s, pattern)
            }
            let order: Int?
            if base.hasPrefix("String") {
                guard let a = value.stringValue, let b = target.stringValue else { return false }
                order = a == b ? 0 : (a < b ? -1 : 1)
            } else if base.hasPrefix("Numeric") {
                guard let a = value.numberValue, let b = target.numberValue else { return false }
                order = a == b ? 0 : (a < b ? -1 : 1)
            } else if base.hasPrefix("Boolean") {
                guard let a = value.boolValue, let b = target.boolValue else { return false }
                return a == b
            } else if base.hasPrefix("Timestamp") {
                guard let a = value.stringValue.flatMap(Self.timestamp), let b = target.stringValue.flatMap(Self.timestamp) else {
                    return false
                }
                order = a == b ? 0 : (a < b ? -1 : 1)
            } else {
                order = nil
            }
            guard let order else { return false }
            if base.hasSuffix("GreaterThanEquals") { return order >= 0 }
            if base.hasSuffix("LessThanEquals") { return order <= 0 }
            if base.hasSuffix("GreaterThan") { return order > 0 }
            if base.hasSuffix("LessThan") { return order < 0 }
            return order == 0
        }
    }

    static func timestamp(_ s: String) -> Date? {
        try? Date(s, strategy: .iso8601)
    }

    /// StringMatches: `*` matches any run of characters; `\*` and `\\` are literal.
    static func wildcardMatch(_ s: String, _ pattern: String) -> Bool {
        var regex = "^"
        var escaped = false
        for c in pattern {
            if escaped { regex += NSRegularExpression.escapedPattern(for: String(c)); escaped = false; continue }
            if c == "\\" { escaped = true; continue }
            regex += c == "*" ? ".*" : NSRegularExpression.escapedPattern(for: String(c))
        }
        regex += "$"
        return s.range(of: regex, options: [.regularExpression]) != nil
    }
}
