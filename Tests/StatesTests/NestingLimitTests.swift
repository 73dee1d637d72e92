import Foundation
import JSONCore
import Synchronization
import Testing

@testable import States

/// Values built in memory that nest far too deep are kept alive for the whole run: releasing one recurses once
/// per level, which is the very thing these tests keep the engine from doing.
private let keptAlive = Mutex<[JSON]>([])
private func keepAlive(_ value: JSON) { keptAlive.withLock { $0.append(value) } }

/// `depth` arrays nested in one another around `innermost`.
func nestedArrays(_ depth: Int, around innermost: JSON = 0) -> JSON {
    var value = innermost
    for _ in 0..<depth { value = [value] }
    return value
}

/// Every recursive walk in the States engine has a bound, with a clear error past it: definitions nest no
/// deeper than the JSON parser reads (512 levels), whether parsed or built in memory; intrinsic functions nest
/// at most 10 deep (AWS's bound); a path has no more segments than data has levels; and no execution makes data
/// nested deeper than the parser reads back.
@Suite struct DefinitionNestingTests {
    /// A Choice state whose one rule is `Not` nested `nots` deep around a comparison (the rule itself the first
    /// `Not`): the comparison is the rule's `nots + 1`th level.
    func notChain(_ nots: Int) -> String {
        let comparison = #"{"Variable":"$.x","NumericEquals":1}"#
        let rule =
            #"{"Next":"Yes","Not":"# + String(repeating: #"{"Not":"#, count: nots - 1) + comparison + String(repeating: "}", count: nots)
        return #"{"StartAt":"C","States":{"C":{"Type":"Choice","Choices":[\#(rule)],"Default":"No"},"#
            + #""Yes":{"Type":"Pass","Result":"yes","End":true},"No":{"Type":"Pass","Result":"no","End":true}}}"#
    }

