import JSONCore

/// What differs between two versions of a CloudFormation template, entry by entry, as `cdk diff` shows it: resources,
/// parameters, outputs (and the other named sections) added, removed or changed, and for a changed entry the paths of
/// the values that changed. Pure: the templates come from the caller.
public struct TemplateDiff: Sendable, Equatable {
    public enum Kind: String, Sendable {
        case added = "+", removed = "-", changed = "~"
    }

    /// One value that differs inside an entry: its path from the entry (`Properties.DesiredCount`,
    /// `Properties.Subnets[1]`; empty for the entry's whole value) and its old and new values, nil where absent.
    public struct ValueChange: Sendable, Equatable {
        public var path: String
        public var old: JSON?
        public var new: JSON?
        public var kind: Kind { old == nil ? .added : new == nil ? .removed : .changed }

        public init(path: String, old: JSON?, new: JSON?) {
            self.path = path
            self.old = old
            self.new = new
        }
    }

    /// One entry that differs: a resource, parameter, output, condition, mapping or rule by its name, or a top-level
    /// value of the template (section ``templateSection``: `Description`, `Metadata`, `Transform`, ...).
    public struct Entry: Sendable, Equatable {
        public var section: String
        public var name: String
        public var old: JSON?
        public var new: JSON?
        /// For a changed entry, what changed inside it.
        public var changes: [ValueChange]
        public var kind: Kind { old == nil ? .added : new == nil ? .removed : .changed }
        /// A resource's type (the new one where it changed).
        public var resourceType: String? { section == "Resources" ? (new ?? old)?["Type"]?.stringValue : nil }
    }

    /// The sections whose members are named entries, in the order the diff lists them.
    public static let namedSections = ["Parameters", "Mappings", "Conditions", "Rules", "Resources", "Outputs"]
    /// The section of the template's other top-level values.
    public static let templateSection = "Template"

    public var entries: [Entry]
    public var isEmpty: Bool { entries.isEmpty }

    /// The differences from `old` to `new`; a stack not deployed or synthesized before is an empty `old` (`{}`).
    public init(old: JSON, new: JSON) {
        let oldSections = old.objectValue ?? [:]
        let newSections = new.objectValue ?? [:]
        var bySection: [String: [Entry]] = [:]
        var keys = Array(oldSections.keys)
        for key in newSections.keys where oldSections[key] == nil { keys.append(key) }
        for key in keys {
            let before = oldSections[key], after = newSections[key]
            let named = Self.namedSections.contains(key) && [before, after].allSatisfy { $0 == nil || $0?.objectValue != nil }
            if named {
                bySection[key, default: []] += Self.entries(section: key, old: before?.objectValue ?? [:], new: after?.objectValue ?? [:])
            } else if before != after {
                var changes: [ValueChange] = []
                if let before, let after { changes = Self.changes(before, after) }
                bySection[Self.templateSection, default: []].append(
                    Entry(section: Self.templateSection, name: key, old: before, new: after, changes: changes))
            }
        }
        entries = ([Self.templateSection] + Self.namedSections).flatMap { bySection[$0] ?? [] }
    }

    static func entries(section: String, old: JSONObject, new: JSONObject) -> [Entry] {
        var result: [Entry] = []
        for (name, before) in old {
            if let after = new[name] {
                if before != after {
                    result.append(Entry(section: section, name: name, old: before, new: after, changes: changes(before, after)))
                }
            } else {
                result.append(Entry(section: section, name: name, old: before, new: nil, changes: []))
            }
        }
        for (name, after) in new where old[name] == nil {
            result.append(Entry(section: section, name: name, old: nil, new: after, changes: []))
        }
        return result
    }

    /// The values that differ between two versions of one entry, by path.
    public static func changes(_ old: JSON, _ new: JSON) -> [ValueChange] {
        var out: [ValueChange] = []
        collect(old, new, path: "", into: &out)
        return out
    }

    /// Arrays of a size this large and more (old × new elements) are reported whole rather than matched element by
    /// element.
    static let largestMatchedArrays = 250_000

