import Foundation
import JSONCore

// Parses and serializes the same JSON documents with JSONCore and with Foundation's JSONSerialization, in one
// process, and prints MB/s for each and the ratios. Used by scripts/bench-jsoncore.
// Usage: jsoncore-bench [ROUNDS]

/// A deterministic document of `records` objects: short and long strings (with escapes and non-ASCII), integers,
/// decimals, booleans, nulls and nested arrays, as AWS API payloads and execution histories are.
func document(records: Int) -> String {
    var generator = SplitMix(seed: 42)
    var parts: [String] = []
    parts.reserveCapacity(records)
    for i in 0..<records {
        let n = generator.next()
        let text = "line \(i)\\twith \\\"quotes\\\", a backslash \\\\ and unicode \\u00e9 caf\u{e9} \u{65e5}\u{672c}"
        parts.append(
            """
            {"id":\(i),"arn":"arn:aws:states:us-east-1:000000000000:execution:machine:run-\(n % 100_000)","status":"\(["RUNNING", "SUCCEEDED", "FAILED"][Int(n % 3)])",\
            "startDate":\(1_700_000_000 + Double(n % 10_000_000) / 1000),"count":\(n % 1000),"ratio":\(Double(n % 997) / 997),\
            "ok":\(n % 2 == 0),"missing":null,"tags":["a","b","\(n % 17)"],"detail":{"message":"\(text)","depth":[1,[2,[3]]]}}
            """)
    }
    return "[" + parts.joined(separator: ",") + "]"
}

struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

func measure(_ rounds: Int, _ bytes: Int, _ body: () throws -> Void) rethrows -> Double {
    try body()  // warm-up
    let start = ContinuousClock.now
    for _ in 0..<rounds { try body() }
    let elapsed = ContinuousClock.now - start
    let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    return Double(bytes * rounds) / seconds / 1_048_576
}

let rounds = CommandLine.arguments.count > 1 ? Int(CommandLine.arguments[1]) ?? 10 : 10
let text = document(records: 20_000)
let data = Data(text.utf8)
print("document: \(data.count) bytes, \(rounds) rounds")

let parsed = try JSON(parsing: data)
let foundationObject = try JSONSerialization.jsonObject(with: data)
let coreParse = try measure(rounds, data.count) { _ = try JSON(parsing: data) }
let foundationParse = try measure(rounds, data.count) { _ = try JSONSerialization.jsonObject(with: data) }
let coreWrite = measure(rounds, data.count) { _ = parsed.serialized() }
let foundationWrite = try measure(rounds, data.count) { _ = try JSONSerialization.data(withJSONObject: foundationObject) }
func row(_ what: String, _ core: Double, _ foundation: Double) {
    print(
        "\(what): JSONCore \(String(format: "%.1f", core)) MB/s, JSONSerialization \(String(format: "%.1f", foundation)) MB/s, ratio \(String(format: "%.2f", core / foundation))"
    )
}
row("parse", coreParse, foundationParse)
row("serialize", coreWrite, foundationWrite)
