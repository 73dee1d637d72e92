import ECSService
import Foundation
import JSONCore
import LocalCloud
import Synchronization
import TaskRunners

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The client side of an exec session's data channel (ECS Exec's, or `skiff exec`'s): the Session Manager protocol
/// as `session-manager-plugin` speaks it (``SessionMessage``), over a ``WebSocketClient``.
///
/// It sends the session's token, answers the handshake, sends the terminal's size (and again on each SIGWINCH) and
/// what is typed or piped in, writes what the command writes, acknowledges each message and sends again what is not
/// acknowledged within a second. It ends at `channel_closed`, with the command's exit status when the local cloud
/// sends it (it does to clients whose `ClientVersion` starts with `skiff`).
final class SessionChannel: Sendable {
    struct Options {
        /// The command runs on a terminal: sizes are sent, and the local terminal goes raw while input is forwarded.
        var terminal: Bool
        /// Standard input is forwarded to the command.
        var forwardInput: Bool
        /// The lines AWS's plugin prints when a session starts and ends.
        var banners: Bool
    }

    let sessionId: String
    private let token: String
    private let options: Options
    private let socket: WebSocketClient
    private let state = Mutex(State())

    private struct State {
        var nextSequence: Int64 = 0
        var expectedSequence: Int64 = 0
        var later: [Int64: SessionMessage] = [:]
        var unacknowledged: [Int64: (bytes: [UInt8], sentAt: ContinuousClock.Instant)] = [:]
        var exitStatus: Int?
        var handshakeComplete = false
        var closedOutput: String?
        var done = false
    }

    /// Messages of input in flight at most: past it, reading standard input waits for acknowledgements.
    static let window = 128
    static let retransmissionTimeout: Duration = .seconds(1)

    /// The `ClientVersion` Skiff's clients send: the local cloud reports exit statuses to clients that name it.
    static var clientVersion: String { "skiff-\(Cloud.version)" }

    init(streamUrl: String, token: String, sessionId: String, signer: LocalCloudClient, options: Options) throws(WebSocketClient.Failure) {
        self.sessionId = sessionId
        self.token = token
        self.options = options
        let sign = signer.signer(for: "ssmmessages")
        socket = try WebSocketClient(url: streamUrl) { path, query, host in
            sign.signatureHeaders(method: "GET", path: path, query: query, headers: ["Host": host], body: [], date: Date())
        }
    }

    /// Runs the session until it ends; returns the command's exit status (0 when the local cloud did not send one),
    /// or 255 when the connection was lost.
    func run() -> Int32 {
        let open: JSON = [
            "MessageSchemaVersion": "1.0", "RequestId": .string(UUID().uuidString.lowercased()), "TokenValue": .string(token),
            "ClientId": .string(UUID().uuidString.lowercased()), "ClientVersion": .string(Self.clientVersion),
        ]
        do {
            try socket.sendMessage(.text(String(decoding: open.serializedBytes(), as: UTF8.self)))
        } catch {
            FileHandle.standardError.write(Data("cannot start the session: \(error)\n".utf8))
            return 255
        }
        let retransmitter = Thread { [self] in
            while !state.withLock({ $0.done }) {
                usleep(200_000)
                retransmit()
            }
        }
        retransmitter.name = "skiff-session-retransmit"
        retransmitter.start()
        var resize: (any DispatchSourceSignal)? = nil
        var failure: String? = nil
        reading: while true {
            let message: WebSocketClient.Message?
            do {
                message = try socket.receive()
            } catch {
                failure = "\(error)"
                break
            }
            guard let message else { break }
            guard case .binary(let bytes) = message, let parsed = try? SessionMessage(parsing: bytes) else { continue }
            switch parsed.messageType {
            case SessionMessage.outputStreamData:
                if received(parsed) && resize == nil && state.withLock({ $0.handshakeComplete }) {
                    resize = started()
                }
            case SessionMessage.acknowledge:
                if let sequence = parsed.acknowledgedSequenceNumber {
                    _ = state.withLock { $0.unacknowledged.removeValue(forKey: sequence) }
                }
            case SessionMessage.channelClosed:
                let output = (try? JSON(parsing: parsed.payload))?["Output"]?.stringValue ?? ""
                state.withLock { $0.closedOutput = output }
                break reading
            default:
                continue
            }
        }
        resize?.cancel()
        let (exitStatus, closedOutput) = state.withLock { state in
            state.done = true
            return (state.exitStatus, state.closedOutput)
        }
        socket.closeConnection()
        LocalTerminal.restore()
        if let closedOutput {
            if options.banners {
                write(
                    STDOUT_FILENO,
                    Array(
                        (closedOutput.isEmpty
                            ? "\n\nExiting session with sessionId: \(sessionId).\n\n"
                            : "\n\nSessionId: \(sessionId) : \(closedOutput)\n\n").utf8))
            } else if !closedOutput.isEmpty {
                write(STDERR_FILENO, Array("\(closedOutput)\n".utf8))
            }
            return Int32(clamping: exitStatus ?? 0)
        }
        if let exitStatus { return Int32(clamping: exitStatus) }
        write(STDERR_FILENO, Array("\nThe session's connection to the local cloud was lost\(failure.map { ": \($0)" } ?? "").\n".utf8))
        return 255
    }

