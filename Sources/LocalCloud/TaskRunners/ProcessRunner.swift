import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Runs a container as a local process: the image is a directory (see ``ImageMap``) that stands for the container's
/// file system (see ``ImageRoot``): the working directory, the entry point and the PATH are inside it. The entry point
/// and command run with the task's environment, in a session of their own, with a hard memory limit (`ulimit -d`)
/// when the container definition sets `memory`, and SIGTERM then SIGKILL on stop.
public struct ProcessRunner: TaskRunner {
    public let images: ImageCatalog
    /// Where containers' output and exit status are kept (``TaskOutputFiles``), so that tasks outlive the server;
    /// nil for a server that keeps no state, whose tasks write to pipes and end with it.
    public let taskOutputRoot: String?
    /// Variables every task's process gets before its own (HOME, LANG, ...); PATH is always the image's.
    public let baseEnvironment: [String: String]

    public var name: String { "process" }

    /// `imageMapFile` is the state directory's `images.json` (``ImageCatalog``), whose mappings win over `images`;
    /// `taskOutputRoot` a folder of the state directory for the containers' ``TaskOutputFiles``.
    public init(
        images: ImageMap, imageMapFile: String? = nil, taskOutputRoot: String? = nil,
        baseEnvironment: [String: String] = ProcessRunner.defaultBaseEnvironment()
    ) {
        self.images = ImageCatalog(startup: images, file: imageMapFile)
        self.taskOutputRoot = taskOutputRoot
        self.baseEnvironment = baseEnvironment
    }

    /// The files of container `container` of task `taskId`, when this runner keeps them.
    public func outputFiles(taskId: String, container: String) -> TaskOutputFiles? {
        taskOutputRoot.map { TaskOutputFiles(root: $0, taskId: taskId, container: container) }
    }

    /// PATH, HOME, LANG, USER and TMPDIR of the server's own environment.
    public static func defaultBaseEnvironment() -> [String: String] {
        let host = ProcessInfo.processInfo.environment
        var environment: [String: String] = [:]
        for key in ["PATH", "HOME", "LANG", "USER", "TMPDIR", "TZ"] { environment[key] = host[key] }
        if environment["PATH"] == nil { environment["PATH"] = "/usr/local/bin:/usr/bin:/bin" }
        return environment
    }

