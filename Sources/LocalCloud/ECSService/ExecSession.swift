import AWSProtocol
import Foundation
import JSONCore
import LocalCloud
import Logging
import Synchronization
import TaskRunners

/// One interactive session of ECS Exec (`aws ecs execute-command --interactive`) or `skiff exec`: a command run in a
/// task's container, and the WebSocket data channel its client (`session-manager-plugin`, AWS's or Skiff's) opens.
///
/// The data channel speaks the Session Manager protocol as the SSM agent does (``SessionMessage``):
/// 1. the client opens the WebSocket at the session's `streamUrl` and sends, as text, `{"TokenValue": ...}` (with
///    `MessageSchemaVersion`, `RequestId`, `ClientId`, `ClientVersion`); a wrong or late token closes the connection;
/// 2. the session sends a handshake request (session type `InteractiveCommands`), the client answers it, and the
///    session completes the handshake;
/// 3. the command starts on a pseudo-terminal (or on pipes, for `skiff exec` without `-t`) once the client has sent
///    its terminal's size, or half a second after the handshake;
/// 4. keystrokes and sizes come as `input_stream_data`, the command's output goes as `output_stream_data`; each side
///    acknowledges each message of the other's, and the session sends again what is not acknowledged within a second
///    (the plugin drops output that arrives before it is ready, and expects it again). Output waits while too much of
///    it is unacknowledged, so a client that cannot keep up slows the command down rather than filling memory;
/// 5. when the command ends, its output is sent out, then (to Skiff's clients, which name themselves in
///    `ClientVersion`) its exit status as an `ExitCode` payload (`EXIT_CODE: 127`, as the SSM agent writes it), then
///    `channel_closed`, and the WebSocket closes.
///
/// A session not connected within ``connectionTimeout`` of its creation expires; its token is good for one connection.
/// When the connection goes, the command is hung up (SIGHUP, then SIGKILL to its session two seconds later).
final class ExecSession: WebSocketEndpoint, Sendable {
    /// Where the session's messages go: the WebSocket (``WebSocketConnection``), or a test's recorder.
    protocol Transport: Sendable {
        func send(_ message: [UInt8])
        func close(code: UInt16, reason: String)
    }

    /// The session's deadlines.
    struct Timing: Sendable {
        /// How long a session waits for its WebSocket.
        var connection: Duration = .seconds(60)
        /// How long a connected client has to send its token, and to answer the handshake.
        var handshake: Duration = .seconds(10)
        /// How long the command waits for the client's terminal size after the handshake.
        var startDelay: Duration = .milliseconds(500)
        /// Unacknowledged messages are sent again after this.
        var retransmission: Duration = .seconds(1)
        /// How long the end of a session waits for the client to acknowledge the last output.
        var closing: Duration = .seconds(2)
        /// How often deadlines and retransmissions are looked at.
        var tick: Duration = .milliseconds(200)

        static let standard = Timing()
    }

    let id: String
    let token: String
    let account: String
    let taskId: String
    let container: String
    /// The command, or why its text could not be split into words.
    let command: Result<[String], ExecRefusal>
    let streams: ExecStreams
    let terminalType: String
    /// Skiff's own clients read the exit status; AWS's plugin would print it as output.
    let alwaysReportsExitCode: Bool
    let timeout: Duration?
    /// Finds what runs the command in the container, when it starts.
    private let launcher: @Sendable ([String], String?) throws(ExecRefusal) -> ExecLaunch
    private let onEnd: @Sendable (ExecSession) -> Void
    private let logger: Logger
    private let state: Mutex<State>
    /// Held while an input message is taken, so that messages are taken one at a time and in order.
    private let inputTurn = Mutex(())

    let timing: Timing
    /// Output unacknowledged past this pauses the command's output until it falls below the low mark.
    static let outputHighMark = 256 * 1024
    static let outputLowMark = 64 * 1024
    /// Input the command has not read past this is not acknowledged (the client sends it again later).
    static let inputHighMark = 256 * 1024

    enum Phase: Equatable {
        case waitingForConnection, waitingForToken, handshaking, waitingToStart, running, closing, closed
    }

