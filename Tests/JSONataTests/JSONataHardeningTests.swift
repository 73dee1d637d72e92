import Foundation
import JSONCore
import JSONata
import Testing

/// Hostile expressions and inputs end in a clear error, never a crash, a hang or unbounded memory (issue #24).
/// Swift Testing runs each test in a task, so every case here also runs on a task's stack.
@Suite struct JSONataHardeningTests {
    func evaluate(_ text: String, _ input: JSON? = nil, limits: JSONataLimits = .init()) throws -> JSON? {
        try JSONataExpression(text).evaluate(input, environment: .init(limits: limits))
    }

    func code(_ text: String, limits: JSONataLimits = .init()) -> String? {
        do {
            _ = try evaluate(text, limits: limits)
            return nil
        } catch {
            return (error as? JSONataError)?.code ?? "\(error)"
        }
    }

    func nested(_ open: String, _ inner: String, _ close: String, _ count: Int) -> String {
        String(repeating: open, count: count) + inner + String(repeating: close, count: count)
    }

    // MARK: Nesting of expressions

    /// Every way of nesting an expression: up to the limit it compiles (and evaluates), past it, however far, it is
    /// refused with U1001 instead of overflowing the stack of the parser or of the processing after it.
    @Test(arguments: [
        ("(", ")", 1), ("[", "]", 1), ("$abs(", ")", 2), (#"{"a":"#, "}", 1),
    ])
    func deepNestingIsRefused(open: String, close: String, levelsPerRepetition: Int) throws {
        let limit = JSONataExpression.maximumNesting
        let fits = limit / levelsPerRepetition - 1
        #expect(throws: Never.self) { try JSONataExpression(nested(open, "1", close, fits)) }
        for count in [fits + 2, 700, 50_000, 100_000] {
            #expect {
                try JSONataExpression(nested(open, "1", close, count))
            } throws: { error in
                let e = error as? JSONataError
                return e?.code == "U1001" && e?.message.contains("nests more than \(limit) levels") == true
            }
        }
    }

