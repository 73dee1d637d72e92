import Foundation
import JSONCore
import JSONata
import Synchronization

/// Runs Task states' resources. The host (the local cloud) provides one for `arn:aws:states:::ecs:runTask.sync`,
/// activities, and the rest; a failure is thrown as a ``StatesError`` with the error name and cause AWS would report.
public protocol TaskIntegration: Sendable {
    func invoke(_ task: TaskInvocation) async throws -> JSON
}

/// One call of a Task state's resource.
public struct TaskInvocation: Sendable {
    public var resource: String
    /// Parameters (JSONPath) or Arguments (JSONata), resolved.
    public var input: JSON
    /// The token of a `.waitForTaskToken` resource (also in the context object as `$$.Task.Token`).
    public var taskToken: String?
    public var timeoutSeconds: Double?
    public var heartbeatSeconds: Double?
    public var stateName: String
    public var context: JSON
    /// Reports from outside: a worker started the task, a heartbeat arrived.
    public var progress = TaskProgress()
}

/// Time as the engine sees it: injectable so that tests run Wait states and retries instantly.
public protocol StatesClock: Sendable {
    func now() -> Date
    func sleep(seconds: Double) async throws
}

public struct SystemClock: StatesClock {
    public init() {}
    public func now() -> Date { Date() }
    public func sleep(seconds: Double) async throws {
        if seconds > 0 { try await Task.sleep(for: .milliseconds(Int64((seconds * 1000).rounded()))) }
    }
}

/// Who the execution is, for the context object (`$$`) and the events.
public struct ExecutionContext: Sendable {
    public var executionArn: String
    public var name: String
    public var stateMachineArn: String
    public var stateMachineName: String
    public var roleArn: String
    public var startTime: Date
    public var redriveCount: Int

    public init(executionArn: String, name: String, stateMachineArn: String = "", stateMachineName: String = "", roleArn: String = "", startTime: Date = Date(), redriveCount: Int = 0) {
        self.executionArn = executionArn
        self.name = name
        self.stateMachineArn = stateMachineArn
        self.stateMachineName = stateMachineName
        self.roleArn = roleArn
        self.startTime = startTime
        self.redriveCount = redriveCount
    }
}

/// What one attempt of one state came to (the TestState API's answer).
public struct TestStateResult: Sendable, Equatable {
    public enum Status: String, Sendable {
        case succeeded = "SUCCEEDED", failed = "FAILED", retriable = "RETRIABLE", caughtError = "CAUGHT_ERROR"
    }
    public var status: Status
    public var output: JSON?
    public var error: String?
    public var cause: String?
    public var nextState: String?
    /// The workflow variables after the state (its Assign applied).
    public var variables: [String: JSON] = [:]
}

public enum ExecutionStatus: String, Sendable {
    case running = "RUNNING", succeeded = "SUCCEEDED", failed = "FAILED", timedOut = "TIMED_OUT", aborted = "ABORTED"
}

public struct ExecutionOutcome: Sendable, Equatable {
    public var status: ExecutionStatus
    public var output: JSON?
    public var error: String?
    public var cause: String?
}

/// Where a top-level execution stands between two states: persist it, and ``ExecutionEngine/run(input:context:resumingFrom:observer:)``
/// continues from there after a restart without repeating the states already done.
public struct ExecutionSnapshot: Sendable, Equatable, Codable {
    public var nextState: String
    public var input: JSON
    public var variables: [String: JSON]
    public var lastEventId: Int
    /// Progress inside the state `nextState` names, when it is a Map or Parallel state: each iteration or
    /// branch by its key (see ``BranchProgress``). The host fills it from ``ExecutionObserver/checkpoint(branch:progress:)``.
    public var branches: [String: BranchProgress]

    public init(nextState: String, input: JSON, variables: [String: JSON], lastEventId: Int, branches: [String: BranchProgress] = [:]) {
        self.nextState = nextState
        self.input = input
        self.variables = variables
        self.lastEventId = lastEventId
        self.branches = branches
    }

    enum CodingKeys: String, CodingKey { case nextState, input, variables, lastEventId, branches }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        nextState = try c.decode(String.self, forKey: .nextState)
        input = try c.decode(JSON.self, forKey: .input)
        variables = try c.decode([String: JSON].self, forKey: .variables)
        lastEventId = try c.decode(Int.self, forKey: .lastEventId)
        // Snapshots written before branches were recorded have none.
        branches = try c.decodeIfPresent([String: BranchProgress].self, forKey: .branches) ?? [:]
    }
}

/// Where one Map iteration or Parallel branch stands, so that a resumed execution neither reruns an iteration
/// that finished nor the states an unfinished one already passed. Keys name the iteration from the top
/// (`g12/Process[3]/Inner#1`): the top-level step it belongs to, then each Map index or Parallel branch inside.
public enum BranchProgress: Sendable, Equatable, Codable {
    case at(nextState: String, input: JSON, variables: [String: JSON])
    case done(output: JSON)
}

