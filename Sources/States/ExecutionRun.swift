import Foundation
import JSONCore
import Synchronization

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

    /// The variable `name` as this scope sees it: its own, else the nearest enclosing scope's.
    func value(_ name: String) -> JSON? {
        lock.lock()
        let own = values[name]
        lock.unlock()
        return own ?? parent?.value(name)
    }
}

/// The data of each processing step of a state under test (TestState's inspectionData).
final class Inspection: Sendable {
    let steps = Mutex<[String: JSON]>([:])
    func record(_ step: String, _ value: JSON) { steps.withLock { $0[step] = value } }
}

/// What one state came to: its output, the state to go to (nil: the machine ends), and the variables its
/// Assign set (nil when it has no Assign), which its StateExited event reports.
struct StateOutcome {
    var output: JSON
    var next: String?
    var assigned: [String: JSON]? = nil
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
    /// The execution's input, for the context object (`$$.Execution.Input`).
    let executionInput: JSON
    /// Deadlines of the Wait states and task timeouts that were counting when this run resumed.
    let resumeTimers: [String: Date]
    /// Tasks under way when this run resumed, with their tokens.
    let resumeTasks: [String: String]
    /// Set once an event was refused for want of room in the history (see ``ExecutionEngine/historyEventLimit``):
    /// the run then stops at its next state or attempt, and the execution fails.
    let historyFull = Mutex(false)
    /// Set by TestState only: where the processing steps are recorded, and the context object it was given.
    var inspection: Inspection?
    var contextOverride: JSON?

    init(
        engine: ExecutionEngine, context: ExecutionContext, observer: (any ExecutionObserver)?, firstEventId: Int,
        executionInput: JSON = [:],
        resumeBranches: [String: BranchProgress] = [:], resumeTimers: [String: Date] = [:], resumeTasks: [String: String] = [:]
    ) {
        self.engine = engine
        self.context = context
        self.observer = observer
        self.nextId = Mutex(firstEventId)
        self.resumeBranches = resumeBranches
        self.generation = Mutex(firstEventId)
        self.executionInput = executionInput
        self.resumeTimers = resumeTimers
        self.resumeTasks = resumeTasks
    }

    /// Names one state of the execution as it runs now, the same after a restart: the top-level step (or the
    /// Map iteration / Parallel branch) it belongs to, then its name. Deadlines and tasks are recorded under it.
    func instanceKey(_ state: StateDefinition) -> String {
        "\(Self.branchKey ?? "g\(generation.withLock { $0 })")/\(state.name)"
    }

    /// When the timer `key` ends: as recorded before a restart, else `seconds` from now (recorded for one).
    func deadline(_ key: String, seconds: Double) async -> Date {
        if let saved = resumeTimers[key] { return saved }
        let deadline = engine.clock.now().addingTimeInterval(seconds)
        await observer?.checkpoint(timer: key, deadline: deadline)
        return deadline
    }

    /// The key of iteration or branch `part` of `state`, inside the current one.
    func branchKey(_ state: StateDefinition, _ part: String) -> String {
        let parent = Self.branchKey ?? "g\(generation.withLock { $0 })"
        return "\(parent)/\(state.name)\(part)"
    }

    var recording: Bool { observer != nil }

    /// The events that end an execution: the only ones the last place in a full history takes.
    static let endingEvents: Set<String> = ["ExecutionSucceeded", "ExecutionFailed", "ExecutionTimedOut", "ExecutionAborted"]

    @discardableResult
    func emit(_ type: String, previous: Int, _ detailsKey: String? = nil, _ details: JSON? = nil) async -> Int {
        guard let observer else { return 0 }
        let limit = engine.historyEventLimit
        let id: Int? = nextId.withLock { id in
            // The last place is kept for the event that ends the execution, as in AWS.
            if id + 1 >= limit && !Self.endingEvents.contains(type) { return nil }
            id += 1
            return id
        }
        guard let id else {
            historyFull.withLock { $0 = true }
            return lastEventId
        }
        await observer.record(
            HistoryEvent(
                id: id, previousEventId: previous, timestamp: engine.clock.now(), type: type, detailsKey: detailsKey, details: details))
        return id
    }

