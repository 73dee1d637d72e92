import Foundation
import JSONCore

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

    public init(
        resource: String, input: JSON, taskToken: String? = nil, timeoutSeconds: Double? = nil, heartbeatSeconds: Double? = nil,
        stateName: String, context: JSON, key: String = "", resumed: Bool = false
    ) {
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

    public init(
        executionArn: String, name: String, stateMachineArn: String = "", stateMachineName: String = "", roleArn: String = "",
        startTime: Date = Date(),
        redriveCount: Int = 0, redriveTime: Date? = nil, stateMachineVersionArn: String? = nil, stateMachineAliasArn: String? = nil
    ) {
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

    public init(
        nextState: String, input: JSON, variables: [String: JSON], lastEventId: Int, branches: [String: BranchProgress] = [:],
        timers: [String: Date] = [:], tasks: [String: String] = [:]
    ) {
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
