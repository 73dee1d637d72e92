import Foundation
import JSONCore
import Synchronization
import Testing

@testable import States

/// Records top-level snapshots and iteration progress, as the host persists them.
final class ProgressObserver: ExecutionObserver, @unchecked Sendable {
    let snapshots = Mutex<[ExecutionSnapshot]>([])
    let branches = Mutex<[String: BranchProgress]>([:])
    func record(_ event: HistoryEvent) async {}
    func checkpoint(_ snapshot: ExecutionSnapshot) async { snapshots.withLock { $0.append(snapshot) } }
    func checkpoint(branch: String, progress: BranchProgress) async { branches.withLock { $0[branch] = progress } }
    func clearBranches() async { branches.withLock { $0 = [:] } }

    /// What the host hands back on resume: the last snapshot with the branches recorded since.
    var resumable: ExecutionSnapshot? {
        guard var snapshot = snapshots.withLock({ $0.last }) else { return nil }
        snapshot.branches = branches.withLock { $0 }
        return snapshot
    }
}

@Suite struct BranchResumeTests {
    /// Each item goes through two tasks; the second fails once for item 3.
    let definition = #"""
        {"StartAt":"Prepare","States":{
          "Prepare":{"Type":"Pass","Next":"Each"},
          "Each":{"Type":"Map","MaxConcurrency":1,"ItemsPath":"$.items","End":true,
            "ItemProcessor":{"StartAt":"First","States":{
              "First":{"Type":"Task","Resource":"arn:aws:states:::first","ResultPath":"$.first","Next":"Second"},
              "Second":{"Type":"Task","Resource":"arn:aws:states:::second","ResultPath":"$.second","End":true}}}}}}
        """#

    @Test func aResumedMapRunsNeitherFinishedIterationsNorFinishedSteps() async throws {
        let machine = try StateMachine(definition: definition)
        let context = ExecutionContext(executionArn: "arn:aws:states:us-east-1:000000000000:execution:m:e", name: "e")
        let input: JSON = ["items": [["n": 0], ["n": 1], ["n": 2], ["n": 3], ["n": 4]]]
        let failing = ScriptedTasks { task, _ in
            if task.resource.hasSuffix("second"), task.input["n"] == 3 { throw StatesError("Boom", "item 3") }
            return .string(task.resource.hasSuffix("first") ? "one" : "two")
        }
        let observer = ProgressObserver()
        let first = await ExecutionEngine(machine: machine, integrations: failing, clock: VirtualClock())
            .run(input: input, context: context, observer: observer)
        #expect(first.status == .failed)
        #expect(failing.count == 8)  // items 0-2 twice each, item 3 First and Second

        let snapshot = try #require(observer.resumable)
        #expect(snapshot.nextState == "Each")
        let resumed = ScriptedTasks { task, _ in .string(task.resource.hasSuffix("first") ? "one" : "two") }
        let second = await ExecutionEngine(machine: machine, integrations: resumed, clock: VirtualClock())
            .run(input: input, context: context, resumingFrom: snapshot, observer: ProgressObserver())
        #expect(second.status == .succeeded)
        // Item 3 resumes at Second (its First is done); item 4 runs both; items 0-2 are not run again.
        #expect(
            resumed.calls.withLock { $0.map { "\($0.input["n"]?.intValue ?? -1):\($0.resource.split(separator: ":").last!)" } } == [
                "3:second", "4:first", "4:second",
            ])
        let outputs = second.output?.arrayValue ?? []
        #expect(outputs.count == 5)
        #expect(outputs.allSatisfy { $0["first"] == "one" && $0["second"] == "two" })
    }

    @Test func parallelBranchesAndNestedMapsResumeByKey() async throws {
        let definition = #"""
            {"StartAt":"Fan","States":{"Fan":{"Type":"Parallel","End":true,"Branches":[
              {"StartAt":"A","States":{"A":{"Type":"Task","Resource":"arn:aws:states:::a","End":true}}},
              {"StartAt":"Inner","States":{"Inner":{"Type":"Map","ItemsPath":"$.items","MaxConcurrency":1,"End":true,
                "ItemProcessor":{"StartAt":"B","States":{"B":{"Type":"Task","Resource":"arn:aws:states:::b","End":true}}}}}}]}}}
            """#
        let machine = try StateMachine(definition: definition)
        let context = ExecutionContext(executionArn: "arn:aws:states:us-east-1:000000000000:execution:m:e", name: "e")
        let input: JSON = ["items": [1, 2, 3]]
        let failing = ScriptedTasks { task, _ in
            if task.resource.hasSuffix(":b"), task.input == 3 { throw StatesError("Boom", "last item") }
            return task.input
        }
        let observer = ProgressObserver()
        _ = await ExecutionEngine(machine: machine, integrations: failing, clock: VirtualClock()).run(
            input: input, context: context, observer: observer)
        let keys = observer.branches.withLock { Array($0.keys) }.sorted()
        #expect(keys.contains("g1/Fan#0"))
        #expect(keys.contains("g1/Fan#1/Inner[0]"))
        let resumed = ScriptedTasks { task, _ in task.input }
        let outcome = await ExecutionEngine(machine: machine, integrations: resumed, clock: VirtualClock())
            .run(input: input, context: context, resumingFrom: observer.resumable, observer: ProgressObserver())
        #expect(outcome.status == .succeeded)
        #expect(outcome.output == [["items": [1, 2, 3]], [1, 2, 3]])
        // Only the failed item runs again.
        #expect(resumed.calls.withLock { $0.map(\.input) } == [3])
    }
}

@Suite struct VariableLimitTests {
    @Test func variablesOfAnExecutionStayUnder10MiB() async throws {
        // 42 states each assign a new 250 KB variable: the 41st passes 10 MiB in total.
        var states: [String] = []
        for i in 0..<42 {
            let next = i == 41 ? #""End":true"# : #""Next":"S\#(i + 1)""#
            states.append(#""S\#(i)":{"Type":"Pass","Assign":{"v\#(i)":"{% $pad('', 250000, 'x') %}"},\#(next)}"#)
        }
        let definition = #"{"QueryLanguage":"JSONata","StartAt":"S0","States":{\#(states.joined(separator: ","))}}"#
        let outcome = try await run(definition)
        #expect(outcome.status == .failed)
        #expect(outcome.cause?.contains("10 MiB") == true)
    }
}
