import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A child process started with `posix_spawn`, with its standard streams on pipes or on a terminal.
///
/// Not `Foundation.Process`: a server ignores SIGTERM and SIGINT to handle them itself, and ignored signals
/// are inherited across `exec`, so a task's process would ignore StopTask's SIGTERM. Spawning resets every
/// signal to its default disposition and clears the signal mask, as a container's init does.
struct SpawnedProcess: Sendable {
    let pid: pid_t
    /// The write end of the process's standard input, or -1 (it reads `/dev/null`, or its terminal).
    var stdin: Int32 = -1
    /// The read ends of its standard output and error, or -1 (they go to its terminal).
    let stdout: Int32
    let stderr: Int32
    /// The process, its session and its start time: how a later server knows its processes (see ``ProcessTable``).
    let identity: ProcessIdentity?

    struct Failure: Error, CustomStringConvertible {
        var message: String
        /// The `errno` of the failure: `ENOENT`, `EACCES`, `ENOEXEC` tell a shell's 127 from its 126.
        var code: Int32 = 0
        var description: String { message }
    }

    /// Where the process's standard streams go.
    enum StandardStreams {
        /// Input from `/dev/null`, output and error each on a pipe (a task's container).
        case outputPipes
        /// Input, output and error each on a pipe (`skiff exec -i` without a terminal).
        case pipes
        /// All three on the terminal whose device is at this path, which becomes the process's controlling terminal
        /// (`skiff exec -t`, ECS Exec): glibc's `posix_spawn` starts the child's session (`POSIX_SPAWN_SETSID`)
        /// before it runs the file actions, and a session leader that opens a terminal without `O_NOCTTY` acquires it.
        case terminal(String)
        /// Input from `/dev/null`, output and error appended to these files (a task's container when the server
        /// keeps state: see ``TaskOutputFiles``), which the process keeps writing whether a server reads them or not.
        case outputFiles(standardOutput: String, standardError: String)
    }

