import AWSProtocol
import Foundation
import LocalCloudTesting
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import ServiceLifecycle
import STSService
import Testing

@testable import LocalCloud

/// The server's HTTP/1.1 handling, through a real socket, byte for byte: what clients other than the SDKs' (curl,
/// a proxy, a health probe, an HTTP/1.0 tool) send too.
@Suite struct CloudHTTPChannelTests {
    static let signature = "X-Amz-Date: 20240101T000000Z\r\nAuthorization: \(signed("sts"))\r\n"
    static let identity =
        "POST / HTTP/1.1\r\nHost: localhost\r\n\(signature)Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 43\r\n\r\nAction=GetCallerIdentity&Version=2011-06-15"

    /// Requests sent back to back on one connection, before any answer, are answered in order.
    @Test func answersPipelinedRequestsInOrder() async throws {
        try await withServer { port in
            let exchange = try await RawHTTP.exchange(
                port: port, sending: Self.identity + "GET /_skiff/health HTTP/1.1\r\nHost: localhost\r\n\r\n" + Self.identity,
                expecting: 3)
            #expect(exchange.responses.map(\.status) == [200, 200, 200])
            #expect(exchange.responses[0].body.contains("<GetCallerIdentityResult>"))
            #expect(exchange.responses[1].body.contains("\"sts\":\"running\""))
            #expect(exchange.responses[2].body.contains("<GetCallerIdentityResult>"))
            for response in exchange.responses {
                #expect(response.headers["server"] == "Skiff")
                #expect(response.headers["date"]?.hasSuffix(" GMT") == true)
                #expect(response.headers["content-length"] == String(response.body.utf8.count))
            }
            #expect(!exchange.closedByServer)
        }
    }

    /// `Connection: close` is honoured: the answer says so and the server closes the connection after it.
    @Test func closesAfterAnAnswerWhenAsked() async throws {
        try await withServer { port in
            let request = Self.identity.replacingOccurrences(of: "Host: localhost\r\n", with: "Host: localhost\r\nConnection: close\r\n")
            let exchange = try await RawHTTP.exchange(port: port, sending: request, expecting: 2)
            #expect(exchange.responses.count == 1)
            #expect(exchange.responses.first?.headers["connection"] == "close")
            #expect(exchange.closedByServer)
        }
    }

    /// A client that half-closes the connection after its request (as `nc -N` does) still reads the answer, and
    /// the connection is closed after it.
    @Test func answersAClientThatHalfClosed() async throws {
        try await withServer { port in
            let exchange = try await RawHTTP.exchange(port: port, sending: Self.identity, expecting: 2, halfClose: true)
            #expect(exchange.responses.map(\.status) == [200])
            #expect(exchange.responses.first?.body.contains("<GetCallerIdentityResult>") == true)
            #expect(exchange.closedByServer)
        }
    }

    /// A client that asks before sending its body (`Expect: 100-continue`, as curl does for large ones) is told to go on.
    @Test func tellsAClientThatAsksToSendItsBody() async throws {
        try await withServer { port in
            let exchange = try await RawHTTP.exchange(
                port: port,
                sending: Self.identity.replacingOccurrences(of: "Host: localhost\r\n", with: "Host: localhost\r\nExpect: 100-continue\r\n"),
                expecting: 2)
            #expect(exchange.responses.map(\.status) == [100, 200])
            #expect(exchange.responses.last?.body.contains("<GetCallerIdentityResult>") == true)
        }
    }

    /// An HTTP/1.0 request is answered in HTTP/1.0, and its connection closed (1.0 does not keep connections).
    @Test func answersHTTP10AndCloses() async throws {
        try await withServer { port in
            let exchange = try await RawHTTP.exchange(port: port, sending: "GET /_skiff/health HTTP/1.0\r\n\r\n", expecting: 2)
            #expect(exchange.responses.count == 1)
            #expect(exchange.responses.first?.statusLine.hasPrefix("HTTP/1.0 200") == true)
            #expect(exchange.closedByServer)
        }
    }