    @Test func aChoiceRuleAtTheLimitRuns() async throws {
        // 99 Nots put the comparison at the 100th level, the deepest a rule may nest. An odd number of them inverts
        // the comparison.
        let definition = notChain(99)
        #expect(StateMachine.validate(definition).isEmpty)
        let matched = try await Task { try await run(definition, ["x": 2]) }.value
        #expect(matched.output == "yes")
        let unmatched = try await Task { try await run(definition, ["x": 1]) }.value
        #expect(unmatched.output == "no")
        let past = StateMachine.validate(notChain(100))
        #expect(past.map(\.code) == ["SCHEMA_VALIDATION_FAILED"])
        #expect(past.first?.message == "Choice rules nest And, Or and Not at most 100 deep")
        #expect(past.first?.location == "/States/C/Choices/0" + String(repeating: "/Not", count: 100))
        // The same through And and Or.
        var rule = #"{"Variable":"$.x","NumericEquals":1}"#
        for i in 0..<100 { rule = i % 2 == 0 ? #"{"And":[\#(rule)]}"# : #"{"Or":[\#(rule)]}"# }
        let mixed =
            #"{"StartAt":"C","States":{"C":{"Type":"Choice","Choices":[\#(rule.dropLast()),"Next":"D"}],"Default":"D"},"D":{"Type":"Succeed"}}}"#
        #expect(StateMachine.validate(mixed).map(\.code) == ["SCHEMA_VALIDATION_FAILED"])
    }

    @Test func aChoiceRuleFarPastTheLimitIsAClearError() throws {
        // As text: the parser refuses it.
        let text = notChain(100_000)
        let parsed = #expect(throws: DefinitionError.self) { try StateMachine(definition: text) }
        #expect(parsed?.diagnostics.first?.code == "INVALID_JSON_DESCRIPTION")
        #expect(parsed?.description.contains("nested too deeply") == true)
        // Built in memory: refused before any recursive walk, at the first level too deep.
        var rule: JSON = ["Variable": "$.x", "NumericEquals": 1]
        for _ in 0..<100_000 { rule = ["Not": rule] }
        let definition: JSON = [
            "StartAt": "C", "States": ["C": ["Type": "Choice", "Choices": [rule], "Default": "D"], "D": ["Type": "Succeed"]],
        ]
        keepAlive(definition)
        let built = #expect(throws: DefinitionError.self) { try StateMachine(json: definition) }
        #expect(built?.diagnostics.map(\.code) == ["SCHEMA_VALIDATION_FAILED"])
        #expect(built?.diagnostics.first?.message == "The definition nests more than 512 levels of objects and arrays")
        #expect(built?.diagnostics.first?.location == "/States/C/Choices/0" + String(repeating: "/Not", count: 508))
    }

    /// Parallel (or Map) states nested `levels` deep: the top-level machine and `levels - 1` branches in it,
    /// the innermost a Pass state.
    func nestedParallels(_ levels: Int) -> JSON {
        var machine: JSON = ["StartAt": "Inner", "States": ["Inner": ["Type": "Pass", "Result": "inner", "End": true]]]
        for i in 1..<levels {
            machine = [
                "StartAt": .string("P\(i)"), "States": .object(["P\(i)": ["Type": "Parallel", "Branches": [machine], "End": true]]),
            ]
        }
        return machine
    }

    @Test func parallelStatesAtTheLimitRunAndPastItAreAClearError() async throws {
        let machine = try StateMachine(json: nestedParallels(40))
        let engine = ExecutionEngine(machine: machine, integrations: ScriptedTasks { _, _ in [:] }, clock: VirtualClock())
        let outcome = await engine.run(
            input: [:], context: ExecutionContext(executionArn: "arn:aws:states:us-east-1:000000000000:execution:m:e", name: "e"))
        #expect(outcome.output == nestedArrays(39, around: "inner"))
        let past = #expect(throws: DefinitionError.self) { try StateMachine(json: nestedParallels(41)) }
        #expect(past?.diagnostics.map(\.message) == ["Parallel and Map states nest at most 40 deep"])
        #expect(past?.diagnostics.first?.location.hasSuffix("/States/P1/Branches/0") == true)
        // Far past it, the definition nests deeper than any parsed one can.
        let far = nestedParallels(20_000)
        keepAlive(far)
        #expect(throws: DefinitionError.self) { try StateMachine(json: far) }
        #expect(throws: DefinitionError.self) { try StateDefinition.standalone(name: "P", json: far["States"]!["P19999"]!) }
    }

    @Test func intrinsicFunctionsNestAtMostTenDeep() async throws {
        func nested(_ depth: Int) -> String {
            String(repeating: "States.Array(", count: depth) + "1" + String(repeating: ")", count: depth)
        }
        func definition(_ depth: Int) -> String {
            #"{"StartAt":"P","States":{"P":{"Type":"Pass","Parameters":{"v.$":"\#(nested(depth))"},"End":true}}}"#
        }
        let ten = try await run(definition(10))
        #expect(ten.output?["v"] == nestedArrays(10, around: 1))
        for depth in [11, 100_000] {
            let diagnostics = StateMachine.validate(definition(depth))
            #expect(diagnostics.map(\.location) == ["/States/P/Parameters/v.$"])
            #expect(diagnostics.first?.message.contains("Intrinsic functions nest at most 10 deep") == true)
        }
    }

    @Test func pathsHaveNoMoreSegmentsThanDataHasLevels() async throws {
        let long = "$" + String(repeating: ".a", count: 100_000)
        #expect(
            StateMachine.validate(#"{"StartAt":"P","States":{"P":{"Type":"Pass","ResultPath":"\#(long)","End":true}}}"#).map(\.code) == [
                "INVALID_JSON_PATH"
            ])
        // A Catch's ResultPath is applied when the error is caught: the path fails then, as any path that cannot apply.
        let caught = try await run(
            #"""
            {"StartAt":"F","States":{"F":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke","Catch":[{"ErrorEquals":["States.ALL"],"ResultPath":"\#(long)","Next":"D"}],"End":true},
             "D":{"Type":"Succeed"}}}
            """#, tasks: ScriptedTasks { _, _ in throw StatesError("Boom", "") })
        #expect(caught.error == "States.ResultPathMatchFailure")
        let atTheLimit = "$" + String(repeating: ".a", count: 512)
        #expect(StateMachine.validate(#"{"StartAt":"P","States":{"P":{"Type":"Pass","ResultPath":"\#(atTheLimit)","End":true}}}"#).isEmpty)
    }
}

@Suite struct DataNestingTests {
    @Test func dataAsDeepAsTheParserReadsPassesThrough() async throws {
        let deep = nestedArrays(512)
        let outcome = try await run(
            #"""
            {"StartAt":"A","States":{"A":{"Type":"Pass","Assign":{"kept.$":"$"},"Next":"B"},
             "B":{"Type":"Pass","Parameters":{"replaced":true},"Next":"C"},"C":{"Type":"Pass","OutputPath":"$kept","End":true}}}
            """#, deep)
        #expect(outcome.status == .succeeded, "\(outcome)")
        #expect(outcome.output == deep)
    }

    @Test func aResultPathMakingDataTooDeepFails() async throws {
        let outcome = try await run(
            #"{"StartAt":"P","States":{"P":{"Type":"Pass","Result":1,"ResultPath":"$.a.b","End":true}}}"#,
            ["a": ["b": nestedArrays(510)]])
        #expect(outcome.status == .succeeded)  // the result replaces the deep array
        let deeper = try await run(
            #"{"StartAt":"P","States":{"P":{"Type":"Pass","ResultPath":"$.x.y","End":true}}}"#, ["d": nestedArrays(510)])
        #expect(deeper.error == "States.Runtime")
        #expect(
            deeper.cause == "An error occurred while executing the state 'P'. Its output nests more than 512 levels of objects and arrays")
    }

    @Test func aTemplateMakingDataTooDeepFails() async throws {
        var template: JSON = ["v.$": "$"]
        for _ in 0..<10 { template = ["t": template] }
        let definition: JSON = ["StartAt": "P", "States": ["P": ["Type": "Pass", "Parameters": template, "End": true]]]
        let engine = ExecutionEngine(
            machine: try StateMachine(json: definition), integrations: ScriptedTasks { _, _ in [:] }, clock: VirtualClock())
        let context = ExecutionContext(executionArn: "arn:aws:states:us-east-1:000000000000:execution:m:e", name: "e")
        let outcome = await engine.run(input: nestedArrays(505), context: context)
        #expect(outcome.error == "States.Runtime")
        #expect(outcome.cause?.contains("Its Parameters nests more than 512 levels") == true, "\(outcome.cause ?? "")")
        let fine = await engine.run(input: nestedArrays(500), context: context)
        #expect(fine.status == .succeeded)
    }

    @Test func aVariableTooDeepIsRefused() async throws {
        let outcome = try await run(
            #"{"QueryLanguage":"JSONata","StartAt":"P","States":{"P":{"Type":"Pass","Assign":{"v":["{% $states.input %}"]},"End":true}}}"#,
            nestedArrays(512))
        #expect(outcome.error == "States.Runtime")
        #expect(outcome.cause == "The variable 'v' nests more than 512 levels of objects and arrays")
    }

    /// A JSONata function can build a value of any depth: it is measured before anything walks it recursively.
    @Test func aJSONataResultTooDeepIsAQueryError() async throws {
        let outcome = try await run(
            #"""
            {"QueryLanguage":"JSONata","StartAt":"P","States":{"P":{"Type":"Pass","Output":"{% $reduce([1..600], function($acc, $i) { {\"a\": $acc} }, {}) %}","End":true}}}
            """#)
        #expect(outcome.error == "States.QueryEvaluationError")
        // JSONata may refuse to build it, or the state may refuse the result.
        #expect(outcome.cause?.contains("more than 512 levels deep") == true, "\(outcome.cause ?? "")")
    }

    @Test func nestingIsMeasuredWithoutRecursion() {
        let deep = nestedArrays(1_000_000)
        keepAlive(deep)
        #expect(JSONNesting.exceeds(deep, 512))
        #expect(!JSONNesting.exceeds(deep, 1_000_000))
        #expect(JSONNesting.exceeds(deep, 999_999))
        #expect(JSONNesting.pointerToFirstTooDeep(["a": [1, ["b": [2]]]], 3) == "/a/1/b")
        #expect(JSONNesting.pointerToFirstTooDeep(["a": [1, ["b": [2]]]], 4) == nil)
        #expect(!JSONNesting.exceeds(5, 0))
        #expect(JSONNesting.isFinite(nestedArrays(10, around: 1)))
        #expect(!JSONNesting.isFinite(["a": [.number(.infinity)]]))
    }
}
