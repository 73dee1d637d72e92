import Foundation
import JSONCore
import JSONata

/// The data states see and make: the context object, task tokens, paths, JSONata expressions and Assign.
extension ExecutionRun {
    func contextObject(state: StateDefinition, taskToken: String? = nil, retryCount: Int = 0) -> JSON {
        var execution: JSONObject = [
            "Id": .string(context.executionArn), "Input": executionInput, "Name": .string(context.name),
            "RoleArn": .string(context.roleArn),
            "StartTime": .string(UTCTimestamp.iso8601(secondsSince1970: context.startTime.timeIntervalSince1970, fractionDigits: 3)),
            "RedriveCount": .number(Double(context.redriveCount)),
        ]
        if let redriven = context.redriveTime {
            execution["RedriveTime"] = .string(UTCTimestamp.iso8601(secondsSince1970: redriven.timeIntervalSince1970, fractionDigits: 3))
        }
        var context: JSON = [
            "Execution": .object(execution),
            "StateMachine": ["Id": .string(context.stateMachineArn), "Name": .string(context.stateMachineName)],
            "State": [
                "Name": .string(state.name),
                "EnteredTime": .string(UTCTimestamp.iso8601(secondsSince1970: engine.clock.now().timeIntervalSince1970, fractionDigits: 3)),
                "RetryCount": .number(Double(retryCount)),
            ],
        ]
        if let taskToken { context["Task"] = ["Token": .string(taskToken)] }
        if let contextOverride { context = Self.merging(contextOverride, into: context) }
        return context
    }

    /// `overlay` laid over `base`: objects merge key by key, other values replace.
    static func merging(_ overlay: JSON, into base: JSON) -> JSON {
        guard case .object(let top) = overlay, case .object(var merged) = base else { return overlay }
        for (key, value) in top { merged[key] = merged[key].map { merging(value, into: $0) } ?? value }
        return .object(merged)
    }

    /// The token of a state that waits for a callback (`.waitForTaskToken`, activities): the one it had before a
    /// restart, else a fresh one; nil for other states.
    func taskToken(for state: StateDefinition, key: String) -> String? {
        guard state.type == .task, let resource = state.resource else { return nil }
        let waits = resource.hasSuffix(".waitForTaskToken") || (resource.hasPrefix("arn:aws:states:") && resource.contains(":activity:"))
        guard waits else { return nil }
        if let saved = resumeTasks[key], !saved.isEmpty { return saved }
        return Self.newTaskToken()
    }

    /// A task token: 64 random hex digits in two UUIDs' worth of randomness.
    static func newTaskToken() -> String {
        (UUID().uuidString + UUID().uuidString).lowercased().replacingOccurrences(of: "-", with: "")
    }

    func selectPath(_ path: String??, in value: JSON, context: JSON, scope: VariableScope, field: String) throws -> JSON {
        switch path {
        case .some(nil): return .object([:])
        case .some("$"?), .none: return value
        case .some(let p?): return try selectRequired(p, in: value, context: context, scope: scope, field: field)
        }
    }

    func selectRequired(_ path: String, in value: JSON, context: JSON, scope: VariableScope, field: String) throws -> JSON {
        guard let v = try PayloadTemplate.select(path, input: value, context: context, variables: scope) else {
            throw StatesError("States.Runtime", "Invalid path '\(path)' : No results for path: $['\(path.dropFirst(2))'] (\(field))")
        }
        return v
    }

    /// Resolves `{% %}` templates in a JSONata state's field, with `$states` and the workflow variables bound.
    /// `field` names where the template sits (`Arguments.Payload`, `Output[0]`), for the cause of a failure.
    func evaluateTemplate(_ template: JSON, states: JSON, scope: VariableScope, field: String) throws -> JSON {
        switch template {
        case .string(let s):
            guard let expression = JSONataTemplate.expression(in: s) else { return template }
            return try evaluateExpression(expression, states: states, scope: scope, field: field)
        case .array(let a):
            var items: [JSON] = []
            items.reserveCapacity(a.count)
            for (i, v) in a.enumerated() { items.append(try evaluateTemplate(v, states: states, scope: scope, field: "\(field)[\(i)]")) }
            return .array(items)
        case .object(let o):
            var out = JSONObject(minimumCapacity: o.count)
            for (k, v) in o { out[k] = try evaluateTemplate(v, states: states, scope: scope, field: field.isEmpty ? k : "\(field).\(k)") }
            return .object(out)
        default:
            return template
        }
    }

