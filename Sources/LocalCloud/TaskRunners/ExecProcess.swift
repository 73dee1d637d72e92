import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// How a command run in a container (``ExecProcess``) ended: its exit status as a shell reports it (128 + the signal
/// when a signal ended it), and the signal.
public struct ExecExit: Sendable, Equatable {
    public var status: Int
    public var signal: Int32?

    public init(status: Int, signal: Int32? = nil) {
        self.status = status
        self.signal = signal
    }
}

/// Why a command cannot run in a container, with the exit status a shell gives it: 127 when nothing of that name is
/// there, 126 when what is there cannot be run (not executable, a directory, outside the task's image).
public struct ExecRefusal: Error, Sendable, Equatable, CustomStringConvertible {
    public var status: Int
    public var message: String

    public init(status: Int, message: String) {
        self.status = status
        self.message = message
    }

    public static let notFound = 127
    public static let cannotRun = 126

    public var description: String { message }
}

/// What an ``ExecProcess`` runs: a program found in the container, with its arguments, environment and directory.
public struct ExecLaunch: Sendable, Equatable {
    /// The program as the command named it, for messages.
    public var program: String
    /// The host path spawned.
    public var executable: String
    /// Its `argv[0]`, or nil for `executable`.
    public var argv0: String?
    public var arguments: [String]
    public var environment: [String: String]
    public var workingDirectory: String

    public init(
        program: String, executable: String, argv0: String?, arguments: [String], environment: [String: String], workingDirectory: String
    ) {
        self.program = program
        self.executable = executable
        self.argv0 = argv0
        self.arguments = arguments
        self.environment = environment
        self.workingDirectory = workingDirectory
    }
}

/// How an ``ExecProcess`` is wired: on a terminal of its own (`docker exec -t`, ECS Exec), or on pipes with its
/// output and error apart; with input forwarded (`-i`) or none.
public struct ExecStreams: Sendable, Equatable {
    /// The terminal's first size, or nil for pipes.
    public var terminal: TerminalSize?
    /// Whether the command reads what its client sends. Without it a command on pipes reads `/dev/null`; one on a
    /// terminal has its terminal still, whose input nobody writes.
    public var input: Bool

    public init(terminal: TerminalSize?, input: Bool) {
        self.terminal = terminal
        self.input = input
    }
}

/// A command running inside a container, for `skiff exec` and ECS Exec: its process leads a session of its own, on a
/// pseudo-terminal (its controlling terminal) or on pipes. One thread moves bytes between its streams and the client
/// (``write(_:)`` in, `output` out, with ``pauseOutput(_:)`` for a client that cannot keep up); another waits for it.
///
/// The command ends the session: once it has exited, what it wrote is read out (for a quarter of a second at most,
/// since a child it left in the background may hold its output open), whatever else is left in its session is
/// killed, and `ended` is called, once, after the last `output`.
public final class ExecProcess: Sendable {
    public enum Stream: Sendable, Equatable {
        /// Standard output; on a terminal, everything the command writes.
        case output
        /// Standard error, on pipes.
        case error
    }

    public struct Handlers: Sendable {
        /// Bytes the command wrote, in order, on the process's own thread.
        public var output: @Sendable (Stream, [UInt8]) -> Void
        /// The command ended; nothing more will be written.
        public var ended: @Sendable (ExecExit) -> Void

        public init(output: @escaping @Sendable (Stream, [UInt8]) -> Void, ended: @escaping @Sendable (ExecExit) -> Void) {
            self.output = output
            self.ended = ended
        }
    }

    let process: SpawnedProcess
    let terminal: PseudoTerminal?
    private let handlers: Handlers
    /// The write end of a pipe that wakes the I/O thread, and its read end.
    private let wakeWrite: Int32
    private let wakeRead: Int32
    private let state = Mutex(State())

    private struct State {
        var pendingInput: [UInt8] = []
        var inputEnded = false
        var outputPaused = false
        var exit: ExecExit?
        var finished = false
    }

