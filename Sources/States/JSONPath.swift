import Foundation
import JSONCore

/// The JSONPath of the States language: `$`, `.name`, `['name']`, `[n]`, `[*]`, `..name`, `[a,b]`, `[start:end]`,
/// `[?(@.field op value)]`, and `$$` for the context object.
public enum JSONPath {
    enum Segment {
        case key(String)
        case index(Int)
        case wildcard
        case descendant(String)
        case union([Segment])
        case slice(Int?, Int?)
        case filter(String, String, JSON?)  // field path below @, operator, value
    }

    static func parse(_ path: String) -> [Segment]? {
        var chars = Array(path)
        guard chars.first == "$" else { return nil }
        chars.removeFirst()
        if chars.first == "$" { chars.removeFirst() }
        var i = 0
        var segments: [Segment] = []
        func readName() -> String {
            var name = ""
            while i < chars.count, chars[i] != ".", chars[i] != "[" { name.append(chars[i]); i += 1 }
            return name
        }
        while i < chars.count {
            if chars[i] == "." {
                i += 1
                if i < chars.count, chars[i] == "." {
                    i += 1
                    let name = readName()
                    guard !name.isEmpty else { return nil }
                    segments.append(.descendant(name))
                    continue
                }
                if i < chars.count, chars[i] == "*" { i += 1; segments.append(.wildcard); continue }
                let name = readName()
                guard !name.isEmpty else { return nil }
                segments.append(.key(name))
            } else if chars[i] == "[" {
                guard let close = findClose(chars, from: i) else { return nil }
                let inner = String(chars[(i + 1)..<close]).trimmingCharacters(in: .whitespaces)
                i = close + 1
                guard let seg = parseBracket(inner) else { return nil }
                segments.append(seg)
            } else {
                return nil
            }
            // No data nests deeper: a longer path selects nothing, and placing a result at it (ResultPath, which
            // recurses once per segment) would make data deeper than an execution may hold.
            if segments.count > maxSegments { return nil }
        }
        return segments
    }

    static let maxSegments = JSONNesting.maxDataDepth

    static func findClose(_ chars: [Character], from start: Int) -> Int? {
        var depth = 0
        var quote: Character? = nil
        var i = start
        while i < chars.count {
            let c = chars[i]
            if let q = quote {
                if c == q { quote = nil }
            } else if c == "'" || c == "\"" {
                quote = c
            } else if c == "[" {
                depth += 1
            } else if c == "]" {
                depth -= 1
                if depth == 0 { return i }
            }
            i += 1
        }
        return nil
    }