    /// A body past the limit is answered with AWS's error in the request's protocol, and the connection goes on to
    /// answer the next request: the rest of the body is read and dropped, not taken for a request.
    @Test func answersABodyTooLargeAndKeepsTheConnection() async throws {
        try await withServer(maximumRequestBytes: 64) { port in
            let body = "{\"padding\": \"" + String(repeating: "x", count: 200) + "\"}"
            let large =
                "POST / HTTP/1.1\r\nHost: localhost\r\n\(Self.signature)X-Amz-Target: AWSStepFunctions.ListStateMachines\r\n"
                + "Content-Type: application/x-amz-json-1.0\r\nContent-Length: \(body.utf8.count)\r\n\r\n" + body
            // The same body in chunks: the limit holds however the body is framed.
            let chunked =
                "POST / HTTP/1.1\r\nHost: localhost\r\n\(Self.signature)X-Amz-Target: AWSStepFunctions.ListStateMachines\r\n"
                + "Content-Type: application/x-amz-json-1.0\r\nTransfer-Encoding: chunked\r\n\r\n"
                + "64\r\n" + String(repeating: " ", count: 100) + "\r\n" + "64\r\n" + String(repeating: " ", count: 100) + "\r\n0\r\n\r\n"
            let exchange = try await RawHTTP.exchange(port: port, sending: large + chunked + Self.identity, expecting: 3)
            #expect(exchange.responses.map(\.status) == [413, 413, 200])
            for response in exchange.responses.prefix(2) {
                #expect(response.body.contains("RequestEntityTooLargeException"))
                #expect(response.body.contains("exceeds the maximum of 64 bytes"))
                #expect(response.headers["content-type"] == "application/x-amz-json-1.0")
            }
            #expect(exchange.responses.last?.body.contains("<GetCallerIdentityResult>") == true)
        }
    }

    /// A HEAD request is answered with the headers a GET would have, and no body.
    @Test func answersHeadWithoutABody() async throws {
        try await withServer { port in
            let exchange = try await RawHTTP.exchange(
                port: port,
                sending: "HEAD /_skiff/health HTTP/1.1\r\nHost: localhost\r\n\r\nGET /_skiff/health HTTP/1.1\r\nHost: localhost\r\n\r\n",
                expecting: 2, headRequests: [0])
            #expect(exchange.responses.map(\.status) == [200, 200])
            #expect(exchange.responses[0].body.isEmpty)
            // The health report's own length (its uptime varies): what a GET would have.
            #expect(Int(exchange.responses[0].headers["content-length"] ?? "") ?? 0 > 50)
            #expect(exchange.responses[1].body.contains("\"sts\":\"running\""))
        }
    }

    /// What is not HTTP is answered with 400 and the reason, and the connection closed.
    @Test func answersBadRequestToWhatIsNotHTTP() async throws {
        try await withServer { port in
            let exchange = try await RawHTTP.exchange(port: port, sending: "HELLO THERE\r\n\r\n", expecting: 2)
            #expect(exchange.responses.map(\.status) == [400])
            #expect(exchange.responses.first?.headers["content-type"] == "text/plain; charset=utf-8")
            #expect(exchange.responses.first?.headers["x-amzn-errortype"] == "BadRequest")
            #expect(exchange.responses.first?.body.contains("not an HTTP method") == true)
            #expect(exchange.closedByServer)
        }
    }

    /// Malformed requests are told what is wrong: headers past 80 KiB (431), a bad chunk size mid-body, a bad version;
    /// a known method no service answers gets AWS's error in JSON.
    @Test func explainsEachKindOfMalformedRequest() async throws {
        try await withServer { port in
            let huge = "GET / HTTP/1.1\r\nHost: localhost\r\nX-Padding: \(String(repeating: "a", count: 90_000))\r\n\r\n"
            let overflow = try await RawHTTP.exchange(port: port, sending: huge, expecting: 2)
            #expect(overflow.responses.map(\.status) == [431])
            #expect(overflow.responses.first?.body.contains("80 KiB") == true)
            #expect(overflow.closedByServer)

            let badChunk = "POST / HTTP/1.1\r\nHost: localhost\r\n\(Self.signature)Transfer-Encoding: chunked\r\n\r\nZZ\r\nxx\r\n0\r\n\r\n"
            let chunk = try await RawHTTP.exchange(port: port, sending: badChunk, expecting: 2)
            #expect(chunk.responses.map(\.status) == [400])
            #expect(chunk.responses.first?.body.contains("not valid HTTP/1.1") == true)
            #expect(chunk.closedByServer)

            let version = try await RawHTTP.exchange(port: port, sending: "GET / HTTP/3.7\r\nHost: localhost\r\n\r\n", expecting: 2)
            #expect(version.responses.first.map { [400, 505].contains($0.status) } == true)
            #expect(version.responses.first?.body.isEmpty == false)

            let unknown = try await RawHTTP.exchange(
                port: port, sending: "PROPFIND /x HTTP/1.1\r\nHost: localhost\r\n\(Self.signature)Content-Length: 0\r\n\r\n", expecting: 1)
            #expect(unknown.responses.map(\.status) == [404])
            #expect(unknown.responses.first?.body.contains("UnknownOperationException") == true)
        }
    }

