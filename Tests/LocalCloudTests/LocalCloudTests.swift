import AWSProtocol
import Foundation
import GRDB
import GRDBSQLite
import JSONCore
import LocalCloudTesting
import STSService
import Testing

@testable import LocalCloud

/// A local cloud in memory, answering requests without a socket, in which the key AKIDPROD is account 111111111111's.
func makeCloud(_ services: [any LocalService] = [STSService()], stateDirectory: String? = nil) throws -> Cloud {
    try .testing(services, stateDirectory: stateDirectory) { $0.accounts = ["AKIDPROD": "111111111111"] }
}

@Suite struct LocalCloudRoutingTests {
    @Test func answersQueryProtocolWithXML() async throws {
        let cloud = try makeCloud()
        let response = await cloud.respond(
            to: OperationRequest(
                method: "POST", path: "/",
                headers: [
                    "content-type": "application/x-www-form-urlencoded", "x-amz-date": "20240101T000000Z",
                    "authorization": signed("sts", key: "AKIDPROD"),
                ],
                body: Array("Action=GetCallerIdentity&Version=2011-06-15".utf8)))
        let text = String(decoding: response.body, as: UTF8.self)
        #expect(response.status == 200)
        #expect(text.contains("<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><GetCallerIdentityResult>"))
        #expect(text.contains("<Account>111111111111</Account>"))
    }

    @Test func unknownKeysBelongToTheDefaultAccount() async throws {
        let cloud = try makeCloud()
        let response = await cloud.respond(
            to: OperationRequest(
                method: "GET", path: "/", query: ["Action": ["GetCallerIdentity"]],
                headers: ["x-amz-date": "20240101T000000Z", "authorization": signed("sts")]))
        #expect(String(decoding: response.body, as: UTF8.self).contains("<Account>000000000000</Account>"))
    }

    @Test func unimplementedOperationsNameThemselves() async throws {
        let cloud = try makeCloud()
        let response = await cloud.respond(
            to: OperationRequest(
                method: "POST", path: "/",
                headers: [
                    "content-type": "application/x-www-form-urlencoded", "x-amz-date": "20240101T000000Z", "authorization": signed("sts"),
                ],
                body: Array("Action=AssumeRole&RoleArn=x".utf8)))
        let text = String(decoding: response.body, as: UTF8.self)
        #expect(response.status == 501)
        #expect(text.contains("<Code>UnknownOperationException</Code>"))
        #expect(text.contains("AssumeRole"))
    }

    @Test func unknownActionsAreInvalidAction() async throws {
        let cloud = try makeCloud()
        let response = await cloud.respond(
            to: OperationRequest(
                method: "POST", path: "/", headers: ["content-type": "application/x-www-form-urlencoded"],
                body: Array("Action=Nope".utf8)))
        #expect(response.status == 400)
        #expect(String(decoding: response.body, as: UTF8.self).contains("<Code>InvalidAction</Code>"))
    }

    @Test func unknownTargetsAreJSONErrors() async throws {
        let cloud = try makeCloud()
        let response = await cloud.respond(
            to: OperationRequest(
                method: "POST", path: "/", headers: ["x-amz-target": "Nope.Thing"], body: Array("{".utf8)))
        #expect(response.status == 400)
        #expect(try JSON(parsing: response.body)["__type"] == "UnknownOperationException")
    }

    @Test func unknownPathsAre404() async throws {
        let cloud = try makeCloud()
        let response = await cloud.respond(to: OperationRequest(method: "GET", path: "/nothing/here"))
        #expect(response.status == 404)
        #expect(try JSON(parsing: response.body)["__type"] == "UnknownOperationException")
    }

    @Test func badSignaturesAreRejectedInTheProtocolsShape() async throws {
        let cloud = try makeCloud()
        let response = await cloud.respond(
            to: OperationRequest(
                method: "POST", path: "/",
                headers: ["content-type": "application/x-www-form-urlencoded", "authorization": "AWS4-HMAC-SHA256 Credential=x"],
                body: Array("Action=GetCallerIdentity".utf8)))
        #expect(response.status == 400)
        #expect(String(decoding: response.body, as: UTF8.self).contains("<Code>IncompleteSignatureException</Code>"))
    }

    @Test func oversizedBodiesAre413() async throws {
        let cloud = try makeCloud()
        let response = await cloud.respond(
            to: OperationRequest(
                method: "POST", path: "/", headers: ["x-amz-target": "Nope.Thing"],
                body: [UInt8](repeating: 0x20, count: 10 * 1024 * 1024 + 1)))
        #expect(response.status == 413)
        #expect(try JSON(parsing: response.body)["__type"] == "RequestEntityTooLargeException")
    }

