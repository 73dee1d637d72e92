import Foundation
import Synchronization
import Testing

@testable import TaskRunners

#if canImport(Glibc)
    import Glibc
#endif

/// What an ``ExecProcess`` wrote and how it ended.
final class ExecRecording: Sendable {
    private let state = Mutex<(output: [UInt8], error: [UInt8], exit: ExecExit?)>(([], [], nil))

    var handlers: ExecProcess.Handlers {
        .init(
            output: { stream, bytes in
                self.state.withLock { state in
                    if stream == .error { state.error += bytes } else { state.output += bytes }
                }
            }, ended: { exit in self.state.withLock { $0.exit = exit } })
    }

    var output: String { state.withLock { String(decoding: $0.output, as: UTF8.self) } }
    var errorOutput: String { state.withLock { String(decoding: $0.error, as: UTF8.self) } }

    /// Waits (up to `seconds`) until `condition` holds of the output.
    func waitForOutput(_ seconds: Double = 30, _ condition: (String) -> Bool) async -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if condition(output) { return true }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return condition(output)
    }

    /// Waits (up to `seconds`) for the end. Looked at once more past the deadline: a test waiting while the machine is
    /// busy may be woken late.
    func exit(within seconds: Double = 30) async -> ExecExit? {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if let exit = state.withLock({ $0.exit }) { return exit }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return state.withLock { $0.exit }
    }
}

/// Commands run inside a running container (`skiff exec`, ECS Exec): terminals, input, sizes, and a shell's exit
/// statuses.
@Suite struct ExecProcessTests {
    /// A running container of the process runner, with `programs` in its image, and the runner's container.
    func holder(_ programs: [String], files: [String: String] = [:]) async throws -> (image: String, container: any RunningContainer) {
        let image = try makeImage(files.merging(["hold.sh": "#!/bin/sh\nexec sleep 120\n"]) { $1 }, programs: programs + ["sleep"])
        let runner = ProcessRunner(images: ImageMap(["img": image]))
        let container = try await runner.start(
            ContainerSpec(taskId: "t", name: "a", image: "img", command: ["./hold.sh"], environment: ["SECRET": "42"]), output: { _ in })
        return (image, container)
    }

    func stop(_ container: any RunningContainer) async {
        await container.stop()
        _ = await container.wait()
    }

    @Test func aTerminalIsTheCommandsControllingTerminalWithItsSize() async throws {
        let (_, container) = try await holder(["sh", "stty"])
        let launch = try ContainerExec.launch(
            ["sh", "-c", ": </dev/tty && echo controlling; stty size; echo $TERM $SECRET; exit 5"], in: container,
            terminalType: "xterm-256color")
        let recording = ExecRecording()
        _ = try ExecProcess.start(
            launch, streams: ExecStreams(terminal: TerminalSize(rows: 33, columns: 101), input: true), handlers: recording.handlers)
        #expect(await recording.exit() == ExecExit(status: 5))
        // The terminal turns each line's \n into \r\n.
        #expect(recording.output == "controlling\r\n33 101\r\nxterm-256color 42\r\n")
        await stop(container)
    }

    @Test func keystrokesReachTheCommandAndResizingSignalsIt() async throws {
        let (_, container) = try await holder(["sh", "stty"])
        let script = "trap 'stty size; exit 0' WINCH; read line; echo \"got:$line\"; while :; do sleep 0.05; done"
        let launch = try ContainerExec.launch(["sh", "-c", script], in: container, terminalType: "xterm")
        let recording = ExecRecording()
        let process = try ExecProcess.start(launch, streams: ExecStreams(terminal: .standard, input: true), handlers: recording.handlers)
        process.write(Array("abc\r".utf8))
        #expect(await recording.waitForOutput { $0.contains("got:abc") })
        process.resize(TerminalSize(rows: 40, columns: 120))
        #expect(await recording.exit() == ExecExit(status: 0))
        #expect(recording.output.contains("40 120"))
        await stop(container)
    }

    @Test func pipesKeepErrorApartAndCloseInputAtItsEnd() async throws {
        let (_, container) = try await holder(["sh", "cat"])
        let launch = try ContainerExec.launch(["sh", "-c", "cat; echo done >&2; exit 3"], in: container, terminalType: nil)
        let recording = ExecRecording()
        let process = try ExecProcess.start(launch, streams: ExecStreams(terminal: nil, input: true), handlers: recording.handlers)
        process.write(Array("line one\n".utf8))
        process.write(Array("line two".utf8))
        process.endInput()
        #expect(await recording.exit() == ExecExit(status: 3))
        #expect(recording.output == "line one\nline two")
        #expect(recording.errorOutput == "done\n")
        await stop(container)
    }

