import Foundation

/// What a runner needs to start one container of a task: the image, the process and its environment.
public struct ContainerSpec: Sendable {
    public var taskId: String
    public var name: String
    public var image: String
    public var entryPoint: [String]
    public var command: [String]
    public var environment: [String: String]
    /// The container definition's `workingDirectory`; relative paths are taken inside the image's directory.
    public var workingDirectory: String?
    /// Hard memory limit in MiB (`memory` of the container definition).
    public var memoryMiB: Int?
    /// Seconds between SIGTERM and SIGKILL when the container is stopped (ECS's `stopTimeout`, 30 by default).
    public var stopTimeoutSeconds: Int
    /// The container definition's `ulimits`: name (`nofile`, `nproc`, `core`, ...) → soft and hard limit.
    public var ulimits: [String: ResourceLimit] = [:]

    public init(
        taskId: String, name: String, image: String, entryPoint: [String] = [], command: [String] = [],
        environment: [String: String] = [:], workingDirectory: String? = nil, memoryMiB: Int? = nil,
        stopTimeoutSeconds: Int = 30, ulimits: [String: ResourceLimit] = [:]
    ) {
        self.ulimits = ulimits
        self.taskId = taskId
        self.name = name
        self.image = image
        self.entryPoint = entryPoint
        self.command = command
        self.environment = environment
        self.workingDirectory = workingDirectory
        self.memoryMiB = memoryMiB
        self.stopTimeoutSeconds = stopTimeoutSeconds
    }

    /// The argument vector: entry point followed by command, as Docker composes them.
    public var arguments: [String] { entryPoint + command }
}

/// A soft and a hard resource limit, as a container definition's `ulimits` give them.
public struct ResourceLimit: Sendable, Equatable {
    public var soft: Int
    public var hard: Int
    public init(soft: Int, hard: Int) {
        self.soft = soft
        self.hard = hard
    }
}

/// One line a container wrote.
public struct OutputLine: Sendable, Equatable {
    public enum Stream: String, Sendable { case stdout, stderr }
    public var stream: Stream
    public var text: String
    /// Milliseconds since 1970 when the line was read.
    public var timestamp: Int

    public init(stream: Stream, text: String, timestamp: Int) {
        self.stream = stream
        self.text = text
        self.timestamp = timestamp
    }
}

/// How a container ended.
public struct ContainerExit: Sendable, Equatable {
    public var exitCode: Int?
    /// Why it ended when it did not exit by itself (killed by a signal, out of memory, ...).
    public var reason: String?

    public init(exitCode: Int?, reason: String? = nil) {
        self.exitCode = exitCode
        self.reason = reason
    }
}

/// The answer of a command run inside a running container (`skiff exec`, ECS Exec).
public struct ExecResult: Sendable, Equatable {
    public var exitCode: Int
    public var output: String
    public var errorOutput: String

    public init(exitCode: Int, output: String, errorOutput: String) {
        self.exitCode = exitCode
        self.output = output
        self.errorOutput = errorOutput
    }
}

/// A container could not be started; `reason` becomes the task's `stoppedReason` (stop code TaskFailedToStart).
public struct ContainerStartFailure: Error, Sendable, Equatable, CustomStringConvertible {
    public var reason: String
    public init(_ reason: String) { self.reason = reason }
    public var description: String { reason }
}

/// A started container.
public protocol RunningContainer: Sendable {
    /// The runtime's id of the container (a process id, a Docker container id).
    var runtimeId: String { get }
    /// Waits until the container ends; every output line has been delivered when this returns.
    func wait() async -> ContainerExit
    /// Asks the container to stop (SIGTERM), and kills it after the spec's stop timeout.
    func stop() async
    /// Runs `command` in the container's environment and working directory, and returns its output.
    func exec(_ command: [String], timeoutSeconds: Int) async throws -> ExecResult
    /// The local process the container is, when it is one: kept with the task, so that a server started after this
    /// one died finds it again (``ProcessRunner/adopt(_:imageRoot:stopTimeoutSeconds:)``) or ends what it left.
    var processIdentity: ProcessIdentity? { get }
    /// The real path of the image directory the process runs in, when it is a local process.
    var imageDirectory: String? { get }
    /// The server stops and leaves the container running for the next server to take over: whatever it reads of
    /// the container stops where the next server goes on.
    func detach()
}

extension RunningContainer {
    public var processIdentity: ProcessIdentity? { nil }
    public var imageDirectory: String? { nil }
    public func detach() {}
}

/// Runs the containers of ECS tasks: as local processes, in a container engine, ...
public protocol TaskRunner: Sendable {
    /// A short name for logs and errors (`process`, `docker`).
    var name: String { get }
    /// Starts the container; `output` receives each line it writes, in order per stream.
    /// Throws ``ContainerStartFailure`` when it cannot start.
    func start(_ spec: ContainerSpec, output: @escaping @Sendable (OutputLine) -> Void) async throws -> any RunningContainer
}

extension Date {
    /// Milliseconds since 1970, CloudWatch Logs' timestamps.
    static var nowMilliseconds: Int { Int((Date().timeIntervalSince1970 * 1000).rounded()) }
}