    @Test func oversizedFormPostsAnswerInXML() {
        let cloud = try! makeCloud()
        let answer = cloud.respond(
            to: OperationRequest(method: "POST", path: "/", headers: ["content-type": "application/x-www-form-urlencoded"]),
            failingWith: .requestTooLarge(limit: 10))
        #expect(answer.status == 413)
        #expect(String(decoding: answer.body, as: UTF8.self).contains("<Code>RequestEntityTooLargeException</Code>"))
    }

    @Test func queryVersionsMustBeTheServicesOwn() async throws {
        let cloud = try makeCloud()
        func call(_ body: String) async -> String {
            let response = await cloud.query(body, signedFor: "sts")
            return "\(response.status) " + response.body
        }
        let wrongVersion = await call("Action=GetCallerIdentity&Version=1999-01-01")
        #expect(wrongVersion.hasPrefix("400 "))
        #expect(
            wrongVersion.contains(
                "<Code>InvalidAction</Code><Message>Could not find operation GetCallerIdentity for version 1999-01-01</Message>"))
        let noAction = await call("Version=2011-06-15")
        #expect(noAction.hasPrefix("400 "))
        #expect(noAction.contains("<Code>MissingAction</Code>"))
    }

    @Test func signaturesNeedADate() async throws {
        let cloud = try makeCloud()
        let response = await cloud.respond(
            to: OperationRequest(
                method: "POST", path: "/",
                headers: [
                    "content-type": "application/x-www-form-urlencoded",
                    "authorization": "AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/sts/aws4_request",
                ],
                body: Array("Action=GetCallerIdentity&Version=2011-06-15".utf8)))
        let text = String(decoding: response.body, as: UTF8.self).replacingOccurrences(of: "&apos;", with: "'")
        #expect(response.status == 400)
        #expect(text.contains("<Code>IncompleteSignatureException</Code>"))
        #expect(
            text.contains(
                "Authorization header requires 'Signature' parameter. Authorization header requires 'SignedHeaders' parameter. Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."
            ))
    }

    @Test func healthReportsFailedBackgroundWork() throws {
        let cloud = try makeCloud()
        struct TimerBroke: Error, CustomStringConvertible { var description: String { "the timer broke" } }
        cloud.healthBoard.recordFailure(of: "sts", TimerBroke())
        let health = try JSON(parsing: cloud.health().body)
        #expect(health["status"] == "degraded")
        #expect(health["services"]?["sts"] == "failed: the timer broke")
    }

    @Test func healthListsServices() throws {
        let cloud = try makeCloud()
        let health = try JSON(parsing: cloud.health().body)
        #expect(health["version"] == .string(Cloud.version))
        #expect(health["services"]?["sts"] == "running")
        #expect(health["status"] == "ok")
    }
}

@Suite struct CloudDatabaseTests {
    @Test func persistsUnderTheStateDirectory() throws {
        let folder = temporaryPath("skiff-db")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        do {
            let database = try CloudDatabase(stateDirectory: folder)
            try database.migrate([])
            try database.writer.write { try $0.execute(sql: "INSERT INTO skiff_metadata (key, value) VALUES ('a', 'b')") }
        }
        let reopened = try CloudDatabase(stateDirectory: folder)
        try reopened.migrate([])
        let value = try reopened.writer.read { try String.fetchOne($0, sql: "SELECT value FROM skiff_metadata WHERE key = 'a'") }
        #expect(value == "b")
        let mode = try reopened.writer.read { try String.fetchOne($0, sql: "PRAGMA journal_mode") }
        #expect(mode == "wal")
    }

    /// Rows decoded in place read every row of the statement, by column name in any case, and again on the
    /// statement's next use; a statement with no row gives nil.
    @Test func cachedFetchesDecodeRowsInPlace() throws {
        let database = try CloudDatabase(stateDirectory: nil)
        try database.migrate([])
        try database.writer.write { db in
            for (key, value) in [("a", "1"), ("b", "2"), ("c", "3")] {
                try db.executeCached("INSERT INTO skiff_metadata (key, value) VALUES (?, ?)", arguments: [key, value])
            }
        }
        let sql = "SELECT key, value FROM skiff_metadata WHERE key >= ? ORDER BY key"
        for _ in 0..<2 {
            let pairs = try database.writer.read { db in
                try db.fetchAllCached(sql, arguments: ["b"]) { row -> String in "\(row["key"] as String)=\(row["VALUE"] as String)" }
            }
            #expect(pairs == ["b=2", "c=3"])
        }
        let one = try database.writer.read { db in try db.fetchOneCached(sql, arguments: ["a"]) { $0["value"] as String } }
        #expect(one == "1")
        let none = try database.writer.read { db in try db.fetchOneCached(sql, arguments: ["z"]) { $0["value"] as String } }
        #expect(none == nil)
    }