    /// 127 for a program that is not there, 126 for one that cannot be run, as a shell says: the command line, the
    /// JSON endpoint and ECS Exec all report these.
    @Test func missingAndUnrunnableCommandsGiveAShellsExitStatuses() async throws {
        let (image, container) = try await holder(["sh"], files: ["notes.txt": "not a program\n"])
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: image + "/notes.txt")
        try FileManager.default.createDirectory(atPath: image + "/data", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: image + "/bin/hostsh", withDestinationPath: "/bin/sh")
        let cases: [([String], Int, String)] = [
            (["nosuch"], 127, "exec: \"nosuch\": executable file not found in $PATH"),
            (["./nosuch.sh"], 127, "exec: \"./nosuch.sh\": no such file or directory"),
            (["/usr/bin/nosuch"], 127, "exec: \"/usr/bin/nosuch\": no such file or directory"),
            (["./notes.txt"], 126, "exec: \"./notes.txt\": permission denied"),
            (["./data"], 126, "exec: \"./data\": is a directory"),
        ]
        for (command, status, message) in cases {
            #expect(throws: ExecRefusal(status: status, message: message)) {
                _ = try ContainerExec.launch(command, in: container, terminalType: nil)
            }
        }
        #expect { _ = try ContainerExec.launch(["hostsh"], in: container, terminalType: nil) } throws: { error in
            (error as? ExecRefusal)?.status == 126 && (error as? ExecRefusal)?.message.contains("outside the task's image") == true
        }
        // A script whose interpreter is missing: the kernel's ENOENT, 127 as a shell reports it.
        try "#!/nonexistent/interpreter\n".write(toFile: image + "/broken.sh", atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: image + "/broken.sh")
        let broken = try ContainerExec.launch(["./broken.sh"], in: container, terminalType: nil)
        #expect(throws: ExecRefusal(status: 127, message: "exec: \"./broken.sh\": no such file or directory")) {
            _ = try ExecProcess.start(broken, streams: ExecStreams(terminal: nil, input: false), handlers: ExecRecording().handlers)
        }
        // An exit status, and a signal's 128 + N.
        for (script, status) in [("exit 42", 42), ("kill -9 $$", 137)] {
            let recording = ExecRecording()
            let launch = try ContainerExec.launch(["sh", "-c", script], in: container, terminalType: nil)
            _ = try ExecProcess.start(launch, streams: ExecStreams(terminal: nil, input: false), handlers: recording.handlers)
            #expect(await recording.exit()?.status == status)
        }
        await stop(container)
    }

    @Test func aHangUpEndsTheCommandAndWhatItLeftRunning() async throws {
        let (_, container) = try await holder(["sh"])
        let launch = try ContainerExec.launch(["sh", "-c", "sleep 100 & echo $!; wait"], in: container, terminalType: "xterm")
        let recording = ExecRecording()
        let process = try ExecProcess.start(launch, streams: ExecStreams(terminal: .standard, input: true), handlers: recording.handlers)
        #expect(await recording.waitForOutput { $0.contains("\r\n") })
        let child = try #require(Int32(recording.output.trimmingCharacters(in: .whitespacesAndNewlines)))
        #expect(isRunning(child))
        process.hangUp(grace: .milliseconds(200))
        let exit = try #require(await recording.exit())
        #expect(exit.signal == SIGHUP || exit.signal == SIGKILL)
        #expect(!isRunning(child))
        #expect(process.hasEnded)
        await stop(container)
    }

    @Test func aCommandThatLeavesAChildBehindEndsWithItsOwnExit() async throws {
        let (_, container) = try await holder(["sh"])
        let launch = try ContainerExec.launch(["sh", "-c", "sleep 100 & echo $!"], in: container, terminalType: nil)
        let recording = ExecRecording()
        _ = try ExecProcess.start(launch, streams: ExecStreams(terminal: nil, input: false), handlers: recording.handlers)
        // The child holds the output pipe open; the command's end ends the session anyway, and the child with it.
        #expect(await recording.exit() == ExecExit(status: 0))
        let child = try #require(Int32(recording.output.trimmingCharacters(in: .whitespacesAndNewlines)))
        #expect(!isRunning(child))
        await stop(container)
    }

    @Test func aContainerEngineRunsCommandsThroughItsExec() throws {
        let launch = try ContainerExec.engineLaunch(["php", "-v"], cli: "sh", id: "c0ffee", terminalType: "xterm")
        #expect(launch.arguments == ["exec", "--interactive", "--tty", "--env", "TERM=xterm", "c0ffee", "php", "-v"])
        let plain = try ContainerExec.engineLaunch(["env"], cli: "sh", id: "c0ffee", terminalType: nil)
        #expect(plain.arguments == ["exec", "--interactive", "c0ffee", "env"])
    }
}
