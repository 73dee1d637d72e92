import JSONCore
import JSONata

/// The query language of a state machine or of one state.
public enum QueryLanguage: String, Sendable {
    case jsonPath = "JSONPath"
    case jsonata = "JSONata"
}

/// A parsed, validated Amazon States Language definition.
///
/// ```swift
/// let machine = try StateMachine(definition: text)          // throws DefinitionError with AWS's diagnostics
/// let engine = ExecutionEngine(machine: machine, integrations: myIntegrations)
/// let result = await engine.run(input: ["args": ["a"]], context: .init(executionArn: arn, name: "run-1"))
/// ```
public struct StateMachine: Sendable {
    public var startAt: String
    public var states: [String: StateDefinition]
    public var queryLanguage: QueryLanguage
    public var timeoutSeconds: Int?
    public var comment: String?
    /// The definition as written.
    public var json: JSON

    init(startAt: String, states: [String: StateDefinition], queryLanguage: QueryLanguage, json: JSON) {
        self.startAt = startAt
        self.states = states
        self.queryLanguage = queryLanguage
        self.json = json
    }

    public init(definition text: String) throws(DefinitionError) {
        let json: JSON
        do {
            json = try JSON(parsing: text)
        } catch {
            throw DefinitionError([
                Diagnostic(code: "INVALID_JSON_DESCRIPTION", message: "Invalid JSON: \(error.description)", location: "")
            ])
        }
        try self.init(json: json)
    }

    public init(json: JSON) throws(DefinitionError) {
        try Self.checkNesting(json)
        var diagnostics: [Diagnostic] = []
        self = StateMachine.parse(json, path: "", inherited: .jsonPath, diagnostics: &diagnostics)
        Self.checkUniqueNames(self, path: "", seen: [:], &diagnostics)
        if !diagnostics.isEmpty { throw DefinitionError(diagnostics) }
    }

    /// The deepest a definition may nest: what the JSON parser reads. Parsing and validating a definition, and
    /// running it (Choice rules, payload templates, nested Parallel and Map states), walk it recursively; a
    /// definition built in memory rather than parsed from text is held to the same bound, so that no walk can
    /// exhaust its thread's stack.
    public static let maxDefinitionDepth = JSON.maximumParseDepth

    static func checkNesting(_ json: JSON) throws(DefinitionError) {
        guard JSONNesting.exceeds(json, maxDefinitionDepth) else { return }
        let pointer = JSONNesting.pointerToFirstTooDeep(json, maxDefinitionDepth) ?? "/"
        throw DefinitionError([.schema("The definition nests more than \(maxDefinitionDepth) levels of objects and arrays", at: pointer)])
    }

    /// State names are unique across the whole machine, Parallel branches and Map processors included (ASL).
    @discardableResult
    static func checkUniqueNames(
        _ machine: StateMachine, path: String, seen: [String: String], _ diagnostics: inout [Diagnostic]
    ) -> [String: String] {
        var seen = seen
        for name in machine.states.keys.sorted() {
            let location = "\(path)/States/\(name)"
            if let first = seen[name] {
                diagnostics.append(
                    Diagnostic(
                        code: "DUPLICATE_STATE_NAME", message: "Duplicate State name: \(name) (also at \(first))", location: location))
            } else {
                seen[name] = location
            }
        }
        for name in machine.states.keys.sorted() {
            guard let state = machine.states[name] else { continue }
            for (i, branch) in state.branches.enumerated() {
                seen = checkUniqueNames(branch, path: "\(path)/States/\(name)/Branches/\(i)", seen: seen, &diagnostics)
            }
            if let iterator = state.iterator {
                seen = checkUniqueNames(iterator, path: "\(path)/States/\(name)/ItemProcessor", seen: seen, &diagnostics)
            }
        }
        return seen
    }

    /// The diagnostics AWS's ValidateStateMachineDefinition would report (empty when valid).
    public static func validate(_ text: String) -> [Diagnostic] {
        do {
            _ = try StateMachine(definition: text)
            return []
        } catch {
            return error.diagnostics
        }
    }

    /// How deep Parallel and Map states may nest in one another. Parsing a definition recurses through them, with
    /// large frames (a debug build spends about 20 KB of stack on each level): a bound well within what a thread's
    /// stack survives, and far beyond what a workflow uses.
    public static let maxStateNesting = 40

