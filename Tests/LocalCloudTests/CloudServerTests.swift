import Foundation
import HTTPTypes
import HummingbirdCore
import HummingbirdTesting
import LocalCloudTesting
import NIOCore
import NIOPosix
import STSService
import Testing

@testable import LocalCloud

@Suite struct EventLoopTaskExecutorTests {
    /// A task preferring the executor runs on the loop's thread, and comes back to it after each suspension, even
    /// when resumed from another thread.
    @Test func runsTheTaskOnItsEventLoop() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        let loop = group.next()
        let executor = EventLoopTaskExecutor(eventLoop: loop)
        let onLoop = await withTaskExecutorPreference(executor) { () async -> [Bool] in
            var seen = [loop.inEventLoop]
            for _ in 0..<3 {
                // Resumed from a dispatch thread, as a database commit resumes its writer.
                await withCheckedContinuation { continuation in
                    DispatchQueue.global().async { continuation.resume() }
                }
                seen.append(loop.inEventLoop)
                try? await Task.sleep(for: .milliseconds(1))
                seen.append(loop.inEventLoop)
            }
            return seen
        }
        #expect(onLoop == Array(repeating: true, count: 7))
        // Without the preference the task is not on the loop.
        #expect(!loop.inEventLoop)
        try await group.shutdownGracefully()
    }

    /// Unstructured tasks started from a connection's handler do not inherit its event loop: executions and
    /// runners must not hold the loop that reads other requests.
    @Test func unstructuredTasksStayOnTheGlobalExecutor() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let loop = group.next()
        let inherited = await withTaskExecutorPreference(EventLoopTaskExecutor(eventLoop: loop)) { () async -> Bool in
            await Task { loop.inEventLoop }.value
        }
        #expect(!inherited)
        try await group.shutdownGracefully()
    }
}

@Suite struct CloudServerTests {
    /// Through a real socket, on the server `skiff up` runs (the connection handling prepared first, as `skiff up`
    /// does): concurrent requests on many connections are all answered, each in its protocol, with the `Date` and
    /// `Server` headers AWS's answers carry.
    @Test func answersConcurrentRequestsOverHTTP() async throws {
        let environment = try ServiceEnvironment.testing { $0.port = 0 }
        CloudServer.prepareConnectionHandling(logger: environment.logger)
        let cloud = try Cloud(services: [STSService()], environment: environment)
        try await cloud.withServer { port in
            let clients = (0..<4).map { _ in TestClient(host: "127.0.0.1", port: port) }
            for client in clients { client.connect() }
            let statuses = try await withThrowingTaskGroup(of: (UInt, Bool).self) { group in
                for index in 0..<40 {
                    group.addTask {
                        let response = try await clients[index % clients.count].post(
                            "/",
                            headers: [
                                .contentType: "application/x-www-form-urlencoded", HTTPField.Name("X-Amz-Date")!: "20240101T000000Z",
                                .authorization: signed("sts"),
                            ],
                            body: ByteBuffer(string: "Action=GetCallerIdentity&Version=2011-06-15"))
                        return (UInt(response.status.code), Self.text(response).contains("<Account>000000000000</Account>"))
                    }
                }
                return try await group.reduce(into: [(UInt, Bool)]()) { $0.append($1) }
            }
            #expect(statuses.count == 40)
            #expect(statuses.allSatisfy { $0.0 == 200 && $0.1 })
            let client = clients[0]
            let health = try await client.get("/_skiff/health")
            #expect(health.status == .ok)
            #expect(Self.text(health).contains("\"sts\":\"running\""))
            #expect(health.headers[.server] == "Skiff")
            let date = try #require(health.headers[.date])
            #expect(date.hasSuffix(" GMT") && date.count == "Sun, 06 Nov 1994 08:49:37 GMT".count, "\(date)")
            let malformed = try await client.post(
                "/", headers: [.contentType: "application/x-amz-json-1.0"], body: ByteBuffer(string: "{"))
            #expect(malformed.status.code >= 400 && malformed.status.code < 500)
            for client in clients { try await client.shutdown() }
        }
    }

    static func text(_ response: TestClient.Response) -> String { response.body.map { String(buffer: $0) } ?? "" }
}

@Suite struct HTTPDateHeaderTests {
    @Test func formatsInstantsAsIMFFixdate() {
        #expect(HTTPDateHeader.format(secondsSince1970: 784_111_777) == "Sun, 06 Nov 1994 08:49:37 GMT")  // RFC 9110's example
        #expect(HTTPDateHeader.format(secondsSince1970: 0) == "Thu, 01 Jan 1970 00:00:00 GMT")
        #expect(HTTPDateHeader.format(secondsSince1970: -1) == "Wed, 31 Dec 1969 23:59:59 GMT")
        #expect(HTTPDateHeader.format(secondsSince1970: 951_782_400) == "Tue, 29 Feb 2000 00:00:00 GMT")  // leap day of a 400th year
        #expect(HTTPDateHeader.format(secondsSince1970: 4_107_542_399) == "Sun, 28 Feb 2100 23:59:59 GMT")  // 2100 is no leap year
        #expect(HTTPDateHeader.format(secondsSince1970: 4_107_542_400) == "Mon, 01 Mar 2100 00:00:00 GMT")
        #expect(HTTPDateHeader.format(secondsSince1970: 1_796_266_146) == "Thu, 03 Dec 2026 02:49:06 GMT")
    }

    /// Every day of 1900-2100 against Foundation's Gregorian calendar in UTC.
    @Test func agreesWithFoundationsCalendar() throws {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = try #require(TimeZone(identifier: "UTC"))
        for day in Int64(-25_567)...Int64(47_482) {
            let parts = calendar.dateComponents([.year, .month, .day], from: Date(timeIntervalSince1970: Double(day) * 86_400))
            let civil = HTTPDateHeader.civilDate(daysSince1970: day)
            if civil.year != parts.year || civil.month != parts.month || civil.day != parts.day {
                Issue.record("day \(day): \(civil) against \(parts)")
                return
            }
        }
    }

    @Test func reusesTheValueWithinASecond() {
        let header = HTTPDateHeader()
        #expect(header.value(atSecond: 0) == "Thu, 01 Jan 1970 00:00:00 GMT")
        #expect(header.value(atSecond: 0) == "Thu, 01 Jan 1970 00:00:00 GMT")
        #expect(header.value(atSecond: 1) == "Thu, 01 Jan 1970 00:00:01 GMT")
    }
}