    /// Evaluates one JSONata expression; its failures are States.QueryEvaluationError, worded as AWS words them:
    /// the state, the expression and the field it is specified for.
    func evaluateExpression(_ expression: String, states: JSON, scope: VariableScope, field: String) throws -> JSON {
        var variables = scope.all
        variables["states"] = states
        let environment = JSONataEnvironment(
            variables: variables, functions: JSONataFunctions.stepFunctions(), limits: JSONataLimits(maxDepth: 300, timeout: .seconds(5)))
        let place =
            "An error occurred while executing the state '\(states["context"]?["State"]?["Name"]?.stringValue ?? "")'. The JSONata expression '\(expression)'"
            + (field.isEmpty ? "" : " specified for the field '\(field)'")
        do {
            guard let v = try JSONataExpression(expression).evaluate(states["input"], environment: environment) else {
                throw StatesError("States.QueryEvaluationError", "\(place) returned nothing (undefined).")
            }
            // A result nested deeper than the execution's data may be (built by a recursive function) is refused
            // before anything walks it recursively.
            if JSONNesting.exceeds(v, JSONNesting.maxDataDepth) {
                throw StatesError(
                    "States.QueryEvaluationError", "\(place) returned a value nested more than \(JSONNesting.maxDataDepth) levels deep.")
            }
            // JSON has no Infinity nor NaN (`1/0`): such a result is no JSON value.
            guard JSONNesting.isFinite(v) else {
                throw StatesError("States.QueryEvaluationError", "\(place) returned an unsupported result type.")
            }
            return v
        } catch let error as JSONataError {
            throw StatesError("States.QueryEvaluationError", "\(place) failed: \(error.code): \(error.message)")
        }
    }

    /// A JSONata state's Assign: every value evaluated first (expressions see the variables as they were), then
    /// all assigned.
    func assignJSONata(_ assign: JSON, states: JSON, scope: VariableScope, field: String) throws -> [String: JSON] {
        guard case .object(let o) = assign else { throw StatesError("States.Runtime", "Assign must be an object") }
        var values: JSONObject = [:]
        for (k, v) in o { values[k] = try evaluateTemplate(v, states: states, scope: scope, field: "\(field).\(k)") }
        return try commitAssign(.object(values), scope: scope)
    }

    /// Assigns evaluated variables (an object, names to values), within AWS's limits: 256 KiB per state's
    /// assignment, 10 MiB for all of an execution's variables.
    func commitAssign(_ evaluated: JSON, scope: VariableScope) throws -> [String: JSON] {
        guard case .object(let o) = evaluated else { throw StatesError("States.Runtime", "Assign must be an object") }
        var values: [String: JSON] = [:]
        for (k, v) in o { values[k] = v }
        if let (name, _) = values.first(where: { JSONNesting.exceeds($0.value, JSONNesting.maxDataDepth) }) {
            throw StatesError(
                "States.Runtime", "The variable '\(name)' nests more than \(JSONNesting.maxDataDepth) levels of objects and arrays")
        }
        if evaluated.serializedBytes().count > 262_144 {
            throw StatesError("States.Runtime", "The variables assigned exceed the 256 KiB limit")
        }
        var all = scope.all
        for (k, v) in values { all[k] = v }
        let total = all.values.reduce(0) { $0 + $1.serializedBytes().count }
        if total > 10_485_760 {
            throw StatesError("States.Runtime", "The workflow variables exceed the 10 MiB limit of an execution")
        }
        scope.assign(values)
        return values
    }
}
