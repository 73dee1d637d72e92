import LocalCloud

#if canImport(Glibc)
    import Glibc
    private let streamSocket = Int32(SOCK_STREAM.rawValue)
#elseif canImport(Darwin)
    import Darwin
    private let streamSocket = SOCK_STREAM
#endif

extension Cloud {
    /// Runs this cloud on the server `skiff up` runs, on a loopback port of the system's choosing, until `body`
    /// (given the port) returns or throws; for what only a real connection shows (HTTP/1.1 handling, WebSockets).
    /// The cloud's configuration must ask for port 0: a fixed port would meet a running `skiff up` or another test.
    public func withServer(_ body: (_ port: Int) async throws -> Void) async throws {
        precondition(environment.configuration.port == 0, "a test server listens on port 0")
        let (ports, portContinuation) = AsyncStream.makeStream(of: Int.self)
        let server = Task { try await CloudServer(cloud: self).run { port in portContinuation.yield(port) } }
        var portIterator = ports.makeAsyncIterator()
        guard let port = await portIterator.next() else {
            try await server.value
            throw TestServerFailure(description: "the server stopped before it listened")
        }
        do {
            try await body(port)
        } catch {
            server.cancel()
            throw error
        }
        server.cancel()
        try await server.value
    }
}

/// A test server that did not start, or a connection to it that failed.
public struct TestServerFailure: Error, CustomStringConvertible {
    public var description: String
}

/// A blocking socket connected to `port` on 127.0.0.1, whose reads time out after 10 s (a test waiting for an answer
/// that never comes fails rather than hangs); the caller closes it.
public func connectToLoopback(port: Int) throws -> Int32 {
    let descriptor = socket(AF_INET, streamSocket, 0)
    guard descriptor >= 0 else { throw TestServerFailure(description: "socket: \(errno)") }
    var timeout = timeval(tv_sec: 10, tv_usec: 0)
    setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard connected == 0 else {
        close(descriptor)
        throw TestServerFailure(description: "connect: \(errno)")
    }
    return descriptor
}
