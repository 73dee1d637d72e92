import AWSProtocol
import Foundation
import GRDB
import JSONCore
import LocalCloud
import Testing

@testable import StepFunctionsService

private let role: JSON = "arn:aws:iam::000000000000:role/r"
private let waiting = #"{"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":30,"End":true}}}"#
private let passing = #"{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}}"#

private func history(_ cloud: Cloud, _ arn: JSON) async -> [JSON] {
    await call(cloud, "GetExecutionHistory", ["executionArn": arn, "maxResults": 1000]).1["events"]?.arrayValue ?? []
}

@Suite struct ListingTests {
    @Test func pageTokensDoNotShiftWhenExecutionsStart() async throws {
        let cloud = try makeCloud()
        let machine = try #require(
            await call(cloud, "CreateStateMachine", ["name": "m", "roleArn": role, "definition": .string(passing)]).1["stateMachineArn"])
        for i in 0..<3 {
            _ = await call(cloud, "StartExecution", ["stateMachineArn": machine, "name": .string("e\(i)")])
            try await Task.sleep(for: .milliseconds(5))
        }
        let first = await call(cloud, "ListExecutions", ["stateMachineArn": machine, "maxResults": 2]).1
        #expect(first["executions"]?.arrayValue?.compactMap { $0["name"]?.stringValue } == ["e2", "e1"])
        _ = await call(cloud, "StartExecution", ["stateMachineArn": machine, "name": "late"])
        let second = await call(cloud, "ListExecutions", ["stateMachineArn": machine, "maxResults": 2, "nextToken": first["nextToken"]!]).1
        #expect(second["executions"]?.arrayValue?.compactMap { $0["name"]?.stringValue } == ["e0"])
        #expect(second["nextToken"] == nil)
        #expect(await call(cloud, "ListExecutions", ["stateMachineArn": machine, "nextToken": "garbage"]).1["__type"] == "InvalidToken")
    }

    /// Pages come from SQLite: every execution once, newest first, the status filter applied before paging.
    @Test func pagesCoverEveryExecutionOnceNewestFirst() async throws {
        let cloud = try makeCloud()
        let machine = try #require(
            await call(cloud, "CreateStateMachine", ["name": "m", "roleArn": role, "definition": .string(passing)]).1["stateMachineArn"])
        for i in 0..<25 { _ = await call(cloud, "StartExecution", ["stateMachineArn": machine, "name": .string("e\(i)")]) }
        var names: [String] = []
        var dates: [Double] = []
        var token: JSON = .null
        repeat {
            var request: JSONObject = ["stateMachineArn": machine, "maxResults": 10, "statusFilter": "SUCCEEDED"]
            if token != .null { request["nextToken"] = token }
            let page = await call(cloud, "ListExecutions", .object(request)).1
            let executions = page["executions"]?.arrayValue ?? []
            #expect(executions.count <= 10)
            names += executions.compactMap { $0["name"]?.stringValue }
            dates += executions.compactMap { $0["startDate"]?.numberValue }
            token = page["nextToken"] ?? .null
        } while token != .null
        #expect(Set(names) == Set((0..<25).map { "e\($0)" }) && names.count == 25)
        #expect(dates == dates.sorted(by: >))
        #expect(
            await call(cloud, "ListExecutions", ["stateMachineArn": machine, "statusFilter": "RUNNING"]).1["executions"]?.arrayValue?
                .isEmpty == true)
        let forged = Data("skiff-page:not-a-key".utf8).base64EncodedString()
        #expect(
            await call(cloud, "ListExecutions", ["stateMachineArn": machine, "nextToken": .string(forged)]).1["__type"] == "InvalidToken")
    }

    /// A later page is a seek along the listing index, not a scan and a sort of the machine's executions.
    @Test func laterPagesSeekAlongTheListingIndex() async throws {
        let cloud = try makeCloud()
        let micros = StepFunctionsStore.startedMicros
        let plan = try await cloud.environment.database.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    EXPLAIN QUERY PLAN SELECT arn FROM sfn_executions WHERE machine_arn = ? AND status = ?
                    AND \(micros) <= ? AND (\(micros) < ? OR arn > ?) ORDER BY \(micros) DESC, arn LIMIT 11
                    """, arguments: ["m", "SUCCEEDED", 1, 1, "a"]
            ).map { $0["detail"] as String }
        }
        #expect(plan.contains { $0.contains("USING INDEX sfn_executions_listing") && $0.contains("<expr>") })
        #expect(!plan.contains { $0.contains("TEMP B-TREE") })
    }

    @Test func listExecutionsTakesAMapRunOrAStateMachine() async throws {
        let cloud = try makeCloud()
        let machine = try #require(
            await call(cloud, "CreateStateMachine", ["name": "m", "roleArn": role, "definition": .string(passing)]).1["stateMachineArn"])
        let mapRun: JSON = "arn:aws:states:us-east-1:000000000000:mapRun:m/label:1234"
        #expect(await call(cloud, "ListExecutions", ["mapRunArn": mapRun]).1["__type"] == "ResourceNotFound")
        let both = await call(cloud, "ListExecutions", ["mapRunArn": mapRun, "stateMachineArn": machine]).1
        #expect(both["__type"] == "ValidationException")
        #expect(both["message"]?.stringValue?.contains("either a mapRunArn or a stateMachineArn, but not both") == true)
        #expect(await call(cloud, "ListExecutions", [:]).1["__type"] == "ValidationException")
    }

    @Test func aliasesListByVersion() async throws {
        let cloud = try makeCloud()
        let (_, created) = await call(
            cloud, "CreateStateMachine", ["name": "m", "roleArn": role, "definition": .string(passing), "publish": true])
        let machine = try #require(created["stateMachineArn"]?.stringValue)
        let v1 = machine + ":1"
        _ = await call(cloud, "UpdateStateMachine", ["stateMachineArn": .string(machine), "definition": .string(waiting), "publish": true])
        let v2 = machine + ":2"
        _ = await call(
            cloud, "CreateStateMachineAlias",
            ["name": "one", "routingConfiguration": [["stateMachineVersionArn": .string(v1), "weight": 100]]])
        _ = await call(
            cloud, "CreateStateMachineAlias",
            [
                "name": "split",
                "routingConfiguration": [
                    ["stateMachineVersionArn": .string(v1), "weight": 50], ["stateMachineVersionArn": .string(v2), "weight": 50],
                ],
            ])
        let names = { (arn: String) async in
            await call(cloud, "ListStateMachineAliases", ["stateMachineArn": .string(arn)]).1["stateMachineAliases"]?.arrayValue?.compactMap
            { $0["stateMachineAliasArn"]?.stringValue?.split(separator: ":").last.map(String.init) }
        }
        #expect(await names(machine) == ["one", "split"])
        #expect(await names(v1) == ["one", "split"])
        #expect(await names(v2) == ["split"])
    }

    @Test func missingVersionsAndAliasesAreMissingStateMachines() async throws {
        let cloud = try makeCloud()
        let machine = try #require(
            await call(cloud, "CreateStateMachine", ["name": "m", "roleArn": role, "definition": .string(passing)]).1["stateMachineArn"]?
                .stringValue)
        for arn in [machine + ":7", machine + ":nope"] {
            #expect(
                await call(cloud, "StartExecution", ["stateMachineArn": .string(arn)]).1["__type"] == "StateMachineDoesNotExist", "\(arn)")
        }
        #expect(
            await call(cloud, "DescribeStateMachine", ["stateMachineArn": .string(machine + ":7")]).1["__type"]
                == "StateMachineDoesNotExist")
        #expect(
            await call(cloud, "DescribeStateMachineAlias", ["stateMachineAliasArn": .string(machine + ":nope")]).1["__type"]
                == "ResourceNotFound")
    }

    @Test func tagsAreLimitedAndNeedAnArn() async throws {
        let cloud = try makeCloud()
        let machine = try #require(
            await call(cloud, "CreateStateMachine", ["name": "m", "roleArn": role, "definition": .string(passing)]).1["stateMachineArn"])
        let fifty: JSON = .array((0..<50).map { ["key": .string("k\($0)"), "value": "v"] })
        #expect(await call(cloud, "TagResource", ["resourceArn": machine, "tags": fifty]).0 == 200)
        let (_, tooMany) = await call(cloud, "TagResource", ["resourceArn": machine, "tags": [["key": "one-more", "value": "v"]]])
        #expect(tooMany["__type"] == "TooManyTags")
        // Re-tagging an existing key does not add a tag.
        #expect(await call(cloud, "TagResource", ["resourceArn": machine, "tags": [["key": "k1", "value": "w"]]]).0 == 200)
        #expect(
            await call(cloud, "TagResource", ["resourceArn": "garbage", "tags": [["key": "a", "value": "b"]]]).1["__type"] == "InvalidArn")
        #expect(
            await call(
                cloud, "CreateStateMachine",
                [
                    "name": "t", "roleArn": role, "definition": .string(passing),
                    "tags": .array((0..<51).map { ["key": .string("k\($0)"), "value": "v"] }),
                ]
            ).1["__type"] == "TooManyTags")
        let (_, message) = await call(cloud, "TagResource", ["resourceArn": machine, "tags": [["key": "one-more", "value": "v"]]])
        #expect(message["message"] == "Too many tags: a resource can have at most 50 tags, this request would give it 51")
    }

    @Test func deletingAMachineOrActivityDeletesItsTags() async throws {
        let cloud = try makeCloud()
        let create: JSON = [
            "name": "m", "roleArn": role, "definition": .string(passing),
            "tags": [["key": "b", "value": "2"], ["key": "a", "value": "1"]],
        ]
        let machine = try #require(await call(cloud, "CreateStateMachine", create).1["stateMachineArn"])
        #expect(
            await call(cloud, "ListTagsForResource", ["resourceArn": machine]).1["tags"] == [
                ["key": "a", "value": "1"], ["key": "b", "value": "2"],
            ])
        _ = await call(cloud, "UntagResource", ["resourceArn": machine, "tagKeys": ["a"]])
        #expect(await call(cloud, "ListTagsForResource", ["resourceArn": machine]).1["tags"] == [["key": "b", "value": "2"]])
        _ = await call(cloud, "DeleteStateMachine", ["stateMachineArn": machine])
        _ = await call(cloud, "CreateStateMachine", ["name": "m", "roleArn": role, "definition": .string(passing)])
        #expect(await call(cloud, "ListTagsForResource", ["resourceArn": machine]).1["tags"] == [])
        let activity = try #require(
            await call(cloud, "CreateActivity", ["name": "act", "tags": [["key": "x", "value": "y"]]]).1["activityArn"])
        #expect(await call(cloud, "ListTagsForResource", ["resourceArn": activity]).1["tags"] == [["key": "x", "value": "y"]])
        _ = await call(cloud, "DeleteActivity", ["activityArn": activity])
        _ = await call(cloud, "CreateActivity", ["name": "act"])
        #expect(await call(cloud, "ListTagsForResource", ["resourceArn": activity]).1["tags"] == [])
        #expect(
            await call(cloud, "CreateActivity", ["name": "other", "tags": [["key": "aws:x", "value": "y"]]]).1["__type"]
                == "ValidationException")
    }
}

@Suite struct StateMachineLifecycleTests {
    @Test func createIsIdempotentOnDefinitionAndConfigurationNotRole() async throws {
        let cloud = try makeCloud()
        let logging: JSON = [
            "level": "ERROR", "includeExecutionData": false,
            "destinations": [["cloudWatchLogsLogGroup": ["logGroupArn": "arn:aws:logs:us-east-1:000000000000:log-group:sfn:*"]]],
        ]
        let (_, first) = await call(
            cloud, "CreateStateMachine", ["name": "m", "roleArn": role, "definition": .string(passing), "loggingConfiguration": logging])
        let (status, again) = await call(
            cloud, "CreateStateMachine",
            [
                "name": "m", "roleArn": "arn:aws:iam::000000000000:role/other", "definition": .string(passing),
                "loggingConfiguration": logging, "tags": [["key": "a", "value": "b"]],
            ])
        #expect(status == 200)
        #expect(again["stateMachineArn"] == first["stateMachineArn"])
        #expect(again["creationDate"] == first["creationDate"])
        let described = await call(cloud, "DescribeStateMachine", ["stateMachineArn": first["stateMachineArn"]!]).1
        // The role and tags of the repeated request are not applied.
        #expect(described["roleArn"] == role)
        #expect(described["loggingConfiguration"] == logging)
        #expect(
            await call(cloud, "CreateStateMachine", ["name": "m", "roleArn": role, "definition": .string(passing)]).1["__type"]
                == "StateMachineAlreadyExists")
        let tracing: JSON = ["enabled": true]
        _ = await call(cloud, "UpdateStateMachine", ["stateMachineArn": first["stateMachineArn"]!, "tracingConfiguration": tracing])
        #expect(
            await call(cloud, "DescribeStateMachine", ["stateMachineArn": first["stateMachineArn"]!]).1["tracingConfiguration"] == tracing)
    }

    /// Concurrent creates of one name may all find no machine before any inserts; the losers still answer as for an
    /// existing machine (the same ARN, or StateMachineAlreadyExists for another definition), never InternalFailure.
    @Test func concurrentCreatesOfOneNameAnswerAsForAnExistingMachine() async throws {
        let cloud = try makeCloud()
        for round in 0..<5 {
            let name = JSON.string("m\(round)")
            let answers = await withTaskGroup(of: (Int, JSON).self) { group in
                for caller in 0..<8 {
                    // Callers 0-5 send one definition, 6 and 7 another.
                    let definition = caller < 6 ? passing : waiting
                    group.addTask {
                        await call(cloud, "CreateStateMachine", ["name": name, "roleArn": role, "definition": .string(definition)])
                    }
                }
                return await group.reduce(into: []) { $0.append($1) }
            }
            let types = Set(answers.compactMap { $0.1["__type"] })
            #expect(types.isSubset(of: ["StateMachineAlreadyExists"]), "round \(round): \(types)")
            let arns = Set(answers.filter { $0.0 == 200 }.compactMap { $0.1["stateMachineArn"] })
            #expect(arns.count == 1)
            // Whichever definition won, every caller that sent it succeeded.
            let described = await call(cloud, "DescribeStateMachine", ["stateMachineArn": try #require(arns.first)]).1
            let winners = described["definition"] == .string(passing) ? 6 : 2
            #expect(answers.filter { $0.0 == 200 }.count == winners)
        }
    }

    @Test func describeStateMachineForExecutionDescribesTheVersionItRan() async throws {
        let cloud = try makeCloud()
        let (_, created) = await call(
            cloud, "CreateStateMachine", ["name": "m", "roleArn": role, "definition": .string(waiting), "publish": true])
        let version = try #require(created["stateMachineVersionArn"])
        let (_, v1) = await call(cloud, "DescribeStateMachine", ["stateMachineArn": version])
        let (_, started) = await call(cloud, "StartExecution", ["stateMachineArn": version])
        _ = await call(cloud, "UpdateStateMachine", ["stateMachineArn": created["stateMachineArn"]!, "definition": .string(passing)])
        let (_, described) = await call(cloud, "DescribeStateMachineForExecution", ["executionArn": started["executionArn"]!])
        #expect(described["definition"] == .string(waiting))
        #expect(described["revisionId"] == v1["revisionId"])
        #expect(described["stateMachineArn"] == version)
        let events = await history(cloud, started["executionArn"]!)
        #expect(events.first?["executionStartedEventDetails"]?["stateMachineVersionArn"] == version)
        _ = await call(cloud, "StopExecution", ["executionArn": started["executionArn"]!])
    }

    @Test func stopExecutionRecordsItsErrorAndCauseOnce() async throws {
        let cloud = try makeCloud()
        let machine = try #require(
            await call(cloud, "CreateStateMachine", ["name": "m", "roleArn": role, "definition": .string(waiting)]).1["stateMachineArn"])
        let (_, started) = await call(cloud, "StartExecution", ["stateMachineArn": machine])
        let arn = try #require(started["executionArn"])
        for _ in 0..<500 where !(await history(cloud, arn)).contains(where: { $0["type"] == "WaitStateEntered" }) {
            try await Task.sleep(for: .milliseconds(10))
        }
        let (status, stopped) = await call(cloud, "StopExecution", ["executionArn": arn, "error": "Operator", "cause": "maintenance"])
        #expect(status == 200 && stopped["stopDate"] != nil)
        let described = await call(cloud, "DescribeExecution", ["executionArn": arn]).1
        #expect(described["status"] == "ABORTED")
        #expect(described["error"] == "Operator" && described["cause"] == "maintenance")
        let events = await history(cloud, arn)
        #expect(events.compactMap { $0["type"]?.stringValue }.suffix(2) == ["WaitStateAborted", "ExecutionAborted"])
        #expect(events.last?["executionAbortedEventDetails"] == ["error": "Operator", "cause": "maintenance"])
        #expect(described["redriveStatus"] == "REDRIVABLE")
    }

    @Test func redriveReasonsAreTheModels() async throws {
        let cloud = try makeCloud()
        let waitingMachine = try #require(
            await call(cloud, "CreateStateMachine", ["name": "w", "roleArn": role, "definition": .string(waiting)]).1["stateMachineArn"])
        let running = try #require(await call(cloud, "StartExecution", ["stateMachineArn": waitingMachine]).1["executionArn"])
        #expect(
            await call(cloud, "DescribeExecution", ["executionArn": running]).1["redriveStatusReason"]
                == "Execution is RUNNING and cannot be redriven")
        let passingMachine = try #require(
            await call(cloud, "CreateStateMachine", ["name": "p", "roleArn": role, "definition": .string(passing)]).1["stateMachineArn"])
        let done = try #require(await call(cloud, "StartExecution", ["stateMachineArn": passingMachine]).1["executionArn"])
        #expect(await waitForEnd(cloud, done)["redriveStatusReason"] == "Execution is SUCCEEDED and cannot be redriven")
        _ = await call(cloud, "StopExecution", ["executionArn": running])
        // Redrivable for 14 days from the stop, not the start.
        var old = StepFunctionsStore.Execution(
            arn: "a", account: "0", region: "r", machineArn: "m", name: "n", status: .failed, input: "{}",
            started: Date(timeIntervalSinceNow: -20 * 86400), definition: "", roleArn: "")
        let machine = StepFunctionsStore.Machine(
            arn: "m", account: "0", region: "r", name: "m", definition: "", roleArn: "", type: .standard,
            created: Date(), updated: Date(), revisionId: "")
        old.stopped = Date(timeIntervalSinceNow: -86400)
        #expect(StepFunctionsService.notRedrivableReason(old, machine: machine, lastEventId: nil) == nil)
        old.stopped = Date(timeIntervalSinceNow: -15 * 86400)
        #expect(StepFunctionsService.notRedrivableReason(old, machine: machine, lastEventId: nil) == "Execution redrivable period exceeded")
    }

    /// A runaway loop ends at AWS's 25,000 history events: failed with States.Runtime by the 25,000th event,
    /// and not redrivable for want of room in its history.
    @Test func aRunawayLoopFailsAtTheHistoryLimitAndCannotBeRedriven() async throws {
        let cloud = try makeCloud()
        let loop =
            #"{"StartAt":"P","States":{"P":{"Type":"Pass","Next":"C"},"C":{"Type":"Choice","Choices":[{"Variable":"$.stop","BooleanEquals":true,"Next":"D"}],"Default":"P"},"D":{"Type":"Succeed"}}}"#
        let machine = try #require(
            await call(cloud, "CreateStateMachine", ["name": "loop", "roleArn": role, "definition": .string(loop)]).1["stateMachineArn"])
        let arn = try #require(
            await call(cloud, "StartExecution", ["stateMachineArn": machine, "input": #"{"stop":false}"#]).1["executionArn"])
        // 25,000 events take seconds in a debug build: wait longer than waitForEnd does.
        var ended: JSON = .null
        for _ in 0..<600 {
            ended = await call(cloud, "DescribeExecution", ["executionArn": arn]).1
            if ended["status"] != "RUNNING" { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(ended["status"] == "FAILED")
        #expect(ended["error"] == "States.Runtime")
        #expect(ended["cause"] == "The execution reached the maximum number of history events (25000).")
        #expect(ended["redriveStatus"] == "NOT_REDRIVABLE")
        #expect(ended["redriveStatusReason"] == "Execution history event limit exceeded")
        let last = await call(cloud, "GetExecutionHistory", ["executionArn": arn, "reverseOrder": true, "maxResults": 1]).1["events"]?[0]
        #expect(last?["id"] == 25000)
        #expect(last?["type"] == "ExecutionFailed")
        #expect(await call(cloud, "RedriveExecution", ["executionArn": arn]).1["__type"] == "ExecutionNotRedrivable")
    }

    @Test func deletingAMachineStopsItsExecutions() async throws {
        let cloud = try makeCloud()
        let machine = try #require(
            await call(cloud, "CreateStateMachine", ["name": "m", "roleArn": role, "definition": .string(waiting)]).1["stateMachineArn"])
        let arn = try #require(await call(cloud, "StartExecution", ["stateMachineArn": machine]).1["executionArn"])
        try await Task.sleep(for: .milliseconds(50))
        #expect(await call(cloud, "DeleteStateMachine", ["stateMachineArn": machine]).0 == 200)
        #expect(await call(cloud, "DescribeExecution", ["executionArn": arn]).1["status"] == "ABORTED")
        #expect(await call(cloud, "DescribeStateMachine", ["stateMachineArn": machine]).1["__type"] == "StateMachineDoesNotExist")
    }
}