    struct State {
        var phase = Phase.waitingForConnection
        var deadline: ContinuousClock.Instant
        var connection: (any Transport)?
        var reportsExitCode = false
        var nextOutputSequence: Int64 = 0
        var expectedInputSequence: Int64 = 0
        /// Input that came ahead of its turn, acknowledged, and its payloads' size (bounded like the command's input).
        var laterInput: [Int64: SessionMessage] = [:]
        var laterInputBytes = 0
        var unacknowledged: [Int64: (bytes: [UInt8], sentAt: ContinuousClock.Instant)] = [:]
        var unacknowledgedBytes = 0
        var outputPaused = false
        var process: ExecProcess?
        var size: TerminalSize?
        var inputEnded = false
        /// Input that came while the command was starting.
        var earlyInput: [UInt8] = []
        var exit: ExecExit?
        var closingMessage = ""
        /// ``terminate(message:)`` was called: a command still starting is killed once it has started.
        var terminated = false
    }

    init(
        id: String, token: String, account: String, taskId: String, container: String, command: Result<[String], ExecRefusal>,
        streams: ExecStreams, terminalType: String?, alwaysReportsExitCode: Bool, timeout: Duration?, logger: Logger,
        timing: Timing = .standard, launcher: @escaping @Sendable ([String], String?) throws(ExecRefusal) -> ExecLaunch,
        onEnd: @escaping @Sendable (ExecSession) -> Void
    ) {
        self.id = id
        self.token = token
        self.account = account
        self.taskId = taskId
        self.container = container
        self.command = command
        self.streams = streams
        self.terminalType = terminalType ?? ContainerExec.defaultTerminalType
        self.alwaysReportsExitCode = alwaysReportsExitCode
        self.timeout = timeout
        self.logger = logger
        self.launcher = launcher
        self.onEnd = onEnd
        self.timing = timing
        self.state = Mutex(State(deadline: .now + timing.connection, size: streams.terminal))
        // A dispatch timer rather than a task: deadlines hold even when Swift's cooperative threads are all busy.
        let timer = DispatchSource.makeTimerSource(queue: .global())
        let (seconds, attoseconds) = timing.tick.components
        let interval = DispatchTimeInterval.nanoseconds(Int(seconds) * 1_000_000_000 + Int(attoseconds / 1_000_000_000))
        timer.schedule(deadline: .now() + interval, repeating: interval)
        timer.setEventHandler { [self] in
            if tick() { timer.cancel() }
        }
        timer.resume()
    }

    // MARK: Connection

    /// Takes the session's one connection: false when it has one already, ended, or expired.
    func claim() -> Bool {
        state.withLock { state in
            guard state.phase == .waitingForConnection, ContinuousClock.now < state.deadline else { return false }
            state.phase = .waitingForToken
            state.deadline = .now + timing.handshake
            return true
        }
    }

    func opened(_ connection: WebSocketConnection) {
        attach(connection)
    }

    /// The claimed connection is open: the session's messages go to `transport` from now on.
    func attach(_ transport: any Transport) {
        let open = state.withLock { state -> Bool in
            guard state.phase == .waitingForToken, state.connection == nil else { return false }
            state.connection = transport
            return true
        }
        if !open { transport.close(code: 1008, reason: "session ended") }
    }

    func received(_ message: WebSocketMessage) {
        switch message {
        case .text(let text): receivedToken(text)
        case .binary(let bytes):
            // Nothing counts before the token has let the client in.
            guard state.withLock({ $0.phase != .waitingForToken }) else {
                end(closeCode: 1008, reason: "the session token must come first")
                return
            }
            do {
                receivedMessage(try SessionMessage(parsing: bytes))
            } catch {
                logger.debug("malformed session message", metadata: ["session": "\(id)", "error": "\(error)"])
                end(closeCode: 1002, reason: "malformed session message")
            }
        }
    }