    public var pid: Int32 { process.pid }

    private init(process: SpawnedProcess, terminal: PseudoTerminal?, handlers: Handlers, wake: (read: Int32, write: Int32)) {
        self.process = process
        self.terminal = terminal
        self.handlers = handlers
        self.wakeRead = wake.read
        self.wakeWrite = wake.write
    }

    /// Starts `launch` with its streams wired as `streams` says. Throws the refusal a shell would give when the program
    /// cannot start (127 for a program that is not there, 126 for one that cannot be run).
    public static func start(_ launch: ExecLaunch, streams: ExecStreams, handlers: Handlers) throws(ExecRefusal) -> ExecProcess {
        var wake: [Int32] = [-1, -1]
        guard SpawnedProcess.cloexecPipe(&wake) else {
            throw ExecRefusal(status: ExecRefusal.cannotRun, message: "cannot create a pipe: \(String(cString: strerror(errno)))")
        }
        _ = fcntl(wake[0], F_SETFL, fcntl(wake[0], F_GETFL) | O_NONBLOCK)
        _ = fcntl(wake[1], F_SETFL, fcntl(wake[1], F_GETFL) | O_NONBLOCK)
        var terminal: PseudoTerminal? = nil
        let process: SpawnedProcess
        do {
            var wiring = SpawnedProcess.StandardStreams.pipes
            if let size = streams.terminal {
                let opened = try PseudoTerminal.open(size: size)
                terminal = opened
                wiring = .terminal(opened.devicePath)
            } else if !streams.input {
                wiring = .outputPipes
            }
            process = try SpawnedProcess.spawn(
                executable: launch.executable, name: launch.argv0, arguments: launch.arguments, environment: launch.environment,
                workingDirectory: launch.workingDirectory, streams: wiring)
        } catch let failure as SpawnedProcess.Failure {
            for descriptor in wake { close(descriptor) }
            if let terminal { close(terminal.master) }
            // As a shell reports an exec that failed: ENOENT (a script's interpreter missing) is 127, the rest 126.
            throw ExecRefusal(
                status: failure.code == ENOENT ? ExecRefusal.notFound : ExecRefusal.cannotRun,
                message:
                    "exec: \"\(launch.program)\": \(failure.code == 0 ? failure.message : String(cString: strerror(failure.code)).lowercased())"
            )
        } catch {
            for descriptor in wake { close(descriptor) }
            throw ExecRefusal(status: ExecRefusal.cannotRun, message: "\(error)")
        }
        for descriptor in [process.stdin, process.stdout, process.stderr] where descriptor >= 0 {
            _ = fcntl(descriptor, F_SETFL, fcntl(descriptor, F_GETFL) | O_NONBLOCK)
        }
        let exec = ExecProcess(process: process, terminal: terminal, handlers: handlers, wake: (wake[0], wake[1]))
        let io = Thread { exec.moveBytes() }
        io.name = "skiff-exec-io"
        io.start()
        let waiter = Thread {
            let status = process.waitForExit()
            exec.state.withLock { $0.exit = ExecExit(status: status.code, signal: status.signal) }
            exec.wake()
        }
        waiter.name = "skiff-exec-wait"
        waiter.start()
        return exec
    }

    // MARK: Client side

    /// Sends `bytes` to the command's input (its terminal, or its input pipe). Dropped when it has no input or it ended.
    public func write(_ bytes: [UInt8]) {
        guard !bytes.isEmpty else { return }
        let accepted = state.withLock { state -> Bool in
            guard !state.inputEnded, !state.finished else { return false }
            state.pendingInput.append(contentsOf: bytes)
            return true
        }
        if accepted { wake() }
    }

    /// Bytes sent with ``write(_:)`` that the command has not read yet: a client stops sending past a bound.
    public var pendingInputCount: Int { state.withLock { $0.pendingInput.count } }