    @Test func longOperatorChainsAreRefused() throws {
        let limit = JSONataExpression.maximumNesting
        // `1+1+1` nests as `(1+1)+1`: each operator is a level, as each `.` of a path is.
        #expect(try evaluate(Array(repeating: "1", count: limit - 1).joined(separator: "+")) == .number(Double(limit - 1)))
        for separator in ["+", ".", " and ", " & ", "-"] {
            for count in [limit + 1, 100_000] {
                #expect { try JSONataExpression(Array(repeating: "a", count: count).joined(separator: separator)) } throws: {
                    ($0 as? JSONataError)?.code == "U1001"
                }
            }
        }
        // 100,000 unary minus signs: the prefix form of the same.
        #expect { try JSONataExpression(String(repeating: "-", count: 100_000) + "1") } throws: { ($0 as? JSONataError)?.code == "U1001" }
        #expect(try evaluate(String(repeating: "-", count: 100) + "1") == 1)
    }

    @Test func evalOfDeepTextIsAnError() {
        let deep = String(repeating: "(", count: 100_000) + "1" + String(repeating: ")", count: 100_000)
        #expect(code("$eval(\"\(deep)\")") == "D3120")
    }

    @Test func expressionsAtTheNestingLimitEvaluate() throws {
        let limit = JSONataExpression.maximumNesting
        #expect(try evaluate(nested("(", "7", ")", limit - 1)) == 7)
        #expect(try evaluate(nested("[", "7", "]", limit - 1))?.serialized() == nested("[", "7", "]", limit - 1))
        #expect(try evaluate(String(repeating: "-", count: limit - 2) + "7") == 7)
    }

    // MARK: Depth of evaluation and of values

    /// Chains of partial applications, compositions and closures built in a loop: calling them is bounded by the
    /// depth limit (they nest calls without nesting `evaluate`), and releasing them does not recurse.
    @Test func chainsOfFunctionsAreBounded() throws {
        // ($reduce's initial value cannot be a function: the first step makes one.)
        let partials = "$reduce([1..100000], function($f, $x){ $type($f) = 'function' ? $f(?) : $uppercase(?) })"
        #expect(code("($g := \(partials); $g('a'))") == "U1001")
        let compositions = { (n: Int) in "$reduce([1..\(n)], function($f, $x){ $type($f) = 'function' ? ($f ~> $uppercase) : $lowercase })"
        }
        #expect(code("($g := \(compositions(100_000)); $g('a'))") == "U1001")
        #expect(try evaluate("($g := \(compositions(100)); $g('a'))") == "A")
        #expect(try evaluate("($g := \(partials); 'released')") == "released")
        // A function holding a closure holding a closure ..., released without calling it.
        #expect(try evaluate("($reduce([1..100000], function($acc, $x){ function(){ $acc } }, 0); 'released')") == "released")
        #expect(try evaluate("$count([$reduce([1..100000], function($acc, $x){ [function(){ $acc }] }, 0)])") == 1)
    }

    /// Values nest without bound when built in a loop. Walking one (converting it, comparing, cloning, `$string`,
    /// `**`) past 512 levels, the JSON parser's limit, is an error; building and dropping one is not.
    @Test func deepValuesAreBounded() throws {
        let build = { (levels: Int) in "$reduce([1..\(levels)], function($a, $x){ {'a': $a} }, {})" }
        #expect(try evaluate(build(JSON.maximumParseDepth - 1))?.serialized().count == (JSON.maximumParseDepth - 1) * 6 + 2)
        for levels in [JSON.maximumParseDepth, 100_000] {
            #expect(code(build(levels)) == "U1001")
            #expect(code("$string(\(build(levels)))") == "U1001")
            #expect(code("(\(build(levels))) = (\(build(levels)))") == "U1001")
            #expect(code("$clone(\(build(levels)))") == "U1001")
            #expect(code("(\(build(levels))).**") == "U1001")
            #expect(try evaluate("$type(\(build(levels)))") == "object")
            #expect(try evaluate("$boolean(\(build(levels)))") == true)
        }
        // Arrays wrapped in arrays, built and dropped: no recursion on release either.
        #expect(try evaluate("$count($reduce([1..100000], function($a, $x){ [[$a]] }, []))") == 1)
    }

    /// Arrays and objects are released by recursion while the thread has stack to spare and on a list past that:
    /// deep values built and dropped on threads with small stacks, where the switch comes early.
    @Test(arguments: [256 << 10, 512 << 10])
    func deepValuesAreReleasedOnSmallStacks(stackSize: Int) {
        let results = Results()
        let done = DispatchSemaphore(value: 0)
        let thread = Thread {
            let arrays = try? JSONataExpression("$count($reduce([1..100000], function($a, $x){ [[$a], {'b': $a}] }, []))").evaluate(nil)
            let objects = try? JSONataExpression("($reduce([1..100000], function($a, $x){ {'a': $a, 'b': [$a]} }, {}); 'released')")
                .evaluate(nil)
            results.set([arrays, objects])
            done.signal()
        }
        thread.stackSize = stackSize
        thread.start()
        done.wait()
        #expect(results.values == [2, "released"])
    }

    final class Results: @unchecked Sendable {
        private let lock = NSLock()
        private var stored: [JSON?] = []
        func set(_ values: [JSON?]) { lock.withLock { stored = values } }
        var values: [JSON?] { lock.withLock { stored } }
    }

    @Test func hostFunctionsGetNoValueTooDeepToConvert() {
        let environment = JSONataEnvironment(functions: ["id": JSONataFunction { $0[0] ?? nil }])
        #expect {
            try JSONataExpression("$id($reduce([1..600], function($a, $x){ {'a': $a} }, {}))").evaluate(nil, environment: environment)
        } throws: { ($0 as? JSONataError)?.code == "U1001" }
    }

    // MARK: Time and memory

    @Test func rangeIsLimited() throws {
        #expect { try evaluate("[1..1e300]") } throws: { error in
            let e = error as? JSONataError
            return e?.code == "D2014"
                && e?.message
                    == "The size of the sequence allocated by the range operator (..) must not exceed 1e7.  Attempted to allocate 1e+300."
        }
        #expect(code("[1..10000001]") == "D2014")
        #expect(code("[-1e300..1e300]") == "D2014")
        // Above 2^53 `i + 1 == i`: the range is counted, not stepped, so this ends.
        #expect(try evaluate("[1e300..1e300]") == [1e300])
        #expect(try evaluate("$count([9007199254740000..9007199254740991])") == 992)
    }

    /// Array elements and object members created by one evaluation are counted; a sequence of sequences that
    /// would fill memory ends with D2015. The limit is set in JSONataLimits.
    @Test func elementsAreCounted() throws {
        #expect { try evaluate("$count([1..3000].([1..3000]))") } throws: { error in
            let e = error as? JSONataError
            return e?.code == "D2015" && e?.message.hasPrefix("The maximum sequence length of 16000000 was exceeded.") == true
        }
        #expect(try evaluate("$count([1..3000].([1..300]))") == 900_000)
        let small = JSONataLimits(maxElements: 1000)
        #expect(code("$count([1..2000])", limits: small) == "D2015")
        #expect(code("[1..600].{'a': $}", limits: small) == "D2015")
        #expect(code("$map([1..600], function($x){ [$x, $x] })", limits: small) == "D2015")
        #expect(code("$string([1..600]) & $string([1..600])", limits: small) == "D2015")
        #expect(try evaluate("$count([1..600])", limits: small) == 600)
    }

    @Test func stringsAreLimited() throws {
        #expect(code("$pad('x', 1e20)") == "D2015")
        #expect(code("$pad('x', -1e300)") == "D2015")
        // Doubling: 2^40 characters after 40 steps.
        #expect(code("$reduce([1..40], function($a, $x){ $a & $a }, 'x')") == "D2015")
        let small = JSONataLimits(maxStringLength: 1000)
        #expect(code("$join($map([1..200], function($x){ 'abcdef' }))", limits: small) == "D2015")
        #expect(code("$string([1..1000])", limits: small) == "D2015")
        #expect(code("$replace('aaaaaaaaaa', 'a', $pad('', 200, 'b'))", limits: small) == "D2015")
        #expect(code("$replace('aaaaaaaaaa', /a/, $pad('', 200, 'b'))", limits: small) == "D2015")
        #expect(try evaluate("$length($pad('x', 1000))", limits: small) == 1000)
    }

    /// The time limit holds inside built-in functions that loop over large inputs without calling back into the
    /// evaluator: each would run for seconds (`$string` of ten million numbers for half a minute) without it.
    @Test(arguments: [
        "$length($string([1..9999999]))",
        "$count($sort([1..9999999], function($a, $b){ $a < $b }))",
        "$count($reverse($sort($map([1..3000000], function($x){ -$x }))))",
        "$count($distinct($map([1..9999999], function($x){ {'a': $x} })))",
        "$length($join($map([1..9999999], $string)))",
        "$count($filter([1..9999999], function($x){ $x % 2 }))",
        "$reduce([1..9999999], function($a, $x){ $a + $x })",
        "$count($keys($map([1..9999999], function($x){ {'a': $x} })))",
        "$length($replace($pad('', 5000000, 'ab'), /a/, 'x'))",
        "$count($split($pad('', 9000000, 'a,'), ','))",
        "[1..9999999][$ % 2 = 0] ~> $count()",
    ])
    func timeLimitHoldsInsideBuiltIns(_ text: String) {
        let limits = JSONataLimits(timeout: .milliseconds(50))
        #expect { try evaluate(text, limits: limits) } throws: { error in
            let e = error as? JSONataError
            return (e?.code == "U1001" && e?.message.contains("timeout") == true) || e?.code == "D2015"
        }
    }

    @Test func distinctAndKeysAreNotQuadratic() throws {
        // 100,000 distinct numbers compared pairwise would take billions of comparisons.
        #expect(try evaluate("$count($distinct([1..100000].($ % 50000)))") == 50_000)
        #expect(try evaluate("$distinct([1, '1', [1], [1], {'a': 1}, {'a': 1}, true, null, null])") == [1, "1", [1], ["a": 1], true, nil])
        #expect(try evaluate("$count($keys([1..50000].{'k' & $: 1}))") == 50_000)
        // Grouping many items under one key appends rather than copying at each item.
        #expect(try evaluate("$count(([1..50000].{'k': $}){'k': k}.k)") == 50_000)
    }

    // MARK: Huge numbers

    /// No number, however large, traps a conversion to an integer.
    @Test func hugeNumbersDoNotTrap() throws {
        #expect(try evaluate("$substring('abc', 1e300)") == "")
        #expect(try evaluate("$substring('abc', -1e300)") == "abc")
        #expect(try evaluate("$substring('abc', 1, 1e300)") == "bc")
        #expect(try evaluate("$substring('abc', 1, -1e300)") == "")
        #expect(try evaluate("$split('a,b,c', ',', 1e300)") == ["a", "b", "c"])
        #expect(try evaluate("$count($match('abab', /a/, 1e300))") == 2)
        #expect(try evaluate("$replace('abab', 'a', 'x', 1e300)") == "xbxb")
        #expect(try evaluate("$replace('abab', /a/, 'x', 1e300)") == "xbxb")
        #expect(try evaluate("[1, 2, 3][1e300]") == nil)
        #expect(try evaluate("[1, 2, 3][-1e300]") == nil)
        #expect(try evaluate("[1, 2, 3][[0, 1e300, -1]]") == [1, 3])
        #expect(try evaluate("$round(1.5, 1e300)") == 1.5)
        #expect(try evaluate("$round(15, -1e300)") == 0)
        #expect(try evaluate("$round(1e300, 2)") == 1e300)
        #expect(try evaluate("$formatBase(1e300, 10)") == "1e+300")
        #expect(try evaluate("$formatBase(2e19, 16)") == "1158e460913d00000")
        #expect(try evaluate("$formatBase(-18446744073709551616, 2)") == .string("-1" + String(repeating: "0", count: 64)))
        #expect(try evaluate("$length($formatBase(1e300, 2))") == 997)
        #expect(code("$formatBase(1, 1e300)") == "D3100")
        #expect(try evaluate("$formatInteger(1e300, '0')") != nil)
        #expect(try evaluate("$formatInteger(1e300, 'a')") != nil)
        #expect(try evaluate("$formatInteger(1e300, 'w')") != nil)
        #expect(code("$formatInteger(1e300, 'I')") == "D2015")
        #expect(try evaluate("$formatInteger(1999, 'I')") == "MCMXCIX")
        #expect(code("$fromMillis(1e300)") == "D1001")
        #expect(code("$fromMillis(-1e300, '[Y]')") == "D1001")
        #expect(try evaluate("$fromMillis(8.64e15)") != nil)
        #expect(try evaluate("$fromMillis(0, '[H01]', '+999999999999999999')") != nil)
        #expect(code("$fromMillis(0, '[Y,99999999999]')") == "D2015")
        #expect(try evaluate("$fromMillis(0, '[Y,30-30]')") != nil)
        #expect(try evaluate("$toMillis('99999999999999999999', '[Y]')") == nil)
        _ = try evaluate("$toMillis('2020-999999999999', '[Y]-[d]')")
    }

    @Test func stepFunctionsFunctionsTakeHugeNumbers() throws {
        let environment = JSONataEnvironment(functions: JSONataFunctions.stepFunctions(randomSeed: 1))
        func eval(_ text: String) throws -> JSON? { try JSONataExpression(text).evaluate(nil, environment: environment) }
        #expect(try eval("$partition([1, 2, 3], 1e300)") == [[1, 2, 3]])
        #expect(try eval("$random(1e300)")?.numberValue != nil)
        #expect(try eval("$random(-1e300)")?.numberValue != nil)
        #expect(try eval("$random(42.5)") == (try eval("$random(42)")))
        #expect { try eval("$range(0, 1e300, 1)") } throws: { ($0 as? JSONataError)?.code == "D2014" }
        #expect(try eval("$range(1e300, 1e300, 1)") == [1e300])
        #expect(try eval("$range(0, 1, 1e300)") == [0])
    }
}
