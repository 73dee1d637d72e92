import Foundation
import JSONCore
import LocalCloud
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A WebSocket (RFC 6455) to the local cloud, over plain TCP (`ws://` only), with blocking reads and writes: one
/// thread reads, any thread writes. Enough for an exec session's data channel; no extensions, no TLS.
final class WebSocketClient: Sendable {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    enum Message: Equatable {
        case text(String)
        case binary([UInt8])
    }

    private let fd: Int32
    private let writing = Mutex(())
    /// What was read past the handshake's answer, or past the last frame: the reading thread's own.
    nonisolated(unsafe) private var buffered: [UInt8] = []
    private let closed = Atomic<Bool>(false)

    /// The largest message read: bigger ones are refused (the local cloud sends a few KiB at a time).
    static let maximumMessageBytes = 16 * 1024 * 1024

    /// Connects to `url` (`ws://host:port/path`) and performs the handshake; `headers` come from `sign`, given the
    /// request's method, path, query and `Host` (a SigV4 signature, say).
    init(url: String, sign: (_ path: String, _ query: [(String, String)], _ host: String) -> [String: String]) throws(Failure) {
        guard let parsed = URLComponents(string: url), parsed.scheme == "ws", let host = parsed.host, !host.isEmpty else {
            throw Failure(description: "\(url) is not a ws:// URL of the local cloud")
        }
        let port = parsed.port ?? 80
        let authority = parsed.port.map { "\(host.contains(":") ? "[\(host)]" : host):\($0)" } ?? host
        let path = parsed.percentEncodedPath.isEmpty ? "/" : parsed.percentEncodedPath
        let query = (parsed.queryItems ?? []).map { ($0.name, $0.value ?? "") }
        fd = try Self.openSocket(host: host, port: port)
        do {
            var keyBytes = [UInt8](repeating: 0, count: 16)
            var generator = SystemRandomNumberGenerator()
            for index in keyBytes.indices { keyBytes[index] = UInt8.random(in: 0...255, using: &generator) }
            let key = Data(keyBytes).base64EncodedString()
            let target = parsed.percentEncodedQuery.map { "\(path)?\($0)" } ?? path
            var request =
                "GET \(target) HTTP/1.1\r\nHost: \(authority)\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                + "Sec-WebSocket-Key: \(key)\r\nSec-WebSocket-Version: 13\r\n"
            for (name, value) in sign(path, query, authority).sorted(by: { $0.key < $1.key }) { request += "\(name): \(value)\r\n" }
            try writeAll(Array((request + "\r\n").utf8))
            try readHandshake(key: key)
        } catch {
            close(fd)
            throw error
        }
    }

    deinit {
        close(fd)
    }

    private static func openSocket(host: String, port: Int) throws(Failure) -> Int32 {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        #if canImport(Glibc)
            hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        #else
            hints.ai_socktype = SOCK_STREAM
        #endif
        var info: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &info) == 0, let first = info else {
            throw Failure(description: "cannot resolve \(host)")
        }
        defer { freeaddrinfo(info) }
        var entry: UnsafeMutablePointer<addrinfo>? = first
        while let candidate = entry {
            let descriptor = socket(candidate.pointee.ai_family, candidate.pointee.ai_socktype, candidate.pointee.ai_protocol)
            if descriptor >= 0 {
                if connect(descriptor, candidate.pointee.ai_addr, candidate.pointee.ai_addrlen) == 0 {
                    var one: Int32 = 1
                    _ = setsockopt(descriptor, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
                    return descriptor
                }
                close(descriptor)
            }
            entry = candidate.pointee.ai_next
        }
        throw Failure(description: "cannot connect to \(host):\(port) (is skiff up running?)")
    }