/// Receives what an execution does, as it happens: history events and snapshots.
public protocol ExecutionObserver: Sendable {
    func record(_ event: HistoryEvent) async
    func checkpoint(_ snapshot: ExecutionSnapshot) async
    /// Progress of one iteration or branch inside the current top-level state; resuming passes them back in
    /// ``ExecutionSnapshot/branches``.
    func checkpoint(branch: String, progress: BranchProgress) async
    /// The top-level state moved on: the branches recorded for the previous one are no longer needed.
    func clearBranches() async
}

extension ExecutionObserver {
    public func checkpoint(branch: String, progress: BranchProgress) async {}
    public func clearBranches() async {}
}

/// Executes a ``StateMachine``. Many executions may run at once on one engine.
public struct ExecutionEngine: Sendable {
    public let machine: StateMachine
    public let integrations: any TaskIntegration
    public let clock: any StatesClock
    /// Largest serialized size of a state's input or output (AWS: 256 KiB).
    public var payloadLimit = 262_144

    public init(machine: StateMachine, integrations: any TaskIntegration, clock: any StatesClock = SystemClock()) {
        self.machine = machine
        self.integrations = integrations
        self.clock = clock
    }

    /// Runs to the end (or until the calling task is cancelled: then the outcome is ABORTED).
    public func run(input: JSON, context: ExecutionContext, resumingFrom snapshot: ExecutionSnapshot? = nil, observer: (any ExecutionObserver)? = nil) async -> ExecutionOutcome {
        let run = ExecutionRun(engine: self, context: context, observer: observer, firstEventId: snapshot?.lastEventId ?? 0,
                               resumeBranches: snapshot?.branches ?? [:])
        return await run.execute(input: input, snapshot: snapshot)
    }

    /// Runs one attempt of one state alone, as the TestState API does.
    public func test(_ state: StateDefinition, input: JSON, context: ExecutionContext, variables: [String: JSON] = [:]) async -> TestStateResult {
        let run = ExecutionRun(engine: self, context: context, observer: nil, firstEventId: 0)
        let scope = VariableScope(parent: nil)
        scope.values = variables
        return await run.testOnce(state, input: input, scope: scope)
    }

    /// Runs one state alone, as TestState does: returns its output and the next state's name.
    public func testState(_ state: StateDefinition, input: JSON, context: ExecutionContext, variables: [String: JSON] = [:]) async throws -> (output: JSON, next: String?) {
        let run = ExecutionRun(engine: self, context: context, observer: nil, firstEventId: 0)
        let scope = VariableScope(parent: nil)
        scope.values = variables
        return try await run.runStateWithRecovery(state, input: input, scope: scope, parentEventId: 0)
    }
}

/// Workflow variables (Assign): a state sees its own scope and, read-only, the scopes that enclose it.
final class VariableScope: @unchecked Sendable {
    let lock = NSLock()
    var values: [String: JSON] = [:]
    let parent: VariableScope?
    init(parent: VariableScope?) { self.parent = parent }

    var all: [String: JSON] {
        var merged = parent?.all ?? [:]
        lock.lock()
        for (k, v) in values { merged[k] = v }
        lock.unlock()
        return merged
    }

    func assign(_ new: [String: JSON]) {
        lock.lock()
        for (k, v) in new { values[k] = v }
        lock.unlock()
    }
}

/// One execution in progress.
final class ExecutionRun: @unchecked Sendable {
    let engine: ExecutionEngine
    let context: ExecutionContext
    let observer: (any ExecutionObserver)?
    let nextId: Mutex<Int>
    /// Iterations and branches already under way or done when this run resumed.
    let resumeBranches: [String: BranchProgress]
    /// The event id of the latest top-level checkpoint: the first part of branch keys, so that the keys of a
    /// state run twice (a loop through a Choice) never meet.
    let generation: Mutex<Int>
    /// The branch key of the iteration or branch the current task runs in (nil at the top level).
    @TaskLocal static var branchKey: String?

    init(engine: ExecutionEngine, context: ExecutionContext, observer: (any ExecutionObserver)?, firstEventId: Int,
         resumeBranches: [String: BranchProgress] = [:]) {
        self.engine = engine
        self.context = context
        self.observer = observer
        self.nextId = Mutex(firstEventId)
        self.resumeBranches = resumeBranches
        self.generation = Mutex(firstEventId)
    }

    /// The key of iteration or branch `part` of `state`, inside the current one.
    func branchKey(_ state: StateDefinition, _ part: String) -> String {
        let parent = Self.branchKey ?? "g\(generation.withLock { $0 })"
        return "\(parent)/\(state.name)\(part)"
    }

    var recording: Bool { observer != nil }

    @discardableResult
    func emit(_ type: String, previous: Int, _ detailsKey: String? = nil, _ details: JSON? = nil) async -> Int {
        guard let observer else { return 0 }
        let id = nextId.withLock { id in
            id += 1
            return id
        }
        await observer.record(HistoryEvent(id: id, previousEventId: previous, timestamp: engine.clock.now(), type: type, detailsKey: detailsKey, details: details))
        return id
    }

    var lastEventId: Int { nextId.withLock { $0 } }