    /// The process's environment, working directory and argument vector, or why it cannot start.
    public func prepare(_ spec: ContainerSpec) throws(ContainerStartFailure) -> PreparedProcess {
        guard let imageDirectory = images.directory(for: spec.image) else {
            let name = Self.shortName(spec.image)
            throw ContainerStartFailure(
                "CannotPullContainerError: image \(spec.image) is not mapped to a local directory; "
                    + "map it with skiff image map \(name) DIR, or start skiff up with --image-map \(name)=DIR or SKIFF_IMAGE_\(ImageMap.environmentKey(name))=DIR"
                    + (images.fileProblem.map { " (\($0))" } ?? ""))
        }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: imageDirectory, isDirectory: &isDirectory), isDirectory.boolValue,
            let root = ImageRoot(directory: imageDirectory)
        else {
            throw ContainerStartFailure(
                "CannotPullContainerError: image \(spec.image) is mapped to \(imageDirectory), which is not a directory")
        }
        var workingDirectory = root.path
        if let requested = spec.workingDirectory, !requested.isEmpty {
            switch root.resolve(requested, from: root.path) {
            case .inside(let real) where FileManager.default.fileExists(atPath: real, isDirectory: &isDirectory) && isDirectory.boolValue:
                workingDirectory = real
            case .outside(let real):
                throw ContainerStartFailure(
                    "CannotStartContainerError: working directory \(requested) leads to \(real), outside image \(spec.image) (\(root.path)); "
                        + "a task's paths stay inside its image")
            case .inside, .missing:
                throw ContainerStartFailure(
                    "CannotStartContainerError: working directory \(requested) does not exist in image \(spec.image)")
            }
        }
        var environment = baseEnvironment
        environment["HOSTNAME"] = spec.taskId
        for (key, value) in spec.environment { environment[key] = value }
        // The image's PATH, never the host's: a program the task names by name is the image's or none.
        let searchPath = root.searchPath(spec.environment["PATH"])
        environment["PATH"] = searchPath.joined(separator: ":")
        let arguments = spec.arguments
        guard let program = arguments.first, !program.isEmpty else {
            throw ContainerStartFailure(
                "CannotStartContainerError: no command specified for container \(spec.name): set entryPoint or command")
        }
        let executable: String
        switch root.executable(program, searchPath: searchPath, workingDirectory: workingDirectory) {
        case .success(let path):
            executable = path
        case .failure(.outside(let real)):
            throw ContainerStartFailure(
                "CannotStartContainerError: exec: \"\(program)\": leads to \(real), outside image \(spec.image) (\(root.path)); "
                    + "a task runs only programs inside its image")
        case .failure(.notFound):
            throw ContainerStartFailure(
                "CannotStartContainerError: exec: \"\(program)\": executable file not found in $PATH (image \(spec.image) at \(root.path))")
        }
        for name in spec.ulimits.keys where PreparedProcess.ulimitFlags[name] == nil {
            throw ContainerStartFailure(
                "CannotStartContainerError: ulimit \(name) is not supported by the process runner (supported: \(PreparedProcess.ulimitFlags.keys.sorted().joined(separator: ", ")))"
            )
        }
        return PreparedProcess(
            executable: executable, name: program, arguments: Array(arguments.dropFirst()), environment: environment,
            workingDirectory: workingDirectory, imageRoot: root, memoryMiB: spec.memoryMiB, ulimits: spec.ulimits)
    }

    public func start(_ spec: ContainerSpec, output: @escaping @Sendable (OutputLine) -> Void) async throws -> any RunningContainer {
        let prepared = try prepare(spec)
        return try ProcessContainer.launch(
            prepared, stopTimeoutSeconds: spec.stopTimeoutSeconds,
            files: outputFiles(taskId: spec.taskId, container: spec.name), output: output)
    }

    static func shortName(_ image: String) -> String {
        ImageMap.candidates(image).last ?? image
    }

    /// Finds a program of the host (a container engine's command line) as a shell would: a path with a slash is
    /// taken relative to the working directory, a bare name is searched in PATH. Never for a task's programs, which
    /// ``ImageRoot`` finds inside their image.
    static func resolve(_ program: String, path: String, workingDirectory: String) -> String? {
        let fileManager = FileManager.default
        if program.contains("/") {
            let full =
                program.hasPrefix("/")
                ? program : ((workingDirectory as NSString).appendingPathComponent(program) as NSString).standardizingPath
            return fileManager.isExecutableFile(atPath: full) ? full : nil
        }
        for directory in path.split(separator: ":") where !directory.isEmpty {
            let candidate = (String(directory) as NSString).appendingPathComponent(program)
            var isDirectory: ObjCBool = false
            if fileManager.fileExists(atPath: candidate, isDirectory: &isDirectory), !isDirectory.boolValue,
                fileManager.isExecutableFile(atPath: candidate)
            {
                return candidate
            }
        }
        return nil
    }
}

/// A process ready to launch.
public struct PreparedProcess: Sendable, Equatable {
    /// The program's host path, inside the image, its symbolic links resolved.
    public var executable: String
    /// The program as the task named it, its `argv[0]`.
    public var name: String
    public var arguments: [String]
    public var environment: [String: String]
    public var workingDirectory: String
    /// The image, inside which commands run in the container (`skiff exec`) are found too.
    public var imageRoot: ImageRoot
    public var memoryMiB: Int?
    public var ulimits: [String: ResourceLimit] = [:]

    /// The `ulimit` flag of each ECS ulimit name the shell can set.
    static let ulimitFlags: [String: String] = [
        "core": "c", "cpu": "t", "data": "d", "fsize": "f", "locks": "w", "memlock": "l", "msgqueue": "q",
        "nice": "e", "nofile": "n", "nproc": "u", "rss": "m", "rtprio": "r", "sigpending": "i", "stack": "s",
    ]

