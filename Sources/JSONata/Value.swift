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

    deinit {
        // With stack to spare, the items are released after this by recursion, as any array's are. The stack is
        // checked first: reading `items` is an access that Swift checks at run time, costlier than the check.
        guard !Teardown.stackAllowsRecursion() else { return }
        releaseItemsIteratively()
    }

    @inline(never) private func releaseItemsIteratively() {
        guard Teardown.holdsReferences(items) else { return }
        var values = items
        var frames: [Frame] = []
        items = []
        Teardown.release(&values, &frames)
    }

    var count: Int { items.count }
    func append(_ value: Value) { items.append(value) }
}

/// An object, shared by reference (transform's clone copies it explicitly).
final class JObjectBox {
    var members: OrderedDictionary<String, Value>
    init(_ members: OrderedDictionary<String, Value> = [:]) { self.members = members }

    deinit {
        guard !Teardown.stackAllowsRecursion() else { return }
        releaseMembersIteratively()
    }

    @inline(never) private func releaseMembersIteratively() {
        guard Teardown.holdsReferences(members.values.elements) else { return }
        var values = members.values.elements
        var frames: [Frame] = []
        members.removeAll()
        Teardown.release(&values, &frames)
    }
}

/// Releases a graph of values one piece at a time, so that freeing one nested ten thousand levels deep (an
/// expression can build one in a loop: `$reduce([1..10000], function($a, $x) { {"a": $a} }, {})`) does not
/// recurse once per level and overflow the stack.
///
/// Arrays and objects release their elements by plain recursion, the fast path (a value read from JSON is
/// released with no more work than Swift's own), as long as the thread has more than ``stackReserve`` bytes of
/// stack left, and switch to the list past that. Functions always use the list: a function's frames chain to other
/// frames, which release without a `deinit` of their own to check the stack. On the list, a child that nothing
/// else holds is emptied before it is released, so that its own `deinit` finds nothing left to release; a child
/// held elsewhere just loses a reference.
enum Teardown {
    /// Stack left untouched by recursive release: a level of it takes a few hundred bytes (a release, a `deinit`,
    /// the destruction of the storage), the list far less than this.
    static let stackReserve = 64 * 1024

    /// Whether any of the values is an array, object or function. A loop over a parameter, not `contains(where:)`
    /// on the property: that is an access to the property spanning a call, which Swift tracks at run time.
    @inline(__always) static func holdsReferences(_ values: [Value]) -> Bool {
        for value in values where value.isReference { return true }
        return false
    }

    /// Whether the current thread has more than ``stackReserve`` bytes of stack left below the caller. False
    /// where the thread's stack cannot be found: then everything goes through the list.
    @inline(__always) static func stackAllowsRecursion() -> Bool {
        var floor = UInt(bitPattern: pthread_getspecific(stackFloorKey))
        if floor == 0 { floor = recordStackFloor() }
        var marker: UInt8 = 0
        return withUnsafeMutablePointer(to: &marker) { UInt(bitPattern: $0) } > floor
    }

    /// Per thread: the lowest address recursive release may reach (the stack's end plus ``stackReserve``), or
    /// `UInt.max` when it is not known; unset (0) until a thread first asks.
    private static let stackFloorKey: pthread_key_t = {
        var key = pthread_key_t()
        guard pthread_key_create(&key, nil) == 0 else { fatalError("pthread_key_create failed") }
        return key
    }()

    @inline(never) private static func recordStackFloor() -> UInt {
        var floor = UInt.max
        if let end = currentThreadStackEnd() {
            let (sum, overflow) = end.addingReportingOverflow(UInt(stackReserve))
            if !overflow { floor = sum }
        }
        pthread_setspecific(stackFloorKey, UnsafeRawPointer(bitPattern: floor))
        return floor
    }

    /// The lowest address of the current thread's stack (stacks grow down on every platform Swift runs on).
    private static func currentThreadStackEnd() -> UInt? {
        #if canImport(Darwin)
            let thread = pthread_self()
            let top = UInt(bitPattern: pthread_get_stackaddr_np(thread))
            let size = UInt(pthread_get_stacksize_np(thread))
            return top > size ? top - size : nil
        #else
            // glibc's pthread_getattr_np is a GNU extension that Swift's Glibc module leaves out: looked up by name.
            typealias GetAttributes = @convention(c) (pthread_t, UnsafeMutablePointer<pthread_attr_t>) -> Int32
            guard let symbol = dlsym(nil, "pthread_getattr_np") else { return nil }
            let getAttributes = unsafeBitCast(symbol, to: GetAttributes.self)
            var attributes = pthread_attr_t()
            guard getAttributes(pthread_self(), &attributes) == 0 else { return nil }
            defer { pthread_attr_destroy(&attributes) }
            var address: UnsafeMutableRawPointer?
            var size = 0
            guard pthread_attr_getstack(&attributes, &address, &size) == 0, let address, size > 0 else { return nil }
            return UInt(bitPattern: address)
        #endif
    }

    /// Releases the values and frames on the lists (which hold the only references the caller has).
    static func release(_ values: inout [Value], _ frames: inout [Frame]) {
        while true {
            if var value = values.popLast() {
                if var a = takeArray(&value) {
                    if isKnownUniquelyReferenced(&a) {
                        values.append(contentsOf: a.items)
                        a.items = []
                    }
                } else if var o = takeObject(&value) {
                    if isKnownUniquelyReferenced(&o) {
                        values.append(contentsOf: o.members.values)
                        o.members.removeAll()
                    }
                } else if var f = takeFunction(&value) {
                    if isKnownUniquelyReferenced(&f) { f.takeParts(&values, &frames) }
                }
            } else if var frame = frames.popLast() {
                if isKnownUniquelyReferenced(&frame) {
                    for case let value?? in frame.bindings.values where value.isReference { values.append(value) }
                    frame.bindings = [:]
                    if let parent = frame.parent { frames.append(parent) }
                    frame.parent = nil
                }
            } else {
                return
            }
        }
    }

