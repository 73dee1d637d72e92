import Foundation
import JSONCore
import LocalCloud
import Testing

@testable import StepFunctionsService

@Suite struct TestStateInspectionTests {
    @Test func debugInspectionShowsEachProcessingStep() async throws {
        let cloud = try makeCloud()
        let task = #"""
            {"Type":"Task","Resource":"arn:aws:states:::aws-sdk:sfn:listActivities","InputPath":"$.in","Parameters":{"MaxResults.$":"$.n"},
             "ResultSelector":{"count.$":"States.ArrayLength($.Activities)"},"ResultPath":"$.listed","End":true}
            """#
        let (_, tested) = await call(
            cloud, "TestState",
            [
                "definition": .string(task), "input": #"{"in":{"n":5}}"#, "inspectionLevel": "DEBUG",
                "mock": ["result": #"{"Activities":[1,2]}"#],
            ])
        let data = try #require(tested["inspectionData"])
        func step(_ name: String) throws -> JSON { try JSON(parsing: data[name]?.stringValue ?? "") }
        #expect(try step("afterInputPath") == ["n": 5])
        #expect(try step("afterParameters") == ["MaxResults": 5])
        #expect(try step("result") == ["Activities": [1, 2]])
        #expect(try step("afterResultSelector") == ["count": 2])
        // ResultPath places the result into the raw input (not the InputPath selection).
        #expect(try step("afterResultPath") == ["in": ["n": 5], "listed": ["count": 2]])
    }

    @Test func callbacksJobsActivitiesAndMapsNeedAMock() async throws {
        let cloud = try makeCloud()
        for definition in [
            #"{"Type":"Task","Resource":"arn:aws:states:::ecs:runTask.sync","End":true}"#,
            #"{"Type":"Task","Resource":"arn:aws:states:::sqs:sendMessage.waitForTaskToken","End":true}"#,
            #"{"Type":"Task","Resource":"arn:aws:states:us-east-1:000000000000:activity:a","End":true}"#,
            #"{"Type":"Map","ItemProcessor":{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}},"End":true}"#,
        ] {
            #expect(
                await call(cloud, "TestState", ["definition": .string(definition)]).1["__type"] == "ValidationException", "\(definition)")
        }
        let mocked = await call(
            cloud, "TestState",
            [
                "definition": #"{"Type":"Task","Resource":"arn:aws:states:::ecs:runTask.sync","End":true}"#,
                "mock": ["result": #"{"ok":true}"#],
            ]
        ).1
        #expect(mocked["status"] == "SUCCEEDED")
    }

    @Test func theGivenContextObjectIsTheOneTheStateSees() async throws {
        let cloud = try makeCloud()
        let task =
            #"{"Type":"Task","Resource":"arn:aws:states:::aws-sdk:sfn:listActivities","Parameters":{"name.$":"$$.Execution.Name","retry.$":"$$.State.RetryCount"},"End":true}"#
        let context = #"{"Execution":{"Name":"given"},"State":{"RetryCount":2}}"#
        let (_, tested) = await call(
            cloud, "TestState",
            ["definition": .string(task), "context": .string(context), "inspectionLevel": "DEBUG", "mock": ["result": "{}"]])
        #expect(try JSON(parsing: tested["inspectionData"]?["afterParameters"]?.stringValue ?? "") == ["name": "given", "retry": 2])
        #expect(
            await call(cloud, "TestState", ["definition": #"{"Type":"Pass","End":true}"#, "context": .string(context)]).1["__type"]
                == "ValidationException")
    }
}