    static func parseBracket(_ inner: String) -> Segment? {
        if inner == "*" { return .wildcard }
        if inner.hasPrefix("?(") && inner.hasSuffix(")") {
            let body = String(inner.dropFirst(2).dropLast()).trimmingCharacters(in: .whitespaces)
            for op in ["==", "!=", "<=", ">=", "<", ">"] {
                if let r = body.range(of: op) {
                    let lhs = body[..<r.lowerBound].trimmingCharacters(in: .whitespaces)
                    let rhs = body[r.upperBound...].trimmingCharacters(in: .whitespaces)
                    guard lhs.hasPrefix("@") else { return nil }
                    let value = try? JSON(parsing: rhs.replacingOccurrences(of: "'", with: "\""))
                    return .filter(String(lhs.dropFirst()), op, value)
                }
            }
            if body.hasPrefix("@") { return .filter(String(body.dropFirst()), "exists", nil) }
            return nil
        }
        if inner.contains(":") && !inner.hasPrefix("'") {
            let parts = inner.split(separator: ":", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            return .slice(Int(parts[0]), parts.count > 1 ? Int(parts[1]) : nil)
        }
        let items = splitUnion(inner)
        var segments: [Segment] = []
        for item in items {
            if (item.hasPrefix("'") && item.hasSuffix("'")) || (item.hasPrefix("\"") && item.hasSuffix("\"")), item.count >= 2 {
                segments.append(.key(String(item.dropFirst().dropLast())))
            } else if let n = Int(item) {
                segments.append(.index(n))
            } else {
                return nil
            }
        }
        return segments.count == 1 ? segments[0] : .union(segments)
    }

    static func splitUnion(_ s: String) -> [String] {
        var parts: [String] = []
        var current = ""
        var quote: Character? = nil
        for c in s {
            if let q = quote { current.append(c); if c == q { quote = nil }; continue }
            if c == "'" || c == "\"" { quote = c; current.append(c); continue }
            if c == "," { parts.append(current.trimmingCharacters(in: .whitespaces)); current = ""; continue }
            current.append(c)
        }
        parts.append(current.trimmingCharacters(in: .whitespaces))
        return parts
    }

    /// `$name` or `$name.rest` (a workflow variable of a JSONPath state, and the path below it, as `$.rest`);
    /// nil for `$`, `$.…`, `$[…]` and `$$…`.
    static func variableReference(_ path: String) -> (name: String, path: String)? {
        guard path.first == "$" else { return nil }
        let afterDollar = path.index(after: path.startIndex)
        guard afterDollar < path.endIndex, path[afterDollar].isLetter || path[afterDollar] == "_" else { return nil }
        let end = path[afterDollar...].firstIndex(where: { $0 == "." || $0 == "[" }) ?? path.endIndex
        return (String(path[afterDollar..<end]), "$" + path[end...])
    }

    /// Whether `path` is a valid path; `reference` paths (ResultPath, InputPath...) select one node only.
    public static func isValid(_ path: String, reference: Bool = false) -> Bool {
        guard let segments = parse(path) else { return false }
        if reference {
            return segments.allSatisfy { if case .key = $0 { true } else if case .index = $0 { true } else { false } }
        }
        return true
    }

    /// Whether the path can select more than one node.
    static func isDefinite(_ segments: [Segment]) -> Bool {
        segments.allSatisfy { if case .key = $0 { true } else if case .index = $0 { true } else { false } }
    }

    /// The node(s) `path` selects in `value`: one node for definite paths (nil when absent), an array otherwise.
    public static func select(_ path: String, in value: JSON) throws(StatesError) -> JSON? {
        guard let segments = parse(path) else {
            throw StatesError("States.Runtime", "Invalid path '\(path)'")
        }
        var nodes: [JSON] = [value]
        for segment in segments { nodes = apply(segment, to: nodes) }
        if isDefinite(segments) { return nodes.first }
        return .array(nodes)
    }

    static func apply(_ segment: Segment, to nodes: [JSON]) -> [JSON] {
        var out: [JSON] = []
        for node in nodes {
            switch segment {
            case .key(let k):
                if let v = node[k] { out.append(v) }
            case .index(let i):
                if case .array(let a) = node {
                    let index = i < 0 ? a.count + i : i
                    if a.indices.contains(index) { out.append(a[index]) }
                }
            case .wildcard:
                if case .array(let a) = node {
                    out.append(contentsOf: a)
                } else if case .object(let o) = node {
                    out.append(contentsOf: o.values)
                }
            case .descendant(let k):
                collect(k, in: node, into: &out)
            case .union(let segs):
                for s in segs { out.append(contentsOf: apply(s, to: [node])) }
            case .slice(let start, let end):
                if case .array(let a) = node {
                    let s = max(0, start.map { $0 < 0 ? a.count + $0 : $0 } ?? 0)
                    let e = min(a.count, end.map { $0 < 0 ? a.count + $0 : $0 } ?? a.count)
                    if s < e { out.append(contentsOf: a[s..<e]) }
                }
            case .filter(let field, let op, let value):
                guard case .array(let a) = node else { continue }
                for item in a {
                    let selected = (try? select("$" + field, in: item)) ?? nil
                    if matches(selected, op, value) { out.append(item) }
                }
            }
        }
        return out
    }

    static func matches(_ lhs: JSON?, _ op: String, _ rhs: JSON?) -> Bool {
        if op == "exists" { return lhs != nil }
        guard let lhs, let rhs else { return false }
        switch (lhs, rhs) {
        case (.number(let a), .number(let b)):
            switch op {
            case "==": return a == b;
            case "!=": return a != b;
            case "<": return a < b;
            case "<=": return a <= b;
            case ">": return a > b;
            default: return a >= b
            }
        case (.string(let a), .string(let b)):
            switch op {
            case "==": return a == b;
            case "!=": return a != b;
            case "<": return a < b;
            case "<=": return a <= b;
            case ">": return a > b;
            default: return a >= b
            }
        default:
            return op == "==" ? lhs == rhs : (op == "!=" ? lhs != rhs : false)
        }
    }

    static func collect(_ key: String, in node: JSON, into out: inout [JSON]) {
        switch node {
        case .object(let o):
            if let v = o[key] { out.append(v) }
            for v in o.values { collect(key, in: v, into: &out) }
        case .array(let a):
            for v in a { collect(key, in: v, into: &out) }
        default: break
        }
    }

    /// `value` placed into `target` at reference path `path`, creating objects on the way (ResultPath).
    public static func placing(_ value: JSON, at path: String, in target: JSON) throws(StatesError) -> JSON {
        guard let segments = parse(path), isDefinite(segments) else {
            throw StatesError("States.ResultPathMatchFailure", "Unable to apply ResultPath \(path)")
        }
        if segments.isEmpty { return value }
        return try place(value, segments[...], in: target, path: path)
    }

    static func place(_ value: JSON, _ segments: ArraySlice<Segment>, in target: JSON, path: String) throws(StatesError) -> JSON {
        guard let first = segments.first else { return value }
        switch first {
        case .key(let k):
            var object: JSONObject
            switch target {
            case .object(let o): object = o
            case .null: object = [:]
            default:
                throw StatesError("States.ResultPathMatchFailure", "Unable to apply step \"\(k)\" to input \(target.serialized())")
            }
            let child = object[k] ?? .object([:])
            object[k] = try place(value, segments.dropFirst(), in: child, path: path)
            return .object(object)
        case .index(let i):
            guard case .array(var a) = target, a.indices.contains(i) else {
                throw StatesError("States.ResultPathMatchFailure", "Unable to apply ResultPath \(path) to input \(target.serialized())")
            }
            a[i] = try place(value, segments.dropFirst(), in: a[i], path: path)
            return .array(a)
        default:
            throw StatesError("States.ResultPathMatchFailure", "Unable to apply ResultPath \(path)")
        }
    }
}

/// A States-language error: a name (`States.TaskFailed`, a task's own error...) and a cause.
public struct StatesError: Error, Sendable, Equatable, CustomStringConvertible {
    public var error: String
    public var cause: String
    public init(_ error: String, _ cause: String) {
        self.error = error
        self.cause = cause
    }
    public var description: String { "\(error): \(cause)" }
}