    /// A read of an in-memory database leaves the connection's prepared statements valid: GRDB's read guard
    /// (`PRAGMA query_only`, set and cleared) expired them all, so that each cached statement compiled again at
    /// its next use.
    @Test func inMemoryReadsKeepCachedStatementsCompiled() async throws {
        let database = try CloudDatabase(stateDirectory: nil)
        try database.migrate([])
        let sql = "SELECT value FROM skiff_metadata WHERE key = ?"
        for _ in 0..<3 {
            _ = try await database.read { db in try db.fetchOneCached(sql, arguments: ["a"]) { $0[0] as String } }
            try await database.write { db in try db.executeCached("INSERT OR REPLACE INTO skiff_metadata (key, value) VALUES ('a', 'b')") }
        }
        let recompiled = try await database.read { db in
            sqlite3_stmt_status(try db.cachedStatement(sql: sql).sqliteStatement, SQLITE_STMTSTATUS_REPREPARE, 0)
        }
        #expect(recompiled == 0)
    }
}

@Suite struct GroupCommitTests {
    /// Concurrent writes commit together; one failing write fails only its caller; queued writes commit in
    /// order before a later awaited one returns.
    @Test func batchesFailAloneAndKeepOrder() async throws {
        let database = try CloudDatabase(stateDirectory: nil)
        try await database.write { try $0.execute(sql: "CREATE TABLE t (n INTEGER PRIMARY KEY)") }
        let outcomes = await withTaskGroup(of: Bool.self) { group in
            for n in 0..<50 {
                group.addTask {
                    // 13 collides with 12's key: a constraint failure.
                    let key = n == 13 ? 12 : n
                    do {
                        try await database.writeGrouped { try $0.execute(sql: "INSERT INTO t (n) VALUES (?)", arguments: [key]) }
                        return true
                    } catch { return false }
                }
            }
            return await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(outcomes.filter { !$0 }.count == 1)
        #expect(try await database.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM t") } == 49)

        for n in 100..<110 {
            await database.queueGrouped { try $0.execute(sql: "INSERT INTO t (n) VALUES (?)", arguments: [n]) }
        }
        try await database.writeGrouped { try $0.execute(sql: "INSERT INTO t (n) VALUES (110)") }
        #expect(try await database.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM t WHERE n >= 100") } == 11)
    }
}

@Suite struct ReadThroughCacheTests {
    @Test func keepsWhatWasReadUnlessSomethingWasRemovedMeanwhile() {
        let cache = ReadThroughCache<String, Int>()
        let (missing, generation) = cache.value(for: "a")
        #expect(missing == nil)
        cache.keep(1, for: "a", readAt: generation)
        #expect(cache.value(for: "a").0 == 1)

        // A read that began before a removal must not put back the value it read.
        let (_, before) = cache.value(for: "b")
        cache.remove("a")
        cache.keep(2, for: "b", readAt: before)
        #expect(cache.value(for: "b").0 == nil)
        #expect(cache.value(for: "a").0 == nil)

        cache.store(3, for: "c")
        cache.removeAll()
        #expect(cache.value(for: "c").0 == nil)
    }
}

@Suite struct RandomUUIDTests {
    @Test func isAVersion4UUIDInLowercase() {
        let pattern = /[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}/
        for _ in 0..<1000 {
            let text = RandomUUID.make()
            #expect(text.wholeMatch(of: pattern) != nil, "\(text)")
            #expect(UUID(uuidString: text) != nil)
        }
    }

    @Test func formatsTheBitsInOrder() {
        #expect(RandomUUID.format(high: 0x0123_4567_89ab_cdef, low: 0xfedc_ba98_7654_3210) == "01234567-89ab-cdef-fedc-ba9876543210")
        #expect(RandomUUID.format(high: 0, low: .max) == "00000000-0000-0000-ffff-ffffffffffff")
    }