    /// `depth` counts this machine: 1 for the top level, 2 for a Parallel branch or Map processor in it, ...
    static func parse(_ json: JSON, path: String, inherited: QueryLanguage, depth: Int = 1, diagnostics: inout [Diagnostic]) -> StateMachine
    {
        var machine = StateMachine(startAt: "", states: [:], queryLanguage: inherited, json: json)
        guard case .object(let top) = json else {
            diagnostics.append(.schema("Expected an object", at: path.isEmpty ? "/" : path))
            return machine
        }
        guard depth <= maxStateNesting else {
            diagnostics.append(.schema("Parallel and Map states nest at most \(maxStateNesting) deep", at: path))
            return machine
        }
        let allowed: Set<String> = ["Comment", "StartAt", "States", "TimeoutSeconds", "Version", "QueryLanguage", "ProcessorConfig"]
        for key in top.keys where !allowed.contains(key) {
            diagnostics.append(
                .schema("These fields are required or not allowed: [\(key)]", at: path + "/" + key, code: "SCHEMA_VALIDATION_FAILED"))
        }
        if let ql = top["QueryLanguage"] {
            if let language = ql.stringValue.flatMap(QueryLanguage.init) {
                machine.queryLanguage = language
            } else {
                diagnostics.append(.schema("Value is not one of [JSONPath, JSONata]", at: path + "/QueryLanguage"))
            }
        }
        machine.comment = top["Comment"]?.stringValue
        if let timeout = top["TimeoutSeconds"] {
            // A positive whole number of seconds, as CreateStateMachine requires.
            if let seconds = NumberBounds.timeoutSeconds.integer(timeout) {
                machine.timeoutSeconds = seconds
            } else {
                diagnostics.append(.schema(NumberBounds.timeoutSeconds.requirement, at: path + "/TimeoutSeconds"))
            }
        }
        guard let startAt = top["StartAt"]?.stringValue else {
            diagnostics.append(.schema("These fields are required: [StartAt]", at: path.isEmpty ? "/" : path))
            return machine
        }
        machine.startAt = startAt
        guard case .object(let states)? = top["States"], !states.isEmpty else {
            diagnostics.append(.schema("These fields are required: [States]", at: path.isEmpty ? "/" : path))
            return machine
        }
        for (name, stateJSON) in states {
            if name.count > 80 {
                diagnostics.append(.schema("State name is longer than 80 characters", at: "\(path)/States/\(name)"))
            }
            machine.states[name] = StateDefinition.parse(
                name: name, stateJSON, path: "\(path)/States/\(name)", inherited: machine.queryLanguage, depth: depth,
                diagnostics: &diagnostics)
        }
        if machine.states[startAt] == nil {
            diagnostics.append(
                Diagnostic(code: "MISSING_TRANSITION_TARGET", message: "Missing 'Next' target: \(startAt)", location: "\(path)/StartAt"))
        }
        // Every transition names a state of this machine.
        for (name, state) in machine.states {
            for (target, field) in state.transitions where machine.states[target] == nil {
                diagnostics.append(
                    Diagnostic(
                        code: "MISSING_TRANSITION_TARGET", message: "Missing 'Next' target: \(target)",
                        location: "\(path)/States/\(name)/\(field)"))
            }
        }
        // Every state is reachable from StartAt.
        var reachable: Set<String> = []
        var queue = [startAt]
        while let next = queue.popLast() {
            guard reachable.insert(next).inserted, let state = machine.states[next] else { continue }
            queue.append(contentsOf: state.transitions.map { $0.0 })
        }
        for name in machine.states.keys.sorted() where !reachable.contains(name) {
            diagnostics.append(
                Diagnostic(code: "UNREACHABLE_STATE", message: "State \"\(name)\" is not reachable.", location: "\(path)/States/\(name)"))
        }
        // Some state ends the machine.
        if diagnostics.isEmpty && !machine.states.values.contains(where: { $0.isTerminal }) {
            diagnostics.append(
                Diagnostic(code: "MISSING_END_STATE", message: "Workflow has no terminal state.", location: path.isEmpty ? "/" : path))
        }
        return machine
    }
}

/// One problem of a definition, as ValidateStateMachineDefinition reports it.
public struct Diagnostic: Sendable, Equatable, CustomStringConvertible {
    public var severity: String = "ERROR"
    public var code: String
    public var message: String
    /// A JSON pointer into the definition (`/States/Run/Next`).
    public var location: String

    public init(code: String, message: String, location: String) {
        self.code = code
        self.message = message
        self.location = location
    }

    static func schema(_ message: String, at location: String, code: String = "SCHEMA_VALIDATION_FAILED") -> Diagnostic {
        Diagnostic(code: code, message: message, location: location)
    }

    /// As CreateStateMachine's InvalidDefinition message words each problem.
    public var description: String { "\(code): \(message) at \(location)" }
}

/// A definition with problems; its description is the message of AWS's `InvalidDefinition` error.
public struct DefinitionError: Error, Sendable, Equatable, CustomStringConvertible {
    public var diagnostics: [Diagnostic]
    public init(_ diagnostics: [Diagnostic]) { self.diagnostics = diagnostics }
    public var description: String {
        "Invalid State Machine Definition: '" + diagnostics.map(\.description).joined(separator: ", ") + "'"
    }
}

public enum StateType: String, Sendable {
    case pass = "Pass", task = "Task", choice = "Choice", wait = "Wait", succeed = "Succeed", fail = "Fail"
    case parallel = "Parallel", map = "Map"
}

