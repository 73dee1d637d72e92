import AWSProtocol
import Foundation
import JSONCore
import LocalCloudTesting
import Testing

@testable import ECSService
@testable import LocalCloud
@testable import TaskRunners

#if canImport(Glibc)
    import Glibc
#endif

/// A WebSocket client of plain sockets, for what a session's data channel must do on a real connection.
final class TestWebSocket {
    let socket: Int32
    private var buffered: [UInt8] = []

    struct Failure: Error, CustomStringConvertible { var description: String }

    /// Connects and sends the handshake for `path` with `headers`; `status` is the answer's, `body` its body.
    init(port: Int, path: String, headers: [String: String] = signed) throws {
        socket = try connectToLoopback(port: port)
        var request =
            "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
        for (name, value) in headers { request += "\(name): \(value)\r\n" }
        try write(Array((request + "\r\n").utf8))
    }

    deinit { close(socket) }

    /// The handshake's answer: status, headers (lower-cased), and body.
    func answer() throws -> (status: Int, headers: [String: String], body: String) {
        while find([13, 10, 13, 10]) == nil { try fill() }
        let end = find([13, 10, 13, 10])!
        let head = String(decoding: buffered[..<end], as: UTF8.self)
        buffered.removeFirst(end + 4)
        var lines = head.components(separatedBy: "\r\n")
        let status = Int(lines.removeFirst().split(separator: " ")[1]) ?? 0
        var headers: [String: String] = [:]
        for line in lines {
            let parts = line.split(separator: ":", maxSplits: 1)
            if parts.count == 2 { headers[parts[0].lowercased()] = parts[1].trimmingCharacters(in: .whitespaces) }
        }
        let length = Int(headers["content-length"] ?? "0") ?? 0
        while buffered.count < length { try fill() }
        let body = String(decoding: buffered.prefix(length), as: UTF8.self)
        buffered.removeFirst(length)
        return (status, headers, body)
    }

    func send(opcode: UInt8, _ payload: [UInt8]) throws {
        var frame: [UInt8] = [0x80 | opcode]
        if payload.count < 126 {
            frame.append(0x80 | UInt8(payload.count))
        } else {
            frame += [0x80 | 126, UInt8(payload.count >> 8), UInt8(payload.count & 0xFF)]
        }
        let mask: [UInt8] = [1, 2, 3, 4]
        frame += mask
        for (index, byte) in payload.enumerated() { frame.append(byte ^ mask[index & 3]) }
        try write(frame)
    }

    /// The next frame's opcode and payload; nil at the end of the connection.
    func receive() throws -> (opcode: UInt8, payload: [UInt8])? {
        do {
            while buffered.count < 2 { try fill() }
            var length = Int(buffered[1] & 0x7F)
            var offset = 2
            if length == 126 {
                while buffered.count < 4 { try fill() }
                length = Int(buffered[2]) << 8 | Int(buffered[3])
                offset = 4
            }
            while buffered.count < offset + length { try fill() }
            let frame = (buffered[0] & 0x0F, Array(buffered[offset..<(offset + length)]))
            buffered.removeFirst(offset + length)
            return frame
        } catch is EndOfStream {
            return nil
        }
    }

    /// The next session message the server sends (pings and others skipped); nil at the end of the connection.
    func message() throws -> SessionMessage? {
        while let (opcode, payload) = try receive() {
            if opcode == 0x2 { return try SessionMessage(parsing: payload) }
            if opcode == 0x8 { return nil }
        }
        return nil
    }

    struct EndOfStream: Error {}

    private func fill() throws {
        var chunk = [UInt8](repeating: 0, count: 65536)
        let count = chunk.withUnsafeMutableBytes { recv(socket, $0.baseAddress, $0.count, 0) }
        if count == 0 { throw EndOfStream() }
        guard count > 0 else { throw Failure(description: "recv: \(errno)") }
        buffered += chunk[0..<count]
    }

    private func write(_ bytes: [UInt8]) throws {
        let sent = bytes.withUnsafeBytes { Glibc.send(socket, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        guard sent == bytes.count else { throw Failure(description: "send: \(errno)") }
    }

    private func find(_ needle: [UInt8]) -> Int? {
        guard buffered.count >= needle.count else { return nil }
        return (0...(buffered.count - needle.count)).first { Array(buffered[$0..<($0 + needle.count)]) == needle }
    }
}

/// An exec session's data channel on a real connection of the local cloud's server: the WebSocket handshake through the
/// origin policy, the signature and the session's checks, and a session that outlives the connection timeouts.
@Suite struct ExecWebSocketTests {
    /// Runs `body` off the cooperative threads (the client's socket blocks).
    func blocking<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async { continuation.resume(with: Result { try body() }) }
        }
    }

