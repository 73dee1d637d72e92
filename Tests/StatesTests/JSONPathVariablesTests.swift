import Foundation
import JSONCore
import Synchronization
import Testing

@testable import States

/// Workflow variables in JSONPath states: Assign with `.$` paths and intrinsics, and `$name` references wherever
/// JSONPath states take a path.
@Suite struct JSONPathVariablesTests {
    @Test func passAssignsAndLaterStatesReadTheVariables() async throws {
        let outcome = try await run(
            #"""
            {"StartAt":"A","States":{
              "A":{"Type":"Pass","Assign":{"v.$":"$.a","lit":5,"nested":{"n.$":"$.a"},"f.$":"States.Format('{}-x', $.a)"},"Next":"B"},
              "B":{"Type":"Pass","Parameters":{"v.$":"$v","l.$":"$lit","n.$":"$nested.n","g.$":"States.Format('[{}]', $f)"},"End":true}}}
            """#, ["a": 7])
        #expect(outcome.status == .succeeded)
        #expect(outcome.output == ["v": 7, "l": 5, "n": 7, "g": "[7-x]"])
    }

    @Test func choiceVariableAndRuleAssign() async throws {
        let definition = #"""
            {"StartAt":"A","States":{
              "A":{"Type":"Pass","Assign":{"limit":3},"Next":"C"},
              "C":{"Type":"Choice","Choices":[
                 {"Variable":"$.n","NumericGreaterThanPath":"$limit","Next":"Big","Assign":{"size":"big","seen.$":"$.n"}}],
               "Default":"Small","Assign":{"size":"small"}},
              "Big":{"Type":"Pass","Parameters":{"size.$":"$size","seen.$":"$seen"},"End":true},
              "Small":{"Type":"Choice","Choices":[{"Variable":"$size","StringEquals":"small","Next":"Done"}]},
              "Done":{"Type":"Pass","Parameters":{"size.$":"$size"},"End":true}}}
            """#
        #expect(try await run(definition, ["n": 5]).output == ["size": "big", "seen": 5])
        #expect(try await run(definition, ["n": 1]).output == ["size": "small"])
    }

    @Test func taskAssignSeesTheRawResultAndOutputSeesTheOldValues() async throws {
        let tasks = ScriptedTasks { _, _ in ["r": 1, "other": "x"] }
        let outcome = try await run(
            #"""
            {"StartAt":"A","States":{
              "A":{"Type":"Pass","Assign":{"v":"old"},"Next":"T"},
              "T":{"Type":"Task","Resource":"arn:aws:states:::x:y","ResultSelector":{"picked.$":"$.r"},
                   "Assign":{"v.$":"$.other","count.$":"$.r"},"OutputPath":"$v","Next":"B"},
              "B":{"Type":"Pass","Parameters":{"before.$":"$","v.$":"$v","count.$":"$count"},"End":true}}}
            """#, [:], tasks: tasks)
        #expect(outcome.status == .succeeded)
        // OutputPath ran with the variable as it was before the state's Assign.
        #expect(outcome.output == ["before": "old", "v": "x", "count": 1])
    }

    @Test func catchAssignSeesTheErrorOutput() async throws {
        let tasks = ScriptedTasks { _, _ in throw StatesError("Boom", "it broke") }
        let outcome = try await run(
            #"""
            {"StartAt":"T","States":{
              "T":{"Type":"Task","Resource":"arn:aws:states:::x:y","Assign":{"never":1},
                   "Catch":[{"ErrorEquals":["Boom"],"Assign":{"err.$":"$.Error","why.$":"$.Cause"},"ResultPath":null,"Next":"After"}],"End":true},
              "After":{"Type":"Pass","Parameters":{"err.$":"$err","why.$":"$why","in.$":"$"},"End":true}}}
            """#, ["i": 1], tasks: tasks)
        #expect(outcome.output == ["err": "Boom", "why": "it broke", "in": ["i": 1]])
    }

    @Test func inputPathAndItemsPathReadVariables() async throws {
        let outcome = try await run(
            #"""
            {"StartAt":"A","States":{
              "A":{"Type":"Pass","Assign":{"cfg.$":"$.config","xs.$":"$.items"},"Next":"B"},
              "B":{"Type":"Pass","InputPath":"$cfg.sub","Next":"M"},
              "M":{"Type":"Map","ItemsPath":"$xs","ItemSelector":{"x.$":"$$.Map.Item.Value","k.$":"$cfg.k"},
                   "ItemProcessor":{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}},"ResultPath":"$.mapped","End":true}}}
            """#, ["config": ["sub": ["s": 1], "k": "K"], "items": [1, 2]])
        #expect(outcome.output == ["s": 1, "mapped": [["x": 1, "k": "K"], ["x": 2, "k": "K"]]])
    }

    @Test func undefinedVariablesAreRuntimeErrors() async throws {
        let outcome = try await run(#"{"StartAt":"B","States":{"B":{"Type":"Pass","Parameters":{"v.$":"$nope"},"End":true}}}"#)
        #expect(outcome.status == .failed)
        #expect(outcome.error == "States.Runtime")
        #expect(outcome.cause?.contains("$nope") == true)
    }

    @Test func stateExitedReportsTheAssignedVariables() async throws {
        let observer = RecordingObserver()
        _ = try await run(
            #"{"StartAt":"A","States":{"A":{"Type":"Pass","Assign":{"v.$":"$.a","s":"t"},"End":true}}}"#, ["a": [1]], observer: observer)
        let exited = try #require(observer.events.withLock { $0.first { $0.type == "PassStateExited" } })
        #expect(exited.details?["assignedVariables"] == ["v": "[1]", "s": #""t""#])
        #expect(exited.details?["assignedVariablesDetails"] == ["truncated": false])
    }

    @Test func validationAcceptsVariablePathsAndRejectsBadNames() {
        #expect(
            StateMachine.validate(
                #"{"StartAt":"A","States":{"A":{"Type":"Pass","Assign":{"v.$":"$.a"},"Next":"B"},"B":{"Type":"Pass","Parameters":{"x.$":"$v.y[0]"},"InputPath":"$v","End":true}}}"#
            ) == [])
        #expect(
            StateMachine.validate(
                #"{"StartAt":"C","States":{"C":{"Type":"Choice","Choices":[{"Variable":"$v","IsPresent":true,"Next":"D"}],"Default":"D"},"D":{"Type":"Succeed"}}}"#
            ) == [])
        let badName = StateMachine.validate(#"{"StartAt":"A","States":{"A":{"Type":"Pass","Assign":{"a b":1},"End":true}}}"#)
        #expect(badName.map(\.location) == ["/States/A/Assign/a b"])
        let reserved = StateMachine.validate(#"{"StartAt":"A","States":{"A":{"Type":"Pass","Assign":{"states":1},"End":true}}}"#)
        #expect(reserved.map(\.location) == ["/States/A/Assign/states"])
        let badPath = StateMachine.validate(#"{"StartAt":"A","States":{"A":{"Type":"Pass","Assign":{"v.$":"nope"},"End":true}}}"#)
        #expect(badPath.map(\.location) == ["/States/A/Assign/v.$"])
    }
}

/// Error names: what States.TaskFailed catches.
@Suite struct ErrorMatchingTests {
    @Test func taskFailedMatchesEveryErrorButTimeouts() {
        for error in [
            "Sfn.ExecutionDoesNotExistException", "States.Permissions", "States.TaskFailed", "States.ResultPathMatchFailure", "Custom",
        ] {
            #expect(ExecutionRun.matches(["States.TaskFailed"], error), "\(error)")
        }
        for error in ["States.Timeout", "States.HeartbeatTimeout", "States.Runtime", "States.DataLimitExceeded"] {
            #expect(!ExecutionRun.matches(["States.TaskFailed"], error), "\(error)")
        }
    }

    @Test func aTaskFailedCatcherCatchesAStatesPrefixedTaskError() async throws {
        let tasks = ScriptedTasks { _, _ in throw StatesError("States.Permissions", "denied") }
        let outcome = try await run(
            #"""
            {"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::x:y",
              "Catch":[{"ErrorEquals":["States.TaskFailed"],"Next":"C"}],"End":true},"C":{"Type":"Pass","End":true}}}
            """#, tasks: tasks)
        #expect(outcome.status == .succeeded)
        #expect(outcome.output == ["Error": "States.Permissions", "Cause": "denied"])
    }
}

/// The context object and the values states read when they run.
@Suite struct ContextAndDynamicValuesTests {
    @Test func contextHasTheExecutionInputRetryCountAndRedrive() async throws {
        let seen = Mutex<[JSON]>([])
        let tasks = ScriptedTasks { task, n in
            seen.withLock { $0.append(task.context) }
            if n < 3 { throw StatesError("Again", "") }
            return task.input
        }
        let machine = try StateMachine(
            definition: #"""
                {"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::x:y",
                  "Parameters":{"in.$":"$$.Execution.Input","retry.$":"$$.State.RetryCount","redrives.$":"$$.Execution.RedriveCount"},
                  "Retry":[{"ErrorEquals":["Again"],"MaxAttempts":5}],"End":true}}}
                """#)
        let redriven = Date(timeIntervalSince1970: 1_700_000_500)
        let engine = ExecutionEngine(machine: machine, integrations: tasks, clock: VirtualClock())
        let outcome = await engine.run(
            input: ["a": 1],
            context: ExecutionContext(
                executionArn: "arn:aws:states:us-east-1:000000000000:execution:m:e", name: "e", redriveCount: 2, redriveTime: redriven))
        #expect(outcome.output == ["in": ["a": 1], "retry": 2, "redrives": 2])
        #expect(seen.withLock { $0.map { $0["State"]?["RetryCount"] } } == [0, 1, 2])
        #expect(seen.withLock { $0[0]["Execution"]?["RedriveTime"] } == "2023-11-14T22:21:40.000Z")
    }

    @Test func jsonataContextHasTheExecutionInput() async throws {
        let outcome = try await run(
            #"{"QueryLanguage":"JSONata","StartAt":"P","States":{"P":{"Type":"Pass","Output":"{% $states.context.Execution.Input.a %}","End":true}}}"#,
            ["a": "x"])
        #expect(outcome.output == "x")
    }

    @Test func mapWithLegacyParametersSelectsEachItem() async throws {
        let outcome = try await run(
            #"""
            {"StartAt":"M","States":{"M":{"Type":"Map","ItemsPath":"$.xs","Parameters":{"v.$":"$$.Map.Item.Value","o.$":"$.other"},
              "ItemProcessor":{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}},"End":true}}}
            """#, ["xs": [1, 2], "other": "O"])
        #expect(outcome.status == .succeeded)
        #expect(outcome.output == [["v": 1, "o": "O"], ["v": 2, "o": "O"]])
    }

    @Test func jsonataTimeoutAndHeartbeatAreEvaluated() async throws {
        let tasks = ScriptedTasks { task, _ in
            ["t": task.timeoutSeconds.map { .number($0) } ?? .null, "h": task.heartbeatSeconds.map { .number($0) } ?? .null]
        }
        // A clock whose timers never fire: a virtual one ends its 30 s at once, racing the task's own answer.
        let machine = try StateMachine(
            definition: #"""
                {"QueryLanguage":"JSONata","StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::x:y.waitForTaskToken",
                  "TimeoutSeconds":"{% $states.input.t %}","HeartbeatSeconds":"{% $states.input.t - 5 %}","End":true}}}
                """#)
        let outcome = await ExecutionEngine(machine: machine, integrations: tasks, clock: StoppedClock()).run(
            input: ["t": 30], context: ExecutionContext(executionArn: "arn:aws:states:us-east-1:000000000000:execution:m:e", name: "e"))
        #expect(outcome.output == ["t": 30, "h": 25], "\(outcome)")
        let bad = try await run(
            #"{"QueryLanguage":"JSONata","StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::x:y","TimeoutSeconds":"{% -1 %}","End":true}}}"#,
            tasks: tasks)
        #expect(bad.error == "States.Runtime")
    }

    @Test func maxConcurrencyAndToleranceFromPathsAndJSONata() async throws {
        let running = Mutex((now: 0, most: 0))
        let tasks = ScriptedTasks { task, _ in
            running.withLock {
                $0.now += 1; $0.most = max($0.most, $0.now)
            }
            try await Task.sleep(for: .milliseconds(20))
            running.withLock { $0.now -= 1 }
            if task.input == 3 { throw StatesError("Bad", "") }
            return task.input
        }
        let processor = #""ItemProcessor":{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::x:y","End":true}}}"#
        let jsonPath = try await run(
            #"{"StartAt":"M","States":{"M":{"Type":"Map","ItemsPath":"$.xs","MaxConcurrencyPath":"$.mc","ToleratedFailureCountPath":"$.tc",\#(processor),"End":true}}}"#,
            ["xs": [1, 2, 3, 4], "mc": 1, "tc": 1], tasks: tasks, clock: VirtualClock())
        #expect(jsonPath.status == .succeeded)
        #expect(running.withLock { $0.most } == 1)
        running.withLock { $0 = (0, 0) }
        let jsonata = try await run(
            #"{"QueryLanguage":"JSONata","StartAt":"M","States":{"M":{"Type":"Map","Items":"{% $states.input.xs %}","MaxConcurrency":"{% 2 %}","ToleratedFailureCount":"{% 0 %}",\#(processor),"End":true}}}"#,
            ["xs": [1, 2, 3, 4]], tasks: tasks)
        #expect(jsonata.error == "States.ExceedToleratedFailureThreshold")
        #expect(running.withLock { $0.most } == 2)
    }

    @Test func failErrorPathAndCausePathTakeIntrinsics() async throws {
        let outcome = try await run(
            #"{"StartAt":"F","States":{"F":{"Type":"Fail","ErrorPath":"States.Format('E{}', $.n)","CausePath":"$.c"}}}"#,
            ["n": 1, "c": "C1"])
        #expect(outcome.error == "E1")
        #expect(outcome.cause == "C1")
        #expect(StateMachine.validate(#"{"StartAt":"F","States":{"F":{"Type":"Fail","ErrorPath":"States.Nope($.n)"}}}"#).count == 1)
    }
}

/// A clock whose sleeps last until cancelled: no timeout or heartbeat ever fires.
struct StoppedClock: StatesClock {
    func now() -> Date { Date(timeIntervalSince1970: 1_700_000_000) }
    func sleep(seconds: Double) async throws {
        while true { try await Task.sleep(for: .seconds(3600)) }
    }
}
