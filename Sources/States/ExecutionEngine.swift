import Foundation
import JSONCore

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
    public static func historyLimitCause(_ limit: Int) -> String {
        "The execution reached the maximum number of history events (\(limit))."
    }

    public init(machine: StateMachine, integrations: any TaskIntegration, clock: any StatesClock = SystemClock()) {
        self.machine = machine
        self.integrations = integrations
        self.clock = clock
    }

    /// Runs to the end (or until the calling task is cancelled: then the outcome is ABORTED).
    public func run(
        input: JSON, context: ExecutionContext, resumingFrom snapshot: ExecutionSnapshot? = nil, observer: (any ExecutionObserver)? = nil
    ) async -> ExecutionOutcome {
        let run = ExecutionRun(
            engine: self, context: context, observer: observer, firstEventId: snapshot?.lastEventId ?? 0,
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
    public func test(
        _ state: StateDefinition, input: JSON, context: ExecutionContext, variables: [String: JSON] = [:], contextObject: JSON? = nil
    ) async -> TestStateResult {
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
    public func testState(
        _ state: StateDefinition, input: JSON, context: ExecutionContext, variables: [String: JSON] = [:]
    ) async throws -> (output: JSON, next: String?) {
        let run = ExecutionRun(engine: self, context: context, observer: nil, firstEventId: 0, executionInput: input)
        let scope = VariableScope(parent: nil)
        scope.values = variables
        let outcome = try await withTaskExecutorPreference(ExecutionThreads.shared) {
            try await run.runStateWithRecovery(state, input: input, scope: scope, parentEventId: 0)
        }
        return (outcome.output, outcome.next)
    }
}
