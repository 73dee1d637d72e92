import AWSProtocol
import Foundation
import JSONCore
import LocalCloudTesting
import Testing

@testable import LocalCloud
@testable import LogsService

func makeLogsCloud() throws -> Cloud {
    try .testing { environment in [LogsService(environment: environment)] }
}

extension Cloud {
    /// Calls a CloudWatch Logs operation as a client would; returns the status and the JSON body.
    func logs(_ operation: String, _ input: JSON) async throws -> (status: Int, body: JSON) {
        await awsJson("Logs_20140328.\(operation)", input, signedFor: "logs", key: "test")
    }
}

let now = Int(Date().timeIntervalSince1970 * 1000)

@Suite struct LogGroupTests {
    @Test func createDescribeAndDeleteGroups() async throws {
        let cloud = try makeLogsCloud()
        #expect(try await cloud.logs("CreateLogGroup", ["logGroupName": "/ecs/jobs"]).status == 200)
        #expect(try await cloud.logs("CreateLogGroup", ["logGroupName": "/ecs/web"]).status == 200)
        let again = try await cloud.logs("CreateLogGroup", ["logGroupName": "/ecs/jobs"])
        #expect(again.status == 400)
        #expect(again.body["__type"] == "ResourceAlreadyExistsException")
        let bad = try await cloud.logs("CreateLogGroup", ["logGroupName": "bad name!"])
        #expect(bad.body["__type"] == "InvalidParameterException")

        let described = try await cloud.logs("DescribeLogGroups", ["logGroupNamePrefix": "/ecs/j"])
        #expect(described.body["logGroups"]?.arrayValue?.count == 1)
        #expect(described.body["logGroups"]?[0]?["arn"] == "arn:aws:logs:us-east-1:000000000000:log-group:/ecs/jobs:*")
        let paged = try await cloud.logs("DescribeLogGroups", ["limit": 1])
        #expect(paged.body["logGroups"]?[0]?["logGroupName"] == "/ecs/jobs")
        let token = try #require(paged.body["nextToken"]?.stringValue)
        let second = try await cloud.logs("DescribeLogGroups", ["limit": 1, "nextToken": .string(token)])
        #expect(second.body["logGroups"]?[0]?["logGroupName"] == "/ecs/web")
        #expect(second.body["nextToken"] == nil)

        #expect(try await cloud.logs("DeleteLogGroup", ["logGroupName": "/ecs/web"]).status == 200)
        #expect(try await cloud.logs("DeleteLogGroup", ["logGroupName": "/ecs/web"]).body["__type"] == "ResourceNotFoundException")
    }

    @Test func groupTagsFollowAWSTagRules() async throws {
        let cloud = try makeLogsCloud()
        // A group refused for its tags is not created.
        let reserved = try await cloud.logs("CreateLogGroup", ["logGroupName": "/tagged", "tags": ["aws:owner": "me"]])
        #expect(reserved.body["__type"] == "InvalidParameterException")
        #expect(try await cloud.logs("DescribeLogGroups", [:]).body["logGroups"]?.arrayValue?.count == 0)
        #expect(try await cloud.logs("CreateLogGroup", ["logGroupName": "/tagged", "tags": ["owner": "me"]]).status == 200)
        #expect(try await cloud.logs("DeleteLogGroup", ["logGroupName": "/tagged"]).status == 200)
    }