    func execute(input: JSON, snapshot: ExecutionSnapshot?) async -> ExecutionOutcome {
        let scope = VariableScope(parent: nil)
        var start = engine.machine.startAt
        var data = input
        if let snapshot {
            start = snapshot.nextState
            data = snapshot.input
            scope.values = snapshot.variables
        } else {
            await emit("ExecutionStarted", previous: 0, "executionStartedEventDetails", [
                "input": .string(input.serialized()), "inputDetails": ["truncated": false], "roleArn": .string(context.roleArn),
            ])
            // A first checkpoint, so that even the first state's Map iterations resume.
            if let observer {
                let id = lastEventId
                generation.withLock { $0 = id }
                await observer.checkpoint(ExecutionSnapshot(nextState: start, input: data, variables: [:], lastEventId: id))
            }
        }
        do {
            let output: JSON
            let firstState = start, firstInput = data
            if let timeout = engine.machine.timeoutSeconds {
                output = try await withTimeout(Double(timeout), error: StatesError("States.Timeout", "The execution exceeded its TimeoutSeconds of \(timeout)")) {
                    try await self.runMachine(self.engine.machine, input: firstInput, scope: scope, start: firstState, topLevel: true)
                }
            } else {
                output = try await runMachine(engine.machine, input: data, scope: scope, start: start, topLevel: true)
            }
            await emit("ExecutionSucceeded", previous: lastEventId, "executionSucceededEventDetails", [
                "output": .string(output.serialized()), "outputDetails": ["truncated": false],
            ])
            return ExecutionOutcome(status: .succeeded, output: output)
        } catch let error as StatesError where error.error == "States.Timeout" && error.cause.hasPrefix("The execution exceeded") {
            await emit("ExecutionTimedOut", previous: lastEventId, "executionTimedOutEventDetails", ["error": .string(error.error), "cause": .string(error.cause)])
            return ExecutionOutcome(status: .timedOut, error: error.error, cause: error.cause)
        } catch let error as StatesError {
            await emit("ExecutionFailed", previous: lastEventId, "executionFailedEventDetails", ["error": .string(error.error), "cause": .string(error.cause)])
            return ExecutionOutcome(status: .failed, error: error.error, cause: error.cause)
        } catch is CancellationError {
            await emit("ExecutionAborted", previous: lastEventId, "executionAbortedEventDetails", [:])
            return ExecutionOutcome(status: .aborted)
        } catch {
            let failure = StatesError("States.Runtime", "\(error)")
            await emit("ExecutionFailed", previous: lastEventId, "executionFailedEventDetails", ["error": .string(failure.error), "cause": .string(failure.cause)])
            return ExecutionOutcome(status: .failed, error: failure.error, cause: failure.cause)
        }
    }

    func runMachine(_ machine: StateMachine, input: JSON, scope: VariableScope, start: String? = nil, topLevel: Bool = false,
                    branchKey: String? = nil) async throws -> JSON {
        var current = start ?? machine.startAt
        var data = input
        while true {
            try Task.checkCancellation()
            guard let state = machine.states[current] else {
                throw StatesError("States.Runtime", "State \(current) does not exist")
            }
            let entered = await emit("\(state.type.rawValue)StateEntered", previous: lastEventId, "stateEnteredEventDetails", recording ? [
                "name": .string(state.name), "input": .string(data.serialized()), "inputDetails": ["truncated": false],
            ] : nil)
            let (output, next) = try await runStateWithRecovery(state, input: data, scope: scope, parentEventId: entered)
            if state.type != .fail {
                await emit("\(state.type.rawValue)StateExited", previous: lastEventId, "stateExitedEventDetails", recording ? [
                    "name": .string(state.name), "output": .string(output.serialized()), "outputDetails": ["truncated": false],
                ] : nil)
            }
            guard let next else { return output }
            if topLevel, let observer {
                let id = lastEventId
                await observer.checkpoint(ExecutionSnapshot(nextState: next, input: output, variables: scope.values, lastEventId: id))
                generation.withLock { $0 = id }
                await observer.clearBranches()
            } else if let branchKey, let observer {
                await observer.checkpoint(branch: branchKey, progress: .at(nextState: next, input: output, variables: scope.values))
            }
            current = next
            data = output
        }
    }

    // MARK: Retry and Catch

    func runStateWithRecovery(_ state: StateDefinition, input: JSON, scope: VariableScope, parentEventId: Int) async throws -> (JSON, String?) {
        var attempts = [Int](repeating: 0, count: state.retry.count)
        while true {
            do {
                return try await runState(state, input: input, scope: scope)
            } catch let error as StatesError {
                if let index = state.retry.firstIndex(where: { Self.matches($0.errorEquals, error.error) }) {
                    let retrier = state.retry[index]
                    if attempts[index] < retrier.maxAttempts {
                        var delay = retrier.intervalSeconds * pow(retrier.backoffRate, Double(attempts[index]))
                        if let cap = retrier.maxDelaySeconds { delay = min(delay, cap) }
                        if retrier.jitterFull { delay = Double.random(in: 0...delay) }
                        attempts[index] += 1
                        try await engine.clock.sleep(seconds: delay)
                        continue
                    }
                }
                guard let catcher = state.catchers.first(where: { Self.matches($0.errorEquals, error.error) }) else { throw error }
                return (try caught(error, by: catcher, state: state, input: input, scope: scope), catcher.next)
            }
        }
    }

