import Foundation
import JSONCore
import Synchronization
import Testing

@testable import States

/// A clock whose sleeps return at once and advance virtual time.
final class VirtualClock: StatesClock, @unchecked Sendable {
    let time = Mutex<Date>(Date(timeIntervalSince1970: 1_700_000_000))
    let sleeps = Mutex<[Double]>([])
    func now() -> Date { time.withLock { $0 } }
    func sleep(seconds: Double) async throws {
        try Task.checkCancellation()
        sleeps.withLock { $0.append(seconds) }
        time.withLock { $0 = $0.addingTimeInterval(max(0, seconds)) }
        await Task.yield()
    }
}

/// Task integrations scripted per resource; records every call.
final class ScriptedTasks: TaskIntegration, @unchecked Sendable {
    let calls = Mutex<[TaskInvocation]>([])
    let handler: @Sendable (TaskInvocation, Int) async throws -> JSON
    init(_ handler: @escaping @Sendable (TaskInvocation, Int) async throws -> JSON) { self.handler = handler }
    func invoke(_ task: TaskInvocation) async throws -> JSON {
        let n = calls.withLock {
            $0.append(task); return $0.count
        }
        return try await handler(task, n)
    }
    var count: Int { calls.withLock { $0.count } }
}

final class RecordingObserver: ExecutionObserver, @unchecked Sendable {
    let events = Mutex<[HistoryEvent]>([])
    let snapshots = Mutex<[ExecutionSnapshot]>([])
    func record(_ event: HistoryEvent) async { events.withLock { $0.append(event) } }
    func checkpoint(_ snapshot: ExecutionSnapshot) async { snapshots.withLock { $0.append(snapshot) } }
    var types: [String] { events.withLock { $0.map(\.type) } }
}

func run(
    _ definition: String, _ input: JSON = [:], tasks: ScriptedTasks = ScriptedTasks { _, _ in [:] }, clock: VirtualClock = VirtualClock(),
    observer: RecordingObserver? = nil
) async throws -> ExecutionOutcome {
    let machine = try StateMachine(definition: definition)
    let engine = ExecutionEngine(machine: machine, integrations: tasks, clock: clock)
    return await engine.run(
        input: input, context: ExecutionContext(executionArn: "arn:aws:states:us-east-1:000000000000:execution:m:e", name: "e"),
        observer: observer)
}

@Suite struct JSONPathStateTests {
    @Test func passAppliesInputParametersResultAndOutputPaths() async throws {
        let outcome = try await run(
            """
            {"StartAt":"P","States":{"P":{"Type":"Pass","InputPath":"$.in","Parameters":{"x.$":"$.a","fixed":1,"msg.$":"States.Format('hi {}', $.a)"},
             "ResultPath":"$.out","OutputPath":"$.out","End":true}}}
            """, ["in": ["a": 5]])
        #expect(outcome.status == .succeeded)
        #expect(outcome.output == ["x": 5, "fixed": 1, "msg": "hi 5"])
    }

