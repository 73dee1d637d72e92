import Foundation
import JSONCore

/// Snapshots and branch progress as JSON text, written and read with JSONCore.
///
/// The document is the one the types' Codable forms give (timers as seconds since 2001-01-01, as
/// `JSONEncoder` writes dates), so either reads what the other wrote. JSONCore does it for two reasons: a host
/// checkpoints after every state, and Foundation's `JSONEncoder` costs more than the Pass states between two
/// snapshots; and the Codable form goes through dictionaries, which loses the key order of the execution's data.
extension ExecutionSnapshot {
    public var json: JSON {
        .object([
            "nextState": .string(nextState),
            "input": input,
            "variables": .object(JSONObject(uniqueKeysWithValues: variables.sorted { $0.key < $1.key }.map { ($0.key, $0.value) })),
            "lastEventId": .number(Double(lastEventId)),
            "branches": .object(JSONObject(uniqueKeysWithValues: branches.sorted { $0.key < $1.key }.map { ($0.key, $0.value.json) })),
            "timers": .object(JSONObject(uniqueKeysWithValues: timers.sorted { $0.key < $1.key }.map {
                ($0.key, .number($0.value.timeIntervalSinceReferenceDate))
            })),
            "tasks": .object(JSONObject(uniqueKeysWithValues: tasks.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) })),
        ])
    }

    public func serialized() -> String { json.serialized() }

    /// Reads a snapshot written by ``serialized()`` or by `JSONEncoder`.
    public init(serialized text: String) throws {
        let json = try JSON(parsing: text)
        guard let nextState = json["nextState"]?.stringValue, let input = json["input"],
              let variables = json["variables"]?.objectValue, let lastEventId = json["lastEventId"]?.intValue else {
            throw SnapshotFormatError(text: text)
        }
        var branches: [String: BranchProgress] = [:]
        for (key, value) in json["branches"]?.objectValue ?? [:] { branches[key] = try BranchProgress(json: value) }
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
        self.init(nextState: nextState, input: input, variables: Dictionary(uniqueKeysWithValues: variables.map { ($0.key, $0.value) }),
                  lastEventId: lastEventId, branches: branches, timers: timers, tasks: tasks)
    }
}

extension BranchProgress {
    /// `{"at": {"nextState", "input", "variables"}}` or `{"done": {"output"}}`, as the synthesized Codable form.
    public var json: JSON {
        switch self {
        case .at(let nextState, let input, let variables):
            ["at": .object(["nextState": .string(nextState), "input": input,
                            "variables": .object(JSONObject(uniqueKeysWithValues: variables.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }))])]
        case .done(let output):
            ["done": .object(["output": output])]
        }
    }

    public func serialized() -> String { json.serialized() }

    public init(serialized text: String) throws {
        try self.init(json: JSON(parsing: text))
    }

    init(json: JSON) throws {
        if let at = json["at"], let nextState = at["nextState"]?.stringValue, let input = at["input"],
           let variables = at["variables"]?.objectValue {
            self = .at(nextState: nextState, input: input, variables: Dictionary(uniqueKeysWithValues: variables.map { ($0.key, $0.value) }))
        } else if let done = json["done"], let output = done["output"] {
            self = .done(output: output)
        } else {
            throw SnapshotFormatError(text: json.serialized())
        }
    }
}

/// A stored snapshot that is not one.
public struct SnapshotFormatError: Error, CustomStringConvertible {
    public let text: String
    public var description: String { "not an execution snapshot: \(text.prefix(200))" }
}
