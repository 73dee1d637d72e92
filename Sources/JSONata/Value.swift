import JSONCore

/// A value during evaluation: JSON plus functions, with arrays that carry JSONata's sequence flags.
/// `nil` (as `Value?`) is JSONata's *undefined*: no value at all.
enum Value {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array(JArray)
    case object(JObjectBox)
    case function(JFunction)
}

/// An array, shared by reference as JavaScript's are, with the flags jsonata-js keeps on its arrays.
final class JArray {
    var items: [Value]
    /// Made by path evaluation: a singleton collapses to its element, an empty one to undefined.
    var sequence = false
    /// A singleton sequence that must stay an array (`[]` after a step, `$` arrays).
    var keepSingleton = false
    /// Built by an array constructor `[...]`: not flattened by the path that holds it.
    var cons = false
    /// The input document wrapped so that a top-level array is treated as one value.
    var outerWrapper = false
    /// Items are tuples (objects of `@` and bound variables) of a focus/index binding path.
    var tupleStream = false

    init(_ items: [Value] = [], sequence: Bool = false) {
        self.items = items
        self.sequence = sequence
    }

    var count: Int { items.count }
    func append(_ value: Value) { items.append(value) }
}

/// An object, shared by reference (transform's clone copies it explicitly).
final class JObjectBox {
    var members: OrderedDictionary<String, Value>
    init(_ members: OrderedDictionary<String, Value> = [:]) { self.members = members }
}

func sequence(_ items: Value...) -> JArray { JArray(items, sequence: true) }

extension Value {
    init(_ json: JSON) {
        switch json {
        case .null: self = .null
        case .bool(let b): self = .bool(b)
        case .number(let n): self = .number(n)
        case .string(let s): self = .string(s)
        case .array(let a): self = .array(JArray(a.map(Value.init)))
        case .object(let o):
            var members = OrderedDictionary<String, Value>(minimumCapacity: o.count)
            for (k, v) in o { members[k] = Value(v) }
            self = .object(JObjectBox(members))
        }
    }

    /// The value as JSON; functions become empty strings, as JSON.stringify of jsonata-js results shows them.
    var json: JSON {
        switch self {
        case .null: return .null
        case .bool(let b): return .bool(b)
        case .number(let n): return .number(n)
        case .string(let s): return .string(s)
        case .array(let a): return .array(a.items.map(\.json))
        case .object(let o):
            var members = JSONObject(minimumCapacity: o.members.count)
            for (k, v) in o.members { members[k] = v.json }
            return .object(members)
        case .function: return .string("")
        }
    }

    var isFunction: Bool { if case .function = self { true } else { false } }
    var arrayValue: JArray? { if case .array(let a) = self { a } else { nil } }
    var number: Double? { if case .number(let n) = self { n } else { nil } }
    var string: String? { if case .string(let s) = self { s } else { nil } }
    var objectBox: JObjectBox? { if case .object(let o) = self { o } else { nil } }
    var functionValue: JFunction? { if case .function(let f) = self { f } else { nil } }

    var isSequence: Bool { if case .array(let a) = self { a.sequence } else { false } }

    /// Element of a tuple (the `@` member) or the value itself.
    var typeName: String {
        switch self {
        case .null: "null"
        case .bool: "boolean"
        case .number: "number"
        case .string: "string"
        case .array: "array"
        case .object: "object"
        case .function: "function"
        }
    }
}

/// JSONata's truthiness (`$boolean`): undefined stays undefined.
func boolean(_ value: Value?) -> Bool? {
    guard let value else { return nil }
    switch value {
    case .null: return false
    case .bool(let b): return b
    case .number(let n): return n != 0
    case .string(let s): return !s.isEmpty
    case .function: return false
    case .object(let o): return !o.members.isEmpty
    case .array(let a):
        if a.items.isEmpty { return false }
        if a.items.count == 1 { return boolean(a.items[0]) }
        return a.items.contains { boolean($0) == true }
    }
}

/// JavaScript's strict deep equality as jsonata-js's `isDeepEqual`.
func deepEqual(_ lhs: Value?, _ rhs: Value?) -> Bool {
    switch (lhs, rhs) {
    case (nil, nil): return true
    case (nil, _), (_, nil): return false
    case let (l?, r?):
        switch (l, r) {
        case (.null, .null): return true
        case (.bool(let a), .bool(let b)): return a == b
        case (.number(let a), .number(let b)): return a == b
        case (.string(let a), .string(let b)): return a == b
        case (.array(let a), .array(let b)):
            guard a.items.count == b.items.count else { return false }
            for i in a.items.indices where !deepEqual(a.items[i], b.items[i]) { return false }
            return true
        case (.object(let a), .object(let b)):
            if a === b { return true }
            guard a.members.count == b.members.count else { return false }
            for (k, v) in a.members {
                guard let other = b.members[k], deepEqual(v, other) else { return false }
            }
            return true
        case (.function(let a), .function(let b)): return a === b
        default: return false
        }
    }
}

/// Flattens nested arrays into one sequence (jsonata-js `flatten`).
func flatten(_ value: Value, into result: JArray) {
    if case .array(let a) = value {
        for item in a.items { flatten(item, into: result) }
    } else {
        result.append(value)
    }
}

/// `$append` semantics: concatenation, where a non-array is a one-element array.
func appendValues(_ lhs: Value?, _ rhs: Value?) -> Value? {
    guard let lhs else { return rhs }
    guard let rhs else { return lhs }
    let result = JArray()
    if case .array(let a) = lhs { result.items = a.items; result.sequence = a.sequence } else { result.items = [lhs]; result.sequence = true }
    if case .array(let b) = rhs { result.items.append(contentsOf: b.items) } else { result.items.append(rhs) }
    result.sequence = false
    return .array(result)
}

/// Numbers as `$string` writes them: 15 significant digits, JavaScript formatting.
func formatJSONataNumber(_ n: Double) -> String {
    JSON.formatNumber(roundedTo15(n))
}

func roundedTo15(_ n: Double) -> Double {
    if n == n.rounded(), abs(n) < 9_007_199_254_740_992 { return n }
    var buffer = [CChar](repeating: 0, count: 40)
    _ = withVaList([n]) { vsnprintf(&buffer, 40, "%.15g", $0) }
    let text = buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    return Double(text) ?? n
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
