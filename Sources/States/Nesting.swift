import JSONCore

/// How deeply JSON values nest, measured without recursion.
///
/// Every recursive walk of a value (serializing it, comparing it, selecting from it, resolving a template in it)
/// uses a stack frame per level. Text is parsed at most ``JSON/maximumParseDepth`` levels deep, but a value built
/// in memory (a definition made in Swift, a JSONata result, a ResultPath placing a result under many keys) can
/// nest deeper than any recursive walk survives: such values are measured here, iteratively, before anything
/// recursive touches them.
public enum JSONNesting {
    /// The deepest an execution's data may nest: what the JSON parser reads back, so that every input, output
    /// and variable an execution holds can be written to its history and its snapshot, and read again.
    public static let maxDataDepth = JSON.maximumParseDepth

    /// Whether `value` has arrays or objects nested more than `limit` deep (a top-level array is at depth 1, as
    /// the parser counts).
    public static func exceeds(_ value: JSON, _ limit: Int) -> Bool {
        switch value {
        case .array, .object: break
        default: return false
        }
        var pending: [(JSON, Int)] = [(value, 1)]
        while let (next, depth) = pending.popLast() {
            if depth > limit { return true }
            switch next {
            case .array(let elements):
                for element in elements where element.isContainer { pending.append((element, depth + 1)) }
            case .object(let members):
                for member in members.values where member.isContainer { pending.append((member, depth + 1)) }
            default: break
            }
        }
        return false
    }

    /// A JSON pointer (`/States/A/Parameters/x`) to the first array or object nested more than `limit` deep in
    /// `value`; nil when none is.
    public static func pointerToFirstTooDeep(_ value: JSON, _ limit: Int) -> String? {
        guard value.isContainer else { return nil }
        // Each container remembers its parent and its key, to name the one found.
        struct Node {
            var value: JSON
            var depth: Int
            var parent: Int
            var key: String
        }
        var nodes: [Node] = [Node(value: value, depth: 1, parent: -1, key: "")]
        var pending: [Int] = [0]
        while let index = pending.popLast() {
            let node = nodes[index]
            if node.depth > limit {
                var keys: [String] = []
                var at = index
                while at > 0 {
                    keys.append(nodes[at].key)
                    at = nodes[at].parent
                }
                return keys.reversed().map { "/" + $0 }.joined()
            }
            var children: [(JSON, String)] = []
            switch node.value {
            case .array(let elements):
                for (i, element) in elements.enumerated() where element.isContainer { children.append((element, String(i))) }
            case .object(let members):
                for (key, member) in members where member.isContainer { children.append((member, key)) }
            default: break
            }
            // Pushed last first, so that the first member is looked at first.
            for (child, key) in children.reversed() {
                nodes.append(Node(value: child, depth: node.depth + 1, parent: index, key: key))
                pending.append(nodes.count - 1)
            }
        }
        return nil
    }

    /// Whether every number in `value` is finite (JSON has no Infinity nor NaN), walked without recursion.
    static func isFinite(_ value: JSON) -> Bool {
        var pending = [value]
        while let next = pending.popLast() {
            switch next {
            case .number(let n): if !n.isFinite { return false }
            case .array(let elements): pending.append(contentsOf: elements)
            case .object(let members): pending.append(contentsOf: members.values)
            default: break
            }
        }
        return true
    }
}

extension JSON {
    var isContainer: Bool {
        switch self {
        case .array, .object: true
        default: false
        }
    }
}