/// A Retry rule.
public struct Retrier: Sendable {
    public var errorEquals: [String]
    public var intervalSeconds: Double = 1
    public var maxAttempts: Int = 3
    public var backoffRate: Double = 2
    public var maxDelaySeconds: Double?
    public var jitterFull = false
}

/// A Catch rule.
public struct Catcher: Sendable {
    public var errorEquals: [String]
    public var next: String
    public var resultPath: String? = "$"
    public var resultPathIsNull = false
    public var output: JSON?
    public var assign: JSON?
}

/// One state of a machine, parsed once so that running it looks nothing up by name.
public final class StateDefinition: @unchecked Sendable {
    public let name: String
    public let type: StateType
    public var queryLanguage: QueryLanguage
    public var next: String?
    public var end = false
    public var json: JSON

    // JSONPath fields
    public var inputPath: String?? = .some("$")
    public var outputPath: String?? = .some("$")
    public var resultPath: String?? = .some("$")
    public var parameters: JSON?
    public var resultSelector: JSON?
    public var result: JSON?
    // JSONata fields
    public var arguments: JSON?
    public var output: JSON?
    public var assign: JSON?
    // Task
    public var resource: String?
    /// TimeoutSeconds, TimeoutSecondsPath or a JSONata `{% %}` TimeoutSeconds.
    public var timeout: StateNumber?
    public var heartbeat: StateNumber?
    public var retry: [Retrier] = []
    public var catchers: [Catcher] = []
    // Choice
    public var choices: [ChoiceRule] = []
    public var defaultState: String?
    // Wait
    public var seconds: JSON?
    public var timestamp: JSON?
    public var secondsPath: String?
    public var timestampPath: String?
    // Fail
    public var error: String?
    public var cause: String?
    public var errorPath: String?
    public var causePath: String?
    // Parallel and Map
    public var branches: [StateMachine] = []
    public var iterator: StateMachine?
    public var itemsPath: String? = "$"
    public var items: JSON?
    public var itemSelector: JSON?
    /// MaxConcurrency (0: no limit), MaxConcurrencyPath or a JSONata `{% %}` MaxConcurrency.
    public var maxConcurrency: StateNumber?
    public var toleratedFailurePercentage: StateNumber?
    public var toleratedFailureCount: StateNumber?
    public var itemBatcher: JSON?

    init(name: String, type: StateType, queryLanguage: QueryLanguage, json: JSON) {
        self.name = name
        self.type = type
        self.queryLanguage = queryLanguage
        self.json = json
    }

    var isTerminal: Bool { end || type == .succeed || type == .fail }

    /// InputPath, ResultPath and OutputPath are all `$`: the state's output is its input.
    var isPlainPassThrough: Bool {
        inputPath == .some("$") && outputPath == .some("$") && resultPath == .some("$")
    }

    /// A JSONPath Pass state that only hands its input on (no Parameters, Result, Assign, paths): decided once at
    /// parse time, as it is the engine's hot path.
    var isTrivialPass = false

    /// Whether any string of the state's definition holds `$$`, the JSONPath syntax that reaches the context
    /// object: without one, a JSONPath Pass, Choice, Wait, Succeed or Fail state cannot read it, and the engine
    /// does not build it (a fifth of a Pass state's instructions). Decided once at parse time.
    var referencesContextObject = true

    static func containsContextReference(_ value: JSON) -> Bool {
        switch value {
        case .string(let s): return s.contains("$$")
        case .array(let elements): return elements.contains(where: containsContextReference)
        case .object(let members): return members.contains { $0.key.contains("$$") || containsContextReference($0.value) }
        default: return false
        }
    }

    /// Target states and the field naming each.
    var transitions: [(String, String)] {
        var result: [(String, String)] = []
        if let next { result.append((next, "Next")) }
        if let defaultState { result.append((defaultState, "Default")) }
        for (i, rule) in choices.enumerated() { result.append((rule.next ?? "", "Choices/\(i)/Next")) }
        for (i, c) in catchers.enumerated() { result.append((c.next, "Catch/\(i)/Next")) }
        return result
    }