    @Test func doesNotRepeat() {
        let made = (0..<10_000).map { _ in RandomUUID.make() }
        #expect(Set(made).count == made.count)
    }
}

/// A rest-json service with a path other services share (`/tags/{arn}`), signed as the Scheduler is.
struct TaggingService: LocalService {
    var descriptor: ServiceDescriptor {
        ServiceDescriptor(
            endpointPrefix: "scheduler", signingName: "scheduler", targetPrefix: nil, wireProtocol: .restJson,
            apiVersion: "2021-06-30", xmlNamespace: nil, operations: ["TagResource"],
            routes: [RestRoute(method: "POST", uri: "/tags/{ResourceArn}", operation: "TagResource")])
    }
    func handle(operation: String, request: OperationRequest, context: RequestContext) async throws -> OperationResponse {
        .json(["tagged": .string(request.pathParameters["ResourceArn"] ?? "")], contentType: "application/json")
    }
}

/// Requests for AWS services Skiff does not serve are answered with one sentence naming service and operation,
/// in the protocol's error shape, whatever the protocol.
@Suite struct UnservedServiceTests {
    func request(
        _ service: String, method: String = "POST", path: String = "/", target: String? = nil, form: String? = nil,
        contentType: String = "application/x-amz-json-1.1"
    ) -> OperationRequest {
        var headers = ["x-amz-date": "20240101T000000Z", "authorization": signed(service)]
        if let target { headers["x-amz-target"] = target }
        headers["content-type"] = form == nil ? contentType : "application/x-www-form-urlencoded"
        return OperationRequest(method: method, path: path, headers: headers, body: Array((form ?? "{}").utf8))
    }

    @Test func namesQueryServicesAndTheirActions() async throws {
        let cloud = try makeCloud([STSService()])
        let iam = await cloud.respond(to: request("iam", form: "Action=CreateGroup&Version=2010-05-08&GroupName=ops"))
        let text = String(decoding: iam.body, as: UTF8.self)
        #expect(iam.status == 501)
        #expect(text.contains("<Message>Skiff does not serve IAM CreateGroup yet.</Message>"))
        #expect(text.contains("<Code>UnknownOperationException</Code>"))
        let elb = await cloud.respond(to: request("elasticloadbalancing", form: "Action=CreateLoadBalancer&Version=2015-12-01"))
        #expect(
            String(decoding: elb.body, as: UTF8.self).contains("Skiff does not serve Elastic Load Balancing v2 CreateLoadBalancer yet."))
        let sns = await cloud.respond(to: request("sns", form: "Action=Publish&Version=2010-03-31"))
        #expect(String(decoding: sns.body, as: UTF8.self).contains("Skiff does not serve Amazon SNS Publish yet."))
        // Signed for IAM, an action STS also has is still IAM's.
        let iamWhoami = await cloud.respond(to: request("iam", form: "Action=GetCallerIdentity&Version=2010-05-08"))
        #expect(iamWhoami.status == 501)
    }

    @Test func namesJSONServicesByTheirTargetPrefix() async throws {
        let cloud = try makeCloud([STSService()])
        let organizations = await cloud.respond(
            to: request(
                "organizations", target: "AWSOrganizationsV20161128.CreateOrganization"))
        let body = try JSON(parsing: organizations.body)
        #expect(organizations.status == 501)
        #expect(body["message"] == "Skiff does not serve Organizations CreateOrganization yet.")
        #expect(body["__type"] == "UnknownOperationException")
        let ecr = await cloud.respond(to: request("ecr", target: "AmazonEC2ContainerRegistry_V20150921.CreateRepository"))
        #expect(try JSON(parsing: ecr.body)["message"] == "Skiff does not serve Amazon ECR CreateRepository yet.")
        // Even unsigned, the target names the service.
        var unsigned = request("cloudtrail", target: "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.CreateTrail")
        unsigned.headers["authorization"] = nil
        let trail = await cloud.respond(to: unsigned)
        #expect(try JSON(parsing: trail.body)["message"] == "Skiff does not serve CloudTrail CreateTrail yet.")
    }

    /// EKS's TagResource shares `/tags/{arn}` with the Scheduler's: signed for EKS, the Scheduler does not answer it.
    @Test func restRequestsGoToTheServiceTheyWereSignedFor() async throws {
        let cloud = try makeCloud([STSService(), TaggingService()])
        let eks = await cloud.respond(
            to: request(
                "eks", path: "/tags/arn:aws:eks:us-east-1:000000000000:cluster/c", contentType: "application/json"))
        #expect(eks.status == 501)
        #expect(
            try JSON(parsing: eks.body)["message"]
                == "Skiff does not serve Amazon EKS (POST /tags/arn:aws:eks:us-east-1:000000000000:cluster/c) yet.")
        let clusters = await cloud.respond(to: request("eks", path: "/clusters", contentType: "application/json"))
        #expect(try JSON(parsing: clusters.body)["message"] == "Skiff does not serve Amazon EKS (POST /clusters) yet.")
        let scheduler = await cloud.respond(
            to: request(
                "scheduler", path: "/tags/arn:aws:scheduler:us-east-1:000000000000:schedule-group:g", contentType: "application/json"))
        #expect(scheduler.status == 200)
    }
}