    /// Takes an `output_stream_data` message in sequence order and acknowledges it; true when it completed the handshake.
    private func received(_ message: SessionMessage) -> Bool {
        send(SessionMessage.acknowledgement(of: message))
        var ready: [SessionMessage] = []
        state.withLock { state in
            if message.sequenceNumber == state.expectedSequence {
                ready.append(message)
                state.expectedSequence += 1
                while let next = state.later.removeValue(forKey: state.expectedSequence) {
                    ready.append(next)
                    state.expectedSequence += 1
                }
            } else if message.sequenceNumber > state.expectedSequence, state.later.count < 10_000 {
                state.later[message.sequenceNumber] = message
            }
        }
        var completed = false
        for message in ready {
            switch SessionMessage.PayloadType(rawValue: message.payloadType) {
            case .handshakeRequest:
                let response: JSON = [
                    "ClientVersion": .string(Self.clientVersion),
                    "ProcessedClientActions": [["ActionType": "SessionType", "ActionStatus": 1]],
                    "Errors": [],
                ]
                sendInput(.handshakeResponse, response.serializedBytes())
                // Before the command starts: it starts on the terminal's first size.
                if options.terminal { sendSize(LocalTerminal.currentSize ?? .standard) }
            case .handshakeComplete:
                state.withLock { $0.handshakeComplete = true }
                if let text = (try? JSON(parsing: message.payload))?["CustomerMessage"]?.stringValue, !text.isEmpty {
                    write(STDOUT_FILENO, Array((text + "\n").utf8))
                }
                completed = true
            case .output:
                write(STDOUT_FILENO, message.payload)
            case .standardError, .error:
                write(STDERR_FILENO, message.payload)
            case .exitCode:
                let text = String(decoding: message.payload, as: UTF8.self)
                let number = text.split(separator: ":").last.map { $0.trimmingCharacters(in: .whitespaces) }.flatMap { Int($0) }
                state.withLock { $0.exitStatus = number }
            default:
                break
            }
        }
        return completed
    }

    /// The handshake is complete: the terminal goes raw, sizes follow SIGWINCH, standard input is forwarded.
    private func started() -> (any DispatchSourceSignal)? {
        var resize: (any DispatchSourceSignal)? = nil
        if options.terminal {
            resize = LocalTerminal.onResize { [self] size in sendSize(size) }
        }
        guard options.forwardInput else { return resize }
        let rawTerminal = options.terminal && LocalTerminal.enterRawMode(STDIN_FILENO)
        let reader = Thread { [self] in forwardInput(rawTerminal: rawTerminal) }
        reader.name = "skiff-session-input"
        reader.start()
        return resize
    }

    /// Reads standard input and sends it, a window of messages at a time. At its end a command on pipes is told (its
    /// input closes); a command on a terminal gets the terminal's end-of-file character, unless what ended is a real
    /// terminal (which does not end while the user types).
    private func forwardInput(rawTerminal: Bool) {
        var buffer = [UInt8](repeating: 0, count: options.terminal ? 1024 : 16 * 1024)
        while !state.withLock({ $0.done }) {
            let count = buffer.withUnsafeMutableBytes { read(STDIN_FILENO, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { break }
            while state.withLock({ $0.unacknowledged.count >= Self.window && !$0.done }) { usleep(2_000) }
            sendInput(.output, Array(buffer[0..<count]))
        }
        if options.terminal {
            if !rawTerminal { sendInput(.output, [0x04]) }
        } else {
            sendInput(.flag, SessionMessage.flagPayload(.endOfInput))
        }
    }

    private func sendSize(_ size: TerminalSize) {
        let payload: JSON = ["cols": .number(Double(size.columns)), "rows": .number(Double(size.rows))]
        sendInput(.size, payload.serializedBytes())
    }

    /// Sends an `input_stream_data` message with the next sequence number, kept until acknowledged.
    private func sendInput(_ type: SessionMessage.PayloadType, _ payload: [UInt8]) {
        state.withLock { state in
            guard !state.done else { return }
            let message = SessionMessage(
                messageType: SessionMessage.inputStreamData, sequenceNumber: state.nextSequence, payloadType: type.rawValue,
                payload: payload)
            let bytes = message.serialized()
            state.unacknowledged[state.nextSequence] = (bytes, .now)
            state.nextSequence += 1
            // Sent under the lock, so that sequence numbers go out in order.
            try? socket.sendMessage(.binary(bytes))
        }
    }

    private func send(_ message: SessionMessage) {
        try? socket.sendMessage(.binary(message.serialized()))
    }

    private func retransmit() {
        let now = ContinuousClock.now
        state.withLock { state in
            for sequence in state.unacknowledged.keys.sorted() {
                guard let entry = state.unacknowledged[sequence], now - entry.sentAt >= Self.retransmissionTimeout else { continue }
                try? socket.sendMessage(.binary(entry.bytes))
                state.unacknowledged[sequence]?.sentAt = now
            }
        }
    }

    /// Writes all of `bytes` to `descriptor`.
    private func write(_ descriptor: Int32, _ bytes: [UInt8]) {
        var written = 0
        while written < bytes.count {
            let count = bytes[written...].withUnsafeBytes { systemWrite(descriptor, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { return }
            written += count
        }
    }
}

/// `write(2)`, named apart from the methods called `write`.
private func systemWrite(_ descriptor: Int32, _ bytes: UnsafeRawPointer?, _ count: Int) -> Int {
    #if canImport(Glibc)
        Glibc.write(descriptor, bytes, count)
    #else
        Darwin.write(descriptor, bytes, count)
    #endif
}