    static let commonFields: Set<String> = ["Type", "Comment", "QueryLanguage"]
    static let fieldsByType: [StateType: Set<String>] = [
        .pass: ["Next", "End", "InputPath", "OutputPath", "ResultPath", "Parameters", "Result", "Output", "Assign"],
        .task: [
            "Next", "End", "InputPath", "OutputPath", "ResultPath", "Parameters", "ResultSelector", "Resource", "TimeoutSeconds",
            "TimeoutSecondsPath", "HeartbeatSeconds", "HeartbeatSecondsPath", "Retry", "Catch", "Arguments", "Output", "Assign",
            "Credentials",
        ],
        .choice: ["InputPath", "OutputPath", "Choices", "Default", "Output", "Assign"],
        .wait: ["Next", "End", "InputPath", "OutputPath", "Seconds", "Timestamp", "SecondsPath", "TimestampPath", "Output", "Assign"],
        .succeed: ["InputPath", "OutputPath", "Output"],
        .fail: ["Error", "Cause", "ErrorPath", "CausePath"],
        .parallel: [
            "Next", "End", "InputPath", "OutputPath", "ResultPath", "Parameters", "ResultSelector", "Branches", "Retry", "Catch",
            "Arguments", "Output", "Assign",
        ],
        .map: [
            "Next", "End", "InputPath", "OutputPath", "ResultPath", "Parameters", "ResultSelector", "Iterator", "ItemProcessor",
            "ItemsPath", "Items", "ItemSelector", "MaxConcurrency", "MaxConcurrencyPath", "ToleratedFailurePercentage",
            "ToleratedFailureCount", "ToleratedFailurePercentagePath", "ToleratedFailureCountPath", "ItemBatcher", "ItemReader",
            "ResultWriter", "Retry", "Catch", "Arguments", "Output", "Assign", "Label",
        ],
    ]
    static let jsonPathOnly: Set<String> = [
        "InputPath", "OutputPath", "ResultPath", "Parameters", "ResultSelector", "SecondsPath", "TimestampPath", "ErrorPath", "CausePath",
        "ItemsPath", "TimeoutSecondsPath", "HeartbeatSecondsPath", "Iterator", "MaxConcurrencyPath", "ToleratedFailurePercentagePath",
        "ToleratedFailureCountPath",
    ]
    static let jsonataOnly: Set<String> = ["Arguments", "Output", "Items"]

