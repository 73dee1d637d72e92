import Foundation
import JSONCore
import Testing

@testable import States

@Suite struct ValidationGapTests {
    func locations(_ definition: String) -> [String] { StateMachine.validate(definition).map(\.location) }

    @Test func topLevelTimeoutIsAPositiveInteger() {
        for value in ["-1", "0", "\"x\"", "1.5"] {
            #expect(
                locations(#"{"TimeoutSeconds":\#(value),"StartAt":"A","States":{"A":{"Type":"Pass","End":true}}}"#) == ["/TimeoutSeconds"],
                "\(value)")
        }
        #expect(locations(#"{"TimeoutSeconds":30,"StartAt":"A","States":{"A":{"Type":"Pass","End":true}}}"#) == [])
    }

    @Test func aValueAndItsPathAreExclusive() {
        #expect(
            !locations(
                #"{"StartAt":"A","States":{"A":{"Type":"Task","Resource":"arn:aws:states:::x:y","TimeoutSeconds":5,"TimeoutSecondsPath":"$.t","End":true}}}"#
            ).isEmpty)
        #expect(
            !locations(
                #"{"StartAt":"A","States":{"A":{"Type":"Map","MaxConcurrency":2,"MaxConcurrencyPath":"$.m","ItemProcessor":{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}},"End":true}}}"#
            ).isEmpty)
        #expect(
            locations(#"{"StartAt":"A","States":{"A":{"Type":"Task","Resource":"arn:aws:states:::x:y","TimeoutSeconds":"5","End":true}}}"#)
                == ["/States/A/TimeoutSeconds"])
        #expect(
            locations(
                #"{"QueryLanguage":"JSONata","StartAt":"A","States":{"A":{"Type":"Task","Resource":"arn:aws:states:::x:y","TimeoutSeconds":"{% $states.input.t %}","End":true}}}"#
            ) == [])
    }

    @Test func anUnknownTypeNamesTheValue() {
        let diagnostics = StateMachine.validate(#"{"StartAt":"A","States":{"A":{"Type":"Bogus","End":true}}}"#)
        #expect(diagnostics.map(\.location) == ["/States/A/Type"])
        #expect(diagnostics.first?.message.contains("Bogus") == true)
    }
}

@Suite struct QueryErrorTests {
    @Test func nonJSONResultsAreQueryEvaluationErrors() async throws {
        let outcome = try await run(
            #"{"QueryLanguage":"JSONata","StartAt":"P","States":{"P":{"Type":"Pass","Output":"{% 1/0 %}","End":true}}}"#)
        #expect(outcome.error == "States.QueryEvaluationError")
        #expect(outcome.cause?.contains("returned an unsupported result type") == true)
    }

    @Test func causesNameTheStateAndTheField() async throws {
        let tasks = ScriptedTasks { _, _ in [:] }
        let outcome = try await run(
            #"{"QueryLanguage":"JSONata","StartAt":"Call","States":{"Call":{"Type":"Task","Resource":"arn:aws:states:::x:y","Arguments":{"Payload":{"id":"{% $states.input.missing %}"}},"End":true}}}"#,
            tasks: tasks)
        #expect(outcome.error == "States.QueryEvaluationError")
        #expect(
            outcome.cause
                == "An error occurred while executing the state 'Call'. The JSONata expression ' $states.input.missing ' specified for the field 'Arguments.Payload.id' returned nothing (undefined)."
        )
        #expect(tasks.count == 0)
    }
}
