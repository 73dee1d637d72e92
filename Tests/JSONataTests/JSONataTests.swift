import Foundation
import JSONCore
import JSONata
import JSONataConformance
import Testing

let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
let suite = ConformanceSuite(root: ConformanceSuite.defaultRoot(packageRoot: packageRoot))

@Suite struct JSONataConformanceTests {
    /// Every case of the official suite passes, except those listed (with a reason) in known-failures.tsv.
    @Test(.enabled(if: suite.isAvailable, "the JSONata suite is not at ../shared/conformance/jsonata"))
    func officialSuite() throws {
        let known = try String(contentsOf: packageRoot.appendingPathComponent("Tests/JSONataTests/known-failures.tsv"), encoding: .utf8)
            .split(separator: "\n").filter { !$0.hasPrefix("#") }.map { String($0.split(separator: "\t")[0]) }
        let knownSet = Set(known)
        let cases = try suite.cases()
        #expect(cases.count == 1686)
        var passedButListed: [String] = []
        for c in cases {
            let outcome = ConformanceSuite.run(c)
            if knownSet.contains(c.id) {
                if outcome.passed { passedButListed.append(c.id) }
            } else if let failure = outcome.failure {
                Issue.record("\(c.id): \(c.expression.prefix(100)) — \(failure.prefix(300))")
            }
        }
        #expect(passedButListed.isEmpty, "now passing, remove from known-failures.tsv: \(passedButListed)")
    }
}

@Suite struct JSONataEvaluationTests {
    let order: JSON = try! JSON(
        parsing:
            #"{"Account":{"Order":[{"Product":[{"Price":34.45,"Quantity":2},{"Price":21.67,"Quantity":1}]},{"Product":[{"Price":107.99,"Quantity":1}]}]}}"#
    )

    @Test func pathsAndAggregates() throws {
        #expect(try JSONataExpression("$sum(Account.Order.Product.(Price * Quantity))").evaluate(order) == .number(198.56))
        #expect(try JSONataExpression("Account.Order[0].Product.Price").evaluate(order) == [34.45, 21.67])
        #expect(try JSONataExpression("Account.Missing").evaluate(order) == nil)
    }

    @Test func bindingsAndHostFunctions() throws {
        let environment = JSONataEnvironment(
            variables: ["rate": 2],
            functions: ["double": JSONataFunction(signature: "<n:n>") { args in .number((args[0]?.numberValue ?? 0) * 2) }])
        #expect(try JSONataExpression("$double($rate) + 1").evaluate(nil, environment: environment) == 5)
    }

    @Test func errorsCarryCodesAndPositions() {
        #expect { try JSONataExpression("1 + ") } throws: { ($0 as? JSONataError)?.code == "S0207" }
        #expect { try JSONataExpression("'a' - 1").evaluate(nil) } throws: { error in
            let e = error as? JSONataError
            return e?.code == "T2001" && e?.position == 5
        }
    }

    @Test func hostileExpressionsAreBounded() {
        let limits = JSONataLimits(maxDepth: 100, timeout: .milliseconds(200))
        #expect {
            try JSONataExpression("($f := function($x){ $f($x) + 1 }; $f(1))").evaluate(nil, environment: .init(limits: limits))
        } throws: { ($0 as? JSONataError)?.code == "U1001" }
        #expect {
            try JSONataExpression("($f := function($x){ $x > 0 ? $f($x) : 0 }; $f(1))").evaluate(nil, environment: .init(limits: limits))
        } throws: { ($0 as? JSONataError)?.code == "U1001" }
    }
}

@Suite struct StepFunctionsFunctionTests {
    let environment = JSONataEnvironment(functions: JSONataFunctions.stepFunctions(randomSeed: 7))

    func eval(_ text: String) throws -> JSON? { try JSONataExpression(text).evaluate(nil, environment: environment) }

    @Test func partitionRangeParse() throws {
        #expect(try eval("$partition([1,2,3,4,5], 2)") == [[1, 2], [3, 4], [5]])
        #expect(try eval("$range(0, 10, 5)") == [0, 5, 10])
        #expect(try eval("$range(3, 1, -1)") == [3, 2, 1])
        #expect(try eval(#"$parse('{"a": [1]}').a"#) == [1])
    }

    @Test func hashesAsHex() throws {
        #expect(try eval("$hash('abc', 'SHA-256')") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(try eval("$hash('abc', 'MD5')") == "900150983cd24fb0d6963f7d28e17f72")
        #expect { try eval("$hash('abc', 'CRC32')") } throws: { $0 is JSONataError }
    }

    @Test func seededRandomRepeats() throws {
        #expect(try eval("$random(42)") == (try eval("$random(42)")))
        let u = try #require(try eval("$uuid()")?.stringValue)
        #expect(u.count == 36)
    }
}