    /// `depth` is the nesting of the machine the state belongs to (see ``StateMachine/maxStateNesting``).
    static func parse(
        name: String, _ json: JSON, path: String, inherited: QueryLanguage, depth: Int = 1, diagnostics: inout [Diagnostic]
    ) -> StateDefinition {
        guard case .object(let o) = json, let typeValue = o["Type"] else {
            diagnostics.append(.schema("These fields are required: [Type]", at: path))
            return StateDefinition(name: name, type: .pass, queryLanguage: inherited, json: json)
        }
        guard let typeName = typeValue.stringValue, let type = StateType(rawValue: typeName) else {
            diagnostics.append(
                .schema(
                    "Value is not one of [Pass, Task, Choice, Wait, Succeed, Fail, Parallel, Map]: \(typeValue.stringValue ?? typeValue.serialized())",
                    at: path + "/Type"))
            return StateDefinition(name: name, type: .pass, queryLanguage: inherited, json: json)
        }
        var language = inherited
        if let ql = o["QueryLanguage"]?.stringValue {
            if let l = QueryLanguage(rawValue: ql) {
                language = l
            } else {
                diagnostics.append(.schema("Value is not one of [JSONPath, JSONata]", at: path + "/QueryLanguage"))
            }
            if inherited == .jsonata && language == .jsonPath {
                diagnostics.append(
                    .schema("A state cannot use JSONPath in a state machine whose QueryLanguage is JSONata", at: path + "/QueryLanguage"))
            }
        }
        let state = StateDefinition(name: name, type: type, queryLanguage: language, json: json)
        let allowed = commonFields.union(fieldsByType[type] ?? [])
        for key in o.keys where !allowed.contains(key) {
            diagnostics.append(.schema("Field '\(key)' is not supported by a \(type.rawValue) state", at: "\(path)/\(key)"))
        }
        for key in o.keys {
            if language == .jsonata && jsonPathOnly.contains(key) {
                diagnostics.append(
                    .schema("The field '\(key)' is not supported in JSONata states; use Arguments, Output and Assign", at: "\(path)/\(key)")
                )
            }
            if language == .jsonPath && jsonataOnly.contains(key) {
                diagnostics.append(.schema("The field '\(key)' is only supported in JSONata states", at: "\(path)/\(key)"))
            }
        }

        state.next = o["Next"]?.stringValue
        state.end = o["End"]?.boolValue ?? false
        if [.pass, .task, .wait, .parallel, .map].contains(type) {
            if state.next == nil && !state.end {
                diagnostics.append(
                    Diagnostic(
                        code: "MISSING_TRANSITION_TARGET", message: "State \"\(name)\" has neither a Next nor an End field", location: path)
                )
            }
            if state.next != nil && state.end {
                diagnostics.append(.schema("State \"\(name)\" cannot have both Next and End", at: path))
            }
        }
        func pathField(_ key: String) -> String?? {
            guard let v = o[key] else { return .some("$") }
            if v.isNull { return .some(nil) }
            guard let s = v.stringValue else {
                diagnostics.append(.schema("The value of \(key) must be a string path or null", at: "\(path)/\(key)"))
                return .some("$")
            }
            // InputPath and OutputPath may also select from the context object or a variable; ResultPath places the
            // result into the input, so it is a reference path of the input only.
            let valid = key == "ResultPath" ? JSONPath.isValid(s, reference: true) : PayloadTemplate.isValidPath(s, reference: true)
            if language == .jsonPath && !valid {
                diagnostics.append(
                    Diagnostic(code: "INVALID_JSON_PATH", message: "Invalid JSON path in field \(key): \(s)", location: "\(path)/\(key)"))
            }
            return .some(s)
        }
        state.inputPath = pathField("InputPath")
        state.outputPath = pathField("OutputPath")
        state.resultPath = pathField("ResultPath")
        state.parameters = o["Parameters"]
        state.resultSelector = o["ResultSelector"]
        state.result = o["Result"]
        state.arguments = o["Arguments"]
        state.output = o["Output"]
        state.assign = o["Assign"]
        if language == .jsonata {
            for key in ["Arguments", "Output", "Assign", "Items", "Condition"] {
                if let v = o[key] { validateJSONata(v, at: "\(path)/\(key)", &diagnostics) }
            }
        } else {
            for key in ["Parameters", "ResultSelector", "ItemSelector", "Assign"] {
                if let v = o[key] { PayloadTemplate.validate(v, at: "\(path)/\(key)", &diagnostics) }
            }
        }
        if let assign = o["Assign"] { Assignment.validate(assign, at: "\(path)/Assign", &diagnostics) }
        state.referencesContextObject = StateDefinition.containsContextReference(state.json)
        state.isTrivialPass =
            type == .pass && language == .jsonPath && o["Parameters"] == nil && o["Result"] == nil && o["Assign"] == nil
            && state.isPlainPassThrough
        state.resource = o["Resource"]?.stringValue
        if type == .task && state.resource == nil {
            diagnostics.append(.schema("These fields are required: [Resource]", at: path))
        }
        if type == .task, let resource = state.resource, !Self.isResourceArn(resource) {
            diagnostics.append(
                Diagnostic(code: "INVALID_RESOURCE", message: "Resource \"\(resource)\" is not a valid ARN", location: "\(path)/Resource"))
        }
        func number(_ bounds: NumberBounds, _ diagnostics: inout [Diagnostic]) -> StateNumber? {
            let key = bounds.field
            let pathKey = key + "Path"
            if o[key] != nil && o[pathKey] != nil {
                diagnostics.append(.schema("A state cannot have both \(key) and \(pathKey)", at: path))
            }
            if let p = o[pathKey] {
                guard let text = p.stringValue, PayloadTemplate.isValidPath(text, reference: true) else {
                    diagnostics.append(
                        Diagnostic(
                            code: "INVALID_JSON_PATH", message: "Invalid JSON path in field \(pathKey): \(p.stringValue ?? p.serialized())",
                            location: "\(path)/\(pathKey)"))
                    return nil
                }
                return .path(text)
            }
            guard let v = o[key] else { return nil }
            if language == .jsonata, let text = v.stringValue, let expression = JSONataTemplate.expression(in: text) {
                validateJSONata(v, at: "\(path)/\(key)", &diagnostics)
                return .expression(expression)
            }
            guard let n = v.numberValue, bounds.accepts(n) else {
                diagnostics.append(
                    .schema(bounds.requirement + (language == .jsonata ? ", or a JSONata expression" : ""), at: "\(path)/\(key)"))
                return nil
            }
            return .value(n)
        }
        if [.task].contains(type) {
            state.timeout = number(.timeoutSeconds, &diagnostics)
            state.heartbeat = number(.heartbeatSeconds, &diagnostics)
        }
        if case .value(let t)? = state.timeout, case .value(let h)? = state.heartbeat, h >= t {
            diagnostics.append(.schema("HeartbeatSeconds must be smaller than TimeoutSeconds", at: "\(path)/HeartbeatSeconds"))
        }
        for (i, r) in (o["Retry"]?.arrayValue ?? []).enumerated() {
            var retrier = Retrier(errorEquals: r["ErrorEquals"]?.arrayValue?.compactMap(\.stringValue) ?? [])
            if retrier.errorEquals.isEmpty {
                diagnostics.append(.schema("These fields are required: [ErrorEquals]", at: "\(path)/Retry/\(i)"))
            }
            // Each number within AWS's bounds; one outside them is reported and the default kept.
            func retryNumber(_ bounds: NumberBounds) -> Double? {
                guard let v = r[bounds.field] else { return nil }
                guard let n = v.numberValue, bounds.accepts(n) else {
                    diagnostics.append(.schema(bounds.requirement, at: "\(path)/Retry/\(i)/\(bounds.field)"))
                    return nil
                }
                return n
            }
            retrier.intervalSeconds = retryNumber(.intervalSeconds) ?? 1
            retrier.maxAttempts = retryNumber(.maxAttempts).flatMap { Int(exactly: $0) } ?? 3
            retrier.backoffRate = retryNumber(.backoffRate) ?? 2
            retrier.maxDelaySeconds = retryNumber(.maxDelaySeconds)
            retrier.jitterFull = r["JitterStrategy"]?.stringValue == "FULL"
            if retrier.errorEquals.contains("States.ALL") && retrier.errorEquals.count > 1 {
                diagnostics.append(.schema("States.ALL must appear alone in ErrorEquals", at: "\(path)/Retry/\(i)/ErrorEquals"))
            }
            if let jitter = r["JitterStrategy"]?.stringValue, !["FULL", "NONE"].contains(jitter) {
                diagnostics.append(.schema("Value is not one of [FULL, NONE]", at: "\(path)/Retry/\(i)/JitterStrategy"))
            }
            state.retry.append(retrier)
        }
        for (field, list) in [
            ("Retry", state.retry.map(\.errorEquals)),
            ("Catch", (o["Catch"]?.arrayValue ?? []).map { $0["ErrorEquals"]?.arrayValue?.compactMap(\.stringValue) ?? [] }),
        ] {
            // A retrier or catcher naming States.ALL must be the last one, as nothing after it could match.
            if let index = list.firstIndex(where: { $0.contains("States.ALL") }), index != list.count - 1 {
                diagnostics.append(
                    .schema(
                        "States.ALL must appear in the last \(field == "Retry" ? "retrier" : "catcher")",
                        at: "\(path)/\(field)/\(index)/ErrorEquals"))
            }
        }
        for (i, c) in (o["Catch"]?.arrayValue ?? []).enumerated() {
            var catcher = Catcher(
                errorEquals: c["ErrorEquals"]?.arrayValue?.compactMap(\.stringValue) ?? [], next: c["Next"]?.stringValue ?? "")
            if catcher.errorEquals.isEmpty {
                diagnostics.append(.schema("These fields are required: [ErrorEquals]", at: "\(path)/Catch/\(i)"))
            }
            if c["Next"] == nil { diagnostics.append(.schema("These fields are required: [Next]", at: "\(path)/Catch/\(i)")) }
            if let rp = c["ResultPath"] {
                if rp.isNull { catcher.resultPathIsNull = true; catcher.resultPath = nil } else { catcher.resultPath = rp.stringValue }
            }
            catcher.output = c["Output"]
            catcher.assign = c["Assign"]
            if let assign = c["Assign"] {
                if language == .jsonPath {
                    PayloadTemplate.validate(assign, at: "\(path)/Catch/\(i)/Assign", &diagnostics)
                } else {
                    validateJSONata(assign, at: "\(path)/Catch/\(i)/Assign", &diagnostics)
                }
                Assignment.validate(assign, at: "\(path)/Catch/\(i)/Assign", &diagnostics)
            }
            state.catchers.append(catcher)
        }
        if type == .choice {
            let rules = o["Choices"]?.arrayValue ?? []
            if rules.isEmpty { diagnostics.append(.schema("These fields are required: [Choices]", at: path)) }
            for (i, rule) in rules.enumerated() {
                state.choices.append(
                    ChoiceRule.parse(rule, path: "\(path)/Choices/\(i)", top: true, language: language, diagnostics: &diagnostics))
            }
            state.defaultState = o["Default"]?.stringValue
        }
        if type == .wait {
            state.seconds = o["Seconds"]
            state.timestamp = o["Timestamp"]
            state.secondsPath = o["SecondsPath"]?.stringValue
            state.timestampPath = o["TimestampPath"]?.stringValue
            let count = [state.seconds != nil, state.timestamp != nil, state.secondsPath != nil, state.timestampPath != nil].filter { $0 }
                .count
            if count != 1 {
                diagnostics.append(.schema("A Wait state needs exactly one of Seconds, Timestamp, SecondsPath, TimestampPath", at: path))
            }
            // Seconds is a whole number of seconds up to 99999999 and Timestamp an RFC 3339 timestamp, unless a
            // JSONata state computes them.
            let computed = { (v: JSON) in language == .jsonata && v.stringValue.flatMap(JSONataTemplate.expression) != nil }
            if let seconds = state.seconds, !computed(seconds), !(seconds.numberValue.map(NumberBounds.waitSeconds.accepts) ?? false) {
                diagnostics.append(
                    .schema(
                        NumberBounds.waitSeconds.requirement + (language == .jsonata ? ", or a JSONata expression" : ""),
                        at: "\(path)/Seconds"))
            }
            if let timestamp = state.timestamp, !computed(timestamp), timestamp.stringValue.flatMap(ChoiceRule.timestamp) == nil {
                diagnostics.append(
                    .schema(
                        "The value for the field 'Timestamp' must be an RFC 3339 timestamp (2016-08-18T17:33:00Z)", at: "\(path)/Timestamp")
                )
            }
            for key in ["SecondsPath", "TimestampPath"] {
                if let v = o[key], !(v.stringValue.map { PayloadTemplate.isValidPath($0, reference: true) } ?? false) {
                    diagnostics.append(
                        Diagnostic(
                            code: "INVALID_JSON_PATH", message: "Invalid JSON path in field \(key): \(v.stringValue ?? v.serialized())",
                            location: "\(path)/\(key)"))
                }
            }
        }
        if type == .fail {
            state.error = o["Error"]?.stringValue
            state.cause = o["Cause"]?.stringValue
            state.errorPath = o["ErrorPath"]?.stringValue
            state.causePath = o["CausePath"]?.stringValue
            // ErrorPath and CausePath hold a path or an intrinsic function (States.Format(...)), as `.$` fields do.
            for key in ["ErrorPath", "CausePath"] {
                if let v = o[key] { PayloadTemplate.validate([key + ".$": v], at: path, &diagnostics) }
            }
            if o["Error"] != nil && o["ErrorPath"] != nil {
                diagnostics.append(.schema("A Fail state cannot have both Error and ErrorPath", at: path))
            }
            if o["Cause"] != nil && o["CausePath"] != nil {
                diagnostics.append(.schema("A Fail state cannot have both Cause and CausePath", at: path))
            }
        }
        if type == .parallel {
            let branches = o["Branches"]?.arrayValue ?? []
            if branches.isEmpty { diagnostics.append(.schema("These fields are required: [Branches]", at: path)) }
            for (i, b) in branches.enumerated() {
                state.branches.append(
                    StateMachine.parse(b, path: "\(path)/Branches/\(i)", inherited: language, depth: depth + 1, diagnostics: &diagnostics))
            }
        }
        if type == .map {
            if let processor = o["ItemProcessor"] ?? o["Iterator"] {
                if processor["ProcessorConfig"]?["Mode"]?.stringValue == "DISTRIBUTED" {
                    diagnostics.append(
                        Diagnostic(
                            code: "SCHEMA_VALIDATION_FAILED",
                            message: "Distributed Map (ProcessorConfig Mode DISTRIBUTED) is not supported by Skiff yet; use INLINE",
                            location: "\(path)/ItemProcessor/ProcessorConfig/Mode"))
                }
                state.iterator = StateMachine.parse(
                    processor, path: "\(path)/ItemProcessor", inherited: language, depth: depth + 1, diagnostics: &diagnostics)
            } else {
                diagnostics.append(.schema("These fields are required: [ItemProcessor]", at: path))
            }
            if o["ItemReader"] != nil {
                diagnostics.append(
                    Diagnostic(
                        code: "SCHEMA_VALIDATION_FAILED", message: "ItemReader needs Amazon S3, which Skiff does not serve yet",
                        location: "\(path)/ItemReader"))
            }
            state.itemsPath = o["ItemsPath"]?.stringValue ?? "$"
            if let itemsPath = o["ItemsPath"]?.stringValue, !PayloadTemplate.isValidPath(itemsPath, reference: true) {
                diagnostics.append(
                    Diagnostic(
                        code: "INVALID_JSON_PATH", message: "Invalid JSON path in field ItemsPath: \(itemsPath)",
                        location: "\(path)/ItemsPath"))
            }
            state.items = o["Items"]
            state.itemSelector = o["ItemSelector"] ?? o["Parameters"]
            state.maxConcurrency = number(.maxConcurrency, &diagnostics)
            state.toleratedFailurePercentage = number(.toleratedFailurePercentage, &diagnostics)
            state.toleratedFailureCount = number(.toleratedFailureCount, &diagnostics)
            state.itemBatcher = o["ItemBatcher"]
        }
        return state
    }