    /// The output a Catch hands to its Next state: the error output placed at ResultPath (JSONPath) or the
    /// catcher's Output (JSONata), after its Assign.
    func caught(_ error: StatesError, by catcher: Catcher, state: StateDefinition, input: JSON, scope: VariableScope) throws -> JSON {
        let errorOutput: JSON = ["Error": .string(error.error), "Cause": .string(error.cause)]
        if state.queryLanguage == .jsonata {
            let states: JSON = ["input": input, "errorOutput": errorOutput, "context": contextObject(state: state)]
            let output = try catcher.output.map { try evaluateTemplate($0, states: states, scope: scope) } ?? errorOutput
            if let assign = catcher.assign { try applyAssign(assign, states: states, scope: scope) }
            return output
        }
        if catcher.resultPathIsNull { return input }
        return try JSONPath.placing(errorOutput, at: catcher.resultPath ?? "$", in: input)
    }

    /// One attempt of one state, as TestState reports it: a matching Retry is not waited for (RETRIABLE) and a
    /// matching Catch is applied (CAUGHT_ERROR).
    func testOnce(_ state: StateDefinition, input: JSON, scope: VariableScope) async -> TestStateResult {
        do {
            let (output, next) = try await runState(state, input: input, scope: scope)
            return TestStateResult(status: .succeeded, output: output, nextState: next, variables: scope.values)
        } catch let error as StatesError {
            if error.error != "States.Runtime", state.retry.contains(where: { Self.matches($0.errorEquals, error.error) }) {
                return TestStateResult(status: .retriable, error: error.error, cause: error.cause, variables: scope.values)
            }
            if let catcher = state.catchers.first(where: { Self.matches($0.errorEquals, error.error) }) {
                do {
                    let output = try caught(error, by: catcher, state: state, input: input, scope: scope)
                    return TestStateResult(status: .caughtError, output: output, error: error.error, cause: error.cause, nextState: catcher.next, variables: scope.values)
                } catch let failure as StatesError {
                    return TestStateResult(status: .failed, error: failure.error, cause: failure.cause, variables: scope.values)
                } catch {
                    return TestStateResult(status: .failed, error: "States.Runtime", cause: "\(error)", variables: scope.values)
                }
            }
            return TestStateResult(status: .failed, error: error.error, cause: error.cause, variables: scope.values)
        } catch {
            return TestStateResult(status: .failed, error: "States.Runtime", cause: "\(error)", variables: scope.values)
        }
    }

    /// Whether an ErrorEquals list names `error`. States.ALL matches all but States.Runtime, which is never
    /// retried nor caught; States.TaskFailed matches any error but States.Timeout.
    static func matches(_ names: [String], _ error: String) -> Bool {
        if error == "States.Runtime" || error == "States.DataLimitExceeded" { return false }
        for name in names {
            if name == error || name == "States.ALL" { return true }
            // States.Timeout names both kinds of task timeout: TimeoutSeconds and HeartbeatSeconds.
            if name == "States.Timeout" && error == "States.HeartbeatTimeout" { return true }
            if name == "States.TaskFailed" && !error.hasPrefix("States.") { return true }
            if name == "States.TaskFailed" && error == "States.TaskFailed" { return true }
        }
        return false
    }

    // MARK: States

    func runState(_ state: StateDefinition, input: JSON, scope: VariableScope) async throws -> (JSON, String?) {
        state.queryLanguage == .jsonata
            ? try await runJSONataState(state, input: input, scope: scope)
            : try await runJSONPathState(state, input: input, scope: scope)
    }

    func runJSONPathState(_ state: StateDefinition, input: JSON, scope: VariableScope) async throws -> (JSON, String?) {
        // A Pass state that only passes its input on is the engine's hot path: no context object, no copies.
        if state.type == .pass, state.parameters == nil, state.result == nil, state.isPlainPassThrough {
            return (input, state.next)
        }
        let token = Self.taskToken(for: state)
        let context = contextObject(state: state, taskToken: token)
        let effective = try selectPath(state.inputPath, in: input, field: "InputPath")
        switch state.type {
        case .choice:
            for rule in state.choices where try rule.matches(input: effective, context: context, evaluateCondition: { _ in false }) {
                return (try selectPath(state.outputPath, in: effective, field: "OutputPath"), rule.next)
            }
            guard let fallback = state.defaultState else {
                throw StatesError("States.NoChoiceMatched", "No Matches!")
            }
            return (try selectPath(state.outputPath, in: effective, field: "OutputPath"), fallback)
        case .succeed:
            return (try selectPath(state.outputPath, in: effective, field: "OutputPath"), nil)
        case .fail:
            let error = try state.errorPath.map { try pathString($0, input: input, context: context, field: "ErrorPath") } ?? state.error ?? ""
            let cause = try state.causePath.map { try pathString($0, input: input, context: context, field: "CausePath") } ?? state.cause ?? ""
            throw StatesError(error, cause)
        case .wait:
            try await wait(state, seconds: try state.secondsPath.map { try selectRequired($0, in: effective, field: "SecondsPath") } ?? state.seconds,
                           timestamp: try state.timestampPath.map { try selectRequired($0, in: effective, field: "TimestampPath") } ?? state.timestamp)
            return (try selectPath(state.outputPath, in: effective, field: "OutputPath"), state.next)
        default:
            break
        }
        let parameters = try state.parameters.map { try PayloadTemplate.resolve($0, input: effective, context: context) } ?? effective
        var result: JSON
        switch state.type {
        case .pass:
            result = state.result ?? parameters
        case .task:
            result = try await runTask(state, arguments: parameters, input: effective, token: token, context: context)
        case .parallel:
            result = try await runParallel(state, input: parameters, scope: scope)
        case .map:
            result = try await runMap(state, input: effective, scope: scope, jsonata: false)
        default:
            result = parameters
        }
        if let selector = state.resultSelector {
            result = try PayloadTemplate.resolve(selector, input: result, context: context)
        }
        let combined: JSON
        switch state.resultPath {
        case .some(nil): combined = input
        case .some(let path?): combined = try JSONPath.placing(result, at: path, in: input)
        case .none: combined = result
        }
        let output = try selectPath(state.outputPath, in: combined, field: "OutputPath")
        try checkSize(output, state: state)
        return (output, state.next)
    }