    // Each takes the referenced array, object or function out of `value`, leaving null, so that the caller's
    // reference can be the only one (a reference still held by `value`, or by a pattern's temporary, would not).
    private static func takeArray(_ value: inout Value) -> JArray? {
        guard case .array(let a) = value else { return nil }
        value = .null
        return a
    }

    private static func takeObject(_ value: inout Value) -> JObjectBox? {
        guard case .object(let o) = value else { return nil }
        value = .null
        return o
    }

    private static func takeFunction(_ value: inout Value) -> JFunction? {
        guard case .function(let f) = value else { return nil }
        value = .null
        return f
    }
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
    /// A value nested deeper than ``maximumValueDepth`` is refused (`U1001`): no parser could read it back, and
    /// JSON that deep is not safe to release on a small stack.
    func toJSON(depth: Int = 0) throws(JSONataError) -> JSON {
        switch self {
        case .null: return .null
        case .bool(let b): return .bool(b)
        case .number(let n): return .number(n)
        case .string(let s): return .string(s)
        case .array(let a):
            try checkValueDepth(depth + 1)
            var elements: [JSON] = []
            elements.reserveCapacity(a.items.count)
            for item in a.items { elements.append(try item.toJSON(depth: depth + 1)) }
            return .array(elements)
        case .object(let o):
            try checkValueDepth(depth + 1)
            var members = JSONObject(minimumCapacity: o.members.count)
            for (k, v) in o.members { members[k] = try v.toJSON(depth: depth + 1) }
            return .object(members)
        case .function: return .string("")
        }
    }

    /// The value as JSON for error messages: nil when it is too deep to convert.
    var json: JSON { (try? toJSON()) ?? .null }

    /// An array, object or function: a value that can hold others.
    var isReference: Bool {
        switch self {
        case .array, .object, .function: true
        default: false
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

/// How deeply arrays and objects may nest where the engine walks a value recursively (equality, cloning,
/// flattening, `**`, conversion to JSON): as deep as the JSON parser reads, so a result can always be read back.
let maximumValueDepth = JSON.maximumParseDepth

@inline(__always) func checkValueDepth(_ depth: Int) throws(JSONataError) {
    if depth > maximumValueDepth { throw valueTooDeep() }
}

func valueTooDeep() -> JSONataError {
    JSONataError(
        code: "U1001", message: "Stack overflow error: a value nests arrays and objects more than \(maximumValueDepth) levels deep",
        value: nil as Value?)
}

/// JSONata's truthiness (`$boolean`): undefined stays undefined.
func boolean(_ value: Value?) -> Bool? {
    guard let value else { return nil }
    return isTruthy(value, depth: 0)
}

private func isTruthy(_ value: Value, depth: Int) -> Bool {
    var value = value
    // A singleton array is as true as its element: unwrapped in a loop, since singletons can nest without bound.
    while case .array(let a) = value, a.items.count == 1 { value = a.items[0] }
    switch value {
    case .null: return false
    case .bool(let b): return b
    case .number(let n): return n != 0
    case .string(let s): return !s.isEmpty
    case .function: return false
    case .object(let o): return !o.members.isEmpty
    case .array(let a):
        // Past the depth limit a nested array counts as false rather than risking the stack.
        guard !a.items.isEmpty, depth < maximumValueDepth else { return false }
        return a.items.contains { isTruthy($0, depth: depth + 1) }
    }
}

/// JavaScript's strict deep equality as jsonata-js's `isDeepEqual`.
func deepEqual(_ lhs: Value?, _ rhs: Value?, depth: Int = 0) throws(JSONataError) -> Bool {
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
            if a === b { return true }
            guard a.items.count == b.items.count else { return false }
            try checkValueDepth(depth + 1)
            for i in a.items.indices where !(try deepEqual(a.items[i], b.items[i], depth: depth + 1)) { return false }
            return true
        case (.object(let a), .object(let b)):
            if a === b { return true }
            guard a.members.count == b.members.count else { return false }
            try checkValueDepth(depth + 1)
            for (k, v) in a.members {
                guard let other = b.members[k], try deepEqual(v, other, depth: depth + 1) else { return false }
            }
            return true
        case (.function(let a), .function(let b)): return a === b
        default: return false
        }
    }
}

/// Flattens nested arrays into one sequence (jsonata-js `flatten`).
func flatten(_ value: Value, into result: JArray, depth: Int = 0) throws(JSONataError) {
    if case .array(let a) = value {
        try checkValueDepth(depth + 1)
        for item in a.items { try flatten(item, into: result, depth: depth + 1) }
    } else {
        result.append(value)
    }
}

/// `$append` semantics: concatenation, where a non-array is a one-element array.
func appendValues(_ lhs: Value?, _ rhs: Value?) -> Value? {
    guard let lhs else { return rhs }
    guard let rhs else { return lhs }
    let result = JArray()
    if case .array(let a) = lhs {
        result.items = a.items; result.sequence = a.sequence
    } else {
        result.items = [lhs]; result.sequence = true
    }
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