    private static func collect(_ old: JSON, _ new: JSON, path: String, into out: inout [ValueChange]) {
        guard old != new else { return }
        switch (old, new) {
        case (.object(let a), .object(let b)):
            for (key, value) in a {
                if let other = b[key] {
                    collect(value, other, path: member(path, key), into: &out)
                } else {
                    out.append(ValueChange(path: member(path, key), old: value, new: nil))
                }
            }
            for (key, value) in b where a[key] == nil {
                out.append(ValueChange(path: member(path, key), old: nil, new: value))
            }
        case (.array(let a), .array(let b)) where a.count == b.count:
            for i in a.indices { collect(a[i], b[i], path: "\(path)[\(i)]", into: &out) }
        case (.array(let a), .array(let b)) where a.count * b.count < largestMatchedArrays:
            // Elements added or removed: the elements both keep (a longest common subsequence) are unchanged.
            let kept = commonSubsequence(a, b)
            var i = 0, j = 0
            for (ki, kj) in kept + [(a.count, b.count)] {
                while i < ki { out.append(ValueChange(path: "\(path)[\(i)]", old: a[i], new: nil)); i += 1 }
                while j < kj { out.append(ValueChange(path: "\(path)[\(j)]", old: nil, new: b[j])); j += 1 }
                i += 1
                j += 1
            }
        default:
            out.append(ValueChange(path: path, old: old, new: new))
        }
    }

    /// Index pairs of a longest common subsequence of `a` and `b`, in order.
    private static func commonSubsequence(_ a: [JSON], _ b: [JSON]) -> [(Int, Int)] {
        let n = a.count, m = b.count
        var lengths = [[Int]](repeating: [Int](repeating: 0, count: m + 1), count: n + 1)
        for i in stride(from: n - 1, through: 0, by: -1) {
            for j in stride(from: m - 1, through: 0, by: -1) {
                lengths[i][j] = a[i] == b[j] ? lengths[i + 1][j + 1] + 1 : max(lengths[i + 1][j], lengths[i][j + 1])
            }
        }
        var pairs: [(Int, Int)] = []
        var i = 0, j = 0
        while i < n && j < m {
            if a[i] == b[j] {
                pairs.append((i, j))
                i += 1
                j += 1
            } else if lengths[i + 1][j] >= lengths[i][j + 1] {
                i += 1
            } else {
                j += 1
            }
        }
        return pairs
    }

    /// `path.key`, or `path["key"]` for a key that would read as more than one step.
    private static func member(_ path: String, _ key: String) -> String {
        let plain = !key.isEmpty && key.allSatisfy { $0.isLetter || $0.isNumber || $0 == "_" || $0 == ":" || $0 == "-" }
        if plain { return path.isEmpty ? key : "\(path).\(key)" }
        return "\(path)[\(JSON.string(key).serialized())]"
    }
}

extension TemplateDiff {
    /// The differences as `cdk diff` lays them out: a heading per section, one line per entry (`[+]` added, `[-]`
    /// removed, `[~]` changed) and, under a changed entry, one line per changed value with its old and new values.
    /// Values longer than `valueLength` characters are shortened.
    public func rendered(valueLength: Int = 160) -> String {
        var lines: [String] = []
        var section: String?
        for entry in entries {
            if entry.section != section {
                section = entry.section
                lines.append(entry.section)
            }
            let label = Self.label(entry)
            switch entry.kind {
            case .added, .removed:
                let value = entry.section == "Resources" ? "" : ": " + Self.short(entry.new ?? entry.old, valueLength)
                lines.append("[\(entry.kind.rawValue)] \(label)\(value)")
            case .changed:
                if entry.changes.count == 1, let only = entry.changes.first, only.path.isEmpty {
                    lines.append("[~] \(label): \(Self.short(only.old, valueLength)) → \(Self.short(only.new, valueLength))")
                    continue
                }
                lines.append("[~] \(label)")
                for (index, change) in entry.changes.enumerated() {
                    let branch = index == entry.changes.count - 1 ? " └─" : " ├─"
                    let values =
                        switch change.kind {
                        case .changed: "\(Self.short(change.old, valueLength)) → \(Self.short(change.new, valueLength))"
                        case .added: Self.short(change.new, valueLength)
                        case .removed: Self.short(change.old, valueLength)
                        }
                    lines.append("\(branch) [\(change.kind.rawValue)] \(change.path.isEmpty ? "(value)" : change.path): \(values)")
                }
            }
        }
        return lines.joined(separator: "\n")
    }

    static func label(_ entry: Entry) -> String {
        switch entry.section {
        case "Resources":
            // A changed type replaces the resource: name both.
            let oldType = entry.old?["Type"]?.stringValue, newType = entry.new?["Type"]?.stringValue
            if let oldType, let newType, oldType != newType { return "\(newType) \(entry.name) (replaces \(oldType))" }
            return "\(entry.resourceType ?? "resource") \(entry.name)"
        case templateSection: return entry.name
        default: return "\(entry.section.hasSuffix("s") ? String(entry.section.dropLast()) : entry.section) \(entry.name)"
        }
    }

    static func short(_ value: JSON?, _ length: Int) -> String {
        guard let value else { return "(none)" }
        let text = value.serialized()
        return text.count > length ? text.prefix(length) + "…" : text
    }
}