    /// The executable and arguments to spawn a command with the container's limits: ``launchVector(statusFile:)``
    /// with no status file.
    var launchVector: (String, [String]) { launchVector(statusFile: nil) }

    /// The executable and arguments to spawn: the task's program itself, or Skiff's own shell around it that sets
    /// the container's limits (`ulimit -d` for `memory`, its `ulimits`: they hold for the process, not for Skiff)
    /// and, given a `statusFile`, stays the program's parent to write its exit status there when it ends.
    ///
    /// The status is what a server that takes the task over after a restart reports as its exit code: only a parent
    /// learns it, and the server that started the task may be gone. The shell ignores the stop signals (StopTask's
    /// SIGTERM reaches the whole session, the program included) and waits for the program; as for any command a
    /// non-interactive shell runs in the background, the program starts with SIGINT and SIGQUIT ignored.
    func launchVector(statusFile: String?) -> (String, [String]) {
        var settings: [String] = []
        // Soft first where it can go (a lower limit), then hard, then soft again within the new hard limit.
        for (name, limit) in ulimits.sorted(by: { $0.key < $1.key }) {
            guard let flag = Self.ulimitFlags[name] else { continue }
            settings.append(
                "{ ulimit -S -\(flag) \(limit.soft) 2>/dev/null; ulimit -H -\(flag) \(limit.hard) && ulimit -S -\(flag) \(limit.soft); }")
        }
        if let memoryMiB, memoryMiB > 0 {
            // A limit past what the kernel counts is no limit.
            let (kibibytes, overflow) = memoryMiB.multipliedReportingOverflow(by: 1024)
            settings.append("ulimit -d \(overflow ? "unlimited" : String(kibibytes))")
        }
        if let statusFile {
            // Only builtins: the process's PATH is its image's. A `wait` a trapped signal interrupts answers 128+N
            // while the program runs on; it is waited for again until it has ended, and what it ended with is written.
            // The traps come first, so that no stop signal finds the shell unprepared; a command started after them
            // gets the default actions back, as any command a shell runs does for caught signals.
            let supervise =
                #"{ trap : HUP INT QUIT TERM USR1 USR2; "$@" & child=$!; "#
                + #"while :; do wait "$child"; status=$?; kill -0 "$child" 2>/dev/null || break; done; "#
                + #"wait "$child" 2>/dev/null; last=$?; [ "$last" = 127 ] || status=$last; "#
                + #"echo "$status" > "# + Self.shellQuoted(statusFile) + #" 2>/dev/null; exit "$status"; }"#
            return ("/bin/sh", ["-c", (settings + [supervise]).joined(separator: " && "), "skiff-task", executable] + arguments)
        }
        guard !settings.isEmpty else { return (executable, arguments) }
        // Skiff's own shell sets the limits, then becomes the task's program.
        return ("/bin/sh", ["-c", (settings + ["exec \"$@\""]).joined(separator: " && "), "skiff-task", executable] + arguments)
    }

    /// `text` as one word of a shell command line, whatever it holds.
    static func shellQuoted(_ text: String) -> String {
        "'" + text.replacingOccurrences(of: "'", with: #"'\''"#) + "'"
    }
}

/// A local process of a task, with the threads that read its output.
final class ProcessContainer: RunningContainer, Sendable {
    let process: SpawnedProcess
    let prepared: PreparedProcess
    let stopTimeoutSeconds: Int
    private let exitState = Mutex<(exit: ContainerExit?, waiters: [CheckedContinuation<ContainerExit, Never>], stopRequested: Bool)>(
        (nil, [], false))
    /// What reads the process's output files, when it writes to files.
    private let follower = Mutex<OutputFollower?>(nil)

    var runtimeId: String { String(process.pid) }
    var processIdentity: ProcessIdentity? { process.identity }
    var imageDirectory: String? { prepared.imageRoot.path }

    private init(process: SpawnedProcess, prepared: PreparedProcess, stopTimeoutSeconds: Int) {
        self.process = process
        self.prepared = prepared
        self.stopTimeoutSeconds = stopTimeoutSeconds
    }