    /// Starts `executable` with `argv[0]` set to `name` (the program as the task named it, as a container runtime
    /// passes it; multi-call programs such as busybox go by it), or to `executable` when `name` is nil.
    static func spawn(
        executable: String, name: String? = nil, arguments: [String], environment: [String: String], workingDirectory: String,
        streams: StandardStreams = .outputPipes
    ) throws(Failure) -> SpawnedProcess {
        var inPipe: [Int32] = [-1, -1]
        var outPipe: [Int32] = [-1, -1]
        var errPipe: [Int32] = [-1, -1]
        var terminal: String? = nil
        var outputFiles: (String, String)? = nil
        // Close-on-exec, so that other tasks spawned at the same moment do not inherit these pipes (and keep
        // this task's output open after it ends); dup2 onto 0, 1 and 2 clears the flag in this child.
        switch streams {
        case .outputPipes:
            guard Self.cloexecPipe(&outPipe) else { throw Failure(message: "cannot create pipes: \(String(cString: strerror(errno)))") }
            guard Self.cloexecPipe(&errPipe) else {
                Self.closeAll(outPipe)
                throw Failure(message: "cannot create pipes: \(String(cString: strerror(errno)))")
            }
        case .pipes:
            guard Self.cloexecPipe(&inPipe) else { throw Failure(message: "cannot create pipes: \(String(cString: strerror(errno)))") }
            guard Self.cloexecPipe(&outPipe), Self.cloexecPipe(&errPipe) else {
                Self.closeAll(inPipe + outPipe + errPipe)
                throw Failure(message: "cannot create pipes: \(String(cString: strerror(errno)))")
            }
        case .terminal(let path):
            terminal = path
        case .outputFiles(let standardOutput, let standardError):
            outputFiles = (standardOutput, standardError)
        }
        let ours = (inPipe + outPipe + errPipe).filter { $0 >= 0 }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        if let terminal {
            posix_spawn_file_actions_addopen(&actions, 0, terminal, O_RDWR, 0)
            posix_spawn_file_actions_adddup2(&actions, 0, 1)
            posix_spawn_file_actions_adddup2(&actions, 0, 2)
        } else if let (standardOutput, standardError) = outputFiles {
            posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
            posix_spawn_file_actions_addopen(&actions, 1, standardOutput, O_WRONLY | O_CREAT | O_APPEND, 0o600)
            posix_spawn_file_actions_addopen(&actions, 2, standardError, O_WRONLY | O_CREAT | O_APPEND, 0o600)
        } else {
            if inPipe[0] >= 0 {
                posix_spawn_file_actions_adddup2(&actions, inPipe[0], 0)
            } else {
                posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
            }
            posix_spawn_file_actions_adddup2(&actions, outPipe[1], 1)
            posix_spawn_file_actions_adddup2(&actions, errPipe[1], 2)
        }
        for descriptor in ours { posix_spawn_file_actions_addclose(&actions, descriptor) }
        // Nothing else of the server's (its listening socket, the database) reaches the task, even where a
        // library opened it without close-on-exec.
        if let addClosefrom = Self.addClosefrom { _ = addClosefrom(&actions, 3) }
        var executable = executable
        var argv0 = name ?? executable
        var arguments = arguments
        if let addChdir = Self.addChdir {
            _ = addChdir(&actions, workingDirectory)
        } else {
            // Without posix_spawn_file_actions_addchdir_np, a shell changes directory and then becomes the program.
            arguments = ["-c", "cd \"$0\" && exec \"$@\"", workingDirectory, executable] + arguments
            executable = "/bin/sh"
            argv0 = executable
        }

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var defaults = sigset_t()
        sigfillset(&defaults)
        sigdelset(&defaults, SIGKILL)
        sigdelset(&defaults, SIGSTOP)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        var mask = sigset_t()
        sigemptyset(&mask)
        posix_spawnattr_setsigmask(&attributes, &mask)
        // Its own session (Linux) or process group, so that stopping a task reaches the children it started too, and
        // a later server knows them by it: a task cannot put itself back into a session it left.
        #if os(Linux)
            posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK) | Self.setSessionFlag)
        #else
            posix_spawnattr_setpgroup(&attributes, 0)
            posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETPGROUP))
        #endif

        let argv = ([argv0] + arguments).map { strdup($0) } + [nil]
        let envp = environment.sorted { $0.key < $1.key }.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for pointer in argv { free(pointer) }
            for pointer in envp { free(pointer) }
        }
        var pid: pid_t = 0
        var result = posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
        // ETXTBSY: another thread's child briefly holds the executable open for writing (a script just written);
        // it passes once that child execs.
        var attempts = 0
        while result == ETXTBSY && attempts < 50 {
            attempts += 1
            usleep(10_000)
            result = posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
        }
        // The child's ends: the child holds them now (or never will).
        Self.closeAll([inPipe[0], outPipe[1], errPipe[1]])
        guard result == 0 else {
            Self.closeAll([inPipe[1], outPipe[0], errPipe[0]])
            throw Failure(message: "cannot run \(executable): \(String(cString: strerror(result)))", code: result)
        }
        // Not reaped yet, the process is in /proc even if it has already ended.
        let identity = ProcessTable.entry(pid).map { ProcessIdentity(pid: pid, session: $0.session, startTime: $0.startTime) }
        return SpawnedProcess(pid: pid, stdin: inPipe[1], stdout: outPipe[0], stderr: errPipe[0], identity: identity)
    }

    private static func closeAll(_ descriptors: [Int32]) {
        for descriptor in descriptors where descriptor >= 0 { close(descriptor) }
    }

    /// glibc's `POSIX_SPAWN_SETSID` (2.26+), which Swift's Glibc module does not export: the child calls `setsid`.
    static let setSessionFlag: Int16 = 0x80

    typealias Pipe2 = @convention(c) (UnsafeMutablePointer<Int32>, Int32) -> Int32

    /// glibc's `pipe2`, which Swift's Glibc module does not export; `pipe` and `fcntl` where it is missing.
    static let pipe2: Pipe2? = {
        guard let symbol = dlsym(nil, "pipe2") else { return nil }
        return unsafeBitCast(symbol, to: Pipe2.self)
    }()

    static func cloexecPipe(_ descriptors: inout [Int32]) -> Bool {
        if let pipe2 { return descriptors.withUnsafeMutableBufferPointer { pipe2($0.baseAddress!, O_CLOEXEC) } == 0 }
        guard pipe(&descriptors) == 0 else { return false }
        for descriptor in descriptors { _ = fcntl(descriptor, F_SETFD, FD_CLOEXEC) }
        return true
    }

    typealias AddClosefrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32

    /// glibc's `posix_spawn_file_actions_addclosefrom_np` (2.34+).
    static let addClosefrom: AddClosefrom? = {
        guard let symbol = dlsym(nil, "posix_spawn_file_actions_addclosefrom_np") else { return nil }
        return unsafeBitCast(symbol, to: AddClosefrom.self)
    }()

    typealias AddChdir = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, UnsafePointer<CChar>) -> Int32

    /// glibc's `posix_spawn_file_actions_addchdir_np` (2.29+), which Swift's Glibc module does not export.
    static let addChdir: AddChdir? = {
        guard let symbol = dlsym(nil, "posix_spawn_file_actions_addchdir_np") else { return nil }
        return unsafeBitCast(symbol, to: AddChdir.self)
    }()

    /// Blocks until the process ends and returns its exit code, or 128 + the signal that ended it, and the signal.
    func waitForExit() -> (code: Int, signal: Int32?) {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            if errno != EINTR { return (-1, nil) }
        }
        let signal = status & 0x7f
        if signal == 0 { return (Int((status >> 8) & 0xff), nil) }
        return (128 + Int(signal), signal)
    }

    /// Signals the process's whole group.
    func signal(_ signal: Int32) {
        if kill(-pid, signal) != 0 { kill(pid, signal) }
    }
}