    func runJSONataState(_ state: StateDefinition, input: JSON, scope: VariableScope) async throws -> (JSON, String?) {
        let token = Self.taskToken(for: state)
        let context = contextObject(state: state, taskToken: token)
        var states: JSON = ["input": input, "context": context]
        switch state.type {
        case .choice:
            for rule in state.choices {
                let matched = try rule.matches(input: input, context: context) { condition in
                    let v = try self.evaluateTemplate(.string(condition), states: states, scope: scope)
                    guard case .bool(let b) = v else {
                        throw StatesError("States.QueryEvaluationError", "The Condition '\(condition)' of state \(state.name) did not evaluate to a boolean")
                    }
                    return b
                }
                if matched {
                    let output = try rule.output.map { try evaluateTemplate($0, states: states, scope: scope) } ?? input
                    if let assign = rule.assign { try applyAssign(assign, states: states, scope: scope) }
                    return (output, rule.next)
                }
            }
            guard let fallback = state.defaultState else { throw StatesError("States.NoChoiceMatched", "No Matches!") }
            let output = try state.output.map { try evaluateTemplate($0, states: states, scope: scope) } ?? input
            if let assign = state.assign { try applyAssign(assign, states: states, scope: scope) }
            return (output, fallback)
        case .fail:
            let error = try state.json["Error"].map { try evaluateTemplate($0, states: states, scope: scope).stringValue ?? "" } ?? ""
            let cause = try state.json["Cause"].map { try evaluateTemplate($0, states: states, scope: scope).stringValue ?? "" } ?? ""
            throw StatesError(error, cause)
        case .wait:
            try await wait(state, seconds: try state.seconds.map { try evaluateTemplate($0, states: states, scope: scope) },
                           timestamp: try state.timestamp.map { try evaluateTemplate($0, states: states, scope: scope) })
        default:
            break
        }
        let arguments = try state.arguments.map { try evaluateTemplate($0, states: states, scope: scope) } ?? input
        var result: JSON? = nil
        switch state.type {
        case .task: result = try await runTask(state, arguments: arguments, input: input, token: token, context: context)
        case .parallel: result = try await runParallel(state, input: arguments, scope: scope)
        case .map: result = try await runMap(state, input: input, scope: scope, jsonata: true, states: states)
        default: break
        }
        if let result { states["result"] = result }
        let output = try state.output.map { try evaluateTemplate($0, states: states, scope: scope) } ?? result ?? input
        if let assign = state.assign { try applyAssign(assign, states: states, scope: scope) }
        try checkSize(output, state: state)
        return (output, state.type == .succeed ? nil : state.next)
    }

    func wait(_ state: StateDefinition, seconds: JSON?, timestamp: JSON?) async throws {
        if let seconds {
            guard let s = seconds.numberValue, s >= 0 else {
                throw StatesError("States.Runtime", "The Seconds of state \(state.name) must be a non-negative number")
            }
            try await engine.clock.sleep(seconds: s)
        } else if let timestamp {
            guard let text = timestamp.stringValue, let date = ChoiceRule.timestamp(text) else {
                throw StatesError("States.Runtime", "The Timestamp of state \(state.name) must be an ISO 8601 timestamp")
            }
            try await engine.clock.sleep(seconds: date.timeIntervalSince(engine.clock.now()))
        }
    }

    func checkSize(_ output: JSON, state: StateDefinition) throws {
        let size = output.serializedBytes().count
        if size > engine.payloadLimit {
            throw StatesError("States.DataLimitExceeded", "The state/task '\(state.name)' returned a result with a size exceeding the maximum number of bytes service limit.")
        }
    }

    // MARK: Tasks