    /// Starts the process. With `files`, its output goes to them and is followed there (``OutputFollower``), and
    /// Skiff's shell around it writes its exit status: it can outlive this server. Without, its output comes on pipes.
    static func launch(
        _ prepared: PreparedProcess, stopTimeoutSeconds: Int, files: TaskOutputFiles? = nil,
        output: @escaping @Sendable (OutputLine) -> Void
    ) throws(ContainerStartFailure) -> ProcessContainer {
        try files?.prepare()
        let (executable, arguments) = prepared.launchVector(statusFile: files?.status)
        let process: SpawnedProcess
        do {
            process = try SpawnedProcess.spawn(
                executable: executable, name: executable == prepared.executable ? prepared.name : nil, arguments: arguments,
                environment: prepared.environment, workingDirectory: prepared.workingDirectory,
                streams: files.map { .outputFiles(standardOutput: $0.standardOutput, standardError: $0.standardError) } ?? .outputPipes)
        } catch {
            files?.remove()
            throw ContainerStartFailure("CannotStartContainerError: \(error.message)")
        }
        let container = ProcessContainer(process: process, prepared: prepared, stopTimeoutSeconds: stopTimeoutSeconds)
        let readers = DispatchGroup()
        if let files {
            let follower = OutputFollower(files: files, output: output)
            container.follower.withLock { $0 = follower }
            follower.start()
        } else {
            for (descriptor, stream) in [(process.stdout, OutputLine.Stream.stdout), (process.stderr, .stderr)] {
                readers.enter()
                let thread = Thread {
                    LineReader.read(descriptor) { output(OutputLine(stream: stream, text: $0, timestamp: Date.nowMilliseconds)) }
                    readers.leave()
                }
                thread.name = "skiff-task-\(stream.rawValue)"
                thread.start()
            }
        }
        let waiter = Thread {
            let status = process.waitForExit()
            // A container ends with its first process: what that process left running in its session goes too, as
            // a container's processes go with its PID namespace (and the output pipes they hold close).
            if let identity = process.identity { ProcessTable.killAll(identity) }
            readers.wait()
            // Files are removed once all they hold was shipped; a detached follower leaves them to the next server.
            if let follower = container.follower.withLock({ $0 }), follower.finish() { files?.remove() }
            container.finish(status)
        }
        waiter.name = "skiff-task-wait"
        waiter.start()
        return container
    }

    /// The server stops and leaves the process running, for the next server to take over: output is read up to
    /// the last whole line, and how far is saved.
    func detach() {
        follower.withLock { $0 }?.detach()
    }

    private func finish(_ status: (code: Int, signal: Int32?)) {
        let stopped = exitState.withLock { $0.stopRequested }
        var exit = ContainerExit(exitCode: status.code)
        if let signal = status.signal, !stopped {
            let name = signal == SIGKILL ? "SIGKILL" : signal == SIGTERM ? "SIGTERM" : "signal \(signal)"
            exit.reason = "Process terminated by \(name)"
        }
        let waiters = exitState.withLock { state in
            state.exit = exit
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume(returning: exit) }
    }

    func wait() async -> ContainerExit {
        await withCheckedContinuation { continuation in
            let done: ContainerExit? = exitState.withLock { state in
                if let exit = state.exit { return exit }
                state.waiters.append(continuation)
                return nil
            }
            if let done { continuation.resume(returning: done) }
        }
    }

    func stop() async {
        let running = exitState.withLock { state -> Bool in
            state.stopRequested = true
            return state.exit == nil
        }
        guard running else { return }
        process.signal(SIGTERM)
        let timeout = stopTimeoutSeconds
        Task.detached { [self] in
            try? await Task.sleep(for: .seconds(timeout))
            if self.exitState.withLock({ $0.exit == nil }) { self.process.signal(SIGKILL) }
        }
    }