    func closed() {
        enum Next { case nothing, hangUp(ExecProcess), finish, end }
        let next = state.withLock { state -> Next in
            state.connection = nil
            switch state.phase {
            case .closed:
                return .nothing
            case .running:
                // A command still starting sees the connection gone once it has started (``launchCommand(size:)``).
                return state.process.map { .hangUp($0) } ?? .nothing
            case .closing:
                return .finish
            case .waitingForConnection, .waitingForToken, .handshaking, .waitingToStart:
                state.phase = .closed
                return .end
            }
        }
        switch next {
        case .nothing: break
        // The client hung up while the command ran: it goes as a terminal's processes go when the terminal does.
        case .hangUp(let process): process.hangUp()
        case .finish: finish()
        case .end: onEnd(self)
        }
    }

    func serverStopping() {
        terminate(message: "The Skiff local cloud is stopping.")
    }

    /// Ends the session: the command is killed (as a container's processes are when it stops), and the client is told
    /// `message` when the channel closes.
    func terminate(message: String) {
        let (process, unstarted) = state.withLock { state -> (ExecProcess?, Bool) in
            state.closingMessage = message
            state.terminated = true
            guard state.process == nil, state.phase != .closed, state.phase != .closing, state.phase != .running else {
                return (state.process, false)
            }
            state.phase = .closing
            return (nil, true)
        }
        process?.killSession()
        if unstarted { finish() }
    }

    // MARK: The data channel

    /// The client's first message: `OpenDataChannelInput`, with the session's token.
    private func receivedToken(_ text: String) {
        guard state.withLock({ $0.phase == .waitingForToken }) else { return }
        let input = try? JSON(parsing: text)
        let offered = input?["TokenValue"]?.stringValue ?? ""
        let valid = state.withLock { state -> Bool in
            guard state.phase == .waitingForToken, Self.constantTimeEqual(offered, token) else { return false }
            state.phase = .handshaking
            state.deadline = .now + timing.handshake
            state.reportsExitCode = alwaysReportsExitCode || (input?["ClientVersion"]?.stringValue ?? "").hasPrefix("skiff")
            return true
        }
        guard valid else {
            end(closeCode: 1008, reason: "the session token is not valid")
            return
        }
        let request: JSON = [
            // The plugin compares the agent's version to enable what newer agents do (the TerminateSession flag).
            "AgentVersion": "3.3.0.0",
            "RequestedClientActions": [
                [
                    "ActionType": "SessionType",
                    "ActionParameters": ["SessionType": "InteractiveCommands", "Properties": .null],
                ]
            ],
        ]
        sendStream(.handshakeRequest, request.serializedBytes())
    }

    private func receivedMessage(_ message: SessionMessage) {
        switch message.messageType {
        case SessionMessage.acknowledge:
            if let sequence = message.acknowledgedSequenceNumber { acknowledged(sequence) }
        case SessionMessage.inputStreamData:
            receivedInput(message)
        default:
            break
        }
    }

    /// Input in sequence order: each message is taken once, acknowledged when taken or kept for later; one that
    /// cannot be taken yet is neither (the client sends it again).
    private func receivedInput(_ message: SessionMessage) {
        inputTurn.withLock { _ in
            enum Disposition { case old, later, full, next }
            let disposition = state.withLock { state -> Disposition in
                if message.sequenceNumber < state.expectedInputSequence { return .old }
                if message.sequenceNumber == state.expectedInputSequence { return .next }
                guard state.laterInput[message.sequenceNumber] == nil else { return .later }
                guard state.laterInput.count < 1000, state.laterInputBytes + message.payload.count <= Self.inputHighMark else {
                    return .full
                }
                state.laterInput[message.sequenceNumber] = message
                state.laterInputBytes += message.payload.count
                return .later
            }
            switch disposition {
            case .old, .later:
                send(SessionMessage.acknowledgement(of: message))
            case .full:
                break
            case .next:
                guard apply(message) else { return }
                send(SessionMessage.acknowledgement(of: message))
                state.withLock { $0.expectedInputSequence += 1 }
                applyLaterInput()
            }
        }
    }

