import ArgumentParser
import Foundation
import JSONCore
import LocalCloud

/// `session-manager-plugin`: what `aws ecs execute-command --interactive` (and `aws ssm start-session`) run to open
/// the session ExecuteCommand started, here against the local cloud. Installed as a link named
/// `session-manager-plugin` to the `skiff` binary (skiff runs this when called by that name), and as the hidden
/// command `skiff session-manager-plugin`.
///
/// The AWS CLI first runs it with no arguments to see it is there, then with
/// `<session JSON> <region> StartSession <profile> <parameters JSON> <endpoint URL>`, where the session JSON is
/// ExecuteCommand's `session` (`sessionId`, `streamUrl`, `tokenValue`). It connects to the stream URL, opens the
/// session with its token, puts the terminal in raw mode, forwards keystrokes and window sizes, and exits with the
/// command's exit status (AWS's plugin exits 0 whatever the command did; the AWS CLI reports another status as an
/// error of its own).
enum SessionManagerPlugin {
    /// The name the AWS CLI runs.
    static let programName = "session-manager-plugin"

    /// Runs the plugin with `arguments` (`arguments[0]` is the program); returns the exit status.
    static func run(_ arguments: [String], environment: [String: String] = ProcessInfo.processInfo.environment) -> Int32 {
        if arguments.count <= 1 {
            print("\nThe Session Manager plugin was installed successfully. Use the AWS CLI to start a session.\n")
            return 0
        }
        if arguments.count == 2 && arguments[1] == "--version" {
            print("skiff \(Cloud.version) (session-manager-plugin for the Skiff local cloud)")
            return 0
        }
        guard arguments.count >= 4 else {
            print("\nUnknown operation \(arguments[1]). \nUse session-manager-plugin --version to check the version.\n")
            return 1
        }
        guard arguments[3] == "StartSession" else {
            print("Invalid Operation")
            return 1
        }
        // The session may come in an environment variable the CLI names, to keep the token off the command line.
        var sessionText = arguments[1]
        if sessionText.hasPrefix("AWS_SSM_START_SESSION_RESPONSE") {
            sessionText = environment[sessionText] ?? ""
            unsetenv(arguments[1])
        }
        guard let session = try? JSON(parsing: sessionText),
            let sessionId = field(session, "sessionId"), let streamUrl = field(session, "streamUrl"),
            let token = field(session, "tokenValue")
        else {
            print("Cannot perform start session: the session argument is not ExecuteCommand's or StartSession's session JSON")
            return 1
        }
        let region = arguments[2].isEmpty ? (environment["AWS_REGION"] ?? environment["AWS_DEFAULT_REGION"] ?? "us-east-1") : arguments[2]
        let endpoint =
            arguments.count > 6 && !arguments[6].isEmpty ? arguments[6] : LocalCloudClient.defaultEndpoint(environment: environment)
        let signer = LocalCloudClient(endpoint: endpoint, region: region, accessKeyId: nil, environment: environment)
        print("\nStarting session with SessionId: \(sessionId)")
        let channel: SessionChannel
        do {
            channel = try SessionChannel(
                streamUrl: streamUrl, token: token, sessionId: sessionId, signer: signer,
                options: .init(terminal: true, forwardInput: true, banners: true))
        } catch {
            print("Cannot perform start session: \(error)")
            return 1
        }
        fflush(nil)
        return channel.run()
    }

    /// A field of the session JSON, whichever case its name has (`sessionId` from ECS, `SessionId` from SSM).
    static func field(_ session: JSON, _ name: String) -> String? {
        guard case .object(let object) = session else { return nil }
        return object.first { $0.key.lowercased() == name.lowercased() }?.value.stringValue
    }
}

/// `skiff session-manager-plugin ...`: the plugin as a command of skiff (hidden: the AWS CLI runs it by its own name).
struct SessionManagerPluginCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: SessionManagerPlugin.programName,
        abstract: "The Session Manager plugin the AWS CLI runs for aws ecs execute-command, against the local cloud.",
        shouldDisplay: false)

    @Argument(parsing: .captureForPassthrough) var arguments: [String] = []

    func run() throws {
        let status = SessionManagerPlugin.run([SessionManagerPlugin.programName] + arguments)
        if status != 0 { throw ExitCode(status) }
    }
}