    /// The client's input ended: once what was sent is written, the command's input pipe is closed (it reads end of
    /// file). On a terminal the client sends the terminal's end-of-file character instead, as a user does.
    public func endInput() {
        state.withLock { $0.inputEnded = true }
        wake()
    }

    /// Stops (or resumes) reading the command's output while its client is behind; the command blocks when the
    /// terminal's or pipe's buffer is full, as it would writing to a slow terminal.
    public func pauseOutput(_ paused: Bool) {
        let changed = state.withLock { state -> Bool in
            defer { state.outputPaused = paused }
            return state.outputPaused != paused
        }
        if changed { wake() }
    }

    /// Sets the terminal's size (SIGWINCH to its foreground); nothing on pipes.
    public func resize(_ size: TerminalSize) {
        terminal?.resize(size)
    }

    /// The client hung up: SIGHUP to the command's process group, as a terminal that goes away sends it, and SIGKILL
    /// to everything of its session `grace` later if it has not ended by then.
    public func hangUp(grace: Duration = .seconds(2)) {
        guard !hasEnded else { return }
        _ = kill(-process.pid, SIGHUP)
        _ = kill(process.pid, SIGCONT)
        killSession(after: grace)
    }

    /// Kills the command and its session `timeout` from now, unless it has ended by then (a timer of Dispatch's, which
    /// fires even when Swift's cooperative threads are all busy).
    public func killSession(after timeout: Duration) {
        let (seconds, attoseconds) = timeout.components
        let (nanoseconds, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        let delay = DispatchTimeInterval.nanoseconds(
            overflow || nanoseconds > Int64(Int.max / 2) ? Int.max / 2 : Int(nanoseconds + attoseconds / 1_000_000_000))
        DispatchQueue.global().asyncAfter(deadline: .now() + delay) { [weak self] in
            if let self, !self.hasEnded { self.killWholeSession() }
        }
    }

    /// Kills (SIGKILL) the command and everything of its session, off the caller's thread (finding a session's
    /// processes reads `/proc`).
    public func killSession() {
        guard !hasEnded else { return }
        _ = kill(-process.pid, SIGKILL)
        DispatchQueue.global().async { self.killWholeSession() }
    }

    private func killWholeSession() {
        if let identity = process.identity {
            ProcessTable.killAll(identity)
        } else {
            _ = kill(-process.pid, SIGKILL)
        }
    }

    /// Whether the command has ended and `ended` was called.
    public var hasEnded: Bool { state.withLock { $0.finished } }

    /// Wakes the I/O thread; never once it has finished and closed its pipe (whose number may be another file's by then).
    private func wake() {
        state.withLock { state in
            guard !state.finished else { return }
            var byte: UInt8 = 1
            _ = systemWrite(wakeWrite, &byte, 1)
        }
    }

    // MARK: The I/O thread

    /// Moves bytes until the command has ended and its output is read, then reports its end.
    private func moveBytes() {
        // A write to an input pipe whose reader is gone raises SIGPIPE in the writing thread, which would end the
        // server: blocked here, the write fails with EPIPE instead.
        var blocked = sigset_t()
        sigemptyset(&blocked)
        sigaddset(&blocked, SIGPIPE)
        pthread_sigmask(SIG_BLOCK, &blocked, nil)

        let input = terminal?.master ?? process.stdin
        var inputOpen = input >= 0
        var outputs: [Int32: Stream] = [:]
        if let terminal {
            outputs[terminal.master] = .output
        } else {
            if process.stdout >= 0 { outputs[process.stdout] = .output }
            if process.stderr >= 0 { outputs[process.stderr] = .error }
        }
        var buffer = [UInt8](repeating: 0, count: 16 * 1024)
        var drainUntil: ContinuousClock.Instant? = nil
        var exit: ExecExit? = nil

        while true {
            let (hasInput, inputEnded, paused, exited) = state.withLock { state in
                (!state.pendingInput.isEmpty, state.inputEnded, state.outputPaused, state.exit)
            }
            if let exited, exit == nil {
                exit = exited
                drainUntil = .now + .milliseconds(250)
            }
            if exit != nil && outputs.isEmpty { break }
            if let drainUntil, ContinuousClock.now >= drainUntil { break }
            // A pipe's input closes once drained; a terminal's stays (its end of file is a character the client sends).
            if inputOpen, inputEnded, !hasInput, terminal == nil {
                close(input)
                inputOpen = false
            }

            var events: [Int32: Int16] = [wakeRead: Int16(POLLIN)]
            if !paused || exit != nil {
                for descriptor in outputs.keys { events[descriptor, default: 0] |= Int16(POLLIN) }
            }
            if inputOpen && hasInput { events[input, default: 0] |= Int16(POLLOUT) }
            var descriptors = events.map { pollfd(fd: $0.key, events: $0.value, revents: 0) }
            var timeout: Int32 = -1
            if let drainUntil {
                let left = drainUntil - .now
                timeout = Int32(max(1, left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000))
            }
            let ready = poll(&descriptors, nfds_t(descriptors.count), timeout)
            if ready < 0 && errno != EINTR { break }
            for entry in descriptors where entry.revents != 0 {
                if entry.fd == wakeRead {
                    while buffer.withUnsafeMutableBytes({ read(wakeRead, $0.baseAddress, $0.count) }) > 0 {}
                    continue
                }
                if entry.revents & Int16(POLLOUT) != 0, entry.fd == input, inputOpen {
                    if !writePending(to: input) {
                        inputOpen = false
                        state.withLock { $0.pendingInput = [] }
                        if terminal == nil { close(input) }
                    }
                }
                if let stream = outputs[entry.fd], entry.revents & Int16(POLLIN | POLLHUP | POLLERR) != 0 {
                    let count = buffer.withUnsafeMutableBytes { read(entry.fd, $0.baseAddress, $0.count) }
                    if count > 0 {
                        handlers.output(stream, Array(buffer[0..<count]))
                    } else if count == 0 || (errno != EAGAIN && errno != EINTR) {
                        // End of file, or EIO: every holder of the terminal device has closed it.
                        outputs[entry.fd] = nil
                    }
                }
            }
        }

        // The command ended, or poll failed; the waiter reports the exit, whatever is left of the session goes.
        while exit == nil {
            if let exited = state.withLock({ $0.exit }) { exit = exited } else { usleep(10_000) }
        }
        if let terminal { close(terminal.master) }
        for descriptor in [process.stdout, process.stderr] where descriptor >= 0 { close(descriptor) }
        if inputOpen, terminal == nil { close(input) }
        killWholeSession()
        state.withLock {
            $0.finished = true
            $0.pendingInput = []
        }
        close(wakeRead)
        close(wakeWrite)
        handlers.ended(exit ?? ExecExit(status: 1))
    }

    /// Writes what it can of the pending input; false when the input is gone (the command closed it, or ended).
    private func writePending(to descriptor: Int32) -> Bool {
        let chunk = state.withLock { Array($0.pendingInput.prefix(64 * 1024)) }
        guard !chunk.isEmpty else { return true }
        let written = chunk.withUnsafeBytes { systemWrite(descriptor, $0.baseAddress, $0.count) }
        if written > 0 {
            state.withLock { $0.pendingInput.removeFirst(min(written, $0.pendingInput.count)) }
            return true
        }
        return written < 0 && (errno == EAGAIN || errno == EINTR)
    }
}

/// `write(2)`, named apart from the methods called `write`.
func systemWrite(_ descriptor: Int32, _ bytes: UnsafeRawPointer?, _ count: Int) -> Int {
    #if canImport(Glibc)
        Glibc.write(descriptor, bytes, count)
    #else
        Darwin.write(descriptor, bytes, count)
    #endif
}