    /// Reads the handshake's answer: 101 with the right `Sec-WebSocket-Accept`, or the server's reason.
    private func readHandshake(key: String) throws(Failure) {
        var response: [UInt8] = []
        var end: Int? = nil
        while end == nil {
            guard let chunk = try readChunk() else {
                throw Failure(description: "the local cloud closed the connection during the WebSocket handshake")
            }
            response += chunk
            end = Self.find([13, 10, 13, 10], in: response)
            if end == nil && response.count > 64 * 1024 { throw Failure(description: "the WebSocket handshake's answer is too long") }
        }
        let headerEnd = end! + 4
        let head = String(decoding: response[..<end!], as: UTF8.self)
        var lines = head.components(separatedBy: "\r\n")
        let status = lines.removeFirst().split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0
        var headers: [String: String] = [:]
        for line in lines {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        var rest = Array(response[headerEnd...])
        guard status == 101 else {
            // The reason is in the body (JSON with a message, as Skiff's endpoints answer).
            let length = Int(headers["content-length"] ?? "") ?? 0
            while rest.count < length, let chunk = try? readChunk() { rest += chunk }
            let body = String(decoding: rest.prefix(length), as: UTF8.self)
            let message = (try? JSON(parsing: body))?["message"]?.stringValue ?? body
            throw Failure(description: message.isEmpty ? "the local cloud refused the session's connection (HTTP \(status))" : message)
        }
        guard headers["sec-websocket-accept"] == WebSocketUpgrade.acceptValue(forKey: key) else {
            throw Failure(description: "the local cloud's WebSocket handshake answer is not valid")
        }
        buffered = rest
    }

    // MARK: Frames

    func sendMessage(_ message: Message) throws(Failure) {
        switch message {
        case .text(let text): try sendFrame(opcode: 0x1, payload: Array(text.utf8))
        case .binary(let bytes): try sendFrame(opcode: 0x2, payload: bytes)
        }
    }

    /// Sends a close frame (1000, normal closure) once.
    func closeConnection() {
        guard !closed.exchange(true, ordering: .relaxed) else { return }
        try? sendFrame(opcode: 0x8, payload: [0x03, 0xE8], evenIfClosed: true)
        shutdown(fd, Int32(SHUT_WR))
    }

    private func sendFrame(opcode: UInt8, payload: [UInt8], evenIfClosed: Bool = false) throws(Failure) {
        guard evenIfClosed || !closed.load(ordering: .relaxed) else { throw Failure(description: "the session's connection is closed") }
        var frame: [UInt8] = [0x80 | opcode]
        // A client masks what it sends.
        if payload.count < 126 {
            frame.append(0x80 | UInt8(payload.count))
        } else if payload.count <= 0xFFFF {
            frame.append(0x80 | 126)
            frame += [UInt8(payload.count >> 8), UInt8(payload.count & 0xFF)]
        } else {
            frame.append(0x80 | 127)
            for shift in stride(from: 56, through: 0, by: -8) { frame.append(UInt8((UInt64(payload.count) >> UInt64(shift)) & 0xFF)) }
        }
        var generator = SystemRandomNumberGenerator()
        let mask = (0..<4).map { _ in UInt8.random(in: 0...255, using: &generator) }
        frame += mask
        frame.reserveCapacity(frame.count + payload.count)
        for (index, byte) in payload.enumerated() { frame.append(byte ^ mask[index & 3]) }
        try writing.withLock { _ throws(Failure) in try writeAll(frame) }
    }

    /// The next whole message, answering pings on the way; nil when the server closed the connection.
    func receive() throws(Failure) -> Message? {
        var fragments: [UInt8] = []
        var fragmentedOpcode: UInt8? = nil
        while true {
            guard let (fin, opcode, payload) = try readFrame() else { return nil }
            switch opcode {
            case 0x9:
                try? sendFrame(opcode: 0xA, payload: payload)
            case 0xA:
                break
            case 0x8:
                if !closed.exchange(true, ordering: .relaxed) {
                    try? sendFrame(opcode: 0x8, payload: Array(payload.prefix(2)), evenIfClosed: true)
                }
                return nil
            case 0x0, 0x1, 0x2:
                if opcode != 0 { fragmentedOpcode = opcode }
                fragments += payload
                guard fragments.count <= Self.maximumMessageBytes else {
                    throw Failure(description: "a message of the session is too large")
                }
                guard fin else { continue }
                defer { fragments = []; fragmentedOpcode = nil }
                return fragmentedOpcode == 0x1 ? .text(String(decoding: fragments, as: UTF8.self)) : .binary(fragments)
            default:
                throw Failure(description: "the session's connection sent a frame of unknown kind \(opcode)")
            }
        }
    }

    private func readFrame() throws(Failure) -> (fin: Bool, opcode: UInt8, payload: [UInt8])? {
        guard let head = try readExactly(2) else { return nil }
        var length = UInt64(head[1] & 0x7F)
        if length == 126 {
            guard let extended = try readExactly(2) else { return nil }
            length = UInt64(extended[0]) << 8 | UInt64(extended[1])
        } else if length == 127 {
            guard let extended = try readExactly(8) else { return nil }
            length = extended.reduce(0) { $0 << 8 | UInt64($1) }
        }
        guard length <= UInt64(Self.maximumMessageBytes) else { throw Failure(description: "a frame of the session is too large") }
        var mask: [UInt8]? = nil
        if head[1] & 0x80 != 0 {
            guard let key = try readExactly(4) else { return nil }
            mask = key
        }
        guard var payload = try readExactly(Int(length)) else { return nil }
        if let mask { for index in payload.indices { payload[index] ^= mask[index & 3] } }
        return (head[0] & 0x80 != 0, head[0] & 0x0F, payload)
    }

    private func readExactly(_ count: Int) throws(Failure) -> [UInt8]? {
        while buffered.count < count {
            guard let chunk = try readChunk() else { return nil }
            buffered += chunk
        }
        let bytes = Array(buffered[..<count])
        buffered.removeFirst(count)
        return bytes
    }

    private func readChunk() throws(Failure) -> [UInt8]? {
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count > 0 { return Array(chunk[..<count]) }
            if count == 0 { return nil }
            if errno == EINTR { continue }
            if errno == ECONNRESET { return nil }
            throw Failure(description: "cannot read the session's connection: \(String(cString: strerror(errno)))")
        }
    }

    private func writeAll(_ bytes: [UInt8]) throws(Failure) {
        var sent = 0
        while sent < bytes.count {
            #if canImport(Glibc)
                let flags = Int32(MSG_NOSIGNAL)
            #else
                let flags: Int32 = 0
            #endif
            let count = bytes[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, flags) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { throw Failure(description: "the session's connection closed") }
            sent += count
        }
    }

    private static func find(_ needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        for start in 0...(haystack.count - needle.count) where Array(haystack[start..<start + needle.count]) == needle { return start }
        return nil
    }
}
