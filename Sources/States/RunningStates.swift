import Foundation
import JSONCore

/// One state's processing, in JSONPath or JSONata: its fields applied in order, Wait states' waits, and the bounds
/// on what a state makes.
extension ExecutionRun {
    func runState(_ state: StateDefinition, input: JSON, scope: VariableScope, retryCount: Int = 0) async throws -> StateOutcome {
        state.queryLanguage == .jsonata
            ? try await runJSONataState(state, input: input, scope: scope, retryCount: retryCount)
            : try await runJSONPathState(state, input: input, scope: scope, retryCount: retryCount)
    }

    func runJSONPathState(_ state: StateDefinition, input: JSON, scope: VariableScope, retryCount: Int) async throws -> StateOutcome {
        // A Pass state that only passes its input on is the engine's hot path: no context object, no copies.
        if state.isTrivialPass { return StateOutcome(output: input, next: state.next) }
        // Only Task and Wait states record anything under their key (a token, a deadline).
        let key = state.type == .task || state.type == .wait ? instanceKey(state) : ""
        let token = taskToken(for: state, key: key)
        // Tasks, Maps and Parallels hand the context on (to integrations, to iterations); other states only read it
        // through `$$` paths.
        let handsContextOn = state.type == .task || state.type == .map || state.type == .parallel
        let context =
            handsContextOn || state.referencesContextObject
            ? contextObject(state: state, taskToken: token, retryCount: retryCount) : .null
        let effective = try selectPath(state.inputPath, in: input, context: context, scope: scope, field: "InputPath")
        inspection?.record("afterInputPath", effective)
        // Assign in a JSONPath state: `.$` values are paths (`$` the state's result, or its input when it has
        // none), context paths, variables or intrinsic functions, all evaluated before any is assigned; the state's
        // output is computed with the variables as they were.
        func assigning(_ assign: JSON?, from value: JSON) throws -> JSON? {
            try assign.map { try PayloadTemplate.resolve($0, input: value, context: context, variables: scope) }
        }
        switch state.type {
        case .choice:
            for rule in state.choices
            where try rule.matches(input: effective, context: context, variables: scope, evaluateCondition: { _ in false }) {
                let assignment = try assigning(rule.assign, from: effective)
                let output = try selectPath(state.outputPath, in: effective, context: context, scope: scope, field: "OutputPath")
                return StateOutcome(output: output, next: rule.next, assigned: try assignment.map { try commitAssign($0, scope: scope) })
            }
            guard let fallback = state.defaultState else {
                throw StatesError("States.NoChoiceMatched", "No Matches!")
            }
            let assignment = try assigning(state.assign, from: effective)
            let output = try selectPath(state.outputPath, in: effective, context: context, scope: scope, field: "OutputPath")
            return StateOutcome(output: output, next: fallback, assigned: try assignment.map { try commitAssign($0, scope: scope) })
        case .succeed:
            return StateOutcome(
                output: try selectPath(state.outputPath, in: effective, context: context, scope: scope, field: "OutputPath"), next: nil)
        case .fail:
            // ErrorPath and CausePath are paths or intrinsic functions, as `.$` fields are.
            func text(_ expression: String, _ field: String) throws -> String {
                let value = try PayloadTemplate.evaluate(expression, input: input, context: context, variables: scope, field: field)
                guard let s = value.stringValue else {
                    throw StatesError("States.Runtime", "The \(field) '\(expression)' did not select a string")
                }
                return s
            }
            let error = try state.errorPath.map { try text($0, "ErrorPath") } ?? state.error ?? ""
            let cause = try state.causePath.map { try text($0, "CausePath") } ?? state.cause ?? ""
            throw StatesError(error, cause)
        case .wait:
            let seconds =
                try state.secondsPath.map { try selectRequired($0, in: effective, context: context, scope: scope, field: "SecondsPath") }
                ?? state.seconds
            let timestamp =
                try state.timestampPath.map {
                    try selectRequired($0, in: effective, context: context, scope: scope, field: "TimestampPath")
                } ?? state.timestamp
            try await wait(
                state, seconds: seconds, timestamp: timestamp, key: key,
                fieldSuffix: state.secondsPath != nil || state.timestampPath != nil ? "Path" : "")
            let assignment = try assigning(state.assign, from: effective)
            let output = try selectPath(state.outputPath, in: effective, context: context, scope: scope, field: "OutputPath")
            return StateOutcome(output: output, next: state.next, assigned: try assignment.map { try commitAssign($0, scope: scope) })
        default:
            break
        }
        // A Map's Parameters is its (legacy) ItemSelector, applied to each item: not to the state's input.
        let parameters =
            state.type == .map
            ? effective
            : try state.parameters.map {
                try checkNesting(
                    PayloadTemplate.resolve($0, input: effective, context: context, variables: scope), of: state, field: "Parameters")
            } ?? effective
        inspection?.record("afterParameters", parameters)
        var result: JSON
        switch state.type {
        case .pass:
            result = state.result ?? parameters
        case .task:
            let timeout = try number(
                state.timeout, .timeoutSeconds, of: state, input: effective, context: context, scope: scope, states: nil)
            let heartbeat = try number(
                state.heartbeat, .heartbeatSeconds, of: state, input: effective, context: context, scope: scope, states: nil)
            result = try await runTask(
                state, arguments: parameters, token: token, key: key, context: context, timeout: timeout, heartbeat: heartbeat)
        case .parallel:
            result = try await runParallel(state, input: parameters, scope: scope)
        case .map:
            let limits = try mapLimits(state, input: effective, context: context, scope: scope, states: nil)
            result = try await runMap(state, input: effective, scope: scope, jsonata: false, context: context, limits: limits)
        default:
            result = parameters
        }
        // Assign sees the raw result (before ResultSelector), as in AWS.
        inspection?.record("result", result)
        let assignment = try assigning(state.assign, from: result)
        if let selector = state.resultSelector {
            result = try PayloadTemplate.resolve(selector, input: result, context: context, variables: scope)
            inspection?.record("afterResultSelector", result)
        }
        let combined: JSON
        switch state.resultPath {
        case .some(nil): combined = input
        case .some(let path?): combined = try JSONPath.placing(result, at: path, in: input)
        case .none: combined = result
        }
        inspection?.record("afterResultPath", combined)
        let output = try selectPath(state.outputPath, in: combined, context: context, scope: scope, field: "OutputPath")
        try checkOutput(output, state: state)
        return StateOutcome(output: output, next: state.next, assigned: try assignment.map { try commitAssign($0, scope: scope) })
    }

