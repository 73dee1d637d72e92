import AWSProtocol
import Foundation
import JSONCore
import LocalCloud
import TaskRunners

/// ECS Exec: ExecuteCommand opens an interactive session in a task's container (``ExecSession``), whose data channel
/// is a WebSocket on the local cloud's own port. `aws ecs execute-command --interactive` hands the session to
/// `session-manager-plugin` (AWS's, or the one Skiff installs), which connects to it as it connects to AWS's.
/// `skiff exec` opens the same sessions through `POST /_skiff/ecs/sessions`.
extension ECSService {
    /// The `Host` the ExecuteCommand request came with, which its stream URL names.
    @TaskLocal static var requestHost: String?

    public func executeCommand(_ input: ECSAPI.ExecuteCommandRequest, context: RequestContext) async throws -> ECSAPI.ExecuteCommandResponse
    {
        let cluster = try await activeCluster(input.cluster, context: context)
        let clusterName = cluster.clusterName ?? "default"
        guard input.interactive else {
            throw ECSAPI.Errors.invalidParameterException("Interactive is the only mode supported currently.")
        }
        guard
            let task = try await store.task(
                account: context.accountId, region: context.region, cluster: clusterName, id: Self.taskId(fromArn: input.task))
        else {
            throw ECSAPI.Errors.invalidParameterException("The specified task could not be found.")
        }
        guard task.enableExecuteCommand == true, task.lastTaskStatus == .running else {
            throw ECSAPI.Errors.invalidParameterException(
                "The execute command failed because execute command was not enabled when the task was run or the execute command agent isn\u{2019}t running. Wait and try again or run a new task with execute command enabled and try again."
            )
        }
        let containers = task.containers ?? []
        let container: ECSAPI.Container
        if let name = input.container {
            guard let named = containers.first(where: { $0.name == name }) else {
                throw ECSAPI.Errors.invalidParameterException("The container \(name) does not exist in the task.")
            }
            container = named
        } else {
            guard containers.count == 1, let only = containers.first else {
                throw ECSAPI.Errors.invalidParameterException(
                    "The task has more than one container: name the container to run the command in.")
            }
            container = only
        }
        let taskId = Self.taskId(fromArn: task.taskArn ?? input.task)
        let name = container.name ?? ""
        do {
            _ = try await supervisor.runningContainer(task: taskId, account: context.accountId, container: name)
        } catch {
            throw ECSAPI.Errors.targetNotConnectedException(
                "The execute command failed because the container \(name) is not running: \(error)")
        }
        let session = try openSession(
            id: ExecSessions.newId(prefix: "ecs-execute-command-"), account: context.accountId, taskId: taskId, container: name,
            command: ExecSession.words(input.command), streams: ExecStreams(terminal: .standard, input: true), terminalType: nil,
            skiffClient: false, timeout: nil)
        return ECSAPI.ExecuteCommandResponse(
            clusterArn: cluster.clusterArn, containerArn: container.containerArn, containerName: name, interactive: true,
            session: ECSAPI.Session(sessionId: session.id, streamUrl: streamUrl(session.id), tokenValue: session.token),
            taskArn: task.taskArn)
    }