    /// Takes the messages kept for later that are next in sequence (acknowledged when they came). Called with the
    /// input's turn held.
    private func applyLaterInput() {
        while let next = state.withLock({ $0.laterInput[$0.expectedInputSequence] }), apply(next) {
            state.withLock { state in
                if state.laterInput.removeValue(forKey: next.sequenceNumber) != nil { state.laterInputBytes -= next.payload.count }
                state.expectedInputSequence += 1
            }
        }
    }

    /// Takes one input message; false when it cannot be taken yet.
    private func apply(_ message: SessionMessage) -> Bool {
        guard let type = SessionMessage.PayloadType(rawValue: message.payloadType) else { return true }
        switch type {
        case .handshakeResponse:
            let complete = state.withLock { state -> Bool in
                guard state.phase == .handshaking else { return false }
                state.phase = .waitingToStart
                state.deadline = .now + timing.startDelay
                return true
            }
            if complete {
                let payload: JSON = ["HandshakeTimeToComplete": 0, "CustomerMessage": ""]
                sendStream(.handshakeComplete, payload.serializedBytes())
                // A command on pipes has no terminal size to wait for.
                if streams.terminal == nil { startCommand() }
            }
            return true
        case .size:
            guard let size = try? JSON(parsing: message.payload), let columns = size["cols"]?.intValue, let rows = size["rows"]?.intValue,
                columns > 0, rows > 0
            else { return true }
            let terminalSize = TerminalSize(rows: rows, columns: columns)
            let (process, start) = state.withLock { state -> (ExecProcess?, Bool) in
                state.size = terminalSize
                return (state.process, state.phase == .waitingToStart)
            }
            if let process, streams.terminal != nil { process.resize(terminalSize) }
            if start { startCommand() }
            return true
        case .output:
            if state.withLock({ $0.phase == .waitingToStart }) { startCommand() }
            enum Target { case process(ExecProcess), kept, notYet, nowhere }
            let target = state.withLock { state -> Target in
                if let process = state.process { return .process(process) }
                switch state.phase {
                case .running:
                    guard state.earlyInput.count < Self.inputHighMark else { return .notYet }
                    if streams.input { state.earlyInput += message.payload }
                    return .kept
                case .waitingForConnection, .waitingForToken, .handshaking, .waitingToStart:
                    return .notYet
                case .closing, .closed:
                    return .nowhere
                }
            }
            switch target {
            case .process(let process):
                guard process.pendingInputCount < Self.inputHighMark else { return false }
                if streams.input { process.write(message.payload) }
                return true
            case .kept, .nowhere: return true
            case .notYet: return false
            }
        case .flag:
            switch message.flag {
            case .terminateSession:
                terminate(message: "")
            case .endOfInput:
                let process = state.withLock { state -> ExecProcess? in
                    state.inputEnded = true
                    return state.process
                }
                process?.endInput()
            default:
                break
            }
            return true
        default:
            return true
        }
    }

    /// The client acknowledged output `sequence`.
    private func acknowledged(_ sequence: Int64) {
        let resume = state.withLock { state -> ExecProcess? in
            guard let sent = state.unacknowledged.removeValue(forKey: sequence) else { return nil }
            state.unacknowledgedBytes -= sent.bytes.count
            guard state.outputPaused, state.unacknowledgedBytes < Self.outputLowMark else { return nil }
            state.outputPaused = false
            return state.process
        }
        resume?.pauseOutput(false)
    }

    // MARK: The command

    /// Starts the command, once, off the caller's thread (the connection's event loop): finding the program and
    /// spawning it touch the file system. Input that comes meanwhile waits for it.
    private func startCommand() {
        let size = state.withLock { state -> TerminalSize?? in
            guard state.phase == .waitingToStart else { return nil }
            state.phase = .running
            return .some(state.size)
        }
        guard let size else { return }
        DispatchQueue.global().async { self.launchCommand(size: size) }
    }

