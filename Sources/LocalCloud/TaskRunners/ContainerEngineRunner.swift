import Foundation
import Synchronization

/// Runs a container in a Docker-compatible engine through its command line (`docker` or `podman`):
/// `run --detach`, `logs --follow` for the output, `wait` for the exit code, `stop --time` and `exec`.
public struct ContainerEngineRunner: TaskRunner {
    /// The engine's command line, `docker` or `podman`.
    public let cli: String
    public var name: String { cli }

    public init(cli: String = "docker") {
        self.cli = cli
    }

    /// Whether an engine answers (`<cli> info` succeeds), and if not, why.
    public static func probe(cli: String = "docker") async -> (available: Bool, reason: String) {
        do {
            let result = try await ProcessExec.run(
                [cli, "info", "--format", "{{.ServerVersion}}"], environment: ProcessRunner.defaultBaseEnvironment(),
                workingDirectory: FileManager.default.currentDirectoryPath, timeoutSeconds: 10)
            if result.exitCode == 0 { return (true, "\(cli) engine \(result.output.trimmingCharacters(in: .whitespacesAndNewlines))") }
            let message = (result.errorOutput + result.output).trimmingCharacters(in: .whitespacesAndNewlines)
            return (
                false, "`\(cli) info` failed: \(message.split(separator: "\n").first.map(String.init) ?? "exit code \(result.exitCode)")"
            )
        } catch {
            return (false, "`\(cli)` cannot run: \(error)")
        }
    }

    /// The arguments of `docker run` for `spec`.
    public func runArguments(_ spec: ContainerSpec) -> [String] {
        var arguments = ["run", "--detach", "--name", "skiff-\(spec.taskId)-\(spec.name)", "--label", "skiff.task=\(spec.taskId)"]
        for (key, value) in spec.environment.sorted(by: { $0.key < $1.key }) { arguments += ["--env", "\(key)=\(value)"] }
        if let workingDirectory = spec.workingDirectory, !workingDirectory.isEmpty { arguments += ["--workdir", workingDirectory] }
        if let memory = spec.memoryMiB, memory > 0 { arguments += ["--memory", "\(memory)m"] }
        for (name, limit) in spec.ulimits.sorted(by: { $0.key < $1.key }) {
            arguments += ["--ulimit", "\(name)=\(limit.soft):\(limit.hard)"]
        }
        if let program = spec.entryPoint.first {
            arguments += ["--entrypoint", program, spec.image] + spec.entryPoint.dropFirst() + spec.command
        } else {
            arguments += [spec.image] + spec.command
        }
        return arguments
    }

    public func start(_ spec: ContainerSpec, output: @escaping @Sendable (OutputLine) -> Void) async throws -> any RunningContainer {
        let environment = ProcessRunner.defaultBaseEnvironment()
        let directory = FileManager.default.currentDirectoryPath
        let result: ExecResult
        do {
            result = try await ProcessExec.run(
                [cli] + runArguments(spec), environment: environment, workingDirectory: directory, timeoutSeconds: 600)
        } catch {
            throw ContainerStartFailure("CannotStartContainerError: \(error)")
        }
        guard result.exitCode == 0 else {
            let message = result.errorOutput.trimmingCharacters(in: .whitespacesAndNewlines)
            let kind = message.contains("pull") || message.contains("manifest") ? "CannotPullContainerError" : "CannotStartContainerError"
            throw ContainerStartFailure("\(kind): \(message)")
        }
        let id = result.output.trimmingCharacters(in: .whitespacesAndNewlines)
        return EngineContainer(cli: cli, id: id, stopTimeoutSeconds: spec.stopTimeoutSeconds, output: output)
    }
}

/// A container in an engine, followed by `logs --follow` and `wait`.
final class EngineContainer: RunningContainer {
    let cli: String
    let id: String
    let stopTimeoutSeconds: Int
    private let ended: Task<ContainerExit, Never>

    var runtimeId: String { id }