    func runJSONataState(_ state: StateDefinition, input: JSON, scope: VariableScope, retryCount: Int) async throws -> StateOutcome {
        let key = state.type == .task || state.type == .wait ? instanceKey(state) : ""
        let token = taskToken(for: state, key: key)
        let context = contextObject(state: state, taskToken: token, retryCount: retryCount)
        var states: JSON = ["input": input, "context": context]
        switch state.type {
        case .choice:
            for rule in state.choices {
                let matched = try rule.matches(input: input, context: context) { condition in
                    let v = try self.evaluateTemplate(.string(condition), states: states, scope: scope, field: "Condition")
                    guard case .bool(let b) = v else {
                        throw StatesError(
                            "States.QueryEvaluationError",
                            "The Condition '\(condition)' of state \(state.name) did not evaluate to a boolean")
                    }
                    return b
                }
                if matched {
                    let output =
                        try rule.output.map { try evaluateTemplate($0, states: states, scope: scope, field: "Choices.Output") } ?? input
                    let assigned = try rule.assign.map { try assignJSONata($0, states: states, scope: scope, field: "Choices.Assign") }
                    if rule.output != nil { try checkOutput(output, state: state) }
                    return StateOutcome(output: output, next: rule.next, assigned: assigned)
                }
            }
            guard let fallback = state.defaultState else { throw StatesError("States.NoChoiceMatched", "No Matches!") }
            let output = try state.output.map { try evaluateTemplate($0, states: states, scope: scope, field: "Output") } ?? input
            let assigned = try state.assign.map { try assignJSONata($0, states: states, scope: scope, field: "Assign") }
            if state.output != nil { try checkOutput(output, state: state) }
            return StateOutcome(output: output, next: fallback, assigned: assigned)
        case .fail:
            let error =
                try state.json["Error"].map { try evaluateTemplate($0, states: states, scope: scope, field: "Error").stringValue ?? "" }
                ?? ""
            let cause =
                try state.json["Cause"].map { try evaluateTemplate($0, states: states, scope: scope, field: "Cause").stringValue ?? "" }
                ?? ""
            throw StatesError(error, cause)
        case .wait:
            try await wait(
                state, seconds: try state.seconds.map { try evaluateTemplate($0, states: states, scope: scope, field: "Seconds") },
                timestamp: try state.timestamp.map { try evaluateTemplate($0, states: states, scope: scope, field: "Timestamp") }, key: key)
        default:
            break
        }
        let arguments =
            try state.arguments.map {
                try checkNesting(evaluateTemplate($0, states: states, scope: scope, field: "Arguments"), of: state, field: "Arguments")
            } ?? input
        if state.arguments != nil { inspection?.record("afterArguments", arguments) }
        var result: JSON? = nil
        switch state.type {
        case .task:
            let timeout = try number(
                state.timeout, .timeoutSeconds, of: state, input: input, context: context, scope: scope, states: states)
            let heartbeat = try number(
                state.heartbeat, .heartbeatSeconds, of: state, input: input, context: context, scope: scope, states: states)
            result = try await runTask(
                state, arguments: arguments, token: token, key: key, context: context, timeout: timeout, heartbeat: heartbeat)
        case .parallel: result = try await runParallel(state, input: arguments, scope: scope)
        case .map:
            let limits = try mapLimits(state, input: input, context: context, scope: scope, states: states)
            result = try await runMap(state, input: input, scope: scope, jsonata: true, states: states, context: context, limits: limits)
        default: break
        }
        if let result {
            states["result"] = result
            inspection?.record("result", result)
        }
        let output = try state.output.map { try evaluateTemplate($0, states: states, scope: scope, field: "Output") } ?? result ?? input
        let assigned = try state.assign.map { try assignJSONata($0, states: states, scope: scope, field: "Assign") }
        try checkOutput(output, state: state)
        return StateOutcome(output: output, next: state.type == .succeed ? nil : state.next, assigned: assigned)
    }

