import Foundation
import JSONCore
import JSONata
import Synchronization

/// Runs Task states' resources. The host (the local cloud) provides one for `arn:aws:states:::ecs:runTask.sync`,
/// activities, and the rest; a failure is thrown as a ``StatesError`` with the error name and cause AWS would report.
public protocol TaskIntegration: Sendable {
    func invoke(_ task: TaskInvocation) async throws -> JSON
    /// Called before the task is scheduled (before its TaskScheduled event names its token), so that a
    /// callback arriving right after can find it.
    func prepare(_ task: TaskInvocation) async
}

extension TaskIntegration {
    public func prepare(_ task: TaskInvocation) async {}
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
    /// Names this task among the execution's tasks, the same across a restart (see ``ExecutionSnapshot/tasks``):
    /// the host records under it what it started, to find it again.
    public var key: String = ""
    /// The execution resumed while this task was under way (started before a restart): the host re-attaches to
    /// what it started then (same token, same ECS task, same child execution) instead of starting it again.
    public var resumed = false

    public init(resource: String, input: JSON, taskToken: String? = nil, timeoutSeconds: Double? = nil, heartbeatSeconds: Double? = nil,
                stateName: String, context: JSON, key: String = "", resumed: Bool = false) {
        self.resource = resource
        self.input = input
        self.taskToken = taskToken
        self.timeoutSeconds = timeoutSeconds
        self.heartbeatSeconds = heartbeatSeconds
        self.stateName = stateName
        self.context = context
        self.key = key
        self.resumed = resumed
    }
}

/// Time as the engine sees it: injectable so that tests run Wait states and retries instantly.
public protocol StatesClock: Sendable {
    func now() -> Date
    func sleep(seconds: Double) async throws
}

public struct SystemClock: StatesClock {
    public init() {}
    public func now() -> Date { Date() }
    /// Sleeps a day at most at a time, so that any wait converts to a `Duration` without overflow (a Timestamp
    /// far in the future, a wait with no end).
    public func sleep(seconds: Double) async throws {
        var remaining = seconds
        while remaining > 0 {
            let step = min(remaining, Self.longestSleep)
            try await Task.sleep(for: .milliseconds(Int64((step * 1000).rounded())))
            remaining -= step
        }
    }

    static let longestSleep = 86_400.0
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
    /// When the execution was last redriven (`$$.Execution.RedriveTime`); its TimeoutSeconds counts from then.
    public var redriveTime: Date?
    /// The version and alias the execution was started through (ExecutionStarted reports them).
    public var stateMachineVersionArn: String?
    public var stateMachineAliasArn: String?

    public init(executionArn: String, name: String, stateMachineArn: String = "", stateMachineName: String = "", roleArn: String = "", startTime: Date = Date(),
                redriveCount: Int = 0, redriveTime: Date? = nil, stateMachineVersionArn: String? = nil, stateMachineAliasArn: String? = nil) {
        self.executionArn = executionArn
        self.name = name
        self.stateMachineArn = stateMachineArn
        self.stateMachineName = stateMachineName
        self.roleArn = roleArn
        self.startTime = startTime
        self.redriveCount = redriveCount
        self.redriveTime = redriveTime
        self.stateMachineVersionArn = stateMachineVersionArn
        self.stateMachineAliasArn = stateMachineAliasArn
    }

