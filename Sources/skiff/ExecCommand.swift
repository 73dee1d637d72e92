import ArgumentParser
import Foundation
import JSONCore

/// `skiff exec`: runs a command inside a running ECS task of the local cloud, with the task's working directory
/// and environment, for troubleshooting as ECS Exec does. The server runs it (`POST /_skiff/ecs/exec`).
struct ExecCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "exec",
        abstract: "Run a command inside a running ECS task of the local cloud.",
        discussion: """
            The command runs in the task's environment: the same working directory, environment variables and
            PATH as the task's container. Its output is printed and its exit code becomes skiff's. The request is
            signed as the AWS CLI signs (AWS_ACCESS_KEY_ID), and finds tasks of that key's account only.
              skiff exec --task 3f2a... -- php -v
              skiff exec --task arn:aws:ecs:us-east-1:000000000000:task/default/3f2a... --container app -- env
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
    @Option(help: "Seconds before the command is killed.") var timeout = 300
    @Argument(parsing: .captureForPassthrough, help: "The command and its arguments, after --.") var command: [String] = []

    func validate() throws {
        if command.first == "--" { return }
        guard !command.isEmpty else { throw ValidationError("Give the command to run after --, e.g. skiff exec --task ID -- ls -l") }
        guard timeout > 0 else { throw ValidationError("--timeout must be positive.") }
    }

    func run() async throws {
        let arguments = command.first == "--" ? Array(command.dropFirst()) : command
        guard !arguments.isEmpty else { throw ValidationError("Give the command to run after --, e.g. skiff exec --task ID -- ls -l") }
        let endpoint = endpointUrl ?? LocalCloudClient.defaultEndpoint()
        var body: JSONObject = ["task": .string(task), "command": .array(arguments.map { .string($0) }), "timeoutSeconds": .number(Double(timeout))]
        if let container { body["container"] = .string(container) }
        let reply: (status: Int, body: String)
        do {
            let client = LocalCloudClient(
                endpoint: endpoint.trimmingCharacters(in: CharacterSet(charactersIn: "/")),
                region: region ?? ProcessInfo.processInfo.environment["AWS_REGION"] ?? ProcessInfo.processInfo.environment["AWS_DEFAULT_REGION"] ?? "us-east-1",
                accessKeyId: accessKeyId)
            reply = try client.post(service: "ecs", path: "/_skiff/ecs/exec", body: JSON.object(body).serializedBytes())
        } catch {
            throw CommandFailure("cannot reach the local cloud at \(endpoint): \(error)")
        }
        let answer = try? JSON(parsing: reply.body)
        guard reply.status == 200, let answer else {
            let message = answer?["message"]?.stringValue ?? reply.body
            FileHandle.standardError.write(Data("skiff exec: \(message)\n".utf8))
            throw ExitCode(reply.status == 404 ? 2 : 1)
        }
        FileHandle.standardOutput.write(Data((answer["stdout"]?.stringValue ?? "").utf8))
        FileHandle.standardError.write(Data((answer["stderr"]?.stringValue ?? "").utf8))
        let code = Int32(clamping: answer["exitCode"]?.intValue ?? 1)
        if code != 0 { throw ExitCode(code) }
    }
}
