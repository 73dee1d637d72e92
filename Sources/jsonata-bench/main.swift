import Foundation
import JSONCore
import JSONata

// Evaluates each expression of a set, compiled once, N times against a dataset; prints one JSON line per
// expression: {"name", "evaluationsPerSecond", "result"}. Used by scripts/bench-jsonata.
// Usage: jsonata-bench EXPRESSIONS.json DATASET.json [ITERATIONS]
let arguments = CommandLine.arguments
guard arguments.count >= 3,
    let expressionsData = FileManager.default.contents(atPath: arguments[1]),
    let datasetData = FileManager.default.contents(atPath: arguments[2])
else {
    FileHandle.standardError.write(Data("usage: jsonata-bench EXPRESSIONS.json DATASET.json [ITERATIONS]\n".utf8))
    exit(2)
}
let iterations = arguments.count > 3 ? Int(arguments[3]) ?? 10_000 : 10_000
let expressions = try JSON(parsing: expressionsData).arrayValue ?? []
let dataset = try JSON(parsing: datasetData)
// No evaluation time limit: the limit's clock reads would be measured too.
let environment = JSONataEnvironment(limits: JSONataLimits(timeout: nil))
for entry in expressions {
    let name = entry["name"]?.stringValue ?? "?"
    let expression = try JSONataExpression(entry["expr"]?.stringValue ?? "")
    var result: JSON? = try expression.evaluate(dataset, environment: environment)
    let start = ContinuousClock.now
    for _ in 0..<iterations { result = try expression.evaluate(dataset, environment: environment) }
    let elapsed = ContinuousClock.now - start
    let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    let line: JSON = [
        "name": .string(name), "evaluationsPerSecond": .number((Double(iterations) / seconds).rounded()),
        "result": result ?? .null,
    ]
    print(line.serialized())
}
