import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

extension ProcessRunner {
    /// The container a previous server started as the process `identity`, when it still runs: this server takes it
    /// over. With its ``TaskOutputFiles``, its output is followed from where the previous server stopped and its exit
    /// status is read from Skiff's shell around it; without (a task started by a server that kept its output on
    /// pipes), its output went to the previous server and is lost, and its end is noticed but not its exit code,
    /// which only the process's parent (gone with that server) could read. Commands run in it (`skiff exec`) are
    /// found in `imageRoot`, with the environment and working directory the process has.
    public static func adopt(
        _ identity: ProcessIdentity, imageRoot: String?, stopTimeoutSeconds: Int, files: TaskOutputFiles? = nil,
        output: @escaping @Sendable (OutputLine) -> Void = { _ in }
    ) -> (any RunningContainer)? {
        // A process that ended while no server watched it is taken over too when its status was kept: its end and
        // the output it wrote last are then recorded as any container's.
        guard ProcessTable.isRunning(identity) || files?.readStatus() != nil else { return nil }
        let root = imageRoot.flatMap { ImageRoot(directory: $0) }
        // Commands start where the process is, if that is in its image.
        let current = ProcessTable.workingDirectory(of: identity.pid).flatMap(ImageRoot.realPath)
        let workingDirectory = root.map { root in current.flatMap { root.contains($0) ? $0 : nil } ?? root.path }
        let follower = files.flatMap {
            FileManager.default.fileExists(atPath: $0.standardOutput) ? OutputFollower(files: $0, output: output) : nil
        }
        follower?.start()
        return AdoptedProcess(
            identity: identity, root: root, environment: ProcessTable.environment(of: identity.pid) ?? [:],
            workingDirectory: workingDirectory, stopTimeoutSeconds: stopTimeoutSeconds, follower: follower)
    }
}

/// A task's process started by a previous server, watched through `/proc` since it is not this server's child.
final class AdoptedProcess: RunningContainer, Sendable {
    let identity: ProcessIdentity
    let root: ImageRoot?
    let environment: [String: String]
    let workingDirectory: String?
    let stopTimeoutSeconds: Int
    private let stopRequested = StopRequest()
    private let ended: Task<ContainerExit, Never>

    /// How often the process is looked for: its end is noticed within this time.
    static let pollInterval: Duration = .milliseconds(200)

    var runtimeId: String { String(identity.pid) }
    var processIdentity: ProcessIdentity? { identity }
    var imageDirectory: String? { root?.path }

    /// What reads the process's output files, when it has them.
    let follower: OutputFollower?

    init(
        identity: ProcessIdentity, root: ImageRoot?, environment: [String: String], workingDirectory: String?, stopTimeoutSeconds: Int,
        follower: OutputFollower? = nil
    ) {
        self.follower = follower
        self.identity = identity
        self.root = root
        self.environment = environment
        self.workingDirectory = workingDirectory
        self.stopTimeoutSeconds = stopTimeoutSeconds
        let stopRequested = self.stopRequested
        ended = Task.detached {
            while ProcessTable.isRunning(identity) {
                try? await Task.sleep(for: Self.pollInterval)
            }
            // As for a process of this server: what it left in its session ends with it.
            ProcessTable.killAll(identity)
            let stopped = stopRequested.value.withLock { $0 }
            // Skiff's shell around the process wrote how it ended; it is missing only when the shell was killed too.
            if let follower, follower.finish() {
                let status = follower.files.readStatus()
                follower.files.remove()
                if let status { return ContainerExit(exitCode: status) }
            }
            return ContainerExit(
                exitCode: nil,
                reason: stopped
                    ? nil
                    : "The process ended while it was watched after a restart of the Skiff local cloud; its exit code is unknown")
        }
    }

    /// Whether StopTask asked the process to stop: its end is then no surprise.
    final class StopRequest: Sendable {
        let value = Mutex(false)
    }

    func wait() async -> ContainerExit { await ended.value }

    func detach() { follower?.detach() }

    func stop() async {
        stopRequested.value.withLock { $0 = true }
        guard ProcessTable.isRunning(identity) else { return }
        _ = kill(-identity.session, SIGTERM)
        let (identity, timeout) = (identity, stopTimeoutSeconds)
        Task.detached {
            try? await Task.sleep(for: .seconds(timeout))
            if ProcessTable.isRunning(identity) { ProcessTable.killAll(identity) }
        }
    }

    func exec(_ command: [String], timeoutSeconds: Int) async throws -> ExecResult {
        guard ProcessTable.isRunning(identity) else { throw ContainerStartFailure("The container is not running") }
        guard let root, let workingDirectory else {
            throw ContainerStartFailure("The container's image is not known to this server; it cannot run commands in it")
        }
        return try await ProcessExec.run(
            command, in: root, environment: environment, workingDirectory: workingDirectory, timeoutSeconds: timeoutSeconds)
    }
}