    /// A request whose bytes stop coming is answered `RequestTimeout` once the read deadline passes, and its
    /// connection closed; the server answers others meanwhile.
    @Test func timesOutARequestThatNeverEnds() async throws {
        try await withServer(configure: { $0.requestReadTimeout = .milliseconds(300) }) { port in
            let started = ContinuousClock.now
            let halfSent = try await RawHTTP.exchange(
                port: port, sending: "POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n\r\nab", expecting: 2)
            #expect(halfSent.responses.map(\.status) == [400])
            #expect(halfSent.responses.first?.headers["x-amzn-errortype"] == "RequestTimeout")
            #expect(halfSent.responses.first?.body.contains("not read from or written to within the timeout period") == true)
            #expect(halfSent.closedByServer)
            #expect(ContinuousClock.now - started < .seconds(5))
            // Headers that never end, likewise.
            let halfHead = try await RawHTTP.exchange(port: port, sending: "POST / HTTP/1.1\r\nHost: loc", expecting: 2)
            #expect(halfHead.responses.map(\.status) == [400])
            #expect(halfHead.closedByServer)
        }
    }

    /// A connection with no request under way is closed after the idle timeout; one whose request is being answered
    /// is not timed (an answer may take long).
    @Test func closesIdleConnections() async throws {
        try await withServer(configure: { $0.idleConnectionTimeout = .milliseconds(300) }) { port in
            let idle = try await RawHTTP.exchange(port: port, sending: "", expecting: 1)
            #expect(idle.responses.isEmpty)
            #expect(idle.closedByServer)
            let afterAnswer = try await RawHTTP.exchange(port: port, sending: Self.identity, expecting: 2)
            #expect(afterAnswer.responses.map(\.status) == [200])
            #expect(afterAnswer.closedByServer)
        }
    }

    /// Past the connection limit a new connection is answered 503 and closed; once others close, it is served again.
    @Test func refusesConnectionsPastTheLimit() async throws {
        try await withServer(configure: { $0.maximumConnections = 2 }) { port in
            let holders = try (0..<2).map { _ in try connectToLoopback(port: port) }
            // Each held connection is counted once the server has set it up.
            try await Task.sleep(for: .milliseconds(200))
            let refused = try await RawHTTP.exchange(port: port, sending: Self.identity, expecting: 2)
            #expect(refused.responses.map(\.status) == [503])
            #expect(refused.responses.first?.headers["x-amzn-errortype"] == "ServiceUnavailable")
            #expect(refused.closedByServer)
            for socket in holders { close(socket) }
            var served: [Int] = []
            for _ in 0..<50 where served != [200] {
                try await Task.sleep(for: .milliseconds(50))
                served = try await RawHTTP.exchange(port: port, sending: Self.identity, expecting: 1).responses.map(\.status)
            }
            #expect(served == [200])
        }
    }

    /// Request bodies held at once are bounded over all connections: a body that would pass the total while others
    /// are held is answered 503 `SlowDown` (which the SDKs retry), and served once the others are answered.
    @Test func boundsTheBodiesHeldAtOnce() async throws {
        let release = AsyncStream.makeStream(of: Void.self)
        let started = AsyncStream.makeStream(of: Void.self)
        var configuration = CloudConfiguration(port: 0, stateDirectory: nil)
        configuration.maximumBufferedRequestBytes = 1000
        let limits = ConnectionLimits(configuration: configuration)
        let channel = CloudHTTPChannel(group: MultiThreadedEventLoopGroup.singleton, limits: limits) { request in
            if let refusal = request.refusal {
                return OperationResponse(status: refusal.status, headers: [("x-amzn-ErrorType", refusal.code)])
            }
            if request.head.uri == "/hold" {
                started.continuation.yield()
                for await _ in release.stream { break }
            }
            return OperationResponse(status: 200, body: Array("\(request.body?.readableBytes ?? 0)".utf8))
        }
        try await withChannelServer(channel) { port, _ in
            let body = String(repeating: "x", count: 600)
            let hold = "POST /hold HTTP/1.1\r\nHost: localhost\r\nContent-Length: 600\r\n\r\n\(body)"
            let other = hold.replacingOccurrences(of: "/hold", with: "/other")
            let held = Task { try await RawHTTP.exchange(port: port, sending: hold, expecting: 1) }
            var startedIterator = started.stream.makeAsyncIterator()
            await startedIterator.next()
            #expect(limits.bufferedByteCount == 600)
            let refused = try await RawHTTP.exchange(port: port, sending: other, expecting: 1)
            #expect(refused.responses.map(\.status) == [503])
            #expect(refused.responses.first?.headers["x-amzn-errortype"] == "SlowDown")
            release.continuation.yield()
            #expect(try await held.value.responses.map(\.body) == ["600"])
            let served = try await RawHTTP.exchange(port: port, sending: other, expecting: 1)
            #expect(served.responses.map(\.body) == ["600"])
            #expect(limits.bufferedByteCount == 0)
        }
    }