    private func launchCommand(size: TerminalSize?) {
        var streams = self.streams
        if streams.terminal != nil { streams.terminal = size ?? .standard }
        let handlers = ExecProcess.Handlers(
            output: { [self] stream, bytes in sendOutput(stream, bytes) },
            ended: { [self] exit in commandEnded(exit) })
        do {
            let words = try command.get()
            let launch = try launcher(words, streams.terminal == nil ? nil : terminalType)
            let process = try ExecProcess.start(launch, streams: streams, handlers: handlers)
            let (early, inputEnded, gone, terminated) = state.withLock { state -> ([UInt8], Bool, Bool, Bool) in
                state.process = process
                defer { state.earlyInput = [] }
                return (state.earlyInput, state.inputEnded, state.connection == nil, state.terminated)
            }
            if self.streams.input { process.write(early) }
            if inputEnded { process.endInput() }
            // The client left, or the session was ended, while the command was starting.
            if terminated {
                process.killSession()
            } else if gone {
                process.hangUp()
            }
            if let timeout { process.killSession(after: timeout) }
            logger.info(
                "ECS exec session started",
                metadata: [
                    "service": "ecs", "session": "\(id)", "task": "\(taskId)", "container": "\(container)",
                    "command": "\(launch.program)", "terminal": "\(streams.terminal.map { "\($0)" } ?? "none")",
                ])
        } catch {
            // As a shell that cannot run the command: the reason on the terminal (or standard error), then 127 or 126.
            let message = error.message + (streams.terminal == nil ? "\n" : "\r\n")
            sendOutput(streams.terminal == nil ? .error : .output, Array(message.utf8))
            commandEnded(ExecExit(status: error.status))
        }
    }

    /// Output of the command: sent in order, kept until acknowledged.
    private func sendOutput(_ stream: ExecProcess.Stream, _ bytes: [UInt8]) {
        sendStream(stream == .error && streams.terminal == nil ? .standardError : .output, bytes)
    }

    private func commandEnded(_ exit: ExecExit) {
        let report = state.withLock { state -> Bool? in
            state.exit = exit
            guard state.phase != .closed else { return nil }
            state.phase = .closing
            state.deadline = .now + timing.closing
            return state.reportsExitCode
        }
        guard let report else { return }
        logger.info(
            "ECS exec session ended", metadata: ["service": "ecs", "session": "\(id)", "task": "\(taskId)", "exit-code": "\(exit.status)"])
        if report { sendStream(.exitCode, Array("EXIT_CODE: \(exit.status)".utf8)) }
        if state.withLock({ $0.connection == nil }) { finish() }
    }

    // MARK: Sending

    /// Sends a stream data message with the next sequence number, and keeps it until it is acknowledged.
    private func sendStream(_ type: SessionMessage.PayloadType, _ payload: [UInt8]) {
        let pause = state.withLock { state -> ExecProcess? in
            guard let connection = state.connection, state.phase != .closed else { return nil }
            let message = SessionMessage(
                messageType: SessionMessage.outputStreamData, sequenceNumber: state.nextOutputSequence, payloadType: type.rawValue,
                payload: payload)
            let bytes = message.serialized()
            state.unacknowledged[state.nextOutputSequence] = (bytes, .now)
            state.unacknowledgedBytes += bytes.count
            state.nextOutputSequence += 1
            // Sent under the lock: the sequence numbers go out in order, whichever thread sends.
            connection.send(bytes)
            guard !state.outputPaused, state.unacknowledgedBytes > Self.outputHighMark else { return nil }
            state.outputPaused = true
            return state.process
        }
        pause?.pauseOutput(true)
    }

    private func send(_ message: SessionMessage) {
        state.withLock { state in
            state.connection?.send(message.serialized())
        }
    }

