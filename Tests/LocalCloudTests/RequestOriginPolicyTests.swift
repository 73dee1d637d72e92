import AWSProtocol
import Foundation
import LocalCloudTesting
import STSService
import Testing

@testable import LocalCloud

/// What a web page in the user's browser could send to the local cloud, refused; what the AWS CLI and the SDKs
/// send, served (docs/security.md).
@Suite struct RequestOriginPolicyTests {
    let policy: RequestOriginPolicy = {
        var configuration = CloudConfiguration(port: 4566)
        configuration.allowedHosts = ["skiff.internal"]
        configuration.allowedOrigins = ["http://localhost:3000/"]
        return RequestOriginPolicy(configuration: configuration)
    }()

    func verdict(_ headers: [String: String], method: String = "POST") -> RequestOriginPolicy.Verdict {
        policy.verdict(method: method, headers: headers)
    }

    func isRefused(_ verdict: RequestOriginPolicy.Verdict) -> Bool {
        if case .refused = verdict { return true }
        return false
    }

    @Test func servesHostsThatNameThisMachine() {
        for host in [
            "127.0.0.1", "127.0.0.1:4566", "127.1.2.3:80", "localhost", "LOCALHOST:4566", "localhost.", "app.localhost:4566",
            "[::1]:4566", "[::1]", "::1", "skiff.internal", "SKIFF.internal:4566", "[::ffff:127.0.0.1]:4566",
        ] {
            #expect(verdict(["host": host]) == .allowed, "\(host)")
        }
        // HTTP/1.0 tools may send none; a browser always does.
        #expect(verdict([:]) == .allowed)
    }

    /// DNS rebinding: the attacker's own name resolves to 127.0.0.1, but the page still names it in Host.
    @Test func refusesRebindableHosts() {
        for host in [
            "evil.example", "evil.example:4566", "127.0.0.1.evil.example", "localhost.evil.example", "128.0.0.1",
            "127.0.0.256", "127.0.0", "0.0.0.0:4566", "[::2]:4566", "10.0.0.1", "", "skiff.internal.evil",
        ] {
            #expect(isRefused(verdict(["host": host])), "\(host)")
        }
        guard case .refused(let reason) = verdict(["host": "evil.example:4566"]) else { return }
        #expect(reason.contains("'evil.example:4566'"))
        #expect(reason.contains("--allowed-host"))
    }

    @Test func servesItsOwnOriginAndAllowedOnes() {
        #expect(verdict(["host": "127.0.0.1:4566", "origin": "http://127.0.0.1:4566"]) == .allowed)
        #expect(verdict(["host": "localhost:4566", "origin": "http://localhost:4566", "sec-fetch-site": "same-origin"]) == .allowed)
        #expect(
            verdict(["host": "localhost:4566", "origin": "http://localhost:3000"]) == .allowedCrossOrigin(origin: "http://localhost:3000"))
    }

    @Test func refusesOtherOrigins() {
        for origin in [
            "https://evil.example", "null", "http://localhost:3001", "https://127.0.0.1:4566", "http://127.0.0.1:4567", "file://",
        ] {
            #expect(isRefused(verdict(["host": "127.0.0.1:4566", "origin": origin])), "\(origin)")
        }
        // A no-cors request for another site (an image, a form) names no origin but says where it comes from.
        #expect(isRefused(verdict(["host": "127.0.0.1:4566", "sec-fetch-site": "cross-site"], method: "GET")))
        #expect(isRefused(verdict(["host": "127.0.0.1:4566", "sec-fetch-site": "same-site"], method: "GET")))
        #expect(verdict(["host": "127.0.0.1:4566", "sec-fetch-site": "none"], method: "GET") == .allowed)
    }

    /// Content types a page may send anywhere without a preflight need a header it cannot add without one.
    @Test func refusesPreflightFreeContentTypesWithoutAnAuthorizationHeader() {
        for type in [
            "text/plain", "text/plain;charset=UTF-8", "multipart/form-data; boundary=x", "application/x-www-form-urlencoded", "TEXT/PLAIN",
        ] {
            #expect(isRefused(verdict(["host": "localhost", "content-type": type])), "\(type)")
            #expect(verdict(["host": "localhost", "content-type": type, "authorization": "AWS4-HMAC-SHA256 ..."]) == .allowed, "\(type)")
        }
        #expect(verdict(["host": "localhost", "content-type": "application/x-amz-json-1.0"]) == .allowed)
        #expect(verdict(["host": "localhost", "content-type": "application/json"]) == .allowed)
    }

    @Test func answersPreflightsOfAllowedOriginsOnly() throws {
        let asked = [
            "origin": "http://localhost:3000", "access-control-request-method": "POST",
            "access-control-request-headers": "authorization, x-amz-target",
        ]
        let answer = try #require(policy.preflightAnswer(method: "OPTIONS", headers: asked))
        #expect(answer.status == 200)
        #expect(answer.headers.contains { $0 == ("Access-Control-Allow-Origin", "http://localhost:3000") })
        #expect(answer.headers.contains { $0 == ("Access-Control-Allow-Headers", "authorization, x-amz-target") })
        var other = asked
        other["origin"] = "https://evil.example"
        #expect(policy.preflightAnswer(method: "OPTIONS", headers: other) == nil)
        #expect(isRefused(verdict(other, method: "OPTIONS")))
    }

    /// Listening on every address names no host: only loopback names and --allowed-host are served.
    @Test func listeningEverywhereServesNoExtraHost() {
        let everywhere = RequestOriginPolicy(configuration: CloudConfiguration(host: "0.0.0.0"))
        #expect(!everywhere.isServed(host: "0.0.0.0"))
        #expect(everywhere.isServed(host: "localhost:4566"))
        let named = RequestOriginPolicy(configuration: CloudConfiguration(host: "192.168.1.20"))
        #expect(named.isServed(host: "192.168.1.20:4566"))
    }
}

