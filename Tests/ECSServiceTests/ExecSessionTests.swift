import AWSProtocol
import Foundation
import JSONCore
import Synchronization
import Testing

@testable import ECSService
@testable import LocalCloud
@testable import TaskRunners

/// What a session sends its client, as the client would read it.
final class RecordingTransport: ExecSession.Transport {
    private let state = Mutex<(messages: [SessionMessage], closed: UInt16?)>(([], nil))

    func send(_ message: [UInt8]) {
        let parsed = try! SessionMessage(parsing: message)
        state.withLock { $0.messages.append(parsed) }
    }

    func close(code: UInt16, reason: String) {
        state.withLock { $0.closed = $0.closed ?? code }
    }

    var messages: [SessionMessage] { state.withLock { $0.messages } }
    var closeCode: UInt16? { state.withLock { $0.closed } }

    /// Stream data messages of `type`, each once (retransmissions left out).
    func stream(_ type: SessionMessage.PayloadType) -> [SessionMessage] {
        var seen = Set<Int64>()
        return messages.filter {
            $0.messageType == SessionMessage.outputStreamData && $0.payloadType == type.rawValue && seen.insert($0.sequenceNumber).inserted
        }
    }

    var output: String { String(decoding: stream(.output).flatMap(\.payload), as: UTF8.self) }

    func wait(_ seconds: Double = 30, until condition: () -> Bool) async -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if condition() { return true }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return condition()
    }
}

/// A client of an exec session, speaking to it as `session-manager-plugin` does, without a WebSocket.
final class SessionClient: Sendable {
    let session: ExecSession
    let transport = RecordingTransport()
    let sequence = Mutex<Int64>(0)

    init(session: ExecSession) {
        self.session = session
    }