    func exec(_ command: [String], timeoutSeconds: Int) async throws -> ExecResult {
        guard exitState.withLock({ $0.exit == nil }) else {
            throw ContainerStartFailure("The container is not running")
        }
        return try await ProcessExec.run(
            command, in: prepared.imageRoot, environment: prepared.environment, workingDirectory: prepared.workingDirectory,
            timeoutSeconds: timeoutSeconds)
    }
}

/// One-off commands in a container's environment, output captured.
enum ProcessExec {
    /// Runs a command inside a task's image: its program is found there as the task's own is (``ImageRoot``).
    static func run(
        _ command: [String], in root: ImageRoot, environment: [String: String], workingDirectory: String, timeoutSeconds: Int
    ) async throws -> ExecResult {
        guard let program = command.first, !program.isEmpty else { throw ContainerStartFailure("No command given") }
        let searchPath = (environment["PATH"] ?? "").split(separator: ":").map(String.init)
        switch root.executable(program, searchPath: searchPath, workingDirectory: workingDirectory) {
        case .success(let executable):
            return try await run(
                executable: executable, name: program, arguments: Array(command.dropFirst()),
                environment: environment, workingDirectory: workingDirectory, timeoutSeconds: timeoutSeconds)
        case .failure(.outside(let real)):
            throw ContainerStartFailure(
                "exec: \"\(program)\": leads to \(real), outside the task's image (\(root.path)); commands run only programs inside it")
        case .failure(.notFound):
            throw ContainerStartFailure("exec: \"\(program)\": executable file not found in $PATH")
        }
    }

    /// Runs a program of the host (a container engine's command line), found in `environment`'s PATH.
    static func run(
        _ command: [String], environment: [String: String], workingDirectory: String, timeoutSeconds: Int
    ) async throws -> ExecResult {
        guard let program = command.first else { throw ContainerStartFailure("No command given") }
        guard let executable = ProcessRunner.resolve(program, path: environment["PATH"] ?? "", workingDirectory: workingDirectory) else {
            throw ContainerStartFailure("exec: \"\(program)\": executable file not found in $PATH")
        }
        return try await run(
            executable: executable, name: nil, arguments: Array(command.dropFirst()),
            environment: environment, workingDirectory: workingDirectory, timeoutSeconds: timeoutSeconds)
    }

    static func run(
        executable: String, name: String?, arguments: [String], environment: [String: String], workingDirectory: String, timeoutSeconds: Int
    ) async throws -> ExecResult {
        let process: SpawnedProcess
        do {
            process = try SpawnedProcess.spawn(
                executable: executable, name: name, arguments: arguments, environment: environment, workingDirectory: workingDirectory)
        } catch {
            throw ContainerStartFailure(error.message)
        }
        return await withCheckedContinuation { continuation in
            let thread = Thread {
                let deadline = DispatchWorkItem { process.signal(SIGKILL) }
                DispatchQueue.global().asyncAfter(deadline: .now() + .seconds(timeoutSeconds), execute: deadline)
                let errorData = Mutex<[UInt8]>([])
                let done = DispatchSemaphore(value: 0)
                let errorReader = Thread {
                    let bytes = readAll(process.stderr)
                    errorData.withLock { $0 = bytes }
                    done.signal()
                }
                errorReader.start()
                let outputData = readAll(process.stdout)
                done.wait()
                let status = process.waitForExit()
                deadline.cancel()
                continuation.resume(
                    returning: ExecResult(
                        exitCode: status.code, output: String(decoding: outputData, as: UTF8.self),
                        errorOutput: String(decoding: errorData.withLock { $0 }, as: UTF8.self)))
            }
            thread.start()
        }
    }

    static func readAll(_ descriptor: Int32) -> [UInt8] {
        var data: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            if count <= 0 { break }
            data.append(contentsOf: buffer[0..<count])
        }
        close(descriptor)
        return data
    }
}

/// Splits a stream into lines (without their line breaks) as it is read; a last line without a break counts.
enum LineReader {
    /// Reads `descriptor` to its end, handing over each line (``LineAssembler``), then closes it.
    static func read(_ descriptor: Int32, line: (String) -> Void) {
        var lines = LineAssembler()
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let count = buffer.withUnsafeMutableBytes { Foundation.read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            if count <= 0 { break }
            lines.append(buffer[0..<count], line)
        }
        lines.finish(line)
        close(descriptor)
    }
}
