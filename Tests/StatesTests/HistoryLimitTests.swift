import Foundation
import JSONCore
import Testing

@testable import States

/// AWS's hard quota of events in one execution's history: the last place is kept for the event that ends the
/// execution; any other event that would take it fails the execution with `States.Runtime`, past any Retry or
/// Catch (a limit of 25,000 in AWS, lowered here so that the histories stay short).
@Suite struct HistoryLimitTests {
    func limited(
        _ definition: String, limit: Int, _ input: JSON = [:], tasks: ScriptedTasks = ScriptedTasks { _, _ in [:] }
    ) async throws -> (ExecutionOutcome, [HistoryEvent]) {
        var engine = ExecutionEngine(machine: try StateMachine(definition: definition), integrations: tasks, clock: VirtualClock())
        engine.historyEventLimit = limit
        let observer = RecordingObserver()
        let outcome = await engine.run(
            input: input, context: ExecutionContext(executionArn: "arn:aws:states:us-east-1:000000000000:execution:m:e", name: "e"),
            observer: observer)
        return (outcome, observer.events.withLock { $0 })
    }

    static let loop = #"""
        {"StartAt":"P","States":{
          "P":{"Type":"Pass","Next":"C"},
          "C":{"Type":"Choice","Choices":[{"Variable":"$.stop","BooleanEquals":true,"Next":"Done"}],"Default":"P"},
          "Done":{"Type":"Succeed"}}}
        """#

    @Test func aRunawayLoopFailsAtTheLimitWithItsLastEvent() async throws {
        let (outcome, events) = try await limited(Self.loop, limit: 50, ["stop": false])
        #expect(outcome.status == .failed)
        #expect(outcome.error == "States.Runtime")
        #expect(outcome.cause == "The execution reached the maximum number of history events (50).")
        #expect(events.count == 50)
        #expect(events.map(\.id) == Array(1...50))
        let last = try #require(events.last)
        #expect(last.type == "ExecutionFailed")
        #expect(last.details?["cause"] == "The execution reached the maximum number of history events (50).")
        #expect(
            ExecutionEngine.historyLimitCause(ExecutionEngine.maxHistoryEvents)
                == "The execution reached the maximum number of history events (25000).")
    }

    /// The event that ends the execution takes the last place: a run of exactly the limit succeeds.
    @Test func anExecutionEndingInTheLastPlaceSucceeds() async throws {
        // ExecutionStarted, then entered and exited for each of three Pass states, then ExecutionSucceeded: 8 events.
        let three =
            #"{"StartAt":"A","States":{"A":{"Type":"Pass","Next":"B"},"B":{"Type":"Pass","Next":"C"},"C":{"Type":"Pass","End":true}}}"#
        let (exact, exactEvents) = try await limited(three, limit: 8)
        #expect(exact.status == .succeeded)
        #expect(exactEvents.count == 8)
        #expect(exactEvents.last?.type == "ExecutionSucceeded")
        // One place fewer: the last state's exit has no room, and the execution fails in its place.
        let (short, shortEvents) = try await limited(three, limit: 7)
        #expect(short.status == .failed)
        #expect(shortEvents.map(\.type).suffix(2) == ["PassStateEntered", "ExecutionFailed"])
        #expect(shortEvents.count == 7)
    }

    /// A full history is no States error: a Catch of States.ALL, a Retry of every error and a Map's failure
    /// tolerance do not take it.
    @Test func noRetryCatchOrToleranceTakesAFullHistory() async throws {
        let failing = ScriptedTasks { _, _ in throw StatesError("Boom", "always") }
        let retried = #"""
            {"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke",
              "Retry":[{"ErrorEquals":["States.ALL"],"MaxAttempts":1000000,"IntervalSeconds":1,"BackoffRate":1}],
              "Catch":[{"ErrorEquals":["States.ALL"],"Next":"Caught"}],"End":true},
             "Caught":{"Type":"Succeed"}}}
            """#
        let (outcome, events) = try await limited(retried, limit: 40, tasks: failing)
        #expect(outcome.status == .failed)
        #expect(outcome.error == "States.Runtime")
        #expect(events.count == 40)
        #expect(!events.contains { $0.type == "SucceedStateEntered" })

        let tolerant = #"""
            {"StartAt":"M","States":{"M":{"Type":"Map","ToleratedFailurePercentage":100,"MaxConcurrency":2,
              "ItemProcessor":{"StartAt":"L","States":{
                "L":{"Type":"Pass","Next":"C"},
                "C":{"Type":"Choice","Choices":[{"Variable":"$.stop","BooleanEquals":true,"Next":"E"}],"Default":"L"},
                "E":{"Type":"Succeed"}}},
              "End":true}}}
            """#
        let (mapped, mapEvents) = try await limited(tolerant, limit: 60, .array(Array(repeating: ["stop": false], count: 4)))
        #expect(mapped.status == .failed)
        #expect(mapped.cause == "The execution reached the maximum number of history events (60).")
        #expect(mapEvents.count == 60)
        #expect(mapEvents.last?.type == "ExecutionFailed")
    }

    /// Without an observer (an Express execution) there is no history, and no limit.
    @Test func aRunWithoutHistoryHasNoLimit() async throws {
        var engine = ExecutionEngine(
            machine: try StateMachine(definition: Self.loop), integrations: ScriptedTasks { _, _ in [:] }, clock: VirtualClock())
        engine.historyEventLimit = 5
        let outcome = await engine.run(
            input: ["stop": true], context: ExecutionContext(executionArn: "arn:aws:states:us-east-1:000000000000:express:m:e:1", name: "e")
        )
        #expect(outcome.status == .succeeded)
    }
}