    @Test func resultPathMergesIntoTheRawInput() async throws {
        let outcome = try await run(
            #"{"StartAt":"P","States":{"P":{"Type":"Pass","Result":{"v":1},"ResultPath":"$.r.s","End":true}}}"#, ["k": true])
        #expect(outcome.output == ["k": true, "r": ["s": ["v": 1]]])
    }

    @Test func intrinsicFunctions() async throws {
        let outcome = try await run(
            #"""
            {"StartAt":"P","States":{"P":{"Type":"Pass","Parameters":{
              "a.$":"States.Array(1, 'two', $.n)", "p.$":"States.ArrayPartition(States.ArrayRange(1, 5, 1), 2)",
              "len.$":"States.ArrayLength($.list)", "u.$":"States.ArrayUnique($.list)", "c.$":"States.ArrayContains($.list, 2)",
              "j.$":"States.StringToJson('{\"k\":1}')", "s.$":"States.JsonToString($.obj)", "b.$":"States.Base64Encode('hi')",
              "d.$":"States.Base64Decode('aGk=')", "h.$":"States.Hash('abc', 'SHA-256')", "m.$":"States.MathAdd($.n, 2)",
              "split.$":"States.StringSplit('a,b c', ', ')", "merged.$":"States.JsonMerge($.obj, States.StringToJson('{\"z\":2}'), false)",
              "item.$":"States.ArrayGetItem($.list, 1)"},"End":true}}}
            """#, ["n": 3, "list": [1, 2, 2], "obj": ["k": "v"]])
        let out = try #require(outcome.output)
        #expect(outcome.status == .succeeded, "\(outcome)")
        #expect(out["a"] == [1, "two", 3])
        #expect(out["p"] == [[1, 2], [3, 4], [5]])
        #expect(out["len"] == 3)
        #expect(out["u"] == [1, 2])
        #expect(out["c"] == true)
        #expect(out["j"] == ["k": 1])
        #expect(out["s"] == #"{"k":"v"}"#)
        #expect(out["b"] == "aGk=")
        #expect(out["d"] == "hi")
        #expect(out["h"] == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(out["m"] == 5)
        #expect(out["split"] == ["a", "b", "c"])
        #expect(out["merged"] == ["k": "v", "z": 2])
        #expect(out["item"] == 2)
    }

    @Test func choiceRulesWithAndNotAndDefault() async throws {
        let definition = """
            {"StartAt":"C","States":{
              "C":{"Type":"Choice","Choices":[
                {"And":[{"Variable":"$.n","NumericGreaterThan":10},{"Not":{"Variable":"$.s","StringEquals":"x"}}],"Next":"Big"},
                {"Variable":"$.s","StringMatches":"log-*.txt","Next":"Log"},
                {"Variable":"$.missing","IsPresent":true,"Next":"Big"}],"Default":"Other"},
              "Big":{"Type":"Pass","Result":"big","End":true},
              "Log":{"Type":"Pass","Result":"log","End":true},
              "Other":{"Type":"Pass","Result":"other","End":true}}}
            """
        #expect(try await run(definition, ["n": 11, "s": "y"]).output == "big")
        #expect(try await run(definition, ["n": 1, "s": "log-1.txt"]).output == "log")
        #expect(try await run(definition, ["n": 1, "s": "z"]).output == "other")
    }

    @Test func noChoiceMatchedFails() async throws {
        let outcome = try await run(
            #"{"StartAt":"C","States":{"C":{"Type":"Choice","Choices":[{"Variable":"$.a","BooleanEquals":true,"Next":"E"}]},"E":{"Type":"Succeed"}}}"#,
            ["a": false])
        #expect(outcome.status == .failed)
        #expect(outcome.error == "States.NoChoiceMatched")
    }

    @Test func failStateReportsErrorAndCause() async throws {
        let outcome = try await run(
            #"{"StartAt":"F","States":{"F":{"Type":"Fail","ErrorPath":"$.e","Cause":"because"}}}"#, ["e": "Custom.Error"])
        #expect(outcome == ExecutionOutcome(status: .failed, error: "Custom.Error", cause: "because"))
    }
}

@Suite struct RecoveryTests {
    @Test func retriesWithBackoffThenSucceeds() async throws {
        let clock = VirtualClock()
        let tasks = ScriptedTasks { _, n in
            if n < 3 { throw StatesError("Flaky.Error", "attempt \(n)") }
            return ["ok": true]
        }
        let outcome = try await run(
            """
            {"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::ecs:runTask.sync",
              "Retry":[{"ErrorEquals":["Flaky.Error"],"IntervalSeconds":2,"BackoffRate":3,"MaxAttempts":5}],"End":true}}}
            """, tasks: tasks, clock: clock)
        #expect(outcome.status == .succeeded)
        #expect(tasks.count == 3)
        #expect(clock.sleeps.withLock { $0 } == [2, 6])
    }

    @Test func maxDelayCapsBackoff() async throws {
        let clock = VirtualClock()
        let tasks = ScriptedTasks { _, _ in throw StatesError("E", "x") }
        let outcome = try await run(
            """
            {"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::r","Retry":[{"ErrorEquals":["States.ALL"],"IntervalSeconds":10,"MaxAttempts":3,"MaxDelaySeconds":15}],"End":true}}}
            """, tasks: tasks, clock: clock)
        #expect(outcome.status == .failed)
        #expect(tasks.count == 4)
        #expect(clock.sleeps.withLock { $0 } == [10, 15, 15])
    }

    @Test func catchPlacesErrorOutputAtResultPath() async throws {
        let tasks = ScriptedTasks { _, _ in throw StatesError("States.TaskFailed", "exit code 2") }
        let outcome = try await run(
            """
            {"StartAt":"T","States":{
              "T":{"Type":"Task","Resource":"arn:aws:states:::r","Catch":[{"ErrorEquals":["States.TaskFailed"],"ResultPath":"$.err","Next":"Handle"}],"End":true},
              "Handle":{"Type":"Pass","End":true}}}
            """, ["job": "x"], tasks: tasks)
        #expect(outcome.output == ["job": "x", "err": ["Error": "States.TaskFailed", "Cause": "exit code 2"]])
    }

    @Test func runtimeErrorsAreNeverCaught() async throws {
        let outcome = try await run(
            """
            {"StartAt":"T","States":{"T":{"Type":"Pass","InputPath":"$.missing","Catch":[],"End":true}}}
            """.replacingOccurrences(of: #","Catch":[]"#, with: ""))
        #expect(outcome.status == .failed)
        #expect(outcome.error == "States.Runtime")
    }

    @Test func taskTimeoutIsStatesTimeout() async throws {
        let tasks = ScriptedTasks { _, _ in
            try await Task.sleep(for: .seconds(30))
            return [:]
        }
        let outcome = try await run(
            #"{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::r","TimeoutSeconds":5,"End":true}}}"#, tasks: tasks)
        #expect(outcome.status == .failed)
        #expect(outcome.error == "States.Timeout")
    }
}

@Suite struct JSONataStateTests {
    /// The seed's on-demand batch job: ValidateArgs → MissingArgs | RunEcsTask (ecs:runTask.sync).
    static let batchJob = """
        {"QueryLanguage":"JSONata","StartAt":"ValidateArgs","States":{
          "ValidateArgs":{"Type":"Choice","Choices":[{"Condition":"{% $exists($states.input.date) and $exists($states.input.target) %}","Next":"RunEcsTask"}],"Default":"MissingArgs"},
          "MissingArgs":{"Type":"Fail","Error":"MissingArgs","Cause":"{% 'required arguments: date, target; got ' & $join($keys($states.input), ', ') %}"},
          "RunEcsTask":{"Type":"Task","Resource":"arn:aws:states:::ecs:runTask.sync","Arguments":{
             "Cluster":"batch","TaskDefinition":"php-app","LaunchType":"FARGATE",
             "Overrides":{"ContainerOverrides":[{"Name":"app","Command":"{% ['batch.php', '--date', $states.input.date, '--target', $states.input.target] %}"}]}},
           "Output":"{% {'exitCode': $states.result.Containers[0].ExitCode} %}","End":true}}}
        """

    @Test func batchJobRunsTheTaskWithArguments() async throws {
        let tasks = ScriptedTasks { task, _ in ["Containers": [["ExitCode": 0]], "LastStatus": "STOPPED"] }
        let outcome = try await run(Self.batchJob, ["date": "2024-01-01", "target": "eu"], tasks: tasks)
        #expect(outcome.status == .succeeded, "\(outcome)")
        #expect(outcome.output == ["exitCode": 0])
        let call = try #require(tasks.calls.withLock { $0.first })
        #expect(call.resource == "arn:aws:states:::ecs:runTask.sync")
        #expect(call.input["Overrides"]?["ContainerOverrides"]?[0]?["Command"] == ["batch.php", "--date", "2024-01-01", "--target", "eu"])
    }

    @Test func batchJobFailsWithMissingArgs() async throws {
        let tasks = ScriptedTasks { _, _ in [:] }
        let outcome = try await run(Self.batchJob, ["date": "2024-01-01"], tasks: tasks)
        #expect(outcome == ExecutionOutcome(status: .failed, error: "MissingArgs", cause: "required arguments: date, target; got date"))
        #expect(tasks.count == 0)
    }

    @Test func assignAndVariables() async throws {
        let outcome = try await run(
            """
            {"QueryLanguage":"JSONata","StartAt":"A","States":{
              "A":{"Type":"Pass","Assign":{"count":"{% $states.input.n + 1 %}","name":"job"},"Next":"B"},
              "B":{"Type":"Pass","Output":"{% {'count': $count, 'name': $name} %}","End":true}}}
            """, ["n": 1])
        #expect(outcome.output == ["count": 2, "name": "job"])
    }

    @Test func queryErrorsAreQueryEvaluationErrors() async throws {
        let outcome = try await run(
            #"{"QueryLanguage":"JSONata","StartAt":"A","States":{"A":{"Type":"Pass","Output":"{% 'a' - 1 %}","End":true}}}"#)
        #expect(outcome.status == .failed)
        #expect(outcome.error == "States.QueryEvaluationError")
    }

    @Test func catchWithOutputAndErrorOutput() async throws {
        let tasks = ScriptedTasks { _, _ in throw StatesError("States.TaskFailed", "Essential container in task exited") }
        let outcome = try await run(
            """
            {"QueryLanguage":"JSONata","StartAt":"T","States":{
              "T":{"Type":"Task","Resource":"arn:aws:states:::r","Catch":[{"ErrorEquals":["States.ALL"],"Output":"{% {'failed': $states.errorOutput.Error} %}","Next":"Done"}],"End":true},
              "Done":{"Type":"Succeed"}}}
            """, tasks: tasks)
        #expect(outcome.output == ["failed": "States.TaskFailed"])
    }
}

@Suite struct FlowTests {
    @Test func waitUsesTheClock() async throws {
        let clock = VirtualClock()
        let outcome = try await run(
            #"{"StartAt":"W","States":{"W":{"Type":"Wait","SecondsPath":"$.s","End":true}}}"#, ["s": 3600], clock: clock)
        #expect(outcome.status == .succeeded)
        #expect(clock.sleeps.withLock { $0 } == [3600])
    }

    @Test func parallelKeepsBranchOrder() async throws {
        let outcome = try await run(
            """
            {"StartAt":"P","States":{"P":{"Type":"Parallel","End":true,"Branches":[
              {"StartAt":"A","States":{"A":{"Type":"Pass","Result":"a","End":true}}},
              {"StartAt":"B","States":{"B":{"Type":"Wait","Seconds":1,"Next":"B2"},"B2":{"Type":"Pass","Result":"b","End":true}}}]}}}
            """)
        #expect(outcome.output == ["a", "b"])
    }

    @Test func mapWithItemSelectorAndConcurrency() async throws {
        let outcome = try await run(
            """
            {"StartAt":"M","States":{"M":{"Type":"Map","ItemsPath":"$.items","MaxConcurrency":2,
              "ItemSelector":{"v.$":"$$.Map.Item.Value","i.$":"$$.Map.Item.Index","k.$":"$.k"},
              "ItemProcessor":{"StartAt":"X","States":{"X":{"Type":"Pass","End":true}}},"End":true}}}
            """, ["items": [10, 20, 30], "k": "key"])
        #expect(outcome.output == [["v": 10, "i": 0, "k": "key"], ["v": 20, "i": 1, "k": "key"], ["v": 30, "i": 2, "k": "key"]])
    }

    @Test func mapToleratesFailures() async throws {
        let definition = """
            {"StartAt":"M","States":{"M":{"Type":"Map","ToleratedFailureCount":1,
              "ItemProcessor":{"StartAt":"C","States":{"C":{"Type":"Choice","Choices":[{"Variable":"$","NumericEquals":2,"Next":"F"}],"Default":"OK"},
                "F":{"Type":"Fail","Error":"Bad"},"OK":{"Type":"Pass","End":true}}},"End":true}}}
            """
        #expect(try await run(definition, [1, 2, 3]).status == .succeeded)
        let failed = try await run(definition, [2, 2, 3])
        #expect(failed.error == "States.ExceedToleratedFailureThreshold")
    }

    @Test func historyEventsChainTheirIds() async throws {
        let observer = RecordingObserver()
        _ = try await run(
            #"{"StartAt":"A","States":{"A":{"Type":"Pass","Next":"B"},"B":{"Type":"Task","Resource":"arn:aws:states:::ecs:runTask.sync","End":true}}}"#,
            observer: observer)
        #expect(
            observer.types == [
                "ExecutionStarted", "PassStateEntered", "PassStateExited", "TaskStateEntered", "TaskScheduled", "TaskStarted",
                "TaskSucceeded", "TaskStateExited", "ExecutionSucceeded",
            ])
        let events = observer.events.withLock { $0 }
        #expect(events.map(\.id) == Array(1...9))
        #expect(events[4].details?["resourceType"] == "ecs")
        #expect(events[4].details?["resource"] == "runTask.sync")
        #expect(events[0].json["executionStartedEventDetails"]?["input"] == "{}")
    }

    @Test func resumesFromASnapshotWithoutRepeatingSteps() async throws {
        let definition =
            #"{"StartAt":"T1","States":{"T1":{"Type":"Task","Resource":"arn:aws:states:::one","Next":"T2"},"T2":{"Type":"Task","Resource":"arn:aws:states:::two","End":true}}}"#
        let observer = RecordingObserver()
        let tasks = ScriptedTasks { task, _ in [task.resource: true] }
        _ = try await run(definition, tasks: tasks, observer: observer)
        // The first snapshot is taken before the first state, the next one after each state.
        #expect(observer.snapshots.withLock { $0.map(\.nextState) } == ["T1", "T2"])
        let snapshot = try #require(observer.snapshots.withLock { $0.last })
        let resumedTasks = ScriptedTasks { task, _ in [task.resource: true] }
        let engine = ExecutionEngine(machine: try StateMachine(definition: definition), integrations: resumedTasks)
        let outcome = await engine.run(input: [:], context: ExecutionContext(executionArn: "a", name: "e"), resumingFrom: snapshot)
        #expect(outcome.output == ["arn:aws:states:::two": true])
        #expect(resumedTasks.calls.withLock { $0.map(\.resource) } == ["arn:aws:states:::two"])
    }

    @Test func cancellationAborts() async throws {
        let machine = try StateMachine(definition: #"{"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":60,"End":true}}}"#)
        let engine = ExecutionEngine(machine: machine, integrations: ScriptedTasks { _, _ in [:] })
        let task = Task { await engine.run(input: [:], context: ExecutionContext(executionArn: "a", name: "e")) }
        try await Task.sleep(for: .milliseconds(50))
        task.cancel()
        #expect(await task.value.status == .aborted)
    }
}

@Suite struct ValidationTests {
    @Test func reportsMissingTargetsAndUnreachableStates() {
        let diagnostics = StateMachine.validate(#"{"StartAt":"A","States":{"A":{"Type":"Pass","Next":"Nope"},"B":{"Type":"Succeed"}}}"#)
        #expect(
            diagnostics.contains(
                Diagnostic(code: "MISSING_TRANSITION_TARGET", message: "Missing 'Next' target: Nope", location: "/States/A/Next")))
        #expect(diagnostics.contains { $0.code == "UNREACHABLE_STATE" && $0.location == "/States/B" })
    }

    @Test func rejectsJSONPathFieldsInJSONataStates() {
        let diagnostics = StateMachine.validate(
            #"{"QueryLanguage":"JSONata","StartAt":"A","States":{"A":{"Type":"Pass","InputPath":"$.x","End":true}}}"#)
        #expect(diagnostics.contains { $0.location == "/States/A/InputPath" })
    }

    @Test func rejectsMissingNextAndEnd() {
        let diagnostics = StateMachine.validate(#"{"StartAt":"A","States":{"A":{"Type":"Pass"}}}"#)
        #expect(diagnostics.contains { $0.code == "MISSING_TRANSITION_TARGET" })
    }

    @Test func rejectsBadJSONataAndDistributedMap() {
        #expect(
            !StateMachine.validate(
                #"{"QueryLanguage":"JSONata","StartAt":"A","States":{"A":{"Type":"Pass","Output":"{% 1 + %}","End":true}}}"#
            ).isEmpty)
        let distributed = StateMachine.validate(
            #"{"StartAt":"M","States":{"M":{"Type":"Map","ItemProcessor":{"ProcessorConfig":{"Mode":"DISTRIBUTED"},"StartAt":"X","States":{"X":{"Type":"Succeed"}}},"End":true}}}"#
        )
        #expect(distributed.contains { $0.message.contains("DISTRIBUTED") })
    }

    @Test(arguments: [
        (
            #"{"StartAt":"A","States":{"A":{"Type":"Pass","Parameters":{"x.$":"a.b"},"End":true}}}"#, "SCHEMA_VALIDATION_FAILED",
            "/States/A/Parameters/x.$"
        ),
        (
            #"{"StartAt":"A","States":{"A":{"Type":"Pass","Parameters":{"x.$":"$..[?"},"End":true}}}"#, "INVALID_JSON_PATH",
            "/States/A/Parameters/x.$"
        ),
        (
            #"{"StartAt":"A","States":{"A":{"Type":"Pass","Parameters":{"n":{"x.$":"States.Nope($.a)"}},"End":true}}}"#,
            "SCHEMA_VALIDATION_FAILED", "/States/A/Parameters/n/x.$"
        ),
        (
            #"{"StartAt":"A","States":{"A":{"Type":"Pass","Parameters":{"x.$":"States.Format('{}', $.a"},"End":true}}}"#,
            "SCHEMA_VALIDATION_FAILED", "/States/A/Parameters/x.$"
        ),
        (
            #"{"StartAt":"A","States":{"A":{"Type":"Task","Resource":"lambda-function","End":true}}}"#, "INVALID_RESOURCE",
            "/States/A/Resource"
        ),
        (
            #"{"StartAt":"A","States":{"A":{"Type":"Task","Resource":"arn:aws:states:::ecs:runTask","TimeoutSeconds":0,"End":true}}}"#,
            "SCHEMA_VALIDATION_FAILED", "/States/A/TimeoutSeconds"
        ),
        (
            #"{"StartAt":"A","States":{"A":{"Type":"Task","Resource":"arn:aws:states:::ecs:runTask","End":true,"Retry":[{"ErrorEquals":["States.ALL"]},{"ErrorEquals":["X"]}]}}}"#,
            "SCHEMA_VALIDATION_FAILED", "/States/A/Retry/0/ErrorEquals"
        ),
        (
            #"{"StartAt":"A","States":{"A":{"Type":"Task","Resource":"arn:aws:states:::ecs:runTask","End":true,"Retry":[{"ErrorEquals":["X"],"JitterStrategy":"HALF"}]}}}"#,
            "SCHEMA_VALIDATION_FAILED", "/States/A/Retry/0/JitterStrategy"
        ),
        (#"{"StartAt":"A","States":{"A":{"Type":"Fail","Error":"E","ErrorPath":"$.e"}}}"#, "SCHEMA_VALIDATION_FAILED", "/States/A"),
        (
            #"{"StartAt":"M","States":{"M":{"Type":"Map","ToleratedFailurePercentage":120,"ItemProcessor":{"StartAt":"X","States":{"X":{"Type":"Succeed"}}},"End":true}}}"#,
            "SCHEMA_VALIDATION_FAILED", "/States/M/ToleratedFailurePercentage"
        ),
        (
            #"{"StartAt":"M","States":{"M":{"Type":"Map","ItemProcessor":{"StartAt":"M","States":{"M":{"Type":"Succeed"}}},"End":true}}}"#,
            "DUPLICATE_STATE_NAME", "/States/M/ItemProcessor/States/M"
        ),
    ])
    func reportsWhatAWSReportsWhereItIs(_ definition: String, _ code: String, _ location: String) {
        let diagnostics = StateMachine.validate(definition)
        #expect(diagnostics.contains { $0.code == code && $0.location == location }, "\(diagnostics)")
    }

    @Test func validTemplatesPass() {
        #expect(
            StateMachine.validate(
                #"""
                {"StartAt":"A","States":{"A":{"Type":"Pass","Parameters":{"a.$":"$.x","b.$":"$$.Execution.Id","c.$":"States.Format('{}-{}', $.x, States.UUID())","d":[{"e.$":"$.y[0]"}]},"End":true}}}
                """#
            ).isEmpty)
    }

    @Test func invalidDefinitionMessageMatchesAWS() {
        #expect {
            try StateMachine(definition: #"{"StartAt":"A","States":{"A":{"Type":"Pass","Next":"B"}}}"#)
        } throws: { error in
            (error as? DefinitionError)?.description
                == "Invalid State Machine Definition: 'MISSING_TRANSITION_TARGET: Missing 'Next' target: B at /States/A/Next'"
        }
    }
}
