import Foundation
import JSONCore
import Testing

@testable import States

/// AWS bounds the numbers of a definition (seconds up to 99999999, a retry's delay up to 31622401, counts to a
/// Java int): CreateStateMachine refuses a number outside them with SCHEMA_VALIDATION_FAILED at the field, and a
/// number a state computes outside them (a `…Path`, a JSONata expression) fails the execution with States.Runtime
/// naming the field. No number, however large, traps.
@Suite struct DefinitionNumberBoundsTests {
    func diagnostics(_ states: String, top: String = "") -> [Diagnostic] {
        StateMachine.validate(#"{\#(top)"StartAt":"A","States":{"A":\#(states)}}"#)
    }

    let task = #""Type":"Task","Resource":"arn:aws:states:::lambda:invoke","End":true"#
    let map = #""Type":"Map","ItemProcessor":{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}},"End":true"#

    @Test func hugeNumbersAreRefusedAtTheirField() {
        let cases: [(String, String)] = [
            (#"{"Type":"Wait","Seconds":1e16,"End":true}"#, "/States/A/Seconds"),
            (#"{"Type":"Wait","Seconds":1e300,"End":true}"#, "/States/A/Seconds"),
            (#"{"Type":"Wait","Seconds":2.5,"End":true}"#, "/States/A/Seconds"),
            (#"{"Type":"Wait","Seconds":-1,"End":true}"#, "/States/A/Seconds"),
            (#"{"Type":"Wait","Seconds":"10","End":true}"#, "/States/A/Seconds"),
            (#"{"Type":"Wait","Timestamp":"tomorrow","End":true}"#, "/States/A/Timestamp"),
            (#"{\#(task),"TimeoutSeconds":1e16}"#, "/States/A/TimeoutSeconds"),
            (#"{\#(task),"HeartbeatSeconds":1e300}"#, "/States/A/HeartbeatSeconds"),
            (#"{\#(task),"Retry":[{"ErrorEquals":["States.ALL"],"IntervalSeconds":1e16}]}"#, "/States/A/Retry/0/IntervalSeconds"),
            (#"{\#(task),"Retry":[{"ErrorEquals":["States.ALL"],"MaxAttempts":1e20}]}"#, "/States/A/Retry/0/MaxAttempts"),
            (#"{\#(task),"Retry":[{"ErrorEquals":["States.ALL"],"MaxAttempts":-1}]}"#, "/States/A/Retry/0/MaxAttempts"),
            (#"{\#(task),"Retry":[{"ErrorEquals":["States.ALL"],"MaxDelaySeconds":1e16}]}"#, "/States/A/Retry/0/MaxDelaySeconds"),
            (#"{\#(task),"Retry":[{"ErrorEquals":["States.ALL"],"BackoffRate":0.5}]}"#, "/States/A/Retry/0/BackoffRate"),
            (#"{\#(map),"MaxConcurrency":1e20}"#, "/States/A/MaxConcurrency"),
            (#"{\#(map),"MaxConcurrency":2.5}"#, "/States/A/MaxConcurrency"),
            (#"{\#(map),"ToleratedFailureCount":1e20}"#, "/States/A/ToleratedFailureCount"),
            (#"{\#(map),"ToleratedFailurePercentage":1e20}"#, "/States/A/ToleratedFailurePercentage"),
        ]
        for (state, location) in cases {
            #expect(diagnostics(state).map(\.location) == [location], "\(state)")
        }
        #expect(diagnostics(#"{"Type":"Pass","End":true}"#, top: #""TimeoutSeconds":1e16,"#).map(\.location) == ["/TimeoutSeconds"])
    }

    @Test func theMessageNamesTheFieldAndItsBounds() {
        let error = #expect(throws: DefinitionError.self) {
            try StateMachine(definition: #"{"StartAt":"A","States":{"A":{"Type":"Wait","Seconds":1e16,"End":true}}}"#)
        }
        #expect(
            error?.description
                == "Invalid State Machine Definition: 'SCHEMA_VALIDATION_FAILED: The value for the field 'Seconds' must be an integer between 0 and 99999999 at /States/A/Seconds'"
        )
        let retry = diagnostics(#"{\#(task),"Retry":[{"ErrorEquals":["States.ALL"],"MaxDelaySeconds":31622402}]}"#)
        #expect(retry.map(\.message) == ["The value for the field 'MaxDelaySeconds' must be an integer between 1 and 31622401"])
    }

    @Test func numbersAtTheBoundsAreAccepted() {
        for state in [
            #"{"Type":"Wait","Seconds":99999999,"End":true}"#,
            #"{"Type":"Wait","Seconds":0,"End":true}"#,
            #"{"Type":"Wait","Timestamp":"9999-12-31T23:59:59Z","End":true}"#,
            #"{\#(task),"TimeoutSeconds":99999999,"HeartbeatSeconds":99999998}"#,
            #"{\#(task),"Retry":[{"ErrorEquals":["States.ALL"],"IntervalSeconds":99999999,"MaxAttempts":99999999,"MaxDelaySeconds":31622401,"BackoffRate":1e300}]}"#,
            #"{\#(map),"MaxConcurrency":2147483647,"ToleratedFailureCount":2147483647,"ToleratedFailurePercentage":100}"#,
        ] {
            #expect(diagnostics(state).isEmpty, "\(state)")
        }
        #expect(diagnostics(#"{"Type":"Pass","End":true}"#, top: #""TimeoutSeconds":99999999,"#).isEmpty)
    }
}

@Suite struct RuntimeNumberBoundsTests {
    func expectRuntimeFailure(_ outcome: ExecutionOutcome, naming field: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(outcome.status == .failed, sourceLocation: sourceLocation)
        #expect(outcome.error == "States.Runtime", sourceLocation: sourceLocation)
        #expect(
            outcome.cause?.contains("The value for the field '\(field)' must be") == true, "\(outcome.cause ?? "")",
            sourceLocation: sourceLocation)
    }

    @Test func aWaitForComputedSecondsOutOfBoundsFails() async throws {
        let path = try await run(#"{"StartAt":"W","States":{"W":{"Type":"Wait","SecondsPath":"$.s","End":true}}}"#, ["s": 1e300])
        expectRuntimeFailure(path, naming: "SecondsPath")
        #expect(path.cause?.hasPrefix("An error occurred while executing the state 'W'.") == true)
        let fraction = try await run(#"{"StartAt":"W","States":{"W":{"Type":"Wait","SecondsPath":"$.s","End":true}}}"#, ["s": 1.5])
        expectRuntimeFailure(fraction, naming: "SecondsPath")
        let jsonata = try await run(
            #"{"QueryLanguage":"JSONata","StartAt":"W","States":{"W":{"Type":"Wait","Seconds":"{% 1e16 %}","End":true}}}"#)
        expectRuntimeFailure(jsonata, naming: "Seconds")
        let fine = try await run(#"{"StartAt":"W","States":{"W":{"Type":"Wait","SecondsPath":"$.s","End":true}}}"#, ["s": 99_999_999])
        #expect(fine.status == .succeeded)
    }

    @Test func computedTimeoutsAndHeartbeatsOutOfBoundsFail() async throws {
        let tasks = ScriptedTasks { _, _ in [:] }
        let timeout = try await run(
            #"{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke","TimeoutSecondsPath":"$.t","End":true}}}"#,
            ["t": 1e300], tasks: tasks)
        expectRuntimeFailure(timeout, naming: "TimeoutSecondsPath")
        let heartbeat = try await run(
            #"{"QueryLanguage":"JSONata","StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke","HeartbeatSeconds":"{% 0 %}","End":true}}}"#,
            tasks: tasks)
        expectRuntimeFailure(heartbeat, naming: "HeartbeatSeconds")
        #expect(tasks.count == 0)
    }

    @Test func computedMapLimitsOutOfBoundsFail() async throws {
        let processor = #""ItemProcessor":{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}},"ItemsPath":"$.items","End":true"#
        let concurrency = try await run(
            #"{"StartAt":"M","States":{"M":{"Type":"Map",\#(processor),"MaxConcurrencyPath":"$.n"}}}"#, ["items": [1, 2], "n": 1e300])
        expectRuntimeFailure(concurrency, naming: "MaxConcurrencyPath")
        let count = try await run(
            #"{"StartAt":"M","States":{"M":{"Type":"Map",\#(processor),"ToleratedFailureCountPath":"$.n"}}}"#,
            ["items": [1, 2], "n": 1e20])
        expectRuntimeFailure(count, naming: "ToleratedFailureCountPath")
        let percentage = try await run(
            #"{"StartAt":"M","States":{"M":{"Type":"Map",\#(processor),"ToleratedFailurePercentagePath":"$.n"}}}"#,
            ["items": [1, 2], "n": 1e300])
        expectRuntimeFailure(percentage, naming: "ToleratedFailurePercentagePath")
        let fine = try await run(
            #"{"StartAt":"M","States":{"M":{"Type":"Map",\#(processor),"MaxConcurrencyPath":"$.n"}}}"#,
            ["items": [1, 2], "n": 2_147_483_647])
        #expect(fine.status == .succeeded)
        #expect(fine.output == [1, 2])
    }

    /// However fast the backoff grows, a retry waits at most MaxDelaySeconds, and without one at most the year
    /// and a second AWS allows it.
    @Test func aHugeBackoffRateWaitsAtMostAYear() async throws {
        for jitter in ["NONE", "FULL"] {
            let clock = VirtualClock()
            let tasks = ScriptedTasks { _, _ in throw StatesError("Boom", "") }
            let outcome = try await run(
                #"""
                {"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke","End":true,
                 "Retry":[{"ErrorEquals":["Boom"],"IntervalSeconds":99999999,"MaxAttempts":3,"BackoffRate":1e300,"JitterStrategy":"\#(jitter)"}]}}}
                """#, tasks: tasks, clock: clock)
            #expect(outcome.error == "Boom")
            #expect(tasks.count == 4)
            let sleeps = clock.sleeps.withLock { $0 }
            #expect(sleeps.count == 3)
            #expect(sleeps.allSatisfy { $0 >= 0 && $0 <= 31_622_401 }, "\(sleeps)")
            if jitter == "NONE" { #expect(sleeps == [31_622_401, 31_622_401, 31_622_401]) }
        }
    }

    /// The system clock sleeps a wait of any length (a Timestamp in the year 9999, an endless one) without
    /// converting it to a duration that overflows; cancelled, it ends.
    @Test func theSystemClockSleepsAnyLength() async throws {
        for seconds in [1e300, Double.infinity, 2.5e11, Double(Int64.max)] {
            let sleeper = Task { try await SystemClock().sleep(seconds: seconds) }
            try await Task.sleep(for: .milliseconds(20))
            sleeper.cancel()
            await #expect(throws: CancellationError.self) { try await sleeper.value }
        }
        try await SystemClock().sleep(seconds: .nan)
        try await SystemClock().sleep(seconds: -1e300)
    }

    @Test func intrinsicFunctionsTakeExactIntegers() async throws {
        for (expression, message) in [
            ("States.ArrayGetItem($.a, 1e300)", "must be an integer"),
            ("States.ArrayPartition($.a, 1e300)", "must be an integer"),
            ("States.ArrayRange(0, 1e300, 1)", "must be an integer"),
            ("States.ArrayRange(-9007199254740992, 9007199254740992, 1)", "at most 1000 items"),
            ("States.MathRandom(-9e18, 9e18)", "must be an integer"),
            ("States.MathRandom(1, 10, 1e300)", "must be an integer"),
        ] {
            let outcome = try await run(
                #"{"StartAt":"P","States":{"P":{"Type":"Pass","Parameters":{"v.$":"\#(expression)"},"End":true}}}"#, ["a": [1, 2, 3]])
            #expect(outcome.error == "States.IntrinsicFailure", "\(expression)")
            #expect(outcome.cause?.contains(message) == true, "\(expression): \(outcome.cause ?? "")")
        }
        let outcome = try await run(
            #"""
            {"StartAt":"P","States":{"P":{"Type":"Pass","Parameters":{"r.$":"States.ArrayRange(1, 0, 2)","d.$":"States.ArrayRange(5, 1, -2)",
             "g.$":"States.ArrayGetItem($.a, 2)","m.$":"States.MathRandom(-9007199254740992, 9007199254740992, 7)"},"End":true}}}
            """#, ["a": [1, 2, 3]])
        #expect(outcome.output?["r"] == [])
        #expect(outcome.output?["d"] == [5, 3, 1])
        #expect(outcome.output?["g"] == 3)
        #expect(outcome.output?["m"]?.numberValue.map { abs($0) <= 9_007_199_254_740_992 } == true)
    }
}