/// The attacks a web page could make on a running local cloud, through a real socket: each is refused, and nothing
/// is created or run.
@Suite struct BrowserAttackTests {
    @Test func refusesARebindingPage() async throws {
        try await CloudHTTPChannelTests().withServer { port in
            let rebound = CloudHTTPChannelTests.identity.replacingOccurrences(of: "Host: localhost", with: "Host: evil.example:\(port)")
            let exchange = try await RawHTTP.exchange(port: port, sending: rebound, expecting: 1)
            #expect(exchange.responses.map(\.status) == [403])
            #expect(exchange.responses.first?.body.contains("<Code>AccessDeniedException</Code>") == true)
            let health = try await RawHTTP.exchange(
                port: port, sending: "GET /_skiff/health HTTP/1.1\r\nHost: evil.example\r\n\r\n", expecting: 1)
            #expect(health.responses.map(\.status) == [403])
        }
    }

    /// `POST /schedules/NAME` with `text/plain`, as a page can send without a preflight.
    @Test func refusesATextPlainPost() async throws {
        try await CloudHTTPChannelTests().withServer { port in
            let body = #"{"ScheduleExpression":"rate(1 minute)","FlexibleTimeWindow":{"Mode":"OFF"}}"#
            let request =
                "POST /schedules/pwn HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nOrigin: https://evil.example\r\n"
                + "Content-Type: text/plain\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"
            let exchange = try await RawHTTP.exchange(port: port, sending: request, expecting: 1)
            #expect(exchange.responses.map(\.status) == [403])
            // Without the Origin (a browser that sends none), the content type alone is refused.
            let bare = request.replacingOccurrences(of: "Origin: https://evil.example\r\n", with: "")
            let second = try await RawHTTP.exchange(port: port, sending: bare, expecting: 1)
            #expect(second.responses.map(\.status) == [403])
            #expect(second.responses.first?.body.contains("must be signed") == true)
        }
    }

    /// `POST /_skiff/ecs/exec` and API calls without a signature.
    @Test func refusesUnsignedCalls() async throws {
        try await CloudHTTPChannelTests().withServer { port in
            let exec = #"{"task":"any","command":["/bin/sh","-c","touch /tmp/pwned"]}"#
            let request =
                "POST /_skiff/ecs/exec HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: \(exec.utf8.count)\r\n\r\n\(exec)"
            let exchange = try await RawHTTP.exchange(port: port, sending: request, expecting: 1)
            // This server has no ECS; the core refuses before any service is asked.
            #expect(exchange.responses.first?.status != 200)
            let unsigned = CloudHTTPChannelTests.identity.replacingOccurrences(of: CloudHTTPChannelTests.signature, with: "")
            let api = try await RawHTTP.exchange(port: port, sending: unsigned, expecting: 1)
            #expect(api.responses.map(\.status) == [403])
            // A form body a page could send: refused before the signature is looked for.
            #expect(api.responses.first?.body.contains("must be signed in an Authorization header") == true)
        }
    }
}