    /// `arn:<partition>:<service>:<region>:<account>:<resource>` (region and account may be empty, as in
    /// `arn:aws:states:::ecs:runTask.sync`). JSONata states may compute it (`{% ... %}`).
    static func isResourceArn(_ resource: String) -> Bool {
        if resource.hasPrefix("{%") { return true }
        let parts = resource.split(separator: ":", maxSplits: 5, omittingEmptySubsequences: false)
        return parts.count == 6 && parts[0] == "arn" && !parts[1].isEmpty && !parts[2].isEmpty && !parts[5].isEmpty
    }

    static func validateJSONata(_ value: JSON, at path: String, _ diagnostics: inout [Diagnostic]) {
        switch value {
        case .string(let s):
            if let expression = JSONataTemplate.expression(in: s) {
                do { _ = try JSONataExpression(expression) } catch {
                    diagnostics.append(
                        Diagnostic(
                            code: "SCHEMA_VALIDATION_FAILED", message: "The JSONata expression '\(expression)' is not valid: \(error)",
                            location: path))
                }
            }
        case .array(let a):
            for (i, v) in a.enumerated() { validateJSONata(v, at: "\(path)/\(i)", &diagnostics) }
        case .object(let o):
            for (k, v) in o { validateJSONata(v, at: "\(path)/\(k)", &diagnostics) }
        default: break
        }
    }
}