    func runTask(_ state: StateDefinition, arguments resolved: JSON, input: JSON, token: String?, context: JSON) async throws -> JSON {
        let resource = state.resource ?? ""
        let (resourceType, resourceName) = Self.describe(resource)
        var timeout = state.timeoutSeconds
        if let path = state.timeoutSecondsPath { timeout = try selectRequired(path, in: input, field: "TimeoutSecondsPath").numberValue }
        var heartbeat = state.heartbeatSeconds
        if let path = state.heartbeatSecondsPath { heartbeat = try selectRequired(path, in: input, field: "HeartbeatSecondsPath").numberValue }
        // Activities have events of their own; callbacks and activities are the tasks that heartbeat.
        let isActivity = resource.hasPrefix("arn:aws:states:") && resource.contains(":activity:")
        let heartbeats = isActivity || resource.hasSuffix(".waitForTaskToken")
        let prefix = isActivity ? "Activity" : "Task"
        let detailsPrefix = isActivity ? "activity" : "task"
        var scheduledDetails: JSONObject = isActivity
            ? ["resource": .string(resource), "input": .string(resolved.serialized()), "inputDetails": ["truncated": false]]
            : ["resourceType": .string(resourceType), "resource": .string(resourceName), "region": "us-east-1",
               "parameters": .string(resolved.serialized())]
        if let timeout { scheduledDetails["timeoutInSeconds"] = .number(timeout) }
        if let heartbeat { scheduledDetails["heartbeatInSeconds"] = .number(heartbeat) }
        let scheduled = await emit("\(prefix)Scheduled", previous: lastEventId, "\(detailsPrefix)ScheduledEventDetails", recording ? .object(scheduledDetails) : nil)
        let onStart: (@Sendable (String) async -> Void)? = isActivity ? { @Sendable [self] worker in
            _ = await self.emit("ActivityStarted", previous: scheduled, "activityStartedEventDetails", ["workerName": .string(worker)])
        } : nil
        if !isActivity {
            await emit("TaskStarted", previous: scheduled, "taskStartedEventDetails", recording ? ["resourceType": .string(resourceType), "resource": .string(resourceName)] : nil)
        }
        var invocation = TaskInvocation(resource: resource, input: resolved, taskToken: token, timeoutSeconds: timeout, heartbeatSeconds: heartbeat, stateName: state.name, context: context)
        invocation.progress = TaskProgress(now: engine.clock.now(), onStart: onStart)
        let call = invocation
        let integrations = engine.integrations
        let body: @Sendable () async throws -> JSON
        if heartbeats, let heartbeat {
            body = { [self] in try await self.withHeartbeat(heartbeat, progress: call.progress) { try await integrations.invoke(call) } }
        } else {
            body = { try await integrations.invoke(call) }
        }
        let subject: JSONObject = isActivity ? [:] : ["resourceType": .string(resourceType), "resource": .string(resourceName)]
        do {
            let output: JSON
            if let timeout {
                output = try await withTimeout(timeout, error: StatesError("States.Timeout", "Task timed out after \(timeout) seconds"), body)
            } else {
                output = try await body()
            }
            var details = subject
            details["output"] = .string(output.serialized())
            details["outputDetails"] = ["truncated": false]
            await emit("\(prefix)Succeeded", previous: lastEventId, "\(detailsPrefix)SucceededEventDetails", recording ? .object(details) : nil)
            return output
        } catch let error as StatesError {
            let timedOut = error.error == "States.Timeout" || error.error == "States.HeartbeatTimeout"
            var details = subject
            details["error"] = .string(error.error)
            details["cause"] = .string(error.cause)
            await emit(timedOut ? "\(prefix)TimedOut" : "\(prefix)Failed", previous: lastEventId,
                       timedOut ? "\(detailsPrefix)TimedOutEventDetails" : "\(detailsPrefix)FailedEventDetails", .object(details))
            throw error
        }
    }

    /// Runs `body` while heartbeats keep arriving: fails with States.HeartbeatTimeout when `seconds` pass
    /// without one (the task's start counts as the first).
    func withHeartbeat(_ seconds: Double, progress: TaskProgress, _ body: @escaping @Sendable () async throws -> JSON) async throws -> JSON {
        let clock = engine.clock
        return try await withThrowingTaskGroup(of: JSON?.self) { group in
            group.addTask { try await body() }
            group.addTask {
                while true {
                    let remaining = progress.lastBeat.addingTimeInterval(seconds).timeIntervalSince(clock.now())
                    if remaining <= 0 { return nil }
                    try await clock.sleep(seconds: remaining)
                }
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let value = first else {
                throw StatesError("States.HeartbeatTimeout", "The task sent no heartbeat for \(seconds) seconds")
            }
            return value
        }
    }

    /// `arn:aws:states:::ecs:runTask.sync` → ("ecs", "runTask.sync"); other ARNs keep their service and last part.
    static func describe(_ resource: String) -> (String, String) {
        let parts = resource.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        if resource.hasPrefix("arn:aws:states:::"), parts.count >= 7 {
            return (parts[5], parts[6...].joined(separator: ":"))
        }
        if parts.count >= 3 { return (parts[2], resource) }
        return ("unknown", resource)
    }

    func withTimeout<T: Sendable>(_ seconds: Double, error: StatesError, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        let clock = engine.clock
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await body() }
            group.addTask {
                try await clock.sleep(seconds: seconds)
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next() else { throw error }
            guard let value = first else { throw error }
            return value
        }
    }

    // MARK: Parallel and Map

