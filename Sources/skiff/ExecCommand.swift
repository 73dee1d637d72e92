import ArgumentParser
import Foundation
import JSONCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// `skiff exec`: runs a command inside a running ECS task of the local cloud, with the task's working directory and
/// environment, as ECS Exec and `docker exec` do: on a terminal of its own with the keyboard forwarded (`-it`, the
/// default when standard input is a terminal), with standard input piped in (`-i`), or output only. It opens an exec
/// session (`POST /_skiff/ecs/sessions`) and speaks its data channel, as `session-manager-plugin` does.
struct ExecCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "exec",
        abstract: "Run a command inside a running ECS task of the local cloud.",
        discussion: """
            The command runs in the task's environment: the same working directory, environment variables and PATH \
            as the task's container, and it is found inside the task's image. Like docker exec:
              -i   standard input goes to the command (its end closes the command's input)
              -t   the command runs on a terminal of its own (window size followed, keys sent as typed)
            With neither, both apply when standard input is a terminal, and neither otherwise (output only).

            skiff exec exits with the command's exit status: 127 when the command is not in the image, 126 when it \
            cannot be run, 128+N when signal N ended it; 125 when skiff exec itself failed (no such running task).

            The request is signed as the AWS CLI signs (AWS_ACCESS_KEY_ID), and finds tasks of that key's account only.

            Examples:
              skiff exec --task 3f2a... -- sh
              skiff exec --task 3f2a... -- php -v
              skiff exec -i --task 3f2a... -- sh -c 'cat > /tmp/x' < x
              skiff exec --task 3f2a... --container app -- env

            aws ecs execute-command --interactive works too, for tasks run with --enable-execute-command: skiff's \
            install puts the session-manager-plugin it calls beside skiff.
            """
    )

    @Option(help: "The local cloud's endpoint (default: $SKIFF_ENDPOINT, $AWS_ENDPOINT_URL, else http://127.0.0.1:4566).")
    var endpointUrl: String?
    @Option(help: "The access key to sign with (default: $AWS_ACCESS_KEY_ID): the task is looked for in its account.")
    var accessKeyId: String?
    @Option(help: "The region to sign for (default: $AWS_REGION, $AWS_DEFAULT_REGION, else us-east-1).")
    var region: String?
    @Option(help: "The task: its ARN or id.") var task: String
    @Option(help: "The cluster of the task (informational: task ids are unique).") var cluster: String?
    @Option(help: "The container to run in (default: the task's first container).") var container: String?
    @Flag(name: .shortAndLong, help: "Send standard input to the command.") var interactive = false
    @Flag(name: .shortAndLong, help: "Run the command on a terminal of its own.") var tty = false
    @Option(help: "Seconds after which the command is killed (default: none).") var timeout: Int?
    @Argument(parsing: .captureForPassthrough, help: "The command and its arguments, after --.") var command: [String] = []

    /// Exit status of a failure of skiff exec itself, as docker exec's.
    static let ownFailure: Int32 = 125

    func validate() throws {
        if command.first == "--" && command.count > 1 { return }
        guard !command.isEmpty, command != ["--"] else {
            throw ValidationError("Give the command to run after --, e.g. skiff exec --task ID -- ls -l")
        }
        if let timeout, timeout <= 0 { throw ValidationError("--timeout must be positive.") }
    }

    func run() async throws {
        let arguments = command.first == "--" ? Array(command.dropFirst()) : command
        guard !arguments.isEmpty else { throw ValidationError("Give the command to run after --, e.g. skiff exec --task ID -- ls -l") }
        // Neither flag: a terminal gets a terminal, as docker exec -it; a pipe or file gets output only.
        let onTerminal = isatty(STDIN_FILENO) == 1
        let (forwardInput, terminal) = interactive || tty ? (interactive, tty) : (onTerminal, onTerminal)
        let environment = ProcessInfo.processInfo.environment
        let endpoint = (endpointUrl ?? LocalCloudClient.defaultEndpoint()).trimmingCharacters(in: CharacterSet(charactersIn: "/"))
        let client = LocalCloudClient(
            endpoint: endpoint, region: region ?? environment["AWS_REGION"] ?? environment["AWS_DEFAULT_REGION"] ?? "us-east-1",
            accessKeyId: accessKeyId)

        var body: JSONObject = [
            "task": .string(task), "command": .array(arguments.map { .string($0) }), "tty": .bool(terminal),
            "interactive": .bool(forwardInput),
        ]
        if let container { body["container"] = .string(container) }
        if let timeout { body["timeoutSeconds"] = .number(Double(timeout)) }
        if terminal {
            let size = LocalTerminal.currentSize ?? .standard
            body["rows"] = .number(Double(size.rows))
            body["columns"] = .number(Double(size.columns))
            if let type = environment["TERM"], !type.isEmpty, type != "dumb" { body["terminalType"] = .string(type) }
        }
        let reply: (status: Int, body: String)
        do {
            reply = try client.post(service: "ecs", path: "/_skiff/ecs/sessions", body: JSON.object(body).serializedBytes())
        } catch {
            throw failure("cannot reach the local cloud at \(endpoint): \(error)")
        }
        let answer = try? JSON(parsing: reply.body)
        guard reply.status == 200, let answer, let sessionId = answer["sessionId"]?.stringValue,
            let streamUrl = answer["streamUrl"]?.stringValue, let token = answer["tokenValue"]?.stringValue
        else {
            throw failure(answer?["message"]?.stringValue ?? "the local cloud answered HTTP \(reply.status): \(reply.body)")
        }
        let channel: SessionChannel
        do {
            channel = try SessionChannel(
                streamUrl: streamUrl, token: token, sessionId: sessionId, signer: client,
                options: .init(terminal: terminal, forwardInput: forwardInput, banners: false))
        } catch {
            throw failure("cannot open the session: \(error)")
        }
        let status = channel.run()
        if status != 0 { throw ExitCode(status) }
    }

    /// Says why skiff exec failed; the error to throw exits with ``ownFailure``.
    private func failure(_ message: String) -> ExitCode {
        FileHandle.standardError.write(Data("skiff exec: \(message)\n".utf8))
        return ExitCode(Self.ownFailure)
    }
}