    /// Runs every 200 ms until the session ends: deadlines, retransmission, the end. True once the session is over.
    private func tick() -> Bool {
        let now = ContinuousClock.now
        let (phase, deadline) = state.withLock { ($0.phase, $0.deadline) }
        switch phase {
        case .closed:
            return true
        case .waitingForConnection where now >= deadline:
            state.withLock { $0.phase = .closed }
            onEnd(self)
            return true
        case .waitingForToken where now >= deadline, .handshaking where now >= deadline:
            end(closeCode: 1008, reason: phase == .waitingForToken ? "no session token was sent" : "the handshake was not answered")
            return true
        case .waitingToStart where now >= deadline:
            startCommand()
        case .closing:
            if now >= deadline || state.withLock({ $0.unacknowledged.isEmpty }) {
                finish()
                return true
            }
        default:
            break
        }
        retransmit(now: now)
        // Input kept for later that could not be taken when it came (the command was not reading).
        if state.withLock({ !$0.laterInput.isEmpty }) { inputTurn.withLock { _ in applyLaterInput() } }
        return false
    }

    private func retransmit(now: ContinuousClock.Instant) {
        state.withLock { state in
            guard let connection = state.connection else { return }
            for sequence in state.unacknowledged.keys.sorted() {
                guard let entry = state.unacknowledged[sequence], now - entry.sentAt >= timing.retransmission else { continue }
                connection.send(entry.bytes)
                state.unacknowledged[sequence]?.sentAt = now
            }
        }
    }

    /// The command ended and its output went out: `channel_closed`, and the connection closes.
    private func finish() {
        let ending = state.withLock { state -> ((any Transport)?, String)? in
            guard state.phase != .closed else { return nil }
            state.phase = .closed
            return (state.connection, state.closingMessage)
        }
        guard let (connection, message) = ending else { return }
        if let connection {
            let content: JSON = [
                "MessageId": .string(UUID().uuidString.lowercased()), "CreatedDate": .string(Timestamps.iso8601(Date())),
                "DestinationId": .string(taskId), "SessionId": .string(id), "MessageType": .string(SessionMessage.channelClosed),
                "SchemaVersion": 1, "Output": .string(message),
            ]
            connection.send(SessionMessage(messageType: SessionMessage.channelClosed, payload: content.serializedBytes()).serialized())
            connection.close(code: 1000, reason: "")
        }
        onEnd(self)
    }

    /// Ends a session whose command never ran (or cannot be told to end): the connection closes with `closeCode`.
    private func end(closeCode: UInt16, reason: String) {
        let ending = state.withLock { state -> ((any Transport)?, ExecProcess?)? in
            guard state.phase != .closed else { return nil }
            state.phase = .closed
            return (state.connection, state.process)
        }
        guard let (connection, process) = ending else { return }
        process?.killSession()
        connection?.close(code: closeCode, reason: reason)
        onEnd(self)
    }

    static func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let left = Array(a.utf8), right = Array(b.utf8)
        guard left.count == right.count else { return false }
        var difference: UInt8 = 0
        for index in left.indices { difference |= left[index] ^ right[index] }
        return difference == 0
    }
}

extension ExecSession {
    /// Splits an ECS Exec command into words as the SSM agent does in a container (POSIX shell quoting: `'...'`,
    /// `"..."` and backslashes; no variables, globs or operators): the first word is the program, run directly. A blank
    /// command runs `sh`.
    static func words(_ command: String) -> Result<[String], ExecRefusal> {
        var words: [String] = []
        var current = ""
        var inWord = false
        var quote: Character? = nil
        var escaped = false
        for character in command {
            if escaped {
                if quote == "\"" && !["\"", "\\", "$", "`", "\n"].contains(character) { current.append("\\") }
                if character != "\n" { current.append(character) }
                escaped = false
                inWord = true
                continue
            }
            switch (quote, character) {
            case (nil, "\\"), ("\"", "\\"):
                escaped = true
            case (nil, "'"), (nil, "\""):
                quote = character
                inWord = true
            case ("'", "'"), ("\"", "\""):
                quote = nil
            case (nil, _) where character.isWhitespace:
                if inWord { words.append(current) }
                current = ""
                inWord = false
            default:
                current.append(character)
                inWord = true
            }
        }
        if quote != nil || escaped {
            return .failure(
                ExecRefusal(
                    status: 1,
                    message:
                        "Failed to parse commands input: EOF found \(escaped ? "after escape character" : "when expecting closing quote")"))
        }
        if inWord { words.append(current) }
        return .success(words.isEmpty ? ["sh"] : words)
    }
}
