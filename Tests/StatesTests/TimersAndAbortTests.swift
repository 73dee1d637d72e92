import Foundation
import JSONCore
import Synchronization
import Testing

@testable import States

/// Records the deadlines an execution counts to, as the host persists them.
final class TimerObserver: ExecutionObserver, @unchecked Sendable {
    let timers = Mutex<[(String, Date?)]>([])
    let events = Mutex<[HistoryEvent]>([])
    func record(_ event: HistoryEvent) async { events.withLock { $0.append(event) } }
    func checkpoint(_ snapshot: ExecutionSnapshot) async {}
    func checkpoint(timer key: String, deadline: Date?) async { timers.withLock { $0.append((key, deadline)) } }
    var types: [String] { events.withLock { $0.map(\.type) } }
}

@Suite struct TimerResumeTests {
    let context = ExecutionContext(executionArn: "arn:aws:states:eu-west-1:000000000000:execution:m:e", name: "e")

    @Test func waitRecordsItsDeadlineAndClearsIt() async throws {
        let clock = VirtualClock()
        let start = clock.now()
        let observer = TimerObserver()
        let engine = ExecutionEngine(
            machine: try StateMachine(definition: #"{"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":100,"End":true}}}"#),
            integrations: ScriptedTasks { _, _ in [:] }, clock: clock)
        _ = await engine.run(input: [:], context: context, observer: observer)
        let timers = observer.timers.withLock { $0 }
        #expect(timers.map(\.0) == ["g1/W", "g1/W"])
        #expect(timers[0].1 == start.addingTimeInterval(100))
        #expect(timers[1].1 == nil)
    }

    @Test func aResumedWaitWaitsOnlyForWhatIsLeft() async throws {
        let clock = VirtualClock()
        let machine = try StateMachine(
            definition: #"{"StartAt":"A","States":{"A":{"Type":"Pass","Next":"W"},"W":{"Type":"Wait","Seconds":100,"End":true}}}"#)
        let engine = ExecutionEngine(machine: machine, integrations: ScriptedTasks { _, _ in [:] }, clock: clock)
        let snapshot = ExecutionSnapshot(
            nextState: "W", input: [:], variables: [:], lastEventId: 4, timers: ["g4/W": clock.now().addingTimeInterval(30)])
        let outcome = await engine.run(input: [:], context: context, resumingFrom: snapshot, observer: TimerObserver())
        #expect(outcome.status == .succeeded)
        #expect(clock.sleeps.withLock { $0 } == [30])
    }

    @Test func executionTimeoutCountsFromTheStartAcrossAResume() async throws {
        let clock = VirtualClock()
        // The task outlasts any timeout; the virtual clock ends the execution's timeout at once, after what was left of it.
        let machine = try StateMachine(
            definition: #"{"TimeoutSeconds":60,"StartAt":"W","States":{"W":{"Type":"Task","Resource":"arn:aws:states:::x:y","End":true}}}"#)
        let engine = ExecutionEngine(
            machine: machine,
            integrations: ScriptedTasks { _, _ in
                try await Task.sleep(for: .seconds(30)); return [:]
            }, clock: clock)
        var started = context
        started.startTime = clock.now().addingTimeInterval(-50)
        let snapshot = ExecutionSnapshot(nextState: "W", input: [:], variables: [:], lastEventId: 2)
        let outcome = await engine.run(input: [:], context: started, resumingFrom: snapshot, observer: TimerObserver())
        #expect(outcome.status == .timedOut)
        #expect(clock.sleeps.withLock { $0 } == [10])
    }

    @Test func aResumedCallbackKeepsItsToken() async throws {
        let tokens = Mutex<[(String?, Bool, String)]>([])
        let tasks = ScriptedTasks { task, _ in
            tokens.withLock { $0.append((task.taskToken, task.resumed, task.key)) }
            return [:]
        }
        let machine = try StateMachine(
            definition:
                #"{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::sqs:sendMessage.waitForTaskToken","Parameters":{"t.$":"$$.Task.Token"},"End":true}}}"#
        )
        let engine = ExecutionEngine(machine: machine, integrations: tasks, clock: VirtualClock())
        let snapshot = ExecutionSnapshot(nextState: "T", input: [:], variables: [:], lastEventId: 1, tasks: ["g1/T": "old-token"])
        _ = await engine.run(input: [:], context: context, resumingFrom: snapshot, observer: TimerObserver())
        _ = await engine.run(input: [:], context: context, observer: TimerObserver())
        let calls = tokens.withLock { $0 }
        #expect(calls.count == 2)
        #expect(calls[0].0 == "old-token" && calls[0].1 && calls[0].2 == "g1/T")
        #expect(calls[1].0 != "old-token" && !calls[1].1)
    }

    @Test func taskScheduledNamesTheExecutionRegion() async throws {
        let observer = TimerObserver()
        let engine = ExecutionEngine(
            machine: try StateMachine(
                definition: #"{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::x:y","End":true}}}"#),
            integrations: ScriptedTasks { _, _ in [:] }, clock: VirtualClock())
        _ = await engine.run(input: [:], context: context, observer: observer)
        let scheduled = observer.events.withLock { $0.first { $0.type == "TaskScheduled" } }
        #expect(scheduled?.details?["region"] == "eu-west-1")
    }
}

@Suite struct AbortTests {
    let context = ExecutionContext(executionArn: "arn:aws:states:us-east-1:000000000000:execution:m:e", name: "e")

    @Test func aFailingIterationAbortsTheOthersBeforeTheMapFails() async throws {
        let tasks = ScriptedTasks { task, _ in
            if task.input == 1 {
                try await Task.sleep(for: .milliseconds(50))
                throw StatesError("Bad", "")
            }
            try await Task.sleep(for: .seconds(30))
            return [:]
        }
        let observer = TimerObserver()
        let machine = try StateMachine(
            definition: #"""
                {"StartAt":"M","States":{"M":{"Type":"Map","ItemsPath":"$.xs","End":true,
                  "ItemProcessor":{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::x:y","End":true}}}}}}
                """#)
        let outcome = await ExecutionEngine(machine: machine, integrations: tasks).run(
            input: ["xs": [1, 2]], context: context, observer: observer)
        #expect(outcome.error == "Bad")
        let types = observer.types
        let failed = try #require(types.firstIndex(of: "MapStateFailed"))
        #expect(types.contains("MapIterationFailed"))
        let aborted = try #require(types.firstIndex(of: "MapIterationAborted"))
        #expect(aborted < failed)
        #expect(types.firstIndex(of: "TaskStateAborted").map { $0 < aborted } == true)
        #expect(!types.contains("MapIterationSucceeded"))
    }

    @Test func stoppingAnExecutionAbortsTheRunningState() async throws {
        let observer = TimerObserver()
        let machine = try StateMachine(definition: #"{"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":30,"End":true}}}"#)
        let engine = ExecutionEngine(machine: machine, integrations: ScriptedTasks { _, _ in [:] })
        let context = self.context
        let run = Task { await engine.run(input: [:], context: context, observer: observer) }
        try await Task.sleep(for: .milliseconds(100))
        run.cancel()
        #expect(await run.value.status == .aborted)
        #expect(observer.types.suffix(2) == ["WaitStateAborted", "ExecutionAborted"])
    }

    @Test func jsonataErrorsRecordEvaluationFailed() async throws {
        let observer = RecordingObserver()
        _ = try await run(
            #"{"QueryLanguage":"JSONata","StartAt":"P","States":{"P":{"Type":"Pass","Output":"{% $nope() %}","End":true}}}"#,
            observer: observer)
        #expect(observer.types == ["ExecutionStarted", "PassStateEntered", "EvaluationFailed", "ExecutionFailed"])
        let event = observer.events.withLock { $0[2] }
        #expect(event.details?["state"] == "P")
        #expect(event.details?["error"] == "States.QueryEvaluationError")
    }

    @Test func executionStartedNamesTheVersionAndAlias() async throws {
        let observer = RecordingObserver()
        var context = self.context
        context.stateMachineVersionArn = "arn:aws:states:us-east-1:000000000000:stateMachine:m:1"
        context.stateMachineAliasArn = "arn:aws:states:us-east-1:000000000000:stateMachine:m:live"
        let engine = ExecutionEngine(
            machine: try StateMachine(definition: #"{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}}"#),
            integrations: ScriptedTasks { _, _ in [:] })
        _ = await engine.run(input: [:], context: context, observer: observer)
        let started = observer.events.withLock { $0[0] }
        #expect(started.details?["stateMachineVersionArn"] == .string(context.stateMachineVersionArn!))
        #expect(started.details?["stateMachineAliasArn"] == .string(context.stateMachineAliasArn!))
    }
}
