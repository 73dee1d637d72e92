import AWSProtocol
import Foundation
import GRDB
import JSONCore
import LocalCloud
import Testing

@testable import StepFunctionsService

@Suite struct HistoryRecorderTests {
    /// A loop of pure states records more events than the recorder buffers before it waits for a commit: every
    /// event is still written once, in order, and the execution's snapshot is cleared when it succeeds.
    @Test func aLongRunOfPureStatesRecordsEveryEventInOrder() async throws {
        let cloud = try makeCloud()
        let definition = #"""
            {"StartAt":"Init","States":{
              "Init":{"Type":"Pass","Result":{"n":0},"Next":"Add"},
              "Add":{"Type":"Pass","Parameters":{"n.$":"States.MathAdd($.n, 1)"},"Next":"Check"},
              "Check":{"Type":"Choice","Choices":[{"Variable":"$.n","NumericLessThan":400,"Next":"Add"}],"Default":"Done"},
              "Done":{"Type":"Succeed"}}}
            """#
        let machine = try #require(
            await call(
                cloud, "CreateStateMachine",
                [
                    "name": "loop", "roleArn": "arn:aws:iam::000000000000:role/r", "definition": .string(definition),
                ]
            ).1["stateMachineArn"])
        let started = await call(cloud, "StartExecution", ["stateMachineArn": machine, "name": "loop-1"]).1
        let arn = try #require(started["executionArn"])
        let ended = await waitForEnd(cloud, arn)
        #expect(ended["status"] == "SUCCEEDED")
        #expect(ended["output"] == #"{"n":400}"#)

        var events: [JSON] = []
        var token: JSON = .null
        repeat {
            var request: JSONObject = ["executionArn": arn, "maxResults": 1000]
            if token != .null { request["nextToken"] = token }
            let page = await call(cloud, "GetExecutionHistory", .object(request)).1
            events += page["events"]?.arrayValue ?? []
            token = page["nextToken"] ?? .null
        } while token != .null
        // Started, Init's two, four for each of the 400 rounds of Add and Check, Done's two, Succeeded.
        let expected: Int = 1 + 2 + 400 * 4 + 2 + 1
        #expect(events.count == expected)
        let ids: [Double] = events.map { $0["id"]?.numberValue ?? 0 }
        let contiguous: [Double] = (1...max(1, events.count)).map { Double($0) }
        #expect(ids == contiguous)
        #expect(events.last?["type"] == "ExecutionSucceeded")

        let service = try #require(cloud.services.first as? StepFunctionsService)
        let snapshot = try await service.store.database.read { db in
            try String.fetchOne(db, sql: "SELECT snapshot FROM sfn_executions WHERE arn = ?", arguments: [arn.stringValue ?? ""])
        }
        #expect(snapshot == nil)
    }

    /// An execution run to its end within StartExecution writes its history as one row; GetExecutionHistory
    /// reads it back event by event, in pages, either way round.
    @Test func aRunEndedAtOnceIsOneRowReadAsItsEvents() async throws {
        let cloud = try makeCloud()
        let definition = #"""
            {"StartAt":"A","States":{
              "A":{"Type":"Pass","Result":{"step":1},"ResultPath":"$.a","Next":"B"},
              "B":{"Type":"Pass","Parameters":{"value.$":"$.a.step","id.$":"$$.Execution.Name"},"Next":"C"},
              "C":{"Type":"Pass","End":true}}}
            """#
        let machine = try #require(
            await call(
                cloud, "CreateStateMachine",
                [
                    "name": "at-once", "roleArn": "arn:aws:iam::000000000000:role/r", "definition": .string(definition),
                ]
            ).1["stateMachineArn"])
        let arn = try #require(
            await call(cloud, "StartExecution", ["stateMachineArn": machine, "name": "run-1", "input": #"{"i":1}"#]).1["executionArn"])
        let ended = await call(cloud, "DescribeExecution", ["executionArn": arn]).1
        #expect(ended["status"] == "SUCCEEDED")
        #expect(ended["output"] == #"{"value":1,"id":"run-1"}"#)

        let service = try #require(cloud.services.first as? StepFunctionsService)
        let rows = try await service.store.database.read { db in
            try Int.fetchAll(db, sql: "SELECT id FROM sfn_history WHERE execution_arn = ?", arguments: [arn.stringValue ?? ""])
        }
        #expect(rows == [8])

        func pages(reverse: Bool) async -> [JSON] {
            var events: [JSON] = []
            var token: JSON = .null
            repeat {
                var request: JSONObject = ["executionArn": arn, "maxResults": 3, "reverseOrder": .bool(reverse)]
                if token != .null { request["nextToken"] = token }
                let page = await call(cloud, "GetExecutionHistory", .object(request)).1
                events += page["events"]?.arrayValue ?? []
                token = page["nextToken"] ?? .null
            } while token != .null
            return events
        }
        let forward = await pages(reverse: false)
        #expect(forward.map { $0["id"]?.intValue ?? 0 } == Array(1...8))
        #expect(
            forward.map { $0["type"]?.stringValue ?? "" } == [
                "ExecutionStarted", "PassStateEntered", "PassStateExited", "PassStateEntered", "PassStateExited", "PassStateEntered",
                "PassStateExited", "ExecutionSucceeded",
            ])
        #expect(await pages(reverse: true) == forward.reversed())
    }

    /// A history of both kinds of rows (a run failed at once is one row; its redrive adds rows event by event)
    /// pages the same at every page size, in either order, as the whole history reads.
    @Test func historyPagesAcrossRowsOfBothKinds() async throws {
        let cloud = try makeCloud()
        let failing = #"{"StartAt":"A","States":{"A":{"Type":"Pass","Next":"F"},"F":{"Type":"Fail","Error":"E","Cause":"c"}}}"#
        let machine = try #require(
            await call(
                cloud, "CreateStateMachine",
                [
                    "name": "fails", "roleArn": "arn:aws:iam::000000000000:role/r", "definition": .string(failing),
                ]
            ).1["stateMachineArn"])
        let arn = try #require(await call(cloud, "StartExecution", ["stateMachineArn": machine, "name": "run-1"]).1["executionArn"])
        #expect(await waitForEnd(cloud, arn)["status"] == "FAILED")
        #expect(await call(cloud, "RedriveExecution", ["executionArn": arn]).0 == 200)
        #expect(await waitForEnd(cloud, arn)["status"] == "FAILED")

        let service = try #require(cloud.services.first as? StepFunctionsService)
        // The whole history, read row by row here (a row is an event or an array of them), to page against.
        let texts = try await service.store.database.read { db in
            try String.fetchAll(
                db, sql: "SELECT event FROM sfn_history WHERE execution_arn = ? ORDER BY id", arguments: [arn.stringValue ?? ""])
        }
        let all = try texts.flatMap { text -> [JSON] in
            let row = try JSON(parsing: text)
            return row.arrayValue ?? [row]
        }
        #expect(texts.count > 1 && texts.count < all.count)
        #expect(all.map { $0["id"]?.intValue ?? 0 } == Array(1...all.count))

        for size in 1...(all.count + 1) {
            for reverse in [false, true] {
                var events: [JSON] = []
                var token: JSON = .null
                repeat {
                    var request: JSONObject = ["executionArn": arn, "maxResults": .number(Double(size)), "reverseOrder": .bool(reverse)]
                    if token != .null { request["nextToken"] = token }
                    let page = await call(cloud, "GetExecutionHistory", .object(request)).1
                    events += page["events"]?.arrayValue ?? []
                    token = page["nextToken"] ?? .null
                } while token != .null
                #expect(events.map { $0["id"] } == (reverse ? all.reversed() : all).map { $0["id"] }, "size \(size), reverse \(reverse)")
            }
        }
        #expect(
            await call(cloud, "GetExecutionHistory", ["executionArn": arn, "nextToken": "bm90IGEgdG9rZW4="]).1["__type"] == "InvalidToken")
    }
}
