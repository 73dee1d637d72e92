import JSONCore

/// Why an event pattern was refused; EventBridge answers `InvalidEventPatternException` with
/// "Event pattern is not valid. Reason: <reason>".
public struct EventPatternError: Error, Sendable, Equatable, CustomStringConvertible {
    public var reason: String
    public init(_ reason: String) { self.reason = reason }
    public var description: String { "Event pattern is not valid. Reason: \(reason)" }
}

/// An EventBridge event pattern, compiled once when a rule is put and matched against every event.
///
/// The full content-filtering syntax of EventBridge event buses: exact values (strings, numbers, booleans,
/// null), `prefix`, `suffix` and `equals-ignore-case` (the first two also case-insensitively), `wildcard`,
/// `anything-but` (values, or a `prefix`/`suffix`/`equals-ignore-case`/`wildcard` exclusion), `numeric` ranges,
/// `exists`, `cidr` (IPv4 and IPv6) and `$or`.
///
/// Matching follows EventBridge's reference engine (aws/event-ruler): an event is seen as its leaf values, so an
/// array in the event matches when any element matches, `exists` looks at leaf values only, and the fields of
/// a nested pattern must all match within one element of an array of objects.
public struct EventPattern: Sendable {
    let root: ObjectPattern

    public init(_ text: String) throws(EventPatternError) {
        let json: JSON
        do { json = try JSON(parsing: text) } catch { throw EventPatternError("Filter is not valid JSON") }
        guard case .object(let object) = json else { throw EventPatternError("Filter is not an object") }
        root = try ObjectPattern(object)
    }

    public func matches(_ event: JSON) -> Bool { root.matches(event.objectValue ?? [:]) }
}

/// The fields of one level of a pattern, all of which must match, and its `$or` groups, each needing one
/// matching branch.
struct ObjectPattern: Sendable {
    enum Field: Sendable {
        case nested(ObjectPattern)
        case anyOf([Matcher])
    }

    var fields: [(name: String, field: Field)] = []
    var alternatives: [[ObjectPattern]] = []

    init(_ object: JSONObject) throws(EventPatternError) {
        if object.isEmpty { throw EventPatternError("Empty objects are not allowed") }
        for (key, value) in object {
            switch value {
            case .object(let nested):
                fields.append((key, .nested(try ObjectPattern(nested))))
            case .array(let items) where key == "$or":
                guard items.count >= 2 else { throw EventPatternError("Must provide at least two objects in an $or array") }
                var branches: [ObjectPattern] = []
                for item in items {
                    guard case .object(let branch) = item else { throw EventPatternError("$or must contain objects") }
                    branches.append(try ObjectPattern(branch))
                }
                alternatives.append(branches)
            case .array(let items):
                if items.isEmpty { throw EventPatternError("Empty arrays are not allowed") }
                var matchers: [Matcher] = []
                for item in items { matchers.append(try Matcher(item)) }
                fields.append((key, .anyOf(matchers)))
            default:
                throw EventPatternError("Match value must be String, number, true, false, or null")
            }
        }
    }

    func matches(_ event: JSONObject) -> Bool {
        for (name, field) in fields {
            let value = event[name]
            switch field {
            case .nested(let pattern):
                switch value {
                case .object(let inner)?:
                    if !pattern.matches(inner) { return false }
                case .array(let elements)?:
                    // Every field of the nested pattern must match within the same element.
                    let objects = elements.compactMap(\.objectValue)
                    if objects.isEmpty ? !pattern.matches([:]) : !objects.contains(where: pattern.matches) { return false }
                default:
                    // No leaf values below: only `exists: false` (and friends) can match.
                    if !pattern.matches([:]) { return false }
                }
            case .anyOf(let matchers):
                let leaves = Self.leaves(value)
                if !matchers.contains(where: { $0.matches(leaves) }) { return false }
            }
        }
        for branches in alternatives where !branches.contains(where: { $0.matches(event) }) { return false }
        return true
    }

    /// The leaf values of a field: none for a missing field or an object, an array's elements (flattened, in
    /// order). Walked with a list rather than recursion: an event built in code may nest arrays without bound.
    static func leaves(_ value: JSON?) -> [JSON] {
        switch value {
        case nil, .object?: return []
        case .array(let elements)?:
            var result: [JSON] = []
            // Arrays still to flatten, each with the index of its next element.
            var pending: [(elements: [JSON], next: Int)] = [(elements, 0)]
            while var (elements, next) = pending.popLast() {
                while next < elements.count {
                    let element = elements[next]
                    next += 1
                    switch element {
                    case .object: continue
                    case .array(let inner):
                        pending.append((elements, next))
                        (elements, next) = (inner, 0)
                    default: result.append(element)
                    }
                }
            }
            return result
        case let leaf?: return [leaf]
        }
    }
}