    /// A request through a proxy names the whole URL: the path and query are found in it as in origin form.
    @Test func findsThePathAndQueryOfEitherTargetForm() {
        #expect(ReceivedRequest.split(target: "/") == ("/", nil))
        #expect(ReceivedRequest.split(target: "/schedules/a%2Fb?groupName=g&x") == ("/schedules/a%2Fb", "groupName=g&x"))
        #expect(ReceivedRequest.split(target: "/?") == ("/", ""))
        #expect(ReceivedRequest.split(target: "/p#fragment") == ("/p", nil))
        #expect(ReceivedRequest.split(target: "http://localhost:4566/p/q?a=1#f") == ("/p/q", "a=1"))
        #expect(ReceivedRequest.split(target: "http://localhost:4566") == ("/", nil))
        #expect(ReceivedRequest.split(target: "http://localhost:4566?a=1") == ("/", "a=1"))
        #expect(ReceivedRequest.split(target: "*") == ("*", nil))
    }

    /// Header names are lower-cased and repeated fields joined, as services read them; the query is parsed.
    @Test func readsHeadersAndQueryAsServicesDo() {
        var head = HTTPRequestHead(version: .http1_1, method: .POST, uri: "/path?a=1&b=two%20words&a=3")
        head.headers.add(name: "X-Amz-Target", value: "AWSStepFunctions.ListStateMachines")
        head.headers.add(name: "Accept", value: "text/plain")
        head.headers.add(name: "ACCEPT", value: "application/json")
        head.headers.add(name: "x-already-lower", value: "v")
        let request = ReceivedRequest(head: head, body: ByteBuffer(string: "{}"), refusal: nil).operationRequest
        #expect(request.method == "POST")
        #expect(request.path == "/path")
        #expect(request.query == ["a": ["1", "3"], "b": ["two words"]])
        #expect(
            request.headers == [
                "x-amz-target": "AWSStepFunctions.ListStateMachines", "accept": "text/plain,application/json", "x-already-lower": "v",
            ])
        #expect(request.body == Array("{}".utf8))
        #expect(ReceivedRequest.lowercased("Content-Type") == "content-type")
        #expect(ReceivedRequest.lowercased("héader-Ä") == "héader-Ä")  // only ASCII letters change
    }

    /// A stopping server lets the answer under way finish and be written, then closes the connection, and stops
    /// only after.
    @Test func aStoppingServerFinishesTheAnswerUnderWay() async throws {
        let started = AsyncStream.makeStream(of: Void.self)
        let release = AsyncStream.makeStream(of: Void.self)
        let limits = ConnectionLimits(configuration: CloudConfiguration(maximumRequestBytes: 1024))
        let channel = CloudHTTPChannel(group: MultiThreadedEventLoopGroup.singleton, limits: limits) { _ in
            started.continuation.yield()
            for await _ in release.stream { break }
            return OperationResponse(status: 200, headers: [("Content-Type", "text/plain")], body: Array("done".utf8))
        }
        try await withChannelServer(channel) { port, group in
            let exchange = Task { try await RawHTTP.exchange(port: port, sending: "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n", expecting: 2) }
            var startedIterator = started.stream.makeAsyncIterator()
            await startedIterator.next()
            await group.triggerGracefulShutdown()  // what SIGTERM does
            release.continuation.yield()
            let result = try await exchange.value
            #expect(result.responses.map(\.body) == ["done"])
            #expect(result.closedByServer)
        }
    }

    /// Runs `channel` on a port of its own until `body` (given the port and the server's service group) returns.
    func withChannelServer(_ channel: CloudHTTPChannel, _ body: (Int, ServiceGroup) async throws -> Void) async throws {
        let (ports, portContinuation) = AsyncStream.makeStream(of: Int.self)
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let server = channel.server(
            configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { portContinuation.yield($0.localAddress?.port ?? 0) },
            eventLoopGroup: MultiThreadedEventLoopGroup.singleton, logger: logger)
        let group = ServiceGroup(services: [server], logger: logger)
        let running = Task { try await group.run() }
        var portIterator = ports.makeAsyncIterator()
        let port = try #require(await portIterator.next())
        defer { running.cancel() }
        try await body(port, group)
        await group.triggerGracefulShutdown()
        try await running.value
    }

    func withServer(
        maximumRequestBytes: Int = 10 * 1024 * 1024, configure: (inout CloudConfiguration) -> Void = { _ in },
        _ body: (Int) async throws -> Void
    ) async throws {
        let cloud = try Cloud.testing([STSService()]) { configuration in
            configuration.port = 0
            configuration.maximumRequestBytes = maximumRequestBytes
            configure(&configuration)
        }
        try await cloud.withServer(body)
    }
}