    @Test func aSessionOutlivesTheConnectionTimeoutsAndEndsWithItsCommand() async throws {
        let h = try Harness(configure: { configuration in
            configuration.port = 0
            configuration.idleConnectionTimeout = .milliseconds(200)
            configuration.requestReadTimeout = .milliseconds(200)
            configuration.maximumConnections = 2
        })
        _ = try await h.ecs("CreateCluster", [:])
        _ = try await h.ecs(
            "RegisterTaskDefinition",
            ["family": "holder", "containerDefinitions": [["name": "app", "image": "php-app", "memory": 64, "command": ["sleep", "60"]]]])
        let taskArn = try #require(
            try await h.ecs("RunTask", ["taskDefinition": "holder", "enableExecuteCommand": true]).body["tasks"]?[0]?["taskArn"]?
                .stringValue)
        for _ in 0..<500 where try await h.ecs("DescribeTasks", ["tasks": [.string(taskArn)]]).body["tasks"]?[0]?["lastStatus"] != "RUNNING"
        {
            try await Task.sleep(for: .milliseconds(10))
        }
        let opened = try await h.ecs(
            "ExecuteCommand", ["task": .string(taskArn), "command": "sh -c 'sleep 0.6; exit 6'", "interactive": true])
        let sessionId = try #require(opened.body["session"]?["sessionId"]?.stringValue)
        let token = try #require(opened.body["session"]?["tokenValue"]?.stringValue)
        let path = "/_skiff/ecs/sessions/\(sessionId)"

        try await h.cloud.withServer { port in
            // A page of another site may not open it, nor may an unsigned client, nor a plain GET.
            let foreign = try await blocking {
                try TestWebSocket(port: port, path: path, headers: signed.merging(["Origin": "https://evil.example"]) { $1 }).answer()
            }
            #expect(foreign.status == 403)
            let unsigned = try await blocking { try TestWebSocket(port: port, path: path, headers: [:]).answer() }
            #expect(unsigned.status == 403)
            let unknown = try await blocking {
                try TestWebSocket(port: port, path: "/_skiff/ecs/sessions/ecs-execute-command-0", headers: signed).answer()
            }
            #expect(unknown.status == 404)

            let exit = try await blocking { () throws -> (Int?, Int?, Bool) in
                let socket = try TestWebSocket(port: port, path: path)
                let answer = try socket.answer()
                #expect(answer.status == 101)
                #expect(answer.headers["sec-websocket-accept"] == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
                // Well past the idle and read timeouts before the token comes.
                Thread.sleep(forTimeInterval: 0.5)
                let open: JSON = ["MessageSchemaVersion": "1.0", "TokenValue": .string(token), "ClientVersion": "skiff-test"]
                try socket.send(opcode: 0x1, open.serializedBytes())
                // The connection is counted: with the limit at 2, a third one is refused while the session lives.
                let second = try TestWebSocket(port: port, path: path)
                let third = try TestWebSocket(port: port, path: path)
                let refused = [try second.answer().status, try third.answer().status]
                var status: Int?
                var handshakeType: UInt32?
                var closed = false
                while let message = try socket.message() {
                    if message.messageType == SessionMessage.outputStreamData {
                        try socket.send(opcode: 0x2, SessionMessage.acknowledgement(of: message).serialized())
                        switch SessionMessage.PayloadType(rawValue: message.payloadType) {
                        case .handshakeRequest:
                            handshakeType = message.payloadType
                            let response = SessionMessage(
                                messageType: SessionMessage.inputStreamData, sequenceNumber: 0, payloadType: 6, payload: Array("{}".utf8))
                            try socket.send(opcode: 0x2, response.serialized())
                            let size = SessionMessage(
                                messageType: SessionMessage.inputStreamData, sequenceNumber: 1, payloadType: 3,
                                payload: Array(#"{"cols":80,"rows":24}"#.utf8))
                            try socket.send(opcode: 0x2, size.serialized())
                        case .exitCode:
                            status = Int(String(decoding: message.payload, as: UTF8.self).dropFirst("EXIT_CODE: ".count))
                        default:
                            break
                        }
                    }
                    if message.messageType == SessionMessage.channelClosed { closed = true }
                }
                #expect(refused.contains(503))
                return (status, handshakeType.map(Int.init), closed)
            }
            #expect(exit.0 == 6)
            #expect(exit.1 == 5)
            #expect(exit.2)
        }
        _ = try await h.ecs("StopTask", ["task": .string(taskArn)])
        _ = try await h.waitStopped(taskArn)
    }
}
