import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
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
    /// Through a real socket: concurrent requests on many connections are all answered, each in its protocol.
    @Test func answersConcurrentRequestsOverHTTP() async throws {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let configuration = CloudConfiguration(port: 0, stateDirectory: nil)
        let environment = ServiceEnvironment(
            database: try CloudDatabase(stateDirectory: nil), logger: logger, configuration: configuration)
        let cloud = try LocalCloud(services: [STSService()], environment: environment)
        let application = CloudServer(cloud: cloud).application()
        try await application.test(.live) { client in
            let statuses = try await withThrowingTaskGroup(of: (UInt, Bool).self) { group in
                for _ in 0..<40 {
                    group.addTask {
                        try await client.execute(
                            uri: "/", method: .post,
                            headers: [.contentType: "application/x-www-form-urlencoded"],
                            body: ByteBuffer(string: "Action=GetCallerIdentity&Version=2011-06-15")
                        ) { response in
                            (UInt(response.status.code), String(buffer: response.body).contains("<Account>000000000000</Account>"))
                        }
                    }
                }
                return try await group.reduce(into: [(UInt, Bool)]()) { $0.append($1) }
            }
            #expect(statuses.count == 40)
            #expect(statuses.allSatisfy { $0.0 == 200 && $0.1 })
            try await client.execute(uri: "/_skiff/health", method: .get) { response in
                #expect(response.status == .ok)
                #expect(String(buffer: response.body).contains("\"sts\":\"running\""))
            }
            try await client.execute(uri: "/", method: .post, headers: [.contentType: "application/x-amz-json-1.0"],
                                     body: ByteBuffer(string: "{")) { response in
                #expect(response.status.code >= 400 && response.status.code < 500)
            }
        }
    }
}