/// An HTTP/1.1 client of plain sockets: writes bytes as given and reads what comes back, so that tests can send
/// what no well-behaved client library would.
enum RawHTTP {
    struct Response {
        var statusLine: String
        var status: Int
        /// Lower-cased names.
        var headers: [String: String]
        var body: String
    }

    struct Exchange {
        var responses: [Response]
        /// The server closed the connection (read end of stream) before `expecting` answers came.
        var closedByServer: Bool
    }

    /// Sends `text` on a new connection, then reads until `expecting` answers have come, the server closes, or
    /// 10 s pass. `headRequests` are the indices of answers to HEAD requests, which have no body.
    /// With `halfClose`, the client shuts its side of the connection once it has sent `text`.
    static func exchange(
        port: Int, sending text: String, expecting: Int, headRequests: Set<Int> = [], halfClose: Bool = false
    )
        async throws -> Exchange
    {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(
                    with: Result {
                        try blockingExchange(port: port, text: text, expecting: expecting, headRequests: headRequests, halfClose: halfClose)
                    })
            }
        }
    }

    struct Failure: Error, CustomStringConvertible { var description: String }

    private static func blockingExchange(
        port: Int, text: String, expecting: Int, headRequests: Set<Int>, halfClose: Bool
    )
        throws -> Exchange
    {
        let socket = try connectToLoopback(port: port)
        defer { close(socket) }
        let bytes = Array(text.utf8)
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { send(socket, $0.baseAddress, $0.count, 0) }
            guard n > 0 else { throw Failure(description: "send: \(errno)") }
            sent += n
        }
        if halfClose { shutdown(socket, Int32(SHUT_WR)) }
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let (responses, complete) = parse(received, headRequests: headRequests)
            if responses.count >= expecting && complete { return Exchange(responses: responses, closedByServer: false) }
            let n = buffer.withUnsafeMutableBytes { recv(socket, $0.baseAddress, $0.count, 0) }
            if n == 0 { return Exchange(responses: parse(received, headRequests: headRequests).0, closedByServer: true) }
            guard n > 0 else { throw Failure(description: "recv: \(errno) after \(String(decoding: received, as: UTF8.self))") }
            received += buffer[..<n]
        }
    }

    /// The whole answers in `bytes`, and whether nothing follows the last of them.
    static func parse(_ bytes: [UInt8], headRequests: Set<Int>) -> ([Response], Bool) {
        var responses: [Response] = []
        var rest = bytes[...]
        let separator = Array("\r\n\r\n".utf8)
        while let end = rest.firstRange(of: separator) {
            let headText = String(decoding: rest[..<end.lowerBound], as: UTF8.self)
            var lines = headText.components(separatedBy: "\r\n")
            let statusLine = lines.removeFirst()
            var headers: [String: String] = [:]
            for line in lines {
                guard let colon = line.firstIndex(of: ":") else { continue }
                headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            }
            let length = headRequests.contains(responses.count) ? 0 : Int(headers["content-length"] ?? "0") ?? 0
            guard rest[end.upperBound...].count >= length else { return (responses, false) }
            let bodyEnd = rest.index(end.upperBound, offsetBy: length)
            let status = Int(statusLine.split(separator: " ").dropFirst().first ?? "") ?? 0
            responses.append(
                Response(
                    statusLine: statusLine, status: status, headers: headers,
                    body: String(decoding: rest[end.upperBound..<bodyEnd], as: UTF8.self)))
            rest = rest[bodyEnd...]
        }
        return (responses, rest.isEmpty)
    }
}