    /// Claims and connects the session, sends the token, answers the handshake.
    func open(token: String? = nil, clientVersion: String = "skiff-test", size: TerminalSize? = nil) async throws {
        #expect(session.claim())
        session.attach(transport)
        let open: JSON = [
            "MessageSchemaVersion": "1.0", "TokenValue": .string(token ?? session.token), "ClientVersion": .string(clientVersion),
        ]
        session.received(.text(String(decoding: open.serializedBytes(), as: UTF8.self)))
        guard token == nil else { return }
        #expect(await transport.wait { !transport.stream(.handshakeRequest).isEmpty })
        let request = try JSON(parsing: try #require(transport.stream(.handshakeRequest).first).payload)
        #expect(request["RequestedClientActions"]?[0]?["ActionParameters"]?["SessionType"] == "InteractiveCommands")
        acknowledge()
        send(.handshakeResponse, Array(#"{"ClientVersion":"test","ProcessedClientActions":[],"Errors":[]}"#.utf8))
        #expect(await transport.wait { !transport.stream(.handshakeComplete).isEmpty })
        acknowledge()
        if let size { send(.size, Array(#"{"cols":\#(size.columns),"rows":\#(size.rows)}"#.utf8)) }
    }

    func send(_ type: SessionMessage.PayloadType, _ payload: [UInt8]) {
        let number = sequence.withLock { value in
            defer { value += 1 }
            return value
        }
        let message = SessionMessage(
            messageType: SessionMessage.inputStreamData, sequenceNumber: number, payloadType: type.rawValue, payload: payload)
        session.received(.binary(message.serialized()))
    }

    /// Acknowledges every stream message received so far, as the plugin does.
    func acknowledge() {
        for message in transport.messages where message.messageType == SessionMessage.outputStreamData {
            session.received(.binary(SessionMessage.acknowledgement(of: message).serialized()))
        }
    }

    /// Acknowledges as output comes, until the channel closes; the exit status the session reported.
    func runToEnd(_ seconds: Double = 30) async -> Int? {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline, !transport.messages.contains(where: { $0.messageType == SessionMessage.channelClosed }) {
            acknowledge()
            try? await Task.sleep(for: .milliseconds(20))
        }
        guard let exit = transport.stream(.exitCode).last else { return nil }
        return Int(String(decoding: exit.payload, as: UTF8.self).replacingOccurrences(of: "EXIT_CODE: ", with: ""))
    }
}

/// ECS Exec (ExecuteCommand and its sessions) and `skiff exec`'s sessions.
@Suite struct ExecSessionTests {
    /// The session ExecuteCommand answered `answer` with.
    func session(_ h: Harness, _ answer: JSON) throws -> ExecSession {
        try #require(h.ecs.tasks.sessions.session(answer["session"]?["sessionId"]?.stringValue ?? ""))
    }

    /// A RUNNING task (`sleep 60`) run with `enableExecuteCommand`, in an image with `programs`.
    func runningTask(_ h: Harness, enableExecuteCommand: Bool = true, containers: [String] = ["app"]) async throws -> String {
        _ = try await h.ecs("CreateCluster", [:])
        let definitions: [JSON] = containers.map { ["name": .string($0), "image": "php-app", "memory": 64, "command": ["sleep", "60"]] }
        _ = try await h.ecs("RegisterTaskDefinition", ["family": "holder", "containerDefinitions": .array(definitions)])
        let run = try await h.ecs("RunTask", ["taskDefinition": "holder", "enableExecuteCommand": .bool(enableExecuteCommand)])
        let taskArn = try #require(run.body["tasks"]?[0]?["taskArn"]?.stringValue)
        for _ in 0..<500 {
            if try await h.ecs("DescribeTasks", ["tasks": [.string(taskArn)]]).body["tasks"]?[0]?["lastStatus"] == "RUNNING" { break }
            try await Task.sleep(for: .milliseconds(10))
        }
        return taskArn
    }

    @Test func executeCommandChecksTheRequestAsECSDoes() async throws {
        let h = try Harness()
        let taskArn = try await runningTask(h, containers: ["app", "sidecar"])
        let described = try await h.ecs("DescribeTasks", ["tasks": [.string(taskArn)]])
        #expect(described.body["tasks"]?[0]?["containers"]?[0]?["managedAgents"]?[0]?["name"] == "ExecuteCommandAgent")
        #expect(described.body["tasks"]?[0]?["containers"]?[0]?["managedAgents"]?[0]?["lastStatus"] == "RUNNING")

        let batch = try await h.ecs(
            "ExecuteCommand", ["task": .string(taskArn), "container": "app", "command": "ls", "interactive": false])
        #expect(batch.body["__type"] == "InvalidParameterException")
        #expect(batch.body["message"] == "Interactive is the only mode supported currently.")
        let unnamed = try await h.ecs("ExecuteCommand", ["task": .string(taskArn), "command": "ls", "interactive": true])
        #expect(unnamed.body["__type"] == "InvalidParameterException")
        let unknown = try await h.ecs(
            "ExecuteCommand", ["task": .string(taskArn), "container": "db", "command": "ls", "interactive": true])
        #expect(unknown.body["message"] == "The container db does not exist in the task.")
        let missing = try await h.ecs("ExecuteCommand", ["task": "0123456789abcdef0123456789abcdef", "command": "ls", "interactive": true])
        #expect(missing.body["__type"] == "InvalidParameterException")

        let opened = try await h.ecs(
            "ExecuteCommand", ["task": .string(taskArn), "container": "sidecar", "command": "sh", "interactive": true])
        #expect(opened.status == 200)
        #expect(opened.body["taskArn"] == .string(taskArn))
        #expect(opened.body["clusterArn"] == "arn:aws:ecs:us-east-1:000000000000:cluster/default")
        #expect(opened.body["containerName"] == "sidecar")
        #expect(opened.body["containerArn"] == described.body["tasks"]?[0]?["containers"]?[1]?["containerArn"])
        #expect(opened.body["interactive"] == true)
        let sessionId = try #require(opened.body["session"]?["sessionId"]?.stringValue)
        #expect(sessionId.hasPrefix("ecs-execute-command-"))
        #expect(opened.body["session"]?["streamUrl"] == .string("ws://127.0.0.1:4566/_skiff/ecs/sessions/\(sessionId)"))
        #expect((opened.body["session"]?["tokenValue"]?.stringValue?.count ?? 0) >= 64)

        let stopped = try await h.ecs("StopTask", ["task": .string(taskArn)])
        #expect(stopped.status == 200)
        _ = try await h.waitStopped(taskArn)
        let after = try await h.ecs("ExecuteCommand", ["task": .string(taskArn), "container": "app", "command": "ls", "interactive": true])
        #expect(
            after.body["message"]
                == "The execute command failed because execute command was not enabled when the task was run or the execute command agent isn\u{2019}t running. Wait and try again or run a new task with execute command enabled and try again."
        )
        let agents = try await h.ecs("DescribeTasks", ["tasks": [.string(taskArn)]])
        #expect(agents.body["tasks"]?[0]?["containers"]?[0]?["managedAgents"]?[0]?["lastStatus"] == "STOPPED")
    }

    @Test func executeCommandNeedsATaskRunWithExecuteCommandEnabled() async throws {
        let h = try Harness()
        let taskArn = try await runningTask(h, enableExecuteCommand: false)
        let refused = try await h.ecs("ExecuteCommand", ["task": .string(taskArn), "command": "sh", "interactive": true])
        #expect(refused.body["__type"] == "InvalidParameterException")
        #expect(
            refused.body["message"]?.stringValue?.hasPrefix(
                "The execute command failed because execute command was not enabled when the task was run") == true)
        _ = try await h.ecs("StopTask", ["task": .string(taskArn)])
        _ = try await h.waitStopped(taskArn)
    }

    /// The session protocol end to end: token, handshake, a shell on a terminal, keystrokes, sizes, the exit status.
    @Test func aSessionRunsAShellOnATerminalAndReportsItsExitStatus() async throws {
        let h = try Harness()
        try copyPrograms(["stty"], into: h.image)
        let taskArn = try await runningTask(h)
        let opened = try await h.ecs("ExecuteCommand", ["task": .string(taskArn), "command": "sh", "interactive": true])
        let session = try session(h, opened.body)
        let client = SessionClient(session: session)
        try await client.open(size: TerminalSize(rows: 31, columns: 97))
        client.send(.output, Array("stty size; echo \"[$ECS_CONTAINER_NAME]\"\r".utf8))
        #expect(
            await client.transport.wait {
                client.acknowledge(); return client.transport.output.contains("[app]")
            })
        #expect(client.transport.output.contains("31 97\r\n"))
        client.send(.size, Array(#"{"cols":120,"rows":40}"#.utf8))
        client.send(.output, Array("stty size; exit 3\r".utf8))
        #expect(await client.runToEnd() == 3)
        #expect(client.transport.output.contains("40 120\r\n"))
        #expect(client.transport.closeCode == 1000)
        #expect(h.ecs.tasks.sessions.session(session.id) == nil)
        // The token is good once.
        #expect(!session.claim())
        _ = try await h.ecs("StopTask", ["task": .string(taskArn)])
        _ = try await h.waitStopped(taskArn)
    }

    @Test func aMissingCommandEnds127AndAnUnrunnableOne126() async throws {
        let h = try Harness()
        let taskArn = try await runningTask(h)
        try "text\n".write(toFile: h.image + "/notes.txt", atomically: true, encoding: .utf8)
        for (command, status, message) in [
            ("nosuch --flag", 127, "exec: \"nosuch\": executable file not found in $PATH\r\n"),
            ("./notes.txt", 126, "exec: \"./notes.txt\": permission denied\r\n"),
            ("sh -c 'exit 9'", 9, ""),
            ("sh -c \"unterminated", 1, "Failed to parse commands input: EOF found when expecting closing quote\r\n"),
        ] {
            let opened = try await h.ecs("ExecuteCommand", ["task": .string(taskArn), "command": .string(command), "interactive": true])
            let session = try session(h, opened.body)
            let client = SessionClient(session: session)
            try await client.open(size: .standard)
            #expect(await client.runToEnd() == status, "\(command)")
            #expect(client.transport.output == message, "\(command)")
        }
        // The JSON endpoint agrees.
        let control = await h.cloud.control(
            OperationRequest(
                method: "POST", path: "/_skiff/ecs/exec", headers: signed,
                body: JSON.object(["task": .string(taskArn), "command": ["nosuch"]]).serializedBytes()))
        let answer = try JSON(parsing: try #require(control).body)
        #expect(answer["exitCode"] == 127)
        #expect(answer["stderr"] == "exec: \"nosuch\": executable file not found in $PATH\n")
        _ = try await h.ecs("StopTask", ["task": .string(taskArn)])
        _ = try await h.waitStopped(taskArn)
    }

    /// AWS's plugin does not read exit statuses (it prints every payload): the session sends none to it.
    @Test func awsPluginGetsNoExitCodePayload() async throws {
        let h = try Harness()
        let taskArn = try await runningTask(h)
        let opened = try await h.ecs("ExecuteCommand", ["task": .string(taskArn), "command": "sh -c 'exit 4'", "interactive": true])
        let session = try session(h, opened.body)
        let client = SessionClient(session: session)
        try await client.open(clientVersion: "1.2.707.0", size: .standard)
        #expect(await client.runToEnd() == nil)
        let closed = try #require(client.transport.messages.first { $0.messageType == SessionMessage.channelClosed })
        #expect(try JSON(parsing: closed.payload)["SessionId"] == .string(session.id))
        _ = try await h.ecs("StopTask", ["task": .string(taskArn)])
        _ = try await h.waitStopped(taskArn)
    }

    @Test func aWrongTokenClosesTheConnectionAndEndsTheSession() async throws {
        let h = try Harness()
        let taskArn = try await runningTask(h)
        let opened = try await h.ecs("ExecuteCommand", ["task": .string(taskArn), "command": "sh", "interactive": true])
        let session = try session(h, opened.body)
        let client = SessionClient(session: session)
        try await client.open(token: "not-the-token")
        #expect(client.transport.closeCode == 1008)
        #expect(client.transport.messages.isEmpty)
        #expect(h.ecs.tasks.sessions.session(session.id) == nil)
        _ = try await h.ecs("StopTask", ["task": .string(taskArn)])
        _ = try await h.waitStopped(taskArn)
    }

    @Test func aSessionNeverConnectedExpiresAndOneNeverOpenedIsClosed() async throws {
        let removed = Mutex<[String]>([])
        var timing = ExecSession.Timing()
        timing.connection = .milliseconds(200)
        timing.handshake = .milliseconds(200)
        timing.tick = .milliseconds(20)
        func session(_ id: String) -> ExecSession {
            ExecSession(
                id: id, token: "t", account: "000000000000", taskId: "task", container: "app", command: .success(["true"]),
                streams: ExecStreams(terminal: .standard, input: true), terminalType: nil, alwaysReportsExitCode: true, timeout: nil,
                logger: .init(label: "test"), timing: timing,
                launcher: { _, _ throws(ExecRefusal) in throw ExecRefusal(status: 127, message: "unused") },
                onEnd: { session in removed.withLock { $0.append(session.id) } })
        }
        let unconnected = session("never-connected")
        let silent = session("never-sent-its-token")
        #expect(silent.claim())
        let transport = RecordingTransport()
        silent.attach(transport)
        #expect(await transport.wait { Set(removed.withLock { $0 }) == ["never-connected", "never-sent-its-token"] })
        #expect(!unconnected.claim())
        #expect(transport.closeCode == 1008)
    }

    /// The client going away mid-session ends the command (SIGHUP, as a terminal's hang-up), and the session.
    @Test func aClientThatDisconnectsEndsTheCommand() async throws {
        let h = try Harness()
        let taskArn = try await runningTask(h)
        let opened = try await h.ecs(
            "ExecuteCommand", ["task": .string(taskArn), "command": "sh -c 'echo $$; exec sleep 100'", "interactive": true])
        let session = try session(h, opened.body)
        let client = SessionClient(session: session)
        try await client.open(size: .standard)
        #expect(
            await client.transport.wait {
                client.acknowledge(); return client.transport.output.contains("\r\n")
            })
        let pid = try #require(Int32(client.transport.output.trimmingCharacters(in: .whitespacesAndNewlines)))
        #expect(ProcessTable.entry(pid).map { !$0.ended } == true)
        session.closed()
        #expect(await client.transport.wait { h.ecs.tasks.sessions.session(session.id) == nil })
        #expect(await client.transport.wait { ProcessTable.entry(pid).map { !$0.ended } != true })
        _ = try await h.ecs("StopTask", ["task": .string(taskArn)])
        _ = try await h.waitStopped(taskArn)
    }

    /// A task that stops ends the commands run in it, as a container's end ends what runs in it.
    @Test func stoppingTheTaskEndsItsSessions() async throws {
        let h = try Harness()
        let taskArn = try await runningTask(h)
        let opened = try await h.ecs("ExecuteCommand", ["task": .string(taskArn), "command": "sleep 100", "interactive": true])
        let session = try session(h, opened.body)
        let client = SessionClient(session: session)
        try await client.open(size: .standard)
        _ = try await h.ecs("StopTask", ["task": .string(taskArn)])
        #expect(await client.runToEnd() == 137)
        let closed = try #require(client.transport.messages.first { $0.messageType == SessionMessage.channelClosed })
        #expect(try JSON(parsing: closed.payload)["Output"] == "The task stopped.")
        _ = try await h.waitStopped(taskArn)
    }

    /// `skiff exec`'s sessions: any running task, a command as words, pipes or a terminal.
    @Test func skiffExecSessionsRunOnPipesWithInput() async throws {
        let h = try Harness()
        try copyPrograms(["cat"], into: h.image)
        let taskArn = try await runningTask(h, enableExecuteCommand: false)
        let started = await h.cloud.control(
            OperationRequest(
                method: "POST", path: "/_skiff/ecs/sessions", headers: signed,
                body: JSON.object(["task": .string(taskArn), "command": ["sh", "-c", "cat; echo oops >&2; exit 2"], "interactive": true])
                    .serializedBytes()))
        #expect(started?.status == 200)
        let answer = try JSON(parsing: try #require(started).body)
        let session = try #require(h.ecs.tasks.sessions.session(answer["sessionId"]?.stringValue ?? ""))
        #expect(answer["streamUrl"] == .string("ws://127.0.0.1:4566/_skiff/ecs/sessions/\(session.id)"))
        let client = SessionClient(session: session)
        try await client.open()
        client.send(.output, Array("piped\n".utf8))
        client.send(.flag, SessionMessage.flagPayload(.endOfInput))
        #expect(await client.runToEnd() == 2)
        #expect(client.transport.output == "piped\n")
        #expect(String(decoding: client.transport.stream(.standardError).flatMap(\.payload), as: UTF8.self) == "oops\n")

        let notRunning = await h.cloud.control(
            OperationRequest(
                method: "POST", path: "/_skiff/ecs/sessions", headers: signed,
                body: JSON.object(["task": "0123456789abcdef0123456789abcdef", "command": ["true"]]).serializedBytes()))
        #expect(notRunning?.status == 404)
        // The data channel is a WebSocket only; a session takes one connection.
        let plain = await h.cloud.control(OperationRequest(method: "GET", path: "/_skiff/ecs/sessions/\(session.id)", headers: signed))
        #expect(plain?.status == 426)
        _ = try await h.ecs("StopTask", ["task": .string(taskArn)])
        _ = try await h.waitStopped(taskArn)
    }
}

@Suite struct SessionMessageTests {
    @Test func messagesRoundTripWithTheirDigestAndSwappedIdHalves() throws {
        let id = UUID(uuidString: "00112233-4455-6677-8899-AABBCCDDEEFF")!
        let message = SessionMessage(
            messageType: SessionMessage.inputStreamData, sequenceNumber: 7, flags: 1, payloadType: 1,
            payload: Array("ls\r".utf8), messageId: id, createdDate: 1_700_000_000_000)
        let bytes = message.serialized()
        #expect(bytes.count == 120 + 3)
        #expect(Array(bytes[0..<4]) == [0, 0, 0, 116])
        #expect(String(decoding: bytes[4..<36], as: UTF8.self) == "input_stream_data" + String(repeating: " ", count: 15))
        // The id's least significant half first, as the plugin writes it.
        #expect(Array(bytes[64..<72]) == [0x88, 0x99, 0xAA, 0xBB, 0xCC, 0xDD, 0xEE, 0xFF])
        #expect(try SessionMessage(parsing: bytes) == message)
        var tampered = bytes
        tampered[tampered.count - 1] = UInt8(ascii: "x")
        #expect(throws: SessionMessage.Malformed.self) { _ = try SessionMessage(parsing: tampered) }
        #expect(throws: SessionMessage.Malformed.self) { _ = try SessionMessage(parsing: Array(bytes.prefix(50))) }
        let acknowledgement = SessionMessage.acknowledgement(of: message)
        #expect(acknowledgement.acknowledgedSequenceNumber == 7)
        #expect(try JSON(parsing: acknowledgement.payload)["AcknowledgedMessageId"] == "00112233-4455-6677-8899-aabbccddeeff")
    }

    @Test func commandsAreSplitIntoWordsAsTheAgentSplitsThem() throws {
        #expect(try ExecSession.words("ls -l  /app").get() == ["ls", "-l", "/app"])
        #expect(try ExecSession.words(#"sh -c "echo $HOME && ls""#).get() == ["sh", "-c", "echo $HOME && ls"])
        #expect(try ExecSession.words(#"echo 'a b' c\ d "e\"f""#).get() == ["echo", "a b", "c d", #"e"f"#])
        #expect(try ExecSession.words("   ").get() == ["sh"])
        #expect(try ExecSession.words("echo ''").get() == ["echo", ""])
        #expect(throws: ExecRefusal.self) { _ = try ExecSession.words("echo 'open").get() }
    }
}
