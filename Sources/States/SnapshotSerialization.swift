import Foundation
import JSONCore

/// Snapshots and branch progress as JSON text, written and read with JSONCore.
///
/// The execution's data (inputs, outputs, variables) is written as JSON text inside the document, each value a
/// string of its own: the document nests a few levels only, whatever the data, and each value is parsed alone,
/// with the whole of the parser's depth. Data written inside the document, as the first snapshots were, would
/// add the document's own levels to the data's, and an execution holding data nested as deep as its input may be
/// would write a snapshot the parser refuses. An execution holds no data deeper than the parser reads (see
/// ``JSONNesting/maxDataDepth``), so whatever it writes it reads back.
///
/// Snapshots in the earlier form, with the data inside the document (as the types' Codable forms write it, timers
/// as seconds since 2001-01-01), are read too. JSONCore rather than Foundation's coders: a host checkpoints after
/// every state, and `JSONEncoder` costs more than the Pass states between two snapshots; and the Codable form goes
/// through dictionaries, which loses the key order of the execution's data.
extension ExecutionSnapshot {
    /// The form of the data in documents written by ``serialized()``: text.
    static let dataAsText = 2

    public var json: JSON {
        .object([
            "format": .number(Double(Self.dataAsText)),
            "nextState": .string(nextState),
            "input": .string(input.serialized()),
            "variables": SnapshotData.write(variables),
            "lastEventId": .number(Double(lastEventId)),
            "branches": .object(JSONObject(uniqueKeysWithValues: branches.sorted { $0.key < $1.key }.map { ($0.key, $0.value.json) })),
            "timers": .object(
                JSONObject(
                    uniqueKeysWithValues: timers.sorted { $0.key < $1.key }.map {
                        ($0.key, .number($0.value.timeIntervalSinceReferenceDate))
                    })),
            "tasks": .object(JSONObject(uniqueKeysWithValues: tasks.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) })),
        ])
    }

    public func serialized() -> String { json.serialized() }

    /// Reads a snapshot written by ``serialized()``, by an earlier version of it or by `JSONEncoder`. Throws
    /// ``SnapshotFormatError`` for anything else, a part that does not parse included.
    public init(serialized text: String) throws(SnapshotFormatError) {
        let json: JSON
        do { json = try JSON(parsing: text) } catch { throw SnapshotFormatError(text: text, reason: error.description) }
        let data = try SnapshotData(format: json["format"], text: text)
        guard let nextState = json["nextState"]?.stringValue, let input = json["input"], let variables = json["variables"],
            let lastEventId = json["lastEventId"]?.intValue, (0...Int(Int32.max)).contains(lastEventId)
        else {
            throw SnapshotFormatError(text: text)
        }
        var branches: [String: BranchProgress] = [:]
        for (key, value) in json["branches"]?.objectValue ?? [:] { branches[key] = try BranchProgress(json: value, text: text) }
        var timers: [String: Date] = [:]
        for (key, value) in json["timers"]?.objectValue ?? [:] {
            guard let seconds = value.numberValue else { throw SnapshotFormatError(text: text) }
            timers[key] = Date(timeIntervalSinceReferenceDate: seconds)
        }
        var tasks: [String: String] = [:]
        for (key, value) in json["tasks"]?.objectValue ?? [:] {
            guard let token = value.stringValue else { throw SnapshotFormatError(text: text) }
            tasks[key] = token
        }
        self.init(
            nextState: nextState, input: try data.value(input), variables: try data.variables(variables),
            lastEventId: lastEventId, branches: branches, timers: timers, tasks: tasks)
    }
}

extension BranchProgress {
    /// `{"format": 2, "at": {"nextState", "input", "variables"}}` or `{"format": 2, "done": {"output"}}`, the data
    /// as text; without `format`, the synthesized Codable form, the data inside.
    public var json: JSON {
        switch self {
        case .at(let nextState, let input, let variables):
            [
                "format": .number(Double(ExecutionSnapshot.dataAsText)),
                "at": .object([
                    "nextState": .string(nextState), "input": .string(input.serialized()), "variables": SnapshotData.write(variables),
                ]),
            ]
        case .done(let output):
            ["format": .number(Double(ExecutionSnapshot.dataAsText)), "done": .object(["output": .string(output.serialized())])]
        }
    }

    public func serialized() -> String { json.serialized() }

    public init(serialized text: String) throws(SnapshotFormatError) {
        let json: JSON
        do { json = try JSON(parsing: text) } catch { throw SnapshotFormatError(text: text, reason: error.description) }
        try self.init(json: json, text: text)
    }

    init(json: JSON, text: String) throws(SnapshotFormatError) {
        let data = try SnapshotData(format: json["format"], text: text)
        if let at = json["at"], let nextState = at["nextState"]?.stringValue, let input = at["input"], let variables = at["variables"] {
            self = .at(nextState: nextState, input: try data.value(input), variables: try data.variables(variables))
        } else if let done = json["done"], let output = done["output"] {
            self = .done(output: try data.value(output))
        } else {
            throw SnapshotFormatError(text: text)
        }
    }
}

/// How a snapshot document holds the execution's data: as text (``ExecutionSnapshot/dataAsText``), or inside it.
struct SnapshotData {
    let asText: Bool
    let text: String

    init(format: JSON?, text: String) throws(SnapshotFormatError) {
        switch format {
        case nil: asText = false
        case .number(Double(ExecutionSnapshot.dataAsText))?: asText = true
        default: throw SnapshotFormatError(text: text, reason: "unknown format \(format?.serialized() ?? "")")
        }
        self.text = text
    }

    /// Variables by name, each as text, sorted so that equal snapshots are equal documents.
    static func write(_ variables: [String: JSON]) -> JSON {
        .object(JSONObject(uniqueKeysWithValues: variables.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value.serialized())) }))
    }

    func value(_ stored: JSON) throws(SnapshotFormatError) -> JSON {
        guard asText else { return stored }
        guard case .string(let written) = stored else { throw SnapshotFormatError(text: text, reason: "data that is not text") }
        do { return try JSON(parsing: written) } catch { throw SnapshotFormatError(text: written, reason: error.description) }
    }

    func variables(_ stored: JSON) throws(SnapshotFormatError) -> [String: JSON] {
        guard case .object(let members) = stored else { throw SnapshotFormatError(text: text, reason: "variables that are not an object") }
        var variables: [String: JSON] = [:]
        for (name, value) in members { variables[name] = try self.value(value) }
        return variables
    }
}

/// A stored snapshot that is not one, or that cannot be read back.
public struct SnapshotFormatError: Error, CustomStringConvertible {
    public let text: String
    public var reason: String = "not an execution snapshot"
    public var description: String { "\(reason): \(text.prefix(200))" }
}