    /// A Wait state's wait, to a deadline recorded so that a restart resumes the wait rather than starting it over.
    /// `fieldSuffix` is "Path" when the value was read from SecondsPath or TimestampPath, to name it in a failure.
    func wait(_ state: StateDefinition, seconds: JSON?, timestamp: JSON?, key: String, fieldSuffix: String = "") async throws {
        let until: Date
        if let seconds {
            guard let s = seconds.numberValue, NumberBounds.waitSeconds.accepts(s) else {
                throw Self.outOfBounds(.waitSeconds, field: "Seconds" + fieldSuffix, of: state, value: seconds)
            }
            until = await deadline(key, seconds: s)
        } else if let timestamp {
            guard let text = timestamp.stringValue, let date = ChoiceRule.timestamp(text) else {
                throw StatesError(
                    "States.Runtime",
                    "An error occurred while executing the state '\(state.name)'. The value for the field 'Timestamp\(fieldSuffix)' must be an RFC 3339 timestamp, not \(timestamp.serialized().prefix(200))"
                )
            }
            until = date
        } else {
            return
        }
        try await engine.clock.sleep(seconds: until.timeIntervalSince(engine.clock.now()))
        await observer?.checkpoint(timer: key, deadline: nil)
    }

    /// A number the state fixes or reads when it runs (TimeoutSeconds, MaxConcurrency, ...): from its path
    /// (JSONPath) or its `{% %}` expression (JSONata), within `bounds` (a fixed one was checked with the definition).
    func number(
        _ number: StateNumber?, _ bounds: NumberBounds, of state: StateDefinition, input: JSON, context: JSON, scope: VariableScope,
        states: JSON?
    ) throws -> Double? {
        let value: JSON
        let field: String
        switch number {
        case nil: return nil
        case .value(let n)?: return n
        case .path(let path)?:
            field = bounds.field + "Path"
            value = try selectRequired(path, in: input, context: context, scope: scope, field: field)
        case .expression(let expression)?:
            field = bounds.field
            value = try evaluateExpression(expression, states: states ?? ["input": input, "context": context], scope: scope, field: field)
        }
        guard let n = value.numberValue, bounds.accepts(n) else {
            throw Self.outOfBounds(bounds, field: field, of: state, value: value)
        }
        return n
    }

    /// The States.Runtime failure of a number computed outside its bounds, naming the field as written.
    static func outOfBounds(_ bounds: NumberBounds, field: String, of state: StateDefinition, value: JSON) -> StatesError {
        var named = bounds
        named.field = field
        return StatesError(
            "States.Runtime",
            "An error occurred while executing the state '\(state.name)'. \(named.requirement), not \(value.serialized().prefix(200))")
    }

    /// A state's output within AWS's payload size and the data's nesting bound.
    func checkOutput(_ output: JSON, state: StateDefinition) throws {
        if !output.serializedSizeIsAtMost(engine.payloadLimit) {
            throw StatesError(
                "States.DataLimitExceeded",
                "The state/task '\(state.name)' returned a result with a size exceeding the maximum number of bytes service limit.")
        }
        try checkNesting(output, of: state, field: "output")
    }

    /// Refuses data nested deeper than the execution may hold (see ``JSONNesting/maxDataDepth``) where a state
    /// makes it: a template (Parameters, Arguments, ItemSelector) or an output deeper than its input.
    @discardableResult
    func checkNesting(_ value: JSON, of state: StateDefinition, field: String) throws -> JSON {
        if JSONNesting.exceeds(value, JSONNesting.maxDataDepth) {
            throw StatesError(
                "States.Runtime",
                "An error occurred while executing the state '\(state.name)'. Its \(field) nests more than \(JSONNesting.maxDataDepth) levels of objects and arrays"
            )
        }
        return value
    }
}