    init(cli: String, id: String, stopTimeoutSeconds: Int, output: @escaping @Sendable (OutputLine) -> Void) {
        self.cli = cli
        self.id = id
        self.stopTimeoutSeconds = stopTimeoutSeconds
        ended = Task.detached {
            let readers = DispatchGroup()
            let environment = ProcessRunner.defaultBaseEnvironment()
            if let executable = ProcessRunner.resolve(cli, path: environment["PATH"] ?? "", workingDirectory: "/"),
                let logs = try? SpawnedProcess.spawn(
                    executable: executable, arguments: ["logs", "--follow", id], environment: environment, workingDirectory: "/")
            {
                for (descriptor, stream) in [(logs.stdout, OutputLine.Stream.stdout), (logs.stderr, .stderr)] {
                    readers.enter()
                    Thread {
                        LineReader.read(descriptor) { output(OutputLine(stream: stream, text: $0, timestamp: Date.nowMilliseconds)) }
                        readers.leave()
                    }.start()
                }
                Thread { _ = logs.waitForExit() }.start()
            }
            let waited = try? await ProcessExec.run(
                [cli, "wait", id], environment: ProcessRunner.defaultBaseEnvironment(),
                workingDirectory: FileManager.default.currentDirectoryPath, timeoutSeconds: Int(Int32.max / 2))
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                readers.notify(queue: .global()) { continuation.resume() }
            }
            _ = try? await ProcessExec.run(
                [cli, "rm", id], environment: ProcessRunner.defaultBaseEnvironment(),
                workingDirectory: FileManager.default.currentDirectoryPath, timeoutSeconds: 60)
            if let waited, waited.exitCode == 0, let code = Int(waited.output.trimmingCharacters(in: .whitespacesAndNewlines)) {
                return ContainerExit(exitCode: code)
            }
            return ContainerExit(exitCode: nil, reason: "Lost track of container \(id): \(waited?.errorOutput ?? "docker wait failed")")
        }
    }

    func wait() async -> ContainerExit { await ended.value }

    func stop() async {
        _ = try? await ProcessExec.run(
            [cli, "stop", "--time", String(stopTimeoutSeconds), id], environment: ProcessRunner.defaultBaseEnvironment(),
            workingDirectory: FileManager.default.currentDirectoryPath, timeoutSeconds: min(stopTimeoutSeconds, 86_400) + 30)
    }

    func exec(_ command: [String], timeoutSeconds: Int) async throws -> ExecResult {
        try await ProcessExec.run(
            [cli, "exec", id] + command, environment: ProcessRunner.defaultBaseEnvironment(),
            workingDirectory: FileManager.default.currentDirectoryPath, timeoutSeconds: timeoutSeconds)
    }
}

/// Chooses a runner per container: the process runner for images mapped to a directory, otherwise the
/// container engine when one answers (`docker info` succeeds; asked once, on the first unmapped image). With
/// no engine, unmapped images fail to start with the process runner's reason (how to map them).
public final class SelectingRunner: TaskRunner {
    public let process: ProcessRunner
    public let engine: ContainerEngineRunner?
    private let engineAnswers = Mutex<Bool?>(nil)
    public var name: String { engine.map { "process+\($0.name)" } ?? "process" }

    public init(process: ProcessRunner, engine: ContainerEngineRunner?) {
        self.process = process
        self.engine = engine
    }

    func engineAvailable(_ engine: ContainerEngineRunner) async -> Bool {
        if let known = engineAnswers.withLock({ $0 }) { return known }
        let answer = await ContainerEngineRunner.probe(cli: engine.cli).available
        engineAnswers.withLock { $0 = answer }
        return answer
    }

    public func start(_ spec: ContainerSpec, output: @escaping @Sendable (OutputLine) -> Void) async throws -> any RunningContainer {
        guard process.images.directory(for: spec.image) == nil, let engine else {
            return try await process.start(spec, output: output)
        }
        if await engineAvailable(engine) { return try await engine.start(spec, output: output) }
        do {
            return try await process.start(spec, output: output)
        } catch let failure as ContainerStartFailure {
            throw ContainerStartFailure(failure.reason + " (no \(engine.cli) engine answers `\(engine.cli) info` to run it as a container)")
        }
    }
}