    /// The region of the execution, from its ARN.
    var region: String {
        let parts = executionArn.split(separator: ":", omittingEmptySubsequences: false)
        return parts.count > 3 && !parts[3].isEmpty ? String(parts[3]) : "us-east-1"
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
    /// The data at each step of the state's processing, as TestState's inspectionData names them
    /// (`afterInputPath`, `afterParameters`, `result`, `afterResultSelector`, `afterResultPath`, `afterArguments`).
    public var inspection: [String: JSON] = [:]
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
    /// Deadlines of the Wait states and task timeouts under way, by key (see ``ExecutionObserver/checkpoint(timer:deadline:)``):
    /// a resumed Wait waits only for what was left of it. The host fills it.
    public var timers: [String: Date]
    /// The tasks under way by ``TaskInvocation/key``, each with its task token ("" for tasks without one): a
    /// resumed task keeps its token and is not started again. The host fills it from what its integrations recorded.
    public var tasks: [String: String]

    public init(nextState: String, input: JSON, variables: [String: JSON], lastEventId: Int, branches: [String: BranchProgress] = [:],
                timers: [String: Date] = [:], tasks: [String: String] = [:]) {
        self.nextState = nextState
        self.input = input
        self.variables = variables
        self.lastEventId = lastEventId
        self.branches = branches
        self.timers = timers
        self.tasks = tasks
    }

    enum CodingKeys: String, CodingKey { case nextState, input, variables, lastEventId, branches, timers, tasks }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        nextState = try c.decode(String.self, forKey: .nextState)
        input = try c.decode(JSON.self, forKey: .input)
        variables = try c.decode([String: JSON].self, forKey: .variables)
        lastEventId = try c.decode(Int.self, forKey: .lastEventId)
        // Snapshots written before branches were recorded have none.
        branches = try c.decodeIfPresent([String: BranchProgress].self, forKey: .branches) ?? [:]
        timers = try c.decodeIfPresent([String: Date].self, forKey: .timers) ?? [:]
        tasks = try c.decodeIfPresent([String: String].self, forKey: .tasks) ?? [:]
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
    /// A checkpoint after a top-level state. `durable` is false when the state just finished had no effect
    /// outside the execution (Pass, Choice): re-running it after a crash repeats nothing anyone can observe, so
    /// a host may persist such a snapshot lazily instead of waiting for it.
    func checkpoint(_ snapshot: ExecutionSnapshot, durable: Bool) async
    /// Progress of one iteration or branch inside the current top-level state; resuming passes them back in
    /// ``ExecutionSnapshot/branches``.
    func checkpoint(branch: String, progress: BranchProgress) async
    /// The top-level state moved on: the branches recorded for the previous one are no longer needed.
    func clearBranches() async
    /// A Wait state or a task timeout started counting to `deadline` (nil: it ended); resuming passes the
    /// deadlines still pending back in ``ExecutionSnapshot/timers``.
    func checkpoint(timer key: String, deadline: Date?) async
}

extension ExecutionObserver {
    public func checkpoint(_ snapshot: ExecutionSnapshot, durable: Bool) async { await checkpoint(snapshot) }
    public func checkpoint(branch: String, progress: BranchProgress) async {}
    public func clearBranches() async {}
    public func checkpoint(timer key: String, deadline: Date?) async {}
}

/// Executes a ``StateMachine``. Many executions may run at once on one engine.
public struct ExecutionEngine: Sendable {
    public let machine: StateMachine
    public let integrations: any TaskIntegration
    public let clock: any StatesClock
    /// Largest serialized size of a state's input or output (AWS: 256 KiB).
    public var payloadLimit = 262_144
    /// Most events a recorded history holds (AWS's hard quota: 25,000). The last place is kept for the event that
    /// ends the execution: any other event that would take it is refused, and the execution fails with
    /// `States.Runtime` in its place. A run without an observer (an Express execution) has no history and no such
    /// bound.
    public var historyEventLimit = ExecutionEngine.maxHistoryEvents
    public static let maxHistoryEvents = 25_000
    /// The cause of an execution failed by ``historyEventLimit``, in AWS's words.
    public static func historyLimitCause(_ limit: Int) -> String { "The execution reached the maximum number of history events (\(limit))." }

    public init(machine: StateMachine, integrations: any TaskIntegration, clock: any StatesClock = SystemClock()) {
        self.machine = machine
        self.integrations = integrations
        self.clock = clock
    }

    /// Runs to the end (or until the calling task is cancelled: then the outcome is ABORTED).
    public func run(input: JSON, context: ExecutionContext, resumingFrom snapshot: ExecutionSnapshot? = nil, observer: (any ExecutionObserver)? = nil) async -> ExecutionOutcome {
        let run = ExecutionRun(engine: self, context: context, observer: observer, firstEventId: snapshot?.lastEventId ?? 0,
                               executionInput: input, resumeBranches: snapshot?.branches ?? [:], resumeTimers: snapshot?.timers ?? [:],
                               resumeTasks: snapshot?.tasks ?? [:])
        return await Self.offCallersExecutor { await run.execute(input: input, snapshot: snapshot) }
    }

    /// Runs the work of an execution on ``ExecutionThreads``, whatever executor its caller prefers.
    ///
    /// An execution runs users' expressions (JSONata, paths, intrinsic functions), any of which may take seconds. A
    /// host that answers requests on an event loop's thread (the local cloud prefers it for a request's task) and
    /// runs an execution within the request (StartSyncExecution, TestState, a run that ends at once) would hold
    /// the loop, and every other connection on it, for as long; on the global executor it would hold the process's
    /// other tasks.
    static func offCallersExecutor<T>(_ work: () async -> T) async -> T {
        await withTaskExecutorPreference(ExecutionThreads.shared, operation: work)
    }