    /// Stops the run once its history is full: not a States error, so that no Retry or Catch can take it.
    func checkHistoryRoom() throws {
        if historyFull.withLock({ $0 }) { throw HistoryLimitReached() }
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
            var details: JSONObject = [
                "input": .string(input.serialized()), "inputDetails": ["truncated": false], "roleArn": .string(context.roleArn),
            ]
            if let version = context.stateMachineVersionArn { details["stateMachineVersionArn"] = .string(version) }
            if let alias = context.stateMachineAliasArn { details["stateMachineAliasArn"] = .string(alias) }
            await emit("ExecutionStarted", previous: 0, "executionStartedEventDetails", .object(details))
            // A first checkpoint, so that even the first state's Map iterations resume.
            if let observer {
                let id = lastEventId
                generation.withLock { $0 = id }
                // Nothing has happened yet that a restart from the execution's input would repeat.
                await observer.checkpoint(ExecutionSnapshot(nextState: start, input: data, variables: [:], lastEventId: id), durable: false)
            }
        }
        do {
            let output: JSON
            let firstState = start, firstInput = data
            if let timeout = engine.machine.timeoutSeconds {
                // The timeout counts from the start (or the last redrive), not from a resume after a restart.
                let since = context.redriveTime ?? context.startTime
                let elapsed = max(0, engine.clock.now().timeIntervalSince(since))
                output = try await withTimeout(
                    max(0, Double(timeout) - elapsed),
                    error: StatesError("States.Timeout", "The execution exceeded its TimeoutSeconds of \(timeout)")
                ) {
                    try await self.runMachine(self.engine.machine, input: firstInput, scope: scope, start: firstState, topLevel: true)
                }
            } else {
                output = try await runMachine(engine.machine, input: data, scope: scope, start: start, topLevel: true)
            }
            // An event refused on the way out (the last state's exit) fails the execution too.
            try checkHistoryRoom()
            await emit(
                "ExecutionSucceeded", previous: lastEventId, "executionSucceededEventDetails",
                [
                    "output": .string(output.serialized()), "outputDetails": ["truncated": false],
                ])
            return ExecutionOutcome(status: .succeeded, output: output)
        } catch is HistoryLimitReached {
            let cause = ExecutionEngine.historyLimitCause(engine.historyEventLimit)
            await emit(
                "ExecutionFailed", previous: lastEventId, "executionFailedEventDetails",
                ["error": "States.Runtime", "cause": .string(cause)])
            return ExecutionOutcome(status: .failed, error: "States.Runtime", cause: cause)
        } catch let error as StatesError where error.error == "States.Timeout" && error.cause.hasPrefix("The execution exceeded") {
            await emit(
                "ExecutionTimedOut", previous: lastEventId, "executionTimedOutEventDetails",
                ["error": .string(error.error), "cause": .string(error.cause)])
            return ExecutionOutcome(status: .timedOut, error: error.error, cause: error.cause)
        } catch let error as StatesError {
            await emit(
                "ExecutionFailed", previous: lastEventId, "executionFailedEventDetails",
                ["error": .string(error.error), "cause": .string(error.cause)])
            return ExecutionOutcome(status: .failed, error: error.error, cause: error.cause)
        } catch is CancellationError {
            // The host that stopped the execution knows the error and cause StopExecution gave; its observer adds them.
            await emit("ExecutionAborted", previous: lastEventId, "executionAbortedEventDetails", [:])
            return ExecutionOutcome(status: .aborted)
        } catch {
            let failure = StatesError("States.Runtime", "\(error)")
            await emit(
                "ExecutionFailed", previous: lastEventId, "executionFailedEventDetails",
                ["error": .string(failure.error), "cause": .string(failure.cause)])
            return ExecutionOutcome(status: .failed, error: failure.error, cause: failure.cause)
        }
    }

    func runMachine(
        _ machine: StateMachine, input: JSON, scope: VariableScope, start: String? = nil, topLevel: Bool = false,
        branchKey: String? = nil
    ) async throws -> JSON {
        var current = start ?? machine.startAt
        var data = input
        var transitions = 0
        while true {
            try Task.checkCancellation()
            // States that never wait (a loop of Pass and Choice states) would hold their thread for as long as
            // they loop, up to the history limit: every so often, let the thread's other work run.
            transitions += 1
            if transitions % 64 == 0 { await Task.yield() }
            guard let state = machine.states[current] else {
                throw StatesError("States.Runtime", "State \(current) does not exist")
            }
            let entered = await emit(
                "\(state.type.rawValue)StateEntered", previous: lastEventId, "stateEnteredEventDetails",
                recording
                    ? [
                        "name": .string(state.name), "input": .string(data.serialized()), "inputDetails": ["truncated": false],
                    ] : nil)
            let outcome: StateOutcome
            do {
                outcome = try await runStateWithRecovery(state, input: data, scope: scope, parentEventId: entered)
            } catch is CancellationError {
                // Stopped (StopExecution, a failed sibling iteration or branch, a timeout): the states that wait
                // or run work say they were aborted, as in AWS.
                if let aborted = Self.abortedEvents[state.type] { await emit(aborted, previous: lastEventId) }
                throw CancellationError()
            }
            if state.type != .fail, recording {
                var details: JSONObject = [
                    "name": .string(state.name), "output": .string(outcome.output.serialized()), "outputDetails": ["truncated": false],
                ]
                if let assigned = outcome.assigned {
                    details["assignedVariables"] = .object(
                        JSONObject(
                            uniqueKeysWithValues: assigned.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value.serialized())) }))
                    details["assignedVariablesDetails"] = ["truncated": false]
                }
                await emit("\(state.type.rawValue)StateExited", previous: lastEventId, "stateExitedEventDetails", .object(details))
            }
            guard let next = outcome.next else { return outcome.output }
            if topLevel, let observer {
                let id = lastEventId
                let pure = state.type == .pass || state.type == .choice
                await observer.checkpoint(
                    ExecutionSnapshot(nextState: next, input: outcome.output, variables: scope.values, lastEventId: id), durable: !pure)
                generation.withLock { $0 = id }
                // Only Map and Parallel states record the progress of branches.
                if state.type == .map || state.type == .parallel { await observer.clearBranches() }
            } else if let branchKey, let observer {
                await observer.checkpoint(branch: branchKey, progress: .at(nextState: next, input: outcome.output, variables: scope.values))
            }
            current = next
            data = outcome.output
        }
    }

    /// The `…StateAborted` event of the state types that have one.
    static let abortedEvents: [StateType: String] = [
        .task: "TaskStateAborted", .wait: "WaitStateAborted", .map: "MapStateAborted", .parallel: "ParallelStateAborted",
    ]
}

/// Thrown through a run whose history has no room left (see ``ExecutionEngine/historyEventLimit``).
struct HistoryLimitReached: Error {}