    @Test func tagsByARNAndByGroupName() async throws {
        let cloud = try makeLogsCloud()
        #expect(try await cloud.logs("CreateLogGroup", ["logGroupName": "/ecs/jobs", "tags": ["team": "ops"]]).status == 200)
        let arn = "arn:aws:logs:us-east-1:000000000000:log-group:/ecs/jobs"
        #expect(try await cloud.logs("TagResource", ["resourceArn": .string(arn), "tags": ["env": "prod"]]).status == 200)
        #expect(try await cloud.logs("ListTagsForResource", ["resourceArn": .string(arn)]).body["tags"] == ["env": "prod", "team": "ops"])
        // The deprecated operations by name reach the same tags.
        #expect(try await cloud.logs("UntagLogGroup", ["logGroupName": "/ecs/jobs", "tags": ["team"]]).status == 200)
        #expect(try await cloud.logs("ListTagsLogGroup", ["logGroupName": "/ecs/jobs"]).body["tags"] == ["env": "prod"])
        #expect(try await cloud.logs("TagLogGroup", ["logGroupName": "/ecs/jobs", "tags": ["tier": "batch"]]).status == 200)
        // DescribeLogGroups' `arn` ends in `:*`, which the model's ARN pattern refuses: tagging takes `logGroupArn`.
        #expect(
            try await cloud.logs("UntagResource", ["resourceArn": .string(arn + ":*"), "tagKeys": ["env"]]).body["__type"]
                == "InvalidParameterException")
        #expect(try await cloud.logs("UntagResource", ["resourceArn": .string(arn), "tagKeys": ["env"]]).status == 200)
        #expect(try await cloud.logs("ListTagsForResource", ["resourceArn": .string(arn)]).body["tags"] == ["tier": "batch"])

        let many = JSON.object(JSONObject(uniqueKeysWithValues: (0..<50).map { ("k\($0)", JSON.string("v")) }))
        let tooMany = try await cloud.logs("TagResource", ["resourceArn": .string(arn), "tags": many])
        #expect(tooMany.body["__type"] == "TooManyTagsException")
        #expect(try await cloud.logs("ListTagsLogGroup", ["logGroupName": "/ecs/jobs"]).body["tags"]?.objectValue?.count == 1)

        let missing = try await cloud.logs("ListTagsForResource", ["resourceArn": "arn:aws:logs:us-east-1:000000000000:log-group:/nope"])
        #expect(missing.body["__type"] == "ResourceNotFoundException")
        let otherAccount = try await cloud.logs(
            "ListTagsForResource", ["resourceArn": "arn:aws:logs:us-east-1:111111111111:log-group:/ecs/jobs"])
        #expect(otherAccount.body["__type"] == "ResourceNotFoundException")
        let notAGroup = try await cloud.logs(
            "TagResource", ["resourceArn": "arn:aws:sqs:us-east-1:000000000000:queue", "tags": ["a": "b"]])
        #expect(notAGroup.body["__type"] == "InvalidParameterException")
        // A deleted group's tags go with it.
        #expect(try await cloud.logs("DeleteLogGroup", ["logGroupName": "/ecs/jobs"]).status == 200)
        #expect(try await cloud.logs("CreateLogGroup", ["logGroupName": "/ecs/jobs"]).status == 200)
        #expect(try await cloud.logs("ListTagsLogGroup", ["logGroupName": "/ecs/jobs"]).body["tags"] == [:])
    }

    @Test func retentionAcceptsOnlyAWSPeriods() async throws {
        let cloud = try makeLogsCloud()
        _ = try await cloud.logs("CreateLogGroup", ["logGroupName": "g"])
        let bad = try await cloud.logs("PutRetentionPolicy", ["logGroupName": "g", "retentionInDays": 2])
        #expect(bad.body["__type"] == "InvalidParameterException")
        #expect(bad.body["message"]?.stringValue?.contains("Member must satisfy enum value set: [1, 3, 5, 7, 14") == true)
        #expect(try await cloud.logs("PutRetentionPolicy", ["logGroupName": "g", "retentionInDays": 7]).status == 200)
        #expect(try await cloud.logs("DescribeLogGroups", [:]).body["logGroups"]?[0]?["retentionInDays"] == 7)
        #expect(
            try await cloud.logs("PutRetentionPolicy", ["logGroupName": "nope", "retentionInDays": 7]).body["__type"]
                == "ResourceNotFoundException")
        #expect(try await cloud.logs("DeleteRetentionPolicy", ["logGroupName": "g"]).status == 200)
        #expect(try await cloud.logs("DescribeLogGroups", [:]).body["logGroups"]?[0]?["retentionInDays"] == nil)
    }

    @Test func retentionRejectsAndPurgesExpiredEvents() async throws {
        let cloud = try makeLogsCloud()
        _ = try await cloud.logs("CreateLogGroup", ["logGroupName": "g"])
        _ = try await cloud.logs("CreateLogStream", ["logGroupName": "g", "logStreamName": "s"])
        let old = now - 3 * 86_400_000
        // One batch may not span more than 24 hours.
        let span = try await cloud.logs(
            "PutLogEvents",
            [
                "logGroupName": "g", "logStreamName": "s",
                "logEvents": [
                    ["timestamp": .number(Double(old)), "message": "old"], ["timestamp": .number(Double(now)), "message": "new"],
                ],
            ])
        #expect(span.body["message"] == "The batch of log events in a single PutLogEvents request cannot span more than 24 hours.")
        #expect(
            try await cloud.logs(
                "PutLogEvents",
                ["logGroupName": "g", "logStreamName": "s", "logEvents": [["timestamp": .number(Double(old)), "message": "old"]]]
            ).status == 200)
        #expect(
            try await cloud.logs(
                "PutLogEvents",
                ["logGroupName": "g", "logStreamName": "s", "logEvents": [["timestamp": .number(Double(now)), "message": "new"]]]
            ).status == 200)
        _ = try await cloud.logs("PutRetentionPolicy", ["logGroupName": "g", "retentionInDays": 1])
        let events = try await cloud.logs("GetLogEvents", ["logGroupName": "g", "logStreamName": "s", "startFromHead": true])
        #expect(events.body["events"]?.arrayValue?.compactMap { $0["message"]?.stringValue } == ["new"])
        let expired = try await cloud.logs(
            "PutLogEvents",
            [
                "logGroupName": "g", "logStreamName": "s",
                "logEvents": [
                    ["timestamp": .number(Double(old)), "message": "old"], ["timestamp": .number(Double(old + 1)), "message": "old too"],
                ],
            ])
        #expect(expired.body["rejectedLogEventsInfo"]?["expiredLogEventEndIndex"] == 2)
        let future = try await cloud.logs(
            "PutLogEvents",
            [
                "logGroupName": "g", "logStreamName": "s",
                "logEvents": [
                    ["timestamp": .number(Double(now)), "message": "ok"],
                    ["timestamp": .number(Double(now + 3 * 3_600_000)), "message": "future"],
                ],
            ])
        #expect(future.body["rejectedLogEventsInfo"]?["tooNewLogEventStartIndex"] == 1)
    }
}

