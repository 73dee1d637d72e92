import Foundation
import JSONCore
import States

// Transitions per second of the States engine: a 100-state Pass chain run many times, and a Map over
// 10,000 items. Run in release: swift run -c release states-bench
struct NoTasks: TaskIntegration {
    func invoke(_ task: TaskInvocation) async throws -> JSON { task.input }
}

func chain(_ n: Int) -> String {
    var states: [String] = []
    for i in 0..<n {
        let next = i == n - 1 ? #""End":true"# : #""Next":"S\#(i + 1)""#
        states.append(#""S\#(i)":{"Type":"Pass",\#(next)}"#)
    }
    return #"{"StartAt":"S0","States":{\#(states.joined(separator: ","))}}"#
}

let context = ExecutionContext(executionArn: "arn:aws:states:us-east-1:000000000000:execution:bench:1", name: "1")
let passEngine = ExecutionEngine(machine: try StateMachine(definition: chain(100)), integrations: NoTasks())
let input: JSON = ["job": "nightly", "args": ["--date", "2024-01-01"]]

var runs = 0
let start = ContinuousClock.now
while ContinuousClock.now - start < .seconds(2) {
    _ = await passEngine.run(input: input, context: context)
    runs += 1
}
let elapsed = ContinuousClock.now - start
let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
print(
    String(format: "pass-chain: %d executions of 100 Pass states in %.2fs: %.0f transitions/s", runs, seconds, Double(runs * 100) / seconds)
)

let mapEngine = ExecutionEngine(
    machine: try StateMachine(
        definition:
            #"{"StartAt":"M","States":{"M":{"Type":"Map","ItemProcessor":{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}},"End":true}}}"#
    ),
    integrations: NoTasks())
let items = JSON.array((0..<10_000).map { .number(Double($0)) })
let mapStart = ContinuousClock.now
let outcome = await mapEngine.run(input: items, context: context)
let mapElapsed = ContinuousClock.now - mapStart
let mapSeconds = Double(mapElapsed.components.seconds) + Double(mapElapsed.components.attoseconds) / 1e18
print(String(format: "map: 10000 items (%@) in %.3fs: %.0f iterations/s", outcome.status.rawValue, mapSeconds, 10_000 / mapSeconds))