/// `{% expression %}` strings of JSONata states.
enum JSONataTemplate {
    static func expression(in s: String) -> String? {
        let trimmed = s.trimmingCharacters(in: .whitespaces)
        guard trimmed.hasPrefix("{%"), trimmed.hasSuffix("%}"), trimmed.count >= 4 else { return nil }
        return String(trimmed.dropFirst(2).dropLast(2))
    }
}

import Foundation

extension StateDefinition {
    /// One state on its own, as the TestState API takes it: validated as a state, without the checks that need
    /// the rest of a machine (its Next target may be any name).
    public static func standalone(
        name: String, json: JSON, queryLanguage: QueryLanguage = .jsonPath
    ) throws(DefinitionError) -> StateDefinition {
        var diagnostics: [Diagnostic] = []
        guard case .object = json else { throw DefinitionError([.schema("Expected an object", at: "/")]) }
        try StateMachine.checkNesting(json)
        let state = parse(name: name, json, path: "", inherited: queryLanguage, diagnostics: &diagnostics)
        if !diagnostics.isEmpty { throw DefinitionError(diagnostics) }
        return state
    }
}

/// A number a state fixes in its definition or reads when it runs: `TimeoutSeconds` or `TimeoutSecondsPath`,
/// `MaxConcurrency` or `MaxConcurrencyPath`, or (JSONata) a `{% %}` expression in the field itself.
public enum StateNumber: Sendable, Equatable {
    case value(Double)
    case path(String)
    case expression(String)
}

