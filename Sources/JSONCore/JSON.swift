@_exported import OrderedCollections

/// An object's members, in the order they were written or inserted.
///
/// JSONata, Step Functions and the AWS wire formats all keep member order on output, so objects
/// are ordered; equality between objects ignores order, as JSON's does.
public typealias JSONObject = OrderedDictionary<String, JSON>

/// A JSON value, shared by every engine of Skiff (JSONata, States, the wire protocols).
///
/// Numbers are IEEE doubles, as in JavaScript and in JSONata's reference implementation;
/// integers are exact up to 2^53.
public enum JSON: Sendable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSON])
    case object(JSONObject)
}

// MARK: - Accessors

extension JSON {
    @inlinable public var isNull: Bool { if case .null = self { true } else { false } }

    @inlinable public var boolValue: Bool? { if case .bool(let b) = self { b } else { nil } }
    @inlinable public var numberValue: Double? { if case .number(let n) = self { n } else { nil } }
    @inlinable public var stringValue: String? { if case .string(let s) = self { s } else { nil } }
    @inlinable public var arrayValue: [JSON]? { if case .array(let a) = self { a } else { nil } }
    @inlinable public var objectValue: JSONObject? { if case .object(let o) = self { o } else { nil } }

    /// The number as an exact integer, when it is one.
    @inlinable public var intValue: Int? {
        guard case .number(let n) = self, n.rounded(.towardZero) == n,
            n >= -9_007_199_254_740_992, n <= 9_007_199_254_740_992
        else { return nil }
        return Int(n)
    }

    /// The member named `key` of an object; nil for a missing member or a non-object.
    @inlinable public subscript(key: String) -> JSON? {
        get { if case .object(let o) = self { o[key] } else { nil } }
        set {
            guard case .object(var o) = self else { return }
            self = .null  // release the storage so the mutation below does not copy it
            o[key] = newValue
            self = .object(o)
        }
    }

    /// The element at `index` of an array; nil when out of range or not an array.
    @inlinable public subscript(index: Int) -> JSON? {
        if case .array(let a) = self, a.indices.contains(index) { a[index] } else { nil }
    }

    /// The name of the value's type as JSON Schema and JSONata's `$type` call it.
    public var typeName: String {
        switch self {
        case .null: "null"
        case .bool: "boolean"
        case .number: "number"
        case .string: "string"
        case .array: "array"
        case .object: "object"
        }
    }
}

// MARK: - Equality

extension JSON: Equatable {
    /// Structural equality: numbers by value, arrays in order, objects regardless of member order.
    ///
    /// Recursive for the first levels of nesting, then with a list of its own, so that values built in code,
    /// however deep (the parser's depth limit does not bound them), compare without overflowing the stack.
    public static func == (lhs: JSON, rhs: JSON) -> Bool { equal(lhs, rhs, depth: 0) }

    /// Levels compared (and hashed) by recursion.
    static let recursionDepth = 64

    private static func equal(_ lhs: JSON, _ rhs: JSON, depth: Int) -> Bool {
        switch (lhs, rhs) {
        case (.null, .null): return true
        case (.bool(let a), .bool(let b)): return a == b
        case (.number(let a), .number(let b)): return a == b
        case (.string(let a), .string(let b)): return a == b
        case (.array(let a), .array(let b)):
            guard a.count == b.count else { return false }
            if depth >= recursionDepth { return equalNested(lhs, rhs) }
            for i in a.indices where !equal(a[i], b[i], depth: depth + 1) { return false }
            return true
        case (.object(let a), .object(let b)):
            guard a.count == b.count else { return false }
            if depth >= recursionDepth { return equalNested(lhs, rhs) }
            for (key, value) in a {
                guard let other = b[key], equal(value, other, depth: depth + 1) else { return false }
            }
            return true
        default: return false
        }
    }

    /// `==` with a list of pairs still to compare instead of recursion.
    private static func equalNested(_ lhs: JSON, _ rhs: JSON) -> Bool {
        var pairs = [(lhs, rhs)]
        while let (l, r) = pairs.popLast() {
            switch (l, r) {
            case (.array(let a), .array(let b)):
                guard a.count == b.count else { return false }
                for i in a.indices { pairs.append((a[i], b[i])) }
            case (.object(let a), .object(let b)):
                guard a.count == b.count else { return false }
                for (key, value) in a {
                    guard let other = b[key] else { return false }
                    pairs.append((value, other))
                }
            case (.array, _), (.object, _), (_, .array), (_, .object):
                return false
            default:
                if !equal(l, r, depth: 0) { return false }
            }
        }
        return true
    }
}

extension JSON: Hashable {
    public func hash(into hasher: inout Hasher) { hash(into: &hasher, depth: 0) }

    /// Below ``recursionDepth`` levels an array or object adds only its kind and size: equal values still hash
    /// alike, and hashing needs no recursion past that depth.
    private func hash(into hasher: inout Hasher, depth: Int) {
        switch self {
        case .null: hasher.combine(0)
        case .bool(let b): hasher.combine(1); hasher.combine(b)
        case .number(let n): hasher.combine(2); hasher.combine(n)
        case .string(let s): hasher.combine(3); hasher.combine(s)
        case .array(let a):
            hasher.combine(4)
            hasher.combine(a.count)
            guard depth < Self.recursionDepth else { return }
            for element in a { element.hash(into: &hasher, depth: depth + 1) }
        case .object(let o):
            // Order-independent, to agree with ==.
            hasher.combine(5)
            hasher.combine(o.count)
            guard depth < Self.recursionDepth else { return }
            var combined = 0
            for (key, value) in o {
                var h = Hasher()
                h.combine(key)
                value.hash(into: &h, depth: depth + 1)
                combined ^= h.finalize()
            }
            hasher.combine(combined)
        }
    }
}

// MARK: - Literals

extension JSON: ExpressibleByNilLiteral, ExpressibleByBooleanLiteral, ExpressibleByIntegerLiteral,
    ExpressibleByFloatLiteral, ExpressibleByStringLiteral, ExpressibleByArrayLiteral,
    ExpressibleByDictionaryLiteral
{
    public init(nilLiteral: ()) { self = .null }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(integerLiteral value: Int) { self = .number(Double(value)) }
    public init(floatLiteral value: Double) { self = .number(value) }
    public init(stringLiteral value: String) { self = .string(value) }
    public init(arrayLiteral elements: JSON...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, JSON)...) {
        // Member by member, the last of a repeated key winning: OrderedDictionary's merging initializer, which
        // does the same through a closure per member, cost 4% of a Step Functions execution's instructions.
        var members = JSONObject(minimumCapacity: elements.count)
        for (key, value) in elements { members[key] = value }
        self = .object(members)
    }
}

extension JSON: CustomStringConvertible {
    /// The compact JSON text of the value.
    public var description: String { serialized() }
}