@Suite struct LogEventTests {
    func seeded(_ messages: [String], stream: String = "s") async throws -> Cloud {
        let cloud = try makeLogsCloud()
        _ = try await cloud.logs("CreateLogGroup", ["logGroupName": "g"])
        _ = try await cloud.logs("CreateLogStream", ["logGroupName": "g", "logStreamName": .string(stream)])
        guard !messages.isEmpty else { return cloud }
        let events = messages.enumerated().map {
            JSON.object(["timestamp": .number(Double(now + $0.offset)), "message": .string($0.element)])
        }
        let put = try await cloud.logs(
            "PutLogEvents", ["logGroupName": "g", "logStreamName": .string(stream), "logEvents": .array(events)])
        #expect(put.status == 200)
        return cloud
    }

    @Test func streamsAndEventsNeedTheirGroupAndStream() async throws {
        let cloud = try makeLogsCloud()
        #expect(
            try await cloud.logs("CreateLogStream", ["logGroupName": "g", "logStreamName": "s"]).body["message"]
                == "The specified log group does not exist.")
        _ = try await cloud.logs("CreateLogGroup", ["logGroupName": "g"])
        let put = try await cloud.logs(
            "PutLogEvents",
            ["logGroupName": "g", "logStreamName": "s", "logEvents": [["timestamp": .number(Double(now)), "message": "m"]]])
        #expect(put.body["__type"] == "ResourceNotFoundException")
        #expect(put.body["message"] == "The specified log stream does not exist.")
        #expect(
            try await cloud.logs("CreateLogStream", ["logGroupName": "g", "logStreamName": "a:b"]).body["__type"]
                == "InvalidParameterException")
    }

    @Test func eventsMustBeChronological() async throws {
        let cloud = try await seeded([])
        let put = try await cloud.logs(
            "PutLogEvents",
            [
                "logGroupName": "g", "logStreamName": "s",
                "logEvents": [
                    ["timestamp": .number(Double(now + 5)), "message": "b"], ["timestamp": .number(Double(now)), "message": "a"],
                ],
            ])
        #expect(put.body["message"] == "Log events in a single PutLogEvents request must be in chronological order.")
    }

    @Test func getLogEventsFromHeadAndTailWithTokens() async throws {
        let cloud = try await seeded((1...5).map { "line \($0)" })
        let head = try await cloud.logs("GetLogEvents", ["logGroupName": "g", "logStreamName": "s", "startFromHead": true, "limit": 2])
        #expect(head.body["events"]?.arrayValue?.compactMap { $0["message"]?.stringValue } == ["line 1", "line 2"])
        let next = try #require(head.body["nextForwardToken"]?.stringValue)
        let more = try await cloud.logs(
            "GetLogEvents", ["logGroupName": "g", "logStreamName": "s", "nextToken": .string(next), "limit": 10])
        #expect(more.body["events"]?.arrayValue?.compactMap { $0["message"]?.stringValue } == ["line 3", "line 4", "line 5"])
        // At the end the forward token stays the same until new events arrive.
        let end = try #require(more.body["nextForwardToken"]?.stringValue)
        let atEnd = try await cloud.logs("GetLogEvents", ["logGroupName": "g", "logStreamName": "s", "nextToken": .string(end)])
        #expect(atEnd.body["events"]?.arrayValue?.isEmpty == true)
        #expect(atEnd.body["nextForwardToken"]?.stringValue == end)
        _ = try await cloud.logs(
            "PutLogEvents",
            ["logGroupName": "g", "logStreamName": "s", "logEvents": [["timestamp": .number(Double(now + 10)), "message": "line 6"]]])
        let tailed = try await cloud.logs("GetLogEvents", ["logGroupName": "g", "logStreamName": "s", "nextToken": .string(end)])
        #expect(tailed.body["events"]?.arrayValue?.compactMap { $0["message"]?.stringValue } == ["line 6"])

        let tail = try await cloud.logs("GetLogEvents", ["logGroupName": "g", "logStreamName": "s", "limit": 2])
        #expect(tail.body["events"]?.arrayValue?.compactMap { $0["message"]?.stringValue } == ["line 5", "line 6"])
        let back = try #require(tail.body["nextBackwardToken"]?.stringValue)
        let earlier = try await cloud.logs(
            "GetLogEvents", ["logGroupName": "g", "logStreamName": "s", "limit": 2, "nextToken": .string(back)])
        #expect(earlier.body["events"]?.arrayValue?.compactMap { $0["message"]?.stringValue } == ["line 3", "line 4"])
        #expect(
            try await cloud.logs("GetLogEvents", ["logGroupName": "g", "logStreamName": "s", "nextToken": "garbage"]).body["__type"]
                == "InvalidParameterException")
    }

    @Test func filterLogEventsWithPatterns() async throws {
        let cloud = try await seeded([
            "ERROR disk full", "INFO started", "WARN slow request", "ERROR timeout DEBUG",
            #"{"level":"error","latency":750,"path":"/api"}"#, #"{"level":"info","latency":20,"path":"/health"}"#,
        ])
        func messages(_ pattern: String) async throws -> [String] {
            try await cloud.logs("FilterLogEvents", ["logGroupName": "g", "filterPattern": .string(pattern)])
                .body["events"]?.arrayValue?.compactMap { $0["message"]?.stringValue } ?? []
        }
        #expect(try await messages("ERROR") == ["ERROR disk full", "ERROR timeout DEBUG"])
        #expect(try await messages("ERROR -DEBUG") == ["ERROR disk full"])
        #expect(try await messages("?WARN ?INFO") == ["INFO started", "WARN slow request"])
        #expect(try await messages("\"disk full\"") == ["ERROR disk full"])
        #expect(try await messages("{ $.latency > 500 }") == [#"{"level":"error","latency":750,"path":"/api"}"#])
        #expect(try await messages("{ $.level = \"info\" && $.path = \"/heal*\" }") == [#"{"level":"info","latency":20,"path":"/health"}"#])
        #expect(try await messages("{ $.level = error || $.latency < 10 }").count == 1)
        #expect(try await messages("").count == 6)
        let invalid = try await cloud.logs("FilterLogEvents", ["logGroupName": "g", "filterPattern": "{ $.level = "])
        #expect(invalid.body["__type"] == "InvalidParameterException")
        let paged = try await cloud.logs("FilterLogEvents", ["logGroupName": "g", "limit": 4])
        #expect(paged.body["events"]?.arrayValue?.count == 4)
        let token = try #require(paged.body["nextToken"]?.stringValue)
        let rest = try await cloud.logs("FilterLogEvents", ["logGroupName": "g", "nextToken": .string(token)])
        #expect(rest.body["events"]?.arrayValue?.count == 2)
        #expect(rest.body["nextToken"] == nil)
    }

    @Test func describeStreamsByLastEventTime() async throws {
        let cloud = try await seeded(["a"], stream: "first")
        _ = try await cloud.logs("CreateLogStream", ["logGroupName": "g", "logStreamName": "second"])
        _ = try await cloud.logs(
            "PutLogEvents",
            ["logGroupName": "g", "logStreamName": "second", "logEvents": [["timestamp": .number(Double(now + 100)), "message": "b"]]])
        let streams = try await cloud.logs("DescribeLogStreams", ["logGroupName": "g", "orderBy": "LastEventTime", "descending": true])
        #expect(streams.body["logStreams"]?.arrayValue?.compactMap { $0["logStreamName"]?.stringValue } == ["second", "first"])
        #expect(streams.body["logStreams"]?[0]?["lastEventTimestamp"]?.intValue == now + 100)
        let conflict = try await cloud.logs(
            "DescribeLogStreams", ["logGroupName": "g", "orderBy": "LastEventTime", "logStreamNamePrefix": "f"])
        #expect(conflict.body["message"] == "Cannot order by LastEventTime with a logStreamNamePrefix.")
    }
}