    /// Runs one attempt of one state alone, as the TestState API does. `contextObject` (TestState's `context`)
    /// is laid over the context object the state would see.
    public func test(_ state: StateDefinition, input: JSON, context: ExecutionContext, variables: [String: JSON] = [:], contextObject: JSON? = nil) async -> TestStateResult {
        let run = ExecutionRun(engine: self, context: context, observer: nil, firstEventId: 0, executionInput: input)
        run.inspection = Inspection()
        run.contextOverride = contextObject
        let scope = VariableScope(parent: nil)
        scope.values = variables
        var result = await Self.offCallersExecutor { await run.testOnce(state, input: input, scope: scope) }
        result.inspection = run.inspection?.steps.withLock { $0 } ?? [:]
        return result
    }

    /// Runs one state alone, as TestState does: returns its output and the next state's name.
    public func testState(_ state: StateDefinition, input: JSON, context: ExecutionContext, variables: [String: JSON] = [:]) async throws -> (output: JSON, next: String?) {
        let run = ExecutionRun(engine: self, context: context, observer: nil, firstEventId: 0, executionInput: input)
        let scope = VariableScope(parent: nil)
        scope.values = variables
        let outcome = try await withTaskExecutorPreference(ExecutionThreads.shared) {
            try await run.runStateWithRecovery(state, input: input, scope: scope, parentEventId: 0)
        }
        return (outcome.output, outcome.next)
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

    init(engine: ExecutionEngine, context: ExecutionContext, observer: (any ExecutionObserver)?, firstEventId: Int, executionInput: JSON = [:],
         resumeBranches: [String: BranchProgress] = [:], resumeTimers: [String: Date] = [:], resumeTasks: [String: String] = [:]) {
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
        await observer.record(HistoryEvent(id: id, previousEventId: previous, timestamp: engine.clock.now(), type: type, detailsKey: detailsKey, details: details))
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
                output = try await withTimeout(max(0, Double(timeout) - elapsed), error: StatesError("States.Timeout", "The execution exceeded its TimeoutSeconds of \(timeout)")) {
                    try await self.runMachine(self.engine.machine, input: firstInput, scope: scope, start: firstState, topLevel: true)
                }
            } else {
                output = try await runMachine(engine.machine, input: data, scope: scope, start: start, topLevel: true)
            }
            // An event refused on the way out (the last state's exit) fails the execution too.
            try checkHistoryRoom()
            await emit("ExecutionSucceeded", previous: lastEventId, "executionSucceededEventDetails", [
                "output": .string(output.serialized()), "outputDetails": ["truncated": false],
            ])
            return ExecutionOutcome(status: .succeeded, output: output)
        } catch is HistoryLimitReached {
            let cause = ExecutionEngine.historyLimitCause(engine.historyEventLimit)
            await emit("ExecutionFailed", previous: lastEventId, "executionFailedEventDetails", ["error": "States.Runtime", "cause": .string(cause)])
            return ExecutionOutcome(status: .failed, error: "States.Runtime", cause: cause)
        } catch let error as StatesError where error.error == "States.Timeout" && error.cause.hasPrefix("The execution exceeded") {
            await emit("ExecutionTimedOut", previous: lastEventId, "executionTimedOutEventDetails", ["error": .string(error.error), "cause": .string(error.cause)])
            return ExecutionOutcome(status: .timedOut, error: error.error, cause: error.cause)
        } catch let error as StatesError {
            await emit("ExecutionFailed", previous: lastEventId, "executionFailedEventDetails", ["error": .string(error.error), "cause": .string(error.cause)])
            return ExecutionOutcome(status: .failed, error: error.error, cause: error.cause)
        } catch is CancellationError {
            // The host that stopped the execution knows the error and cause StopExecution gave; its observer adds them.
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
            let entered = await emit("\(state.type.rawValue)StateEntered", previous: lastEventId, "stateEnteredEventDetails", recording ? [
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
                    details["assignedVariables"] = .object(JSONObject(uniqueKeysWithValues: assigned.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value.serialized())) }))
                    details["assignedVariablesDetails"] = ["truncated": false]
                }
                await emit("\(state.type.rawValue)StateExited", previous: lastEventId, "stateExitedEventDetails", .object(details))
            }
            guard let next = outcome.next else { return outcome.output }
            if topLevel, let observer {
                let id = lastEventId
                let pure = state.type == .pass || state.type == .choice
                await observer.checkpoint(ExecutionSnapshot(nextState: next, input: outcome.output, variables: scope.values, lastEventId: id), durable: !pure)
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

    // MARK: Retry and Catch

    func runStateWithRecovery(_ state: StateDefinition, input: JSON, scope: VariableScope, parentEventId: Int) async throws -> StateOutcome {
        var attempts = [Int](repeating: 0, count: state.retry.count)
        var retryCount = 0
        while true {
            try checkHistoryRoom()
            do {
                return try await runState(state, input: input, scope: scope, retryCount: retryCount)
            } catch let error as StatesError {
                if error.error == "States.QueryEvaluationError" {
                    await emit("EvaluationFailed", previous: lastEventId, "evaluationFailedEventDetails", [
                        "error": .string(error.error), "cause": .string(error.cause), "state": .string(state.name),
                    ])
                }
                if let index = state.retry.firstIndex(where: { Self.matches($0.errorEquals, error.error) }) {
                    let retrier = state.retry[index]
                    if attempts[index] < retrier.maxAttempts {
                        var delay = retrier.intervalSeconds * pow(retrier.backoffRate, Double(attempts[index]))
                        // However fast it grows (a BackoffRate of 1e300 makes it infinite at once), a retry waits at
                        // most MaxDelaySeconds, and without one at most the year an execution can last.
                        let cap = retrier.maxDelaySeconds ?? NumberBounds.maxRetryDelay
                        if !(delay <= cap) { delay = cap }
                        if retrier.jitterFull { delay = Double.random(in: 0...delay) }
                        attempts[index] += 1
                        retryCount += 1
                        try await engine.clock.sleep(seconds: delay)
                        continue
                    }
                }
                guard let catcher = state.catchers.first(where: { Self.matches($0.errorEquals, error.error) }) else { throw error }
                return try caught(error, by: catcher, state: state, input: input, scope: scope, retryCount: retryCount)
            }
        }
    }

    /// The output a Catch hands to its Next state: the error output placed at ResultPath (JSONPath) or the
    /// catcher's Output (JSONata), after its Assign (which sees the error output as `$` in JSONPath).
    func caught(_ error: StatesError, by catcher: Catcher, state: StateDefinition, input: JSON, scope: VariableScope, retryCount: Int = 0) throws -> StateOutcome {
        let errorOutput: JSON = ["Error": .string(error.error), "Cause": .string(error.cause)]
        let context = contextObject(state: state, retryCount: retryCount)
        if state.queryLanguage == .jsonata {
            let states: JSON = ["input": input, "errorOutput": errorOutput, "context": context]
            let output = try catcher.output.map { try evaluateTemplate($0, states: states, scope: scope, field: "Catch.Output") } ?? errorOutput
            let assigned = try catcher.assign.map { try assignJSONata($0, states: states, scope: scope, field: "Catch.Assign") }
            try checkOutput(output, state: state)
            return StateOutcome(output: output, next: catcher.next, assigned: assigned)
        }
        let assigned = try catcher.assign.map { try PayloadTemplate.resolve($0, input: errorOutput, context: context, variables: scope) }
        let output = catcher.resultPathIsNull ? input : try JSONPath.placing(errorOutput, at: catcher.resultPath ?? "$", in: input)
        try checkOutput(output, state: state)
        return StateOutcome(output: output, next: catcher.next, assigned: try assigned.map { try commitAssign($0, scope: scope) })
    }

    /// One attempt of one state, as TestState reports it: a matching Retry is not waited for (RETRIABLE) and a
    /// matching Catch is applied (CAUGHT_ERROR).
    func testOnce(_ state: StateDefinition, input: JSON, scope: VariableScope) async -> TestStateResult {
        do {
            let outcome = try await runState(state, input: input, scope: scope)
            return TestStateResult(status: .succeeded, output: outcome.output, nextState: outcome.next, variables: scope.values)
        } catch let error as StatesError {
            if error.error != "States.Runtime", state.retry.contains(where: { Self.matches($0.errorEquals, error.error) }) {
                return TestStateResult(status: .retriable, error: error.error, cause: error.cause, variables: scope.values)
            }
            if let catcher = state.catchers.first(where: { Self.matches($0.errorEquals, error.error) }) {
                do {
                    let outcome = try caught(error, by: catcher, state: state, input: input, scope: scope)
                    return TestStateResult(status: .caughtError, output: outcome.output, error: error.error, cause: error.cause, nextState: catcher.next, variables: scope.values)
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

    /// Whether an ErrorEquals list names `error`. States.ALL matches all but States.Runtime and
    /// States.DataLimitExceeded, which are never retried nor caught. States.TaskFailed "matches any known error
    /// name except for States.Timeout" (AWS's error handling guide); a heartbeat timeout is a States.Timeout too.
    static func matches(_ names: [String], _ error: String) -> Bool {
        if error == "States.Runtime" || error == "States.DataLimitExceeded" { return false }
        let isTimeout = error == "States.Timeout" || error == "States.HeartbeatTimeout"
        for name in names {
            if name == error || name == "States.ALL" { return true }
            // States.Timeout names both kinds of task timeout: TimeoutSeconds and HeartbeatSeconds.
            if name == "States.Timeout" && error == "States.HeartbeatTimeout" { return true }
            if name == "States.TaskFailed" && !isTimeout { return true }
        }
        return false
    }

    // MARK: States

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
        let context = handsContextOn || state.referencesContextObject
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
            for rule in state.choices where try rule.matches(input: effective, context: context, variables: scope, evaluateCondition: { _ in false }) {
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
            return StateOutcome(output: try selectPath(state.outputPath, in: effective, context: context, scope: scope, field: "OutputPath"), next: nil)
        case .fail:
            // ErrorPath and CausePath are paths or intrinsic functions, as `.$` fields are.
            func text(_ expression: String, _ field: String) throws -> String {
                let value = try PayloadTemplate.evaluate(expression, input: input, context: context, variables: scope, field: field)
                guard let s = value.stringValue else { throw StatesError("States.Runtime", "The \(field) '\(expression)' did not select a string") }
                return s
            }
            let error = try state.errorPath.map { try text($0, "ErrorPath") } ?? state.error ?? ""
            let cause = try state.causePath.map { try text($0, "CausePath") } ?? state.cause ?? ""
            throw StatesError(error, cause)
        case .wait:
            let seconds = try state.secondsPath.map { try selectRequired($0, in: effective, context: context, scope: scope, field: "SecondsPath") } ?? state.seconds
            let timestamp = try state.timestampPath.map { try selectRequired($0, in: effective, context: context, scope: scope, field: "TimestampPath") } ?? state.timestamp
            try await wait(state, seconds: seconds, timestamp: timestamp, key: key, fieldSuffix: state.secondsPath != nil || state.timestampPath != nil ? "Path" : "")
            let assignment = try assigning(state.assign, from: effective)
            let output = try selectPath(state.outputPath, in: effective, context: context, scope: scope, field: "OutputPath")
            return StateOutcome(output: output, next: state.next, assigned: try assignment.map { try commitAssign($0, scope: scope) })
        default:
            break
        }
        // A Map's Parameters is its (legacy) ItemSelector, applied to each item: not to the state's input.
        let parameters = state.type == .map ? effective
            : try state.parameters.map { try checkNesting(PayloadTemplate.resolve($0, input: effective, context: context, variables: scope), of: state, field: "Parameters") } ?? effective
        inspection?.record("afterParameters", parameters)
        var result: JSON
        switch state.type {
        case .pass:
            result = state.result ?? parameters
        case .task:
            let timeout = try number(state.timeout, .timeoutSeconds, of: state, input: effective, context: context, scope: scope, states: nil)
            let heartbeat = try number(state.heartbeat, .heartbeatSeconds, of: state, input: effective, context: context, scope: scope, states: nil)
            result = try await runTask(state, arguments: parameters, token: token, key: key, context: context, timeout: timeout, heartbeat: heartbeat)
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
                        throw StatesError("States.QueryEvaluationError", "The Condition '\(condition)' of state \(state.name) did not evaluate to a boolean")
                    }
                    return b
                }
                if matched {
                    let output = try rule.output.map { try evaluateTemplate($0, states: states, scope: scope, field: "Choices.Output") } ?? input
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
            let error = try state.json["Error"].map { try evaluateTemplate($0, states: states, scope: scope, field: "Error").stringValue ?? "" } ?? ""
            let cause = try state.json["Cause"].map { try evaluateTemplate($0, states: states, scope: scope, field: "Cause").stringValue ?? "" } ?? ""
            throw StatesError(error, cause)
        case .wait:
            try await wait(state, seconds: try state.seconds.map { try evaluateTemplate($0, states: states, scope: scope, field: "Seconds") },
                           timestamp: try state.timestamp.map { try evaluateTemplate($0, states: states, scope: scope, field: "Timestamp") }, key: key)
        default:
            break
        }
        let arguments = try state.arguments.map { try checkNesting(evaluateTemplate($0, states: states, scope: scope, field: "Arguments"), of: state, field: "Arguments") } ?? input
        if state.arguments != nil { inspection?.record("afterArguments", arguments) }
        var result: JSON? = nil
        switch state.type {
        case .task:
            let timeout = try number(state.timeout, .timeoutSeconds, of: state, input: input, context: context, scope: scope, states: states)
            let heartbeat = try number(state.heartbeat, .heartbeatSeconds, of: state, input: input, context: context, scope: scope, states: states)
            result = try await runTask(state, arguments: arguments, token: token, key: key, context: context, timeout: timeout, heartbeat: heartbeat)
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
                throw StatesError("States.Runtime", "An error occurred while executing the state '\(state.name)'. The value for the field 'Timestamp\(fieldSuffix)' must be an RFC 3339 timestamp, not \(timestamp.serialized().prefix(200))")
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
    func number(_ number: StateNumber?, _ bounds: NumberBounds, of state: StateDefinition, input: JSON, context: JSON, scope: VariableScope, states: JSON?) throws -> Double? {
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
        return StatesError("States.Runtime", "An error occurred while executing the state '\(state.name)'. \(named.requirement), not \(value.serialized().prefix(200))")
    }

    /// A state's output within AWS's payload size and the data's nesting bound.
    func checkOutput(_ output: JSON, state: StateDefinition) throws {
        if !output.serializedSizeIsAtMost(engine.payloadLimit) {
            throw StatesError("States.DataLimitExceeded", "The state/task '\(state.name)' returned a result with a size exceeding the maximum number of bytes service limit.")
        }
        try checkNesting(output, of: state, field: "output")
    }

    /// Refuses data nested deeper than the execution may hold (see ``JSONNesting/maxDataDepth``) where a state
    /// makes it: a template (Parameters, Arguments, ItemSelector) or an output deeper than its input.
    @discardableResult
    func checkNesting(_ value: JSON, of state: StateDefinition, field: String) throws -> JSON {
        if JSONNesting.exceeds(value, JSONNesting.maxDataDepth) {
            throw StatesError("States.Runtime", "An error occurred while executing the state '\(state.name)'. Its \(field) nests more than \(JSONNesting.maxDataDepth) levels of objects and arrays")
        }
        return value
    }

    // MARK: Tasks

    func runTask(_ state: StateDefinition, arguments resolved: JSON, token: String?, key: String, context: JSON, timeout: Double?, heartbeat: Double?) async throws -> JSON {
        let resource = state.resource ?? ""
        let (resourceType, resourceName) = Self.describe(resource)
        // Activities have events of their own; callbacks and activities are the tasks that heartbeat.
        let isActivity = resource.hasPrefix("arn:aws:states:") && resource.contains(":activity:")
        let heartbeats = isActivity || resource.hasSuffix(".waitForTaskToken")
        let prefix = isActivity ? "Activity" : "Task"
        let detailsPrefix = isActivity ? "activity" : "task"
        var scheduledDetails: JSONObject = isActivity
            ? ["resource": .string(resource), "input": .string(resolved.serialized()), "inputDetails": ["truncated": false]]
            : ["resourceType": .string(resourceType), "resource": .string(resourceName), "region": .string(self.context.region),
               "parameters": .string(resolved.serialized())]
        if let timeout { scheduledDetails["timeoutInSeconds"] = .number(timeout) }
        if let heartbeat { scheduledDetails["heartbeatInSeconds"] = .number(heartbeat) }
        let scheduledId = Mutex(0)
        let onStart: (@Sendable (String) async -> Void)? = isActivity ? { @Sendable [self] worker in
            _ = await self.emit("ActivityStarted", previous: scheduledId.withLock { $0 }, "activityStartedEventDetails", ["workerName": .string(worker)])
        } : nil
        var invocation = TaskInvocation(resource: resource, input: resolved, taskToken: token, timeoutSeconds: timeout, heartbeatSeconds: heartbeat, stateName: state.name, context: context)
        invocation.progress = TaskProgress(now: engine.clock.now(), onStart: onStart)
        invocation.key = key
        invocation.resumed = resumeTasks[key] != nil
        let call = invocation
        let integrations = engine.integrations
        await integrations.prepare(call)
        let scheduled = await emit("\(prefix)Scheduled", previous: lastEventId, "\(detailsPrefix)ScheduledEventDetails", recording ? .object(scheduledDetails) : nil)
        scheduledId.withLock { $0 = scheduled }
        if !isActivity {
            await emit("TaskStarted", previous: scheduled, "taskStartedEventDetails", recording ? ["resourceType": .string(resourceType), "resource": .string(resourceName)] : nil)
        }
        let body: @Sendable () async throws -> JSON
        if heartbeats, let heartbeat {
            body = { [self] in try await self.withHeartbeat(heartbeat, progress: call.progress) { try await integrations.invoke(call) } }
        } else {
            body = { try await integrations.invoke(call) }
        }
        let subject: JSONObject = isActivity ? [:] : ["resourceType": .string(resourceType), "resource": .string(resourceName)]
        let timerKey = key + "#timeout"
        do {
            let output: JSON
            if let timeout {
                // The timeout counts from the task's first start, across a restart.
                let until = await deadline(timerKey, seconds: timeout)
                output = try await withTimeout(until.timeIntervalSince(engine.clock.now()), error: StatesError("States.Timeout", "Task timed out after \(timeout) seconds"), body)
                await observer?.checkpoint(timer: timerKey, deadline: nil)
            } else {
                output = try await body()
            }
            var details = subject
            details["output"] = .string(output.serialized())
            details["outputDetails"] = ["truncated": false]
            await emit("\(prefix)Succeeded", previous: lastEventId, "\(detailsPrefix)SucceededEventDetails", recording ? .object(details) : nil)
            return output
        } catch let error as StatesError {
            if timeout != nil { await observer?.checkpoint(timer: timerKey, deadline: nil) }
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
        await emit("ParallelStateStarted", previous: lastEventId)
        do {
            // A failing branch ends the group: the others are cancelled (and say so) before the state fails.
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
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            await emit("ParallelStateFailed", previous: lastEventId)
            throw error
        }
    }

    /// A Map's MaxConcurrency and failure tolerance, as it runs (fixed, from paths or from JSONata).
    struct MapLimits {
        var maxConcurrency = 0
        var toleratedFailureCount: Int?
        var toleratedFailurePercentage: Double?
    }

    func mapLimits(_ state: StateDefinition, input: JSON, context: JSON, scope: VariableScope, states: JSON?) throws -> MapLimits {
        var limits = MapLimits()
        // Within their bounds, the counts are whole numbers that convert exactly.
        if let n = try number(state.maxConcurrency, .maxConcurrency, of: state, input: input, context: context, scope: scope, states: states) {
            limits.maxConcurrency = Int(exactly: n) ?? 0
        }
        if let n = try number(state.toleratedFailureCount, .toleratedFailureCount, of: state, input: input, context: context, scope: scope, states: states) {
            limits.toleratedFailureCount = Int(exactly: n)
        }
        limits.toleratedFailurePercentage = try number(state.toleratedFailurePercentage, .toleratedFailurePercentage, of: state, input: input, context: context, scope: scope, states: states)
        return limits
    }

    func runMap(_ state: StateDefinition, input: JSON, scope: VariableScope, jsonata: Bool, states: JSON = .null, context baseContext: JSON, limits: MapLimits) async throws -> JSON {
        let itemsValue: JSON
        if jsonata {
            itemsValue = try state.items.map { try evaluateTemplate($0, states: states, scope: scope, field: "Items") } ?? input
        } else {
            itemsValue = try selectRequired(state.itemsPath ?? "$", in: input, context: baseContext, scope: scope, field: "ItemsPath")
        }
        try checkNesting(itemsValue, of: state, field: "Items")
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
        let limit = limits.maxConcurrency > 0 ? limits.maxConcurrency : max(items.count, 1)
        var failures = 0
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
                        itemInput = try evaluateTemplate(selector, states: s, scope: scope, field: "ItemSelector")
                    } else {
                        itemInput = try PayloadTemplate.resolve(selector, input: input, context: context, variables: scope)
                    }
                } else {
                    itemInput = item
                }
                // An item selected or batched deeper than the items themselves.
                if state.itemSelector != nil || state.itemBatcher != nil { try self.checkNesting(itemInput, of: state, field: "ItemSelector") }
                let iterationScope = VariableScope(parent: scope)
                let key = self.branchKey(state, "[\(index)]")
                group.addTask {
                    // An iteration that finished before a restart is not run again.
                    if case .done(let output)? = self.resumeBranches[key] { return (index, .success(output)) }
                    let details: JSON = ["name": .string(state.name), "index": .number(Double(index))]
                    await self.emit("MapIterationStarted", previous: self.lastEventId, "mapIterationStartedEventDetails", details)
                    do {
                        let output = try await self.runBranch(iterator, key: key, input: itemInput, scope: iterationScope)
                        await self.emit("MapIterationSucceeded", previous: self.lastEventId, "mapIterationSucceededEventDetails", details)
                        return (index, .success(output))
                    } catch is CancellationError {
                        await self.emit("MapIterationAborted", previous: self.lastEventId, "mapIterationAbortedEventDetails", details)
                        return (index, .failure(CancellationError()))
                    } catch {
                        await self.emit("MapIterationFailed", previous: self.lastEventId, "mapIterationFailedEventDetails", details)
                        return (index, .failure(error))
                    }
                }
            }
            for _ in 0..<min(limit, items.count) { try startNext() }
            while let (index, result) = try await group.next() {
                switch result {
                case .success(let output): results[index] = output
                case .failure(let error):
                    // A full history is no iteration's failure: no tolerance applies to it.
                    if error is CancellationError || error is HistoryLimitReached { throw error }
                    failures += 1
                    if !tolerated(failures, of: items.count, limits: limits) {
                        // The iterations still running are aborted, and their events come before the state's failure.
                        group.cancelAll()
                        while try await group.next() != nil {}
                        await emit("MapStateFailed", previous: lastEventId)
                        if limits.toleratedFailureCount != nil || limits.toleratedFailurePercentage != nil {
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

    func tolerated(_ failures: Int, of total: Int, limits: MapLimits) -> Bool {
        if let count = limits.toleratedFailureCount, failures <= count { return true }
        if let percentage = limits.toleratedFailurePercentage, total > 0, Double(failures) * 100 / Double(total) <= percentage { return true }
        return false
    }

    // MARK: Data

    func contextObject(state: StateDefinition, taskToken: String? = nil, retryCount: Int = 0) -> JSON {
        var execution: JSONObject = [
            "Id": .string(context.executionArn), "Input": executionInput, "Name": .string(context.name), "RoleArn": .string(context.roleArn),
            "StartTime": .string(UTCTimestamp.iso8601(secondsSince1970: context.startTime.timeIntervalSince1970, fractionDigits: 3)), "RedriveCount": .number(Double(context.redriveCount)),
        ]
        if let redriven = context.redriveTime { execution["RedriveTime"] = .string(UTCTimestamp.iso8601(secondsSince1970: redriven.timeIntervalSince1970, fractionDigits: 3)) }
        var context: JSON = [
            "Execution": .object(execution),
            "StateMachine": ["Id": .string(context.stateMachineArn), "Name": .string(context.stateMachineName)],
            "State": ["Name": .string(state.name), "EnteredTime": .string(UTCTimestamp.iso8601(secondsSince1970: engine.clock.now().timeIntervalSince1970, fractionDigits: 3)), "RetryCount": .number(Double(retryCount))],
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
        let environment = JSONataEnvironment(variables: variables, functions: JSONataFunctions.stepFunctions(), limits: JSONataLimits(maxDepth: 300, timeout: .seconds(5)))
        let place = "An error occurred while executing the state '\(states["context"]?["State"]?["Name"]?.stringValue ?? "")'. The JSONata expression '\(expression)'"
            + (field.isEmpty ? "" : " specified for the field '\(field)'")
        do {
            guard let v = try JSONataExpression(expression).evaluate(states["input"], environment: environment) else {
                throw StatesError("States.QueryEvaluationError", "\(place) returned nothing (undefined).")
            }
            // A result nested deeper than the execution's data may be (built by a recursive function) is refused
            // before anything walks it recursively.
            if JSONNesting.exceeds(v, JSONNesting.maxDataDepth) {
                throw StatesError("States.QueryEvaluationError", "\(place) returned a value nested more than \(JSONNesting.maxDataDepth) levels deep.")
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
            throw StatesError("States.Runtime", "The variable '\(name)' nests more than \(JSONNesting.maxDataDepth) levels of objects and arrays")
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

/// Thrown through a run whose history has no room left (see ``ExecutionEngine/historyEventLimit``).
struct HistoryLimitReached: Error {}