/// The whole numbers (and the percentage) a state fixes in its definition or computes as it runs, with the
/// bounds AWS sets to them: CreateStateMachine refuses a definition with a number outside them, and a number
/// computed outside them (a `…Path`, a JSONata expression) fails the execution with States.Runtime. Numbers within
/// them convert to `Int` and to durations without overflow.
public struct NumberBounds: Sendable {
    public var field: String
    public var range: ClosedRange<Double>
    /// A whole number (all but ToleratedFailurePercentage and BackoffRate).
    public var integer = true

    /// AWS's bound on seconds of Wait states, task timeouts and heartbeats, retry intervals and attempts.
    public static let maxSeconds = 99_999_999.0
    /// The largest count AWS takes (a Java int).
    public static let maxCount = Double(Int32.max)
    /// The longest a retry may wait (AWS's bound on MaxDelaySeconds: a year and a second).
    public static let maxRetryDelay = 31_622_401.0

    public static let timeoutSeconds = NumberBounds(field: "TimeoutSeconds", range: 1...maxSeconds)
    public static let heartbeatSeconds = NumberBounds(field: "HeartbeatSeconds", range: 1...maxSeconds)
    public static let waitSeconds = NumberBounds(field: "Seconds", range: 0...maxSeconds)
    public static let intervalSeconds = NumberBounds(field: "IntervalSeconds", range: 1...maxSeconds)
    public static let maxAttempts = NumberBounds(field: "MaxAttempts", range: 0...maxSeconds)
    public static let maxDelaySeconds = NumberBounds(field: "MaxDelaySeconds", range: 1...maxRetryDelay)
    /// At least 1; no upper bound, as a retry's wait is bounded by ``maxRetryDelay`` however fast it grows.
    public static let backoffRate = NumberBounds(field: "BackoffRate", range: 1...Double.greatestFiniteMagnitude, integer: false)
    public static let maxConcurrency = NumberBounds(field: "MaxConcurrency", range: 0...maxCount)
    public static let toleratedFailureCount = NumberBounds(field: "ToleratedFailureCount", range: 0...maxCount)
    public static let toleratedFailurePercentage = NumberBounds(field: "ToleratedFailurePercentage", range: 0...100, integer: false)

    public func accepts(_ n: Double) -> Bool {
        range.contains(n) && (!integer || n == n.rounded(.towardZero))
    }

    /// The value as an `Int`, when it is a number these bounds accept.
    func integer(_ value: JSON) -> Int? {
        guard let n = value.numberValue, accepts(n) else { return nil }
        return Int(exactly: n.rounded(.towardZero))
    }

    /// What the field must hold, as AWS words it.
    public var requirement: String {
        if range.upperBound == .greatestFiniteMagnitude {
            return "The value for the field '\(field)' must be a number greater than or equal to \(JSON.formatNumber(range.lowerBound))"
        }
        return
            "The value for the field '\(field)' must be \(integer ? "an integer" : "a number") between \(JSON.formatNumber(range.lowerBound)) and \(JSON.formatNumber(range.upperBound))"
    }
}

/// Workflow variables as Assign declares them.
enum Assignment {
    /// AWS: a variable name starts with a letter or `_`, goes on with letters, digits and `_`, has at most 80
    /// characters, and is not the reserved `states`.
    static func isValidName(_ name: String) -> Bool {
        guard let first = name.first, first.isLetter || first == "_", name.count <= 80, name != "states" else { return false }
        return name.allSatisfy { $0.isLetter || $0.isNumber || $0 == "_" }
    }

    static func validate(_ assign: JSON, at path: String, _ diagnostics: inout [Diagnostic]) {
        guard case .object(let o) = assign else {
            diagnostics.append(.schema("Assign must be an object", at: path))
            return
        }
        for key in o.keys.sorted() {
            let name = key.hasSuffix(".$") ? String(key.dropLast(2)) : key
            if !isValidName(name) {
                diagnostics.append(
                    .schema(
                        "The variable name '\(name)' is not valid: a name starts with a letter or '_', has only letters, digits and '_', at most 80 characters, and is not 'states'",
                        at: "\(path)/\(key)"))
            }
        }
    }
}