@Suite struct FilterPatternTests {
    @Test func termsAreCaseSensitiveSubstrings() throws {
        #expect(try FilterPattern("Error").matches("an Error here"))
        #expect(try !FilterPattern("Error").matches("an error here"))
        #expect(try FilterPattern("a b").matches("b then a"))
        #expect(try !FilterPattern("a -b").matches("a b"))
    }

    @Test func jsonPatterns() throws {
        let message = #"{"user":{"id":7,"roles":["admin","dev"]},"ok":true,"gone":null}"#
        #expect(try FilterPattern("{ $.user.id = 7 }").matches(message))
        #expect(try FilterPattern("{ $.user.roles[0] = \"admin\" }").matches(message))
        #expect(try FilterPattern("{ $.ok IS TRUE }").matches(message))
        #expect(try FilterPattern("{ $.gone IS NULL }").matches(message))
        #expect(try FilterPattern("{ $.missing NOT EXISTS }").matches(message))
        #expect(try FilterPattern("{ ($.user.id >= 7) && ($.ok IS TRUE || $.user.id != 7) }").matches(message))
        #expect(try !FilterPattern("{ $.user.id != 7 }").matches(message))
        #expect(try !FilterPattern("{ $.user.id = 7 }").matches("not json"))
    }

    @Test func spaceDelimitedPatterns() throws {
        let line = #"127.0.0.1 - frank [10/Oct/2000:13:25:15 -0700] "GET /index.html HTTP/1.0" 404 1534"#
        #expect(try FilterPattern("[ip, user, username, timestamp, request, status_code = 404, bytes]").matches(line))
        #expect(try FilterPattern("[..., status_code = 4*, bytes > 1000]").matches(line))
        #expect(try !FilterPattern("[..., status_code = 200, bytes]").matches(line))
    }

    @Test func malformedPatternsAreErrors() {
        #expect(throws: FilterPatternError.self) { try FilterPattern("{ $.a = 1") }
        #expect(throws: FilterPatternError.self) { try FilterPattern("\"unterminated") }
        #expect(throws: FilterPatternError.self) { try FilterPattern("{ a = 1 }") }
    }
}