    /// `POST /_skiff/ecs/sessions` with `{"task", "container"?, "command": [...], "tty": bool, "interactive": bool,
    /// "terminalType"?, "rows"?, "columns"?, "timeoutSeconds"?}`: `skiff exec`'s session, in any running task of the
    /// caller's account (no `enableExecuteCommand` needed). Answers `{"sessionId", "streamUrl", "tokenValue"}`, as
    /// ExecuteCommand's `session`.
    func startSession(_ request: OperationRequest, context: RequestContext) async throws -> OperationResponse {
        guard request.method == "POST" else {
            return .json(["message": "Use POST."], status: 405, contentType: "application/json")
        }
        let body = try JSON(parsing: request.body)
        guard let task = body["task"]?.stringValue, !task.isEmpty,
            let command = body["command"]?.arrayValue?.compactMap(\.stringValue), !command.isEmpty, !command[0].isEmpty
        else {
            return .json(
                ["message": "The body must name a task and a non-empty command array."], status: 400, contentType: "application/json")
        }
        let name: String
        do {
            name = try await supervisor.runningContainer(task: task, account: context.accountId, container: body["container"]?.stringValue)
                .name
        } catch {
            return Self.answer(error)
        }
        let tty = body["tty"]?.boolValue ?? false
        let size = TerminalSize(
            rows: min(max(body["rows"]?.intValue ?? 24, 1), 1000), columns: min(max(body["columns"]?.intValue ?? 80, 1), 1000))
        let terminalType = body["terminalType"]?.stringValue.flatMap { type in
            type.isEmpty || type.count > 64 || !type.allSatisfy({ $0.isLetter || $0.isNumber || "-_.+".contains($0) }) ? nil : type
        }
        let timeout = body["timeoutSeconds"]?.intValue.map { Duration.seconds(max(1, min($0, 86_400))) }
        let session: ExecSession
        do {
            session = try openSession(
                id: ExecSessions.newId(prefix: "skiff-exec-"), account: context.accountId, taskId: Self.taskId(fromArn: task),
                container: name,
                command: .success(command),
                streams: ExecStreams(terminal: tty ? size : nil, input: body["interactive"]?.boolValue ?? false),
                terminalType: terminalType, skiffClient: true, timeout: timeout)
        } catch let error as AWSError {
            return .json(["message": .string(error.message)], status: 503, contentType: "application/json")
        }
        return .json(
            [
                "sessionId": .string(session.id), "streamUrl": .string(streamUrl(session.id)), "tokenValue": .string(session.token),
            ], contentType: "application/json")
    }

    /// `GET /_skiff/ecs/sessions/<id>`: the session's data channel. Only a WebSocket handshake is answered (101), and
    /// only for a session waiting for its one connection; the token the client sends first is what lets it in.
    func connectSession(_ id: String) -> OperationResponse {
        guard let upgrade = WebSocketUpgrade.offered else {
            var response = OperationResponse.json(
                ["message": "An exec session's data channel is a WebSocket: connect with Upgrade: websocket."], status: 426,
                contentType: "application/json")
            response.headers.append(("Upgrade", "websocket"))
            return response
        }
        guard let session = supervisor.sessions.session(id), session.claim() else {
            return .json(
                [
                    "message": .string(
                        "No exec session \(id.prefix(64)) is waiting for its connection: a session takes one connection, within \(ExecSession.Timing.standard.connection.components.seconds) s of being started."
                    )
                ], status: 404, contentType: "application/json")
        }
        return upgrade.accept(session)
    }

    /// Creates and registers a session; ThrottlingException when the server holds its maximum of sessions.
    func openSession(
        id: String, account: String, taskId: String, container: String, command: Result<[String], ExecRefusal>,
        streams: ExecStreams, terminalType: String?, skiffClient: Bool, timeout: Duration?
    ) throws -> ExecSession {
        let supervisor = self.supervisor
        let sessions = supervisor.sessions
        let session = ExecSession(
            id: id, token: ExecSessions.newToken(), account: account, taskId: taskId, container: container, command: command,
            streams: streams, terminalType: terminalType, alwaysReportsExitCode: skiffClient, timeout: timeout, logger: environment.logger,
            launcher: { words, terminalType throws(ExecRefusal) in
                try supervisor.launch(words, taskId: taskId, container: container, terminalType: terminalType)
            },
            onEnd: { session in sessions.remove(session) })
        guard sessions.add(session) else {
            session.terminate(message: "")
            throw AWSError(
                "ThrottlingException",
                "Rate exceeded: the local cloud holds \(ExecSessions.maximum) exec sessions at most; end one and try again.")
        }
        return session
    }

    /// The session's data channel, on the host the client reached the local cloud at (`ws://127.0.0.1:4566/...`).
    func streamUrl(_ id: String) -> String {
        let configuration = environment.configuration
        var host = Self.requestHost ?? ""
        if host.isEmpty {
            let name = ["0.0.0.0", "::", ""].contains(configuration.host) ? "127.0.0.1" : configuration.host
            host = (name.contains(":") ? "[\(name)]" : name) + ":\(configuration.port)"
        }
        return "ws://\(host)/_skiff/ecs/sessions/\(id)"
    }
}
