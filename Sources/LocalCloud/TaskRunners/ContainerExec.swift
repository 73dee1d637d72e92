import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Commands run inside a running container, for `skiff exec` and ECS Exec: what runs them, and why one cannot run.
///
/// With the process runner the command is found inside the task's image as its entry point is (``ImageRoot``), and
/// runs with the container's environment, working directory and limits. In a container engine it runs through the
/// engine's `exec`, on the same terminal or pipes. Exit statuses are a shell's: 127 for a program that is not there,
/// 126 for one that cannot be run, so `skiff exec`, its JSON endpoint and ECS Exec agree.
public enum ContainerExec {
    /// The terminal type of commands run on a terminal when the client names none: what the SSM agent sets for ECS Exec.
    public static let defaultTerminalType = "xterm-256color"

    /// What runs `command` in `container`, or why it cannot. `terminalType` is set as `TERM` for a command on a
    /// terminal (nil for pipes).
    public static func launch(
        _ command: [String], in container: any RunningContainer, terminalType: String?
    ) throws(ExecRefusal) -> ExecLaunch {
        guard let program = command.first, !program.isEmpty else {
            throw ExecRefusal(status: ExecRefusal.notFound, message: "exec: no command given")
        }
        if let process = container as? ProcessContainer {
            return try launch(command, prepared: process.prepared, terminalType: terminalType)
        }
        if let adopted = container as? AdoptedProcess {
            // A process a previous server started: its image, and the environment and directory it has (``ProcessTable``).
            guard ProcessTable.isRunning(adopted.identity) else {
                throw ExecRefusal(status: ExecRefusal.cannotRun, message: "exec: \"\(program)\": the container is not running")
            }
            guard let root = adopted.root, let workingDirectory = adopted.workingDirectory else {
                throw ExecRefusal(
                    status: ExecRefusal.cannotRun,
                    message: "exec: \"\(program)\": the container's image is not known to this server; it cannot run commands in it")
            }
            let prepared = PreparedProcess(
                executable: "", name: "", arguments: [], environment: adopted.environment, workingDirectory: workingDirectory,
                imageRoot: root)
            return try launch(command, prepared: prepared, terminalType: terminalType)
        }
        if let engine = container as? EngineContainer {
            return try engineLaunch(command, cli: engine.cli, id: engine.id, terminalType: terminalType)
        }
        throw ExecRefusal(status: ExecRefusal.cannotRun, message: "exec: \"\(program)\": the container is not running")
    }

    /// `command` inside the image of a process runner's container.
    static func launch(_ command: [String], prepared: PreparedProcess, terminalType: String?) throws(ExecRefusal) -> ExecLaunch {
        let program = command[0]
        let root = prepared.imageRoot
        let searchPath = (prepared.environment["PATH"] ?? "").split(separator: ":").map(String.init)
        let path: String
        switch root.executable(program, searchPath: searchPath, workingDirectory: prepared.workingDirectory) {
        case .success(let found):
            path = found
        case .failure(.outside(let real)):
            throw ExecRefusal(
                status: ExecRefusal.cannotRun,
                message:
                    "exec: \"\(program)\": leads to \(real), outside the task's image (\(root.path)); commands run only programs inside it")
        case .failure(.notFound):
            throw refusal(program, root: root, searchPath: searchPath, workingDirectory: prepared.workingDirectory)
        }
        var environment = prepared.environment
        if let terminalType {
            environment["TERM"] = terminalType
            // Session Manager's encoding is UTF-8: the agent sets it where the container sets no language.
            if environment["LANG"] == nil { environment["LANG"] = "C.UTF-8" }
        }
        // The container's limits hold for what runs in it: the same `ulimit` wrapper as its first process.
        var limited = prepared
        limited.executable = path
        limited.arguments = Array(command.dropFirst())
        let (executable, arguments) = limited.launchVector
        return ExecLaunch(
            program: program, executable: executable, argv0: executable == path ? program : nil, arguments: arguments,
            environment: environment, workingDirectory: prepared.workingDirectory)
    }

    /// Why `program` cannot run, as a shell tells it: something there that cannot be run (126), or nothing (127).
    static func refusal(_ program: String, root: ImageRoot, searchPath: [String], workingDirectory: String) -> ExecRefusal {
        var candidates: [String] = []
        if program.contains("/") {
            if case .inside(let real) = root.resolve(program, from: workingDirectory) { candidates = [real] }
        } else {
            for directory in searchPath {
                if case .inside(let real) = root.resolve(directory + "/" + program, from: root.path) { candidates.append(real) }
            }
        }
        for candidate in candidates {
            var status = stat()
            guard stat(candidate, &status) == 0 else { continue }
            let kind = status.st_mode & S_IFMT
            if kind == S_IFDIR { return ExecRefusal(status: ExecRefusal.cannotRun, message: "exec: \"\(program)\": is a directory") }
            if kind == S_IFREG { return ExecRefusal(status: ExecRefusal.cannotRun, message: "exec: \"\(program)\": permission denied") }
        }
        if program.contains("/") {
            return ExecRefusal(status: ExecRefusal.notFound, message: "exec: \"\(program)\": no such file or directory")
        }
        return ExecRefusal(status: ExecRefusal.notFound, message: "exec: \"\(program)\": executable file not found in $PATH")
    }

    /// `command` through a container engine's `exec`, whose exit status is the command's (126 and 127 included).
    static func engineLaunch(_ command: [String], cli: String, id: String, terminalType: String?) throws(ExecRefusal) -> ExecLaunch {
        let environment = ProcessRunner.defaultBaseEnvironment()
        let directory = FileManager.default.currentDirectoryPath
        guard let executable = ProcessRunner.resolve(cli, path: environment["PATH"] ?? "", workingDirectory: directory) else {
            throw ExecRefusal(status: ExecRefusal.cannotRun, message: "exec: the container engine's command line (\(cli)) is not on PATH")
        }
        var arguments = ["exec", "--interactive"]
        if let terminalType { arguments += ["--tty", "--env", "TERM=\(terminalType)"] }
        return ExecLaunch(
            program: command[0], executable: executable, argv0: cli, arguments: arguments + [id] + command,
            environment: environment, workingDirectory: directory)
    }
}