/// Requests must be signed; the signature's key chooses the account, for API calls and Skiff's own endpoints alike.
@Suite struct SignatureRequirementTests {
    @Test func refusesUnsignedRequestsInEachProtocolsWords() async throws {
        let cloud = try makeCloud([STSService(), EchoService()])
        let query = await cloud.respond(
            to: OperationRequest(
                method: "POST", path: "/", headers: ["content-type": "application/x-www-form-urlencoded"],
                body: Array("Action=GetCallerIdentity&Version=2011-06-15".utf8)))
        let text = String(decoding: query.body, as: UTF8.self)
        #expect(query.status == 403)
        #expect(text.contains("<Code>MissingAuthenticationToken</Code>"))
        #expect(text.contains("<Message>Request is missing Authentication Token</Message>"))
        #expect(query.headers.contains { $0 == ("x-amzn-ErrorType", "MissingAuthenticationToken") })
        // A presigned query is a signature.
        let presigned = await cloud.respond(
            to: OperationRequest(
                method: "GET", path: "/",
                query: [
                    "Action": ["GetCallerIdentity"], "Version": ["2011-06-15"], "X-Amz-Algorithm": ["AWS4-HMAC-SHA256"],
                    "X-Amz-Credential": ["AKIDTEST/20240101/us-east-1/sts/aws4_request"], "X-Amz-Date": ["20240101T000000Z"],
                    "X-Amz-SignedHeaders": ["host"], "X-Amz-Signature": ["0"],
                ]))
        #expect(presigned.status == 200)
        // The JSON protocols' words, from a service of the awsJson protocol.
        let json = await cloud.respond(
            to: OperationRequest(
                method: "POST", path: "/", headers: ["x-amz-target": "Echo_20240101.Echo", "content-type": "application/x-amz-json-1.0"],
                body: Array(#"{"name":"a"}"#.utf8)))
        #expect(json.status == 403)
        #expect(json.headers.contains { $0 == ("x-amzn-ErrorType", "MissingAuthenticationTokenException") })
        #expect(String(decoding: json.body, as: UTF8.self).contains(#""message":"Missing Authentication Token""#))
    }

    @Test func signsSkiffsOwnEndpointsToo() async throws {
        let cloud = try makeCloud([STSServiceWithControl()])
        let unsigned = try #require(await cloud.control(OperationRequest(method: "POST", path: "/_skiff/sts/whoami")))
        #expect(unsigned.status == 403)
        #expect(String(decoding: unsigned.body, as: UTF8.self).contains("Missing Authentication Token"))
        let signedRequest = OperationRequest(
            method: "POST", path: "/_skiff/sts/whoami",
            headers: ["x-amz-date": "20240101T000000Z", "authorization": signed("sts", key: "AKIDPROD", region: "eu-west-1")])
        let answer = try #require(await cloud.control(signedRequest))
        #expect(String(decoding: answer.body, as: UTF8.self) == "111111111111 eu-west-1")
    }
}

/// A service with one of Skiff's own endpoints, answering who called it.
struct STSServiceWithControl: LocalService {
    var descriptor: ServiceDescriptor { STSService().descriptor }
    func handle(operation: String, request: OperationRequest, context: RequestContext) async throws -> OperationResponse {
        try await STSService().handle(operation: operation, request: request, context: context)
    }
    func control(_ request: OperationRequest, path: String, context: RequestContext) async throws -> OperationResponse? {
        guard path == "whoami" else { return nil }
        return OperationResponse(body: Array("\(context.accountId) \(context.region)".utf8))
    }
}

/// The state directory holds task environments: it is its owner's alone.
@Suite struct StatePermissionTests {
    func mode(_ path: String) throws -> Int {
        try #require(FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int)
    }

    @Test func createsTheStatePrivate() throws {
        let root = temporaryPath("skiff-perm")
        defer { try? FileManager.default.removeItem(atPath: root) }
        let state = root + "/nested/.skiff"
        let database = try CloudDatabase(stateDirectory: state)
        try database.writer.write { try $0.execute(sql: "CREATE TABLE t(x)") }
        #expect(try mode(state) == 0o700)
        #expect(try mode(state + "/skiff.sqlite") == 0o600)
        #expect(try mode(state + "/skiff.sqlite-wal") == 0o600)
        try database.close()
    }

    /// A state directory of an earlier version (0755, database 0644) is closed at the next start; a directory that
    /// holds no database of Skiff's (`--state-dir /tmp`) keeps its mode.
    @Test func closesAnEarlierStateButNotAForeignDirectory() throws {
        let root = temporaryPath("skiff-perm")
        defer { try? FileManager.default.removeItem(atPath: root) }
        let files = FileManager.default
        try files.createDirectory(atPath: root + "/old", withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        #expect(files.createFile(atPath: root + "/old/skiff.sqlite", contents: nil, attributes: [.posixPermissions: 0o644]))
        try CloudDatabase(stateDirectory: root + "/old").close()
        #expect(try mode(root + "/old") == 0o700)
        #expect(try mode(root + "/old/skiff.sqlite") == 0o600)

        try files.createDirectory(atPath: root + "/shared", withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        try CloudDatabase(stateDirectory: root + "/shared").close()
        #expect(try mode(root + "/shared") == 0o755)
        #expect(try mode(root + "/shared/skiff.sqlite") == 0o600)
    }
}