    func runParallel(_ state: StateDefinition, input: JSON, scope: VariableScope) async throws -> JSON {
        let started = await emit("ParallelStateStarted", previous: lastEventId)
        _ = started
        do {
            let outputs = try await withThrowingTaskGroup(of: (Int, JSON).self) { group in
                for (i, branch) in state.branches.enumerated() {
                    let branchScope = VariableScope(parent: scope)
                    let key = self.branchKey(state, "#\(i)")
                    group.addTask { (i, try await self.runBranch(branch, key: key, input: input, scope: branchScope)) }
                }
                var results = [JSON](repeating: .null, count: state.branches.count)
                for try await (i, output) in group { results[i] = output }
                return results
            }
            await emit("ParallelStateSucceeded", previous: lastEventId)
            return .array(outputs)
        } catch {
            await emit("ParallelStateFailed", previous: lastEventId)
            throw error
        }
    }

    func runMap(_ state: StateDefinition, input: JSON, scope: VariableScope, jsonata: Bool, states: JSON = .null) async throws -> JSON {
        let itemsValue: JSON
        if jsonata {
            itemsValue = try state.items.map { try evaluateTemplate($0, states: states, scope: scope) } ?? input
        } else {
            itemsValue = try selectRequired(state.itemsPath ?? "$", in: input, field: "ItemsPath")
        }
        guard case .array(var items) = itemsValue else {
            throw StatesError("States.Runtime", "Map state \(state.name): the items must be a JSON array, got \(itemsValue.serialized().prefix(200))")
        }
        if let batcher = state.itemBatcher, let size = batcher["MaxItemsPerBatch"]?.intValue, size > 0 {
            items = stride(from: 0, to: items.count, by: size).map { start in
                var batch: JSONObject = ["Items": .array(Array(items[start..<min(start + size, items.count)]))]
                if let extra = batcher["BatchInput"] { batch["BatchInput"] = extra }
                return .object(batch)
            }
        }
        guard let iterator = state.iterator else { throw StatesError("States.Runtime", "Map state \(state.name) has no ItemProcessor") }
        await emit("MapStateStarted", previous: lastEventId, "mapStateStartedEventDetails", ["length": .number(Double(items.count))])
        let limit = state.maxConcurrency > 0 ? state.maxConcurrency : max(items.count, 1)
        let baseContext = contextObject(state: state)
        var failures = 0
        var firstFailure: Error?
        var results = [JSON](repeating: .null, count: items.count)
        try await withThrowingTaskGroup(of: (Int, Result<JSON, Error>).self) { group in
            var nextIndex = 0
            func startNext() throws {
                guard nextIndex < items.count else { return }
                let index = nextIndex
                nextIndex += 1
                let item = items[index]
                var context = baseContext
                context["Map"] = ["Item": ["Index": .number(Double(index)), "Value": item]]
                let itemInput: JSON
                if let selector = state.itemSelector {
                    if jsonata {
                        var s = states
                        s["context"] = context
                        itemInput = try evaluateTemplate(selector, states: s, scope: scope)
                    } else {
                        itemInput = try PayloadTemplate.resolve(selector, input: input, context: context)
                    }
                } else {
                    itemInput = item
                }
                let iterationScope = VariableScope(parent: scope)
                let key = self.branchKey(state, "[\(index)]")
                group.addTask {
                    // An iteration that finished before a restart is not run again.
                    if case .done(let output)? = self.resumeBranches[key] { return (index, .success(output)) }
                    await self.emit("MapIterationStarted", previous: self.lastEventId, "mapIterationStartedEventDetails", ["name": .string(state.name), "index": .number(Double(index))])
                    do {
                        let output = try await self.runBranch(iterator, key: key, input: itemInput, scope: iterationScope)
                        await self.emit("MapIterationSucceeded", previous: self.lastEventId, "mapIterationSucceededEventDetails", ["name": .string(state.name), "index": .number(Double(index))])
                        return (index, .success(output))
                    } catch {
                        await self.emit("MapIterationFailed", previous: self.lastEventId, "mapIterationFailedEventDetails", ["name": .string(state.name), "index": .number(Double(index))])
                        return (index, .failure(error))
                    }
                }
            }
            for _ in 0..<min(limit, items.count) { try startNext() }
            while let (index, result) = try await group.next() {
                switch result {
                case .success(let output): results[index] = output
                case .failure(let error):
                    if error is CancellationError { throw error }
                    failures += 1
                    firstFailure = firstFailure ?? error
                    if !tolerated(failures, of: items.count, state: state) {
                        group.cancelAll()
                        await emit("MapStateFailed", previous: lastEventId)
                        if state.toleratedFailureCount != nil || state.toleratedFailurePercentage != nil {
                            throw StatesError("States.ExceedToleratedFailureThreshold", "The specified tolerated failure threshold was exceeded")
                        }
                        throw error
                    }
                }
                try startNext()
            }
        }
        await emit("MapStateSucceeded", previous: lastEventId)
        return .array(results)
    }

    /// Runs a Map iteration or Parallel branch under its key: from where it stood when the execution resumed,
    /// recording its progress and its output.
    func runBranch(_ machine: StateMachine, key: String, input: JSON, scope: VariableScope) async throws -> JSON {
        var start: String?
        var data = input
        switch resumeBranches[key] {
        case .done(let output)?: return output
        case .at(let next, let saved, let variables)?:
            start = next
            data = saved
            scope.values = variables
        case nil: break
        }
        let output = try await Self.$branchKey.withValue(key) {
            try await runMachine(machine, input: data, scope: scope, start: start, branchKey: key)
        }
        if let observer { await observer.checkpoint(branch: key, progress: .done(output: output)) }
        return output
    }

