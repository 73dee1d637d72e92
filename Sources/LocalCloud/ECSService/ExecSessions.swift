import Foundation
import LocalCloud
import Synchronization

/// The exec sessions of the local cloud (``ExecSession``): created by ExecuteCommand and `skiff exec`, found by the
/// WebSocket that connects to them, ended with their task.
final class ExecSessions: Sendable {
    private let sessions = Mutex<[String: ExecSession]>([:])

    /// Sessions at once, waiting or running: each running one holds a process and two threads.
    static let maximum = 64

    /// Registers `session`; false when the server holds its maximum already.
    func add(_ session: ExecSession) -> Bool {
        sessions.withLock { sessions in
            guard sessions.count < Self.maximum else { return false }
            sessions[session.id] = session
            return true
        }
    }

    func remove(_ session: ExecSession) {
        sessions.withLock { sessions in
            if sessions[session.id] === session { sessions[session.id] = nil }
        }
    }

    func session(_ id: String) -> ExecSession? {
        sessions.withLock { $0[id] }
    }

    /// Ends the sessions of a task that stopped: their commands end with it, as a container's processes do.
    func endSessions(ofTask taskId: String, message: String) {
        let ending = sessions.withLock { $0.values.filter { $0.taskId == taskId } }
        for session in ending { session.terminate(message: message) }
    }

    /// Ends every session (the server is stopping).
    func endAll(message: String) {
        for session in sessions.withLock({ Array($0.values) }) { session.terminate(message: message) }
    }

    /// A session id as ECS Exec's look: `ecs-execute-command-` and 17 hexadecimal digits; `skiff-exec-...` for
    /// `skiff exec`.
    static func newId(prefix: String) -> String {
        var generator = SystemRandomNumberGenerator()
        let digits = (0..<17).map { _ in String(UInt8.random(in: 0..<16, using: &generator), radix: 16) }.joined()
        return prefix + digits
    }

    /// A session's one-time secret: 48 random bytes, base64.
    static func newToken() -> String {
        var generator = SystemRandomNumberGenerator()
        return Data((0..<48).map { _ in UInt8.random(in: 0...255, using: &generator) }).base64EncodedString()
    }
}

extension WebSocketConnection: ExecSession.Transport {
    func send(_ message: [UInt8]) {
        send(.binary(message))
    }
}