    func tolerated(_ failures: Int, of total: Int, state: StateDefinition) -> Bool {
        if let count = state.toleratedFailureCount, failures <= count { return true }
        if let percentage = state.toleratedFailurePercentage, total > 0, Double(failures) * 100 / Double(total) <= percentage { return true }
        return false
    }

    // MARK: Data

    func contextObject(state: StateDefinition, taskToken: String? = nil) -> JSON {
        var context: JSON = [
            "Execution": [
                "Id": .string(context.executionArn), "Name": .string(context.name), "RoleArn": .string(context.roleArn),
                "StartTime": .string(ISO8601DateFormatter.skiff.string(from: context.startTime)), "RedriveCount": .number(Double(context.redriveCount)),
            ],
            "StateMachine": ["Id": .string(context.stateMachineArn), "Name": .string(context.stateMachineName)],
            "State": ["Name": .string(state.name), "EnteredTime": .string(ISO8601DateFormatter.skiff.string(from: engine.clock.now())), "RetryCount": 0],
        ]
        if let taskToken { context["Task"] = ["Token": .string(taskToken)] }
        return context
    }

    /// A fresh token for states that wait for a callback (`.waitForTaskToken`, activities); nil otherwise.
    static func taskToken(for state: StateDefinition) -> String? {
        guard state.type == .task, let resource = state.resource else { return nil }
        let waits = resource.hasSuffix(".waitForTaskToken") || (resource.hasPrefix("arn:aws:states:") && resource.contains(":activity:"))
        return waits ? UUID().uuidString.lowercased() + UUID().uuidString.lowercased() : nil
    }

    func selectPath(_ path: String??, in value: JSON, field: String) throws -> JSON {
        switch path {
        case .some(nil): return .object([:])
        case .some("$"?), .none: return value
        case .some(let p?): return try selectRequired(p, in: value, field: field)
        }
    }

    func selectRequired(_ path: String, in value: JSON, field: String) throws -> JSON {
        guard let v = try JSONPath.select(path, in: value) else {
            throw StatesError("States.Runtime", "Invalid path '\(path)' : No results for path: $['\(path.dropFirst(2))'] (\(field))")
        }
        return v
    }

    func pathString(_ path: String, input: JSON, context: JSON, field: String) throws -> String {
        let v = path.hasPrefix("$$") ? try JSONPath.select("$" + path.dropFirst(2), in: context) : try JSONPath.select(path, in: input)
        guard let s = v?.stringValue else { throw StatesError("States.Runtime", "The \(field) '\(path)' did not select a string") }
        return s
    }

    /// Resolves `{% %}` templates in a JSONata state's field, with `$states` and the workflow variables bound.
    func evaluateTemplate(_ template: JSON, states: JSON, scope: VariableScope) throws -> JSON {
        switch template {
        case .string(let s):
            guard let expression = JSONataTemplate.expression(in: s) else { return template }
            var variables = scope.all
            variables["states"] = states
            let environment = JSONataEnvironment(variables: variables, functions: JSONataFunctions.stepFunctions(), limits: JSONataLimits(maxDepth: 300, timeout: .seconds(5)))
            do {
                guard let v = try JSONataExpression(expression).evaluate(states["input"], environment: environment) else {
                    throw StatesError("States.QueryEvaluationError", "The JSONata expression '\(expression)' returned nothing (undefined)")
                }
                return v
            } catch let error as JSONataError {
                throw StatesError("States.QueryEvaluationError", "An error occurred while evaluating the JSONata expression '\(expression)': \(error.code): \(error.message)")
            }
        case .array(let a):
            return .array(try a.map { try evaluateTemplate($0, states: states, scope: scope) })
        case .object(let o):
            var out = JSONObject(minimumCapacity: o.count)
            for (k, v) in o { out[k] = try evaluateTemplate(v, states: states, scope: scope) }
            return .object(out)
        default:
            return template
        }
    }

    /// Evaluates every Assign value first, then assigns them all (expressions see the variables as they were).
    func applyAssign(_ assign: JSON, states: JSON, scope: VariableScope) throws {
        guard case .object(let o) = assign else { throw StatesError("States.Runtime", "Assign must be an object") }
        var values: [String: JSON] = [:]
        for (k, v) in o {
            let value = try evaluateTemplate(v, states: states, scope: scope)
            if k.hasSuffix(".$") { values[String(k.dropLast(2))] = value } else { values[k] = value }
        }
        let size = JSON.object(JSONObject(uniqueKeysWithValues: values.map { ($0.key, $0.value) })).serializedBytes().count
        if size > 262_144 {
            throw StatesError("States.Runtime", "The variables assigned exceed the 256 KiB limit")
        }
        var all = scope.all
        for (k, v) in values { all[k] = v }
        let total = all.values.reduce(0) { $0 + $1.serializedBytes().count }
        if total > 10_485_760 {
            throw StatesError("States.Runtime", "The workflow variables exceed the 10 MiB limit of an execution")
        }
        scope.assign(values)
    }
}

extension ISO8601DateFormatter {
    nonisolated(unsafe) static let skiff: ISO8601DateFormatter = {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f
    }()
}
