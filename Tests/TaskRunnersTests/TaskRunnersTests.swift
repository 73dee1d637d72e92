import Foundation
import Synchronization
import Testing

@testable import TaskRunners

/// A directory standing in for an image, with scripts in it and copies of host `programs` in its `bin`: a task finds
/// programs in its image only.
func makeImage(_ scripts: [String: String], programs: [String] = []) throws -> String {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("skiff-image-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    for (name, body) in scripts {
        let path = (directory as NSString).appendingPathComponent(name)
        try body.write(toFile: path, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: path)
    }
    if !programs.isEmpty { try FileManager.default.createDirectory(atPath: directory + "/bin", withIntermediateDirectories: true) }
    for program in programs {
        let host = try #require(["/bin/", "/usr/bin/"].map { $0 + program }.first { FileManager.default.isExecutableFile(atPath: $0) })
        try FileManager.default.copyItem(
            atPath: URL(fileURLWithPath: host).resolvingSymlinksInPath().path, toPath: directory + "/bin/" + program)
    }
    return directory
}

/// Whether process `pid` still runs (a zombie does not).
func isRunning(_ pid: Int32) -> Bool {
    ProcessTable.entry(pid).map { !$0.ended } ?? false
}

final class Lines: Sendable {
    let lines = Mutex<[OutputLine]>([])
    func append(_ line: OutputLine) { lines.withLock { $0.append(line) } }
    var texts: [String] { lines.withLock { $0.map(\.text) } }
    func texts(_ stream: OutputLine.Stream) -> [String] { lines.withLock { $0.filter { $0.stream == stream }.map(\.text) } }
}

@Suite struct ImageMapTests {
    @Test func parsesArgumentsAndResolvesRelativeDirectories() throws {
        let map = try ImageMap(arguments: ["php-app=./jobs", "tools=/opt/tools"], base: "/work")
        #expect(map.directory(for: "php-app") == "/work/jobs")
        #expect(map.directory(for: "tools") == "/opt/tools")
        #expect(map.directory(for: "other") == nil)
    }

    @Test func matchesTagsRegistriesAndDigests() throws {
        let map = try ImageMap(arguments: ["php-app=/a", "php-app:2=/b"], base: "/")
        #expect(map.directory(for: "php-app:latest") == "/a")
        #expect(map.directory(for: "php-app:2") == "/b")
        #expect(map.directory(for: "123456789012.dkr.ecr.us-east-1.amazonaws.com/php-app:1.0") == "/a")
        #expect(map.directory(for: "php-app@sha256:abcd") == "/a")
    }

    @Test func readsEnvironmentVariablesAndCommandLineWins() throws {
        let map = try ImageMap(
            arguments: ["php-app=/cli"], environment: ["SKIFF_IMAGE_PHP_APP": "/env", "SKIFF_IMAGE_WORKER_2": "rel", "HOME": "/root"],
            base: "/base")
        #expect(map.directory(for: "php-app") == "/cli")
        #expect(map.directory(for: "worker.2") == "/base/rel")
        #expect(ImageMap.environmentKey("php-app") == "PHP_APP")
    }

    @Test func rejectsMalformedMappings() {
        #expect(throws: ImageMapError.self) { try ImageMap(arguments: ["php-app"]) }
        #expect(throws: ImageMapError.self) { try ImageMap(arguments: ["=/dir"]) }
        #expect(throws: ImageMapError.self) { try ImageMap(arguments: ["php-app="]) }
    }
}

@Suite struct ProcessRunnerTests {
    @Test func runsEntryPointAndCommandInTheImageDirectoryWithItsEnvironment() async throws {
        let image = try makeImage([
            "job.sh": "#!/bin/sh\necho \"args: $*\"\necho \"cwd: $(pwd)\"\necho \"name: $JOB_NAME\"\necho oops >&2\nexit 7\n"
        ])
        let runner = ProcessRunner(images: ImageMap(["php-app": image]))
        let lines = Lines()
        let container = try await runner.start(
            ContainerSpec(
                taskId: "t1", name: "app", image: "php-app:latest", entryPoint: ["job.sh"], command: ["a", "b c"],
                environment: ["JOB_NAME": "nightly"]),
            output: lines.append)
        let exit = await container.wait()
        #expect(exit == ContainerExit(exitCode: 7))
        let resolvedImage = URL(fileURLWithPath: image).resolvingSymlinksInPath().path
        #expect(lines.texts(.stdout).count == 3)
        #expect(lines.texts(.stdout)[0] == "args: a b c")
        #expect(lines.texts(.stdout)[1] == "cwd: \(image)" || lines.texts(.stdout)[1] == "cwd: \(resolvedImage)")
        #expect(lines.texts(.stdout)[2] == "name: nightly")
        #expect(lines.texts(.stderr) == ["oops"])
    }

    @Test func imageDirectoryComesFirstOnPath() async throws {
        let image = try makeImage(["php": "#!/bin/sh\necho \"fake php $1\"\n"])
        let runner = ProcessRunner(images: ImageMap(["php-app": image]))
        let lines = Lines()
        let container = try await runner.start(
            ContainerSpec(taskId: "t", name: "app", image: "php-app", entryPoint: ["php"], command: ["batch.php"]), output: lines.append)
        #expect(await container.wait().exitCode == 0)
        #expect(lines.texts == ["fake php batch.php"])
    }

    @Test func unmappedImageFailsToStartWithHowToMapIt() async throws {
        let runner = ProcessRunner(images: ImageMap())
        await #expect {
            _ = try await runner.start(ContainerSpec(taskId: "t", name: "app", image: "php-app", command: ["true"]), output: { _ in })
        } throws: { error in
            let reason = (error as? ContainerStartFailure)?.reason ?? ""
            return reason.hasPrefix("CannotPullContainerError") && reason.contains("--image-map php-app=DIR")
                && reason.contains("SKIFF_IMAGE_PHP_APP")
        }
    }

    @Test func missingExecutableAndWorkingDirectoryFailToStart() throws {
        let image = try makeImage([:], programs: ["true"])
        let runner = ProcessRunner(images: ImageMap(["img": image]))
        #expect(throws: ContainerStartFailure.self) {
            try runner.prepare(ContainerSpec(taskId: "t", name: "a", image: "img", command: ["no-such-program-xyz"]))
        }
        #expect(throws: ContainerStartFailure.self) { try runner.prepare(ContainerSpec(taskId: "t", name: "a", image: "img", command: [])) }
        #expect(throws: ContainerStartFailure.self) {
            try runner.prepare(ContainerSpec(taskId: "t", name: "a", image: "img", command: ["true"], workingDirectory: "missing"))
        }
        let prepared = try runner.prepare(ContainerSpec(taskId: "t", name: "a", image: "img", command: ["true"], memoryMiB: 64))
        #expect(prepared.launchVector.0 == "/bin/sh")
        #expect(prepared.launchVector.1.contains("ulimit -d 65536 && exec \"$@\""))
        // A memory limit past what can be counted in KiB is no limit, not an overflow.
        let huge = try runner.prepare(ContainerSpec(taskId: "t", name: "a", image: "img", command: ["true"], memoryMiB: Int.max))
        #expect(huge.launchVector.1.contains("ulimit -d unlimited && exec \"$@\""))
    }

    @Test func appliesUlimitsAndRejectsUnknownOnes() async throws {
        let image = try makeImage([:], programs: ["sh", "true"])
        let runner = ProcessRunner(images: ImageMap(["img": image]))
        let lines = Lines()
        let container = try await runner.start(
            ContainerSpec(
                taskId: "t", name: "a", image: "img", command: ["sh", "-c", "ulimit -S -n; ulimit -H -n"],
                ulimits: ["nofile": ResourceLimit(soft: 200, hard: 300)]),
            output: lines.append)
        #expect(await container.wait().exitCode == 0)
        #expect(lines.texts == ["200", "300"])
        #expect(throws: ContainerStartFailure.self) {
            try runner.prepare(
                ContainerSpec(taskId: "t", name: "a", image: "img", command: ["true"], ulimits: ["bogus": ResourceLimit(soft: 1, hard: 1)]))
        }
    }

    @Test func stopSendsTermThenTheProcessEnds() async throws {
        let image = try makeImage(
            ["wait.sh": "#!/bin/sh\ntrap 'echo got TERM; exit 0' TERM\necho ready\nwhile true; do sleep 0.05; done\n"], programs: ["sleep"])
        let runner = ProcessRunner(images: ImageMap(["img": image]))
        let lines = Lines()
        let container = try await runner.start(
            ContainerSpec(taskId: "t", name: "a", image: "img", command: ["./wait.sh"]), output: lines.append)
        for _ in 0..<200 where !lines.texts.contains("ready") { try await Task.sleep(for: .milliseconds(10)) }
        await container.stop()
        let exit = await container.wait()
        #expect(exit.exitCode == 0)
        #expect(lines.texts.contains("got TERM"))
    }

    @Test func stopKillsAfterTheStopTimeout() async throws {
        let image = try makeImage(
            ["stubborn.sh": "#!/bin/sh\ntrap '' TERM\necho ready\nwhile true; do sleep 0.05; done\n"], programs: ["sleep"])
        let runner = ProcessRunner(images: ImageMap(["img": image]))
        let lines = Lines()
        let container = try await runner.start(
            ContainerSpec(taskId: "t", name: "a", image: "img", command: ["./stubborn.sh"], stopTimeoutSeconds: 1), output: lines.append)
        for _ in 0..<200 where !lines.texts.contains("ready") { try await Task.sleep(for: .milliseconds(10)) }
        await container.stop()
        let exit = await container.wait()
        #expect(exit.exitCode == 137)
    }

    @Test func execRunsInTheContainersEnvironment() async throws {
        let image = try makeImage(["hold.sh": "#!/bin/sh\nexec sleep 120\n"], programs: ["sh", "sleep", "true"])  // stopped below
        let runner = ProcessRunner(images: ImageMap(["img": image]))
        let container = try await runner.start(
            ContainerSpec(taskId: "t", name: "a", image: "img", command: ["./hold.sh"], environment: ["SECRET": "42"]), output: { _ in })
        let result = try await container.exec(["sh", "-c", "echo $SECRET; echo err >&2; exit 3"], timeoutSeconds: 10)
        #expect(result == ExecResult(exitCode: 3, output: "42\n", errorOutput: "err\n"))
        await container.stop()
        _ = await container.wait()
        await #expect(throws: ContainerStartFailure.self) { _ = try await container.exec(["true"], timeoutSeconds: 5) }
    }

    @Test func splitsLongLinesAndKeepsALastLineWithoutBreak() async throws {
        let image = try makeImage(
            ["long.sh": "#!/bin/sh\nhead -c 20000 /dev/zero | tr '\\\\0' x\necho\nprintf 'tail'\n"], programs: ["head", "tr"])
        let runner = ProcessRunner(images: ImageMap(["img": image]))
        let lines = Lines()
        let container = try await runner.start(
            ContainerSpec(taskId: "t", name: "a", image: "img", command: ["./long.sh"]), output: lines.append)
        _ = await container.wait()
        #expect(lines.texts.map(\.count) == [16384, 20000 - 16384, 4])
        #expect(lines.texts.last == "tail")
    }
}

/// A task's paths and programs stay inside its image: a task definition cannot run a program of the host.
@Suite struct ImageConfinementTests {
    func failure(_ runner: ProcessRunner, _ spec: ContainerSpec) -> String {
        do {
            let prepared = try runner.prepare(spec)
            return "prepared \(prepared.executable)"
        } catch {
            return error.reason
        }
    }

    @Test func entryPointsOutsideTheImageAreRefused() throws {
        let image = try makeImage(["run.sh": "#!/bin/sh\necho ok\n"])
        try FileManager.default.createDirectory(atPath: image + "/bin", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: image + "/bin/sh", withDestinationPath: "/bin/sh")
        try FileManager.default.createSymbolicLink(atPath: image + "/hostsh", withDestinationPath: "/bin/sh")
        let runner = ProcessRunner(images: ImageMap(["img": image]))
        func spec(_ entryPoint: [String], workingDirectory: String? = nil) -> ContainerSpec {
            ContainerSpec(
                taskId: "t", name: "a", image: "img", entryPoint: entryPoint, command: ["-c", "touch /tmp/skiff-pwned"],
                workingDirectory: workingDirectory)
        }
        // Absolute paths are the image's: /bin/sh is the image's bin/sh, a link to the host's shell.
        for entryPoint in [["/bin/sh"], ["sh"], ["./hostsh"], ["../../../../../../bin/sh"], ["/../../../../bin/sh"]] {
            let reason = failure(runner, spec(entryPoint))
            #expect(reason.hasPrefix("CannotStartContainerError: exec: \"\(entryPoint[0])\": leads to "), "\(entryPoint): \(reason)")
            #expect(reason.contains("outside image img"), "\(entryPoint): \(reason)")
        }
        // Nothing of the host is found by name or by path when the image does not hold it.
        for entryPoint in [["/usr/bin/env"], ["env"], ["bash"]] {
            #expect(
                failure(runner, spec(entryPoint)).hasPrefix(
                    "CannotStartContainerError: exec: \"\(entryPoint[0])\": executable file not found"))
        }
        #expect(try runner.prepare(spec(["/run.sh"])).executable == ImageRoot(directory: image)!.path + "/run.sh")
        #expect(try runner.prepare(spec(["./run.sh"])).name == "./run.sh")
    }

    @Test func workingDirectoriesStayInTheImage() throws {
        let image = try makeImage(["run.sh": "#!/bin/sh\necho ok\n"])
        try FileManager.default.createDirectory(atPath: image + "/app", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: image + "/escape", withDestinationPath: "/tmp")
        let root = try #require(ImageRoot(directory: image)).path
        let runner = ProcessRunner(images: ImageMap(["img": image]))
        for directory in ["../../..", "/../..", "escape", "/app/../../.."] {
            let reason = failure(
                runner, ContainerSpec(taskId: "t", name: "a", image: "img", command: ["./run.sh"], workingDirectory: directory))
            #expect(reason.hasPrefix("CannotStartContainerError: working directory \(directory) leads to "), "\(directory): \(reason)")
        }
        let inApp = try runner.prepare(
            ContainerSpec(taskId: "t", name: "a", image: "img", command: ["../run.sh"], workingDirectory: "/app"))
        #expect(inApp.workingDirectory == root + "/app")
        #expect(inApp.executable == root + "/run.sh")
        #expect(
            try runner.prepare(ContainerSpec(taskId: "t", name: "a", image: "img", command: ["./run.sh"], workingDirectory: "/"))
                .workingDirectory == root)
    }

    @Test func pathIsTheImagesAndATasksPathIsTakenInsideIt() async throws {
        let image = try makeImage([:], programs: ["sh"])
        let root = try #require(ImageRoot(directory: image)).path
        let runner = ProcessRunner(images: ImageMap(["img": image]))
        let lines = Lines()
        let container = try await runner.start(
            ContainerSpec(taskId: "t", name: "a", image: "img", command: ["sh", "-c", "echo $PATH"]), output: lines.append)
        #expect(await container.wait().exitCode == 0)
        let path = try #require(lines.texts.first).split(separator: ":").map(String.init)
        #expect(path.first == root)
        #expect(path.contains(root + "/usr/bin") && path.contains(root + "/bin"))
        #expect(path.allSatisfy { $0 == root || $0.hasPrefix(root + "/") })
        let custom = try runner.prepare(
            ContainerSpec(taskId: "t", name: "a", image: "img", command: ["sh"], environment: ["PATH": "/opt/bin:/../../bin:relative"]))
        #expect(custom.environment["PATH"] == "\(root):\(root)/opt/bin:\(root)/bin")
        #expect(custom.executable == root + "/bin/sh")
    }

    @Test func execFindsItsCommandInTheImage() async throws {
        let image = try makeImage(["hold.sh": "#!/bin/sh\nexec sleep 120\n"], programs: ["sleep", "true"])  // stopped below
        try FileManager.default.createSymbolicLink(atPath: image + "/bin/sh", withDestinationPath: "/bin/sh")
        let runner = ProcessRunner(images: ImageMap(["img": image]))
        let container = try await runner.start(
            ContainerSpec(taskId: "t", name: "a", image: "img", command: ["./hold.sh"]), output: { _ in })
        #expect(try await container.exec(["true"], timeoutSeconds: 5).exitCode == 0)
        for command in [["/bin/sh", "-c", "echo pwned"], ["sh", "-c", "echo pwned"], ["../../../../bin/sh"]] {
            await #expect { _ = try await container.exec(command, timeoutSeconds: 5) } throws: { error in
                (error as? ContainerStartFailure)?.reason.contains("outside the task's image") == true
            }
        }
        await #expect { _ = try await container.exec(["env"], timeoutSeconds: 5) } throws: { error in
            (error as? ContainerStartFailure)?.reason == "exec: \"env\": executable file not found in $PATH"
        }
        await container.stop()
        _ = await container.wait()
    }
}

/// Each task's process leads a session of its own, which tells its processes from any other.
@Suite struct TaskSessionTests {
    @Test func aTaskLeadsItsOwnSessionAndWhatItLeavesEndsWithIt() async throws {
        let image = try makeImage(["bg.sh": "#!/bin/sh\nsleep 30 &\necho $!\necho $$\n"], programs: ["sleep"])
        let runner = ProcessRunner(images: ImageMap(["img": image]))
        let lines = Lines()
        let container = try await runner.start(
            ContainerSpec(
                taskId: "t", name: "a", image: "img", command: ["./bg.sh"],
                environment: ["ECS_TASK_ARN": "arn:aws:ecs:us-east-1:000000000000:task/default/other"]),
            output: lines.append)
        let identity = try #require(container.processIdentity)
        #expect(identity.session == identity.pid)
        // The background child holds the output open: without its end, the task would never end.
        #expect(await container.wait().exitCode == 0)
        let child = try #require(lines.texts.first.flatMap { Int32($0) })
        #expect(lines.texts.last == String(identity.pid))
        for _ in 0..<100 where isRunning(child) { try await Task.sleep(for: .milliseconds(10)) }
        #expect(!isRunning(child))
        #expect(ProcessTable.members(of: identity).isEmpty)
    }

    @Test func identitiesTellAReusedPidApart() throws {
        let line = "4242 (a (b) c) S 1 4242 4242 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 987654 1000 10 18446744073709551615"
        let entry = try #require(ProcessTable.parse(line, pid: 4242))
        #expect(entry == ProcessTable.Entry(pid: 4242, state: "S", processGroup: 4242, session: 4242, startTime: 987654))
        let me = try #require(ProcessIdentity.of(pid: getpid()))
        #expect(ProcessTable.isRunning(me))
        #expect(!ProcessTable.isRunning(ProcessIdentity(pid: me.pid, session: me.session, startTime: me.startTime + 1)))
        #expect(ProcessTable.members(of: ProcessIdentity(pid: me.pid, session: me.session, startTime: me.startTime + 1)).isEmpty)
    }
}

@Suite struct ContainerEngineRunnerTests {
    @Test func buildsDockerRunArguments() {
        let runner = ContainerEngineRunner(cli: "docker")
        let arguments = runner.runArguments(
            ContainerSpec(
                taskId: "abc", name: "app", image: "php-app:1", entryPoint: ["php"], command: ["job.php"],
                environment: ["B": "2", "A": "1"], workingDirectory: "/srv", memoryMiB: 128))
        #expect(
            arguments == [
                "run", "--detach", "--name", "skiff-abc-app", "--label", "skiff.task=abc", "--env", "A=1", "--env", "B=2",
                "--workdir", "/srv", "--memory", "128m", "--entrypoint", "php", "php-app:1", "job.php",
            ])
    }

    /// Runs a container where an engine answers; elsewhere says why it is skipped.
    @Test func runsAContainerWhereAnEngineAnswers() async throws {
        let probe = await ContainerEngineRunner.probe(cli: "docker")
        guard probe.available else {
            print("SKIPPED ContainerEngineRunnerTests.runsAContainerWhereAnEngineAnswers: no container engine answers (\(probe.reason))")
            return
        }
        let lines = Lines()
        let container = try await ContainerEngineRunner(cli: "docker").start(
            ContainerSpec(
                taskId: UUID().uuidString.lowercased(), name: "app", image: "busybox", entryPoint: ["sh", "-c"],
                command: ["echo hi; exit 5"]),
            output: lines.append)
        #expect(await container.wait().exitCode == 5)
        #expect(lines.texts == ["hi"])
    }

    @Test func selectingRunnerUsesTheProcessRunnerForMappedImages() async throws {
        let image = try makeImage([:], programs: ["echo", "true"])
        let runner = SelectingRunner(
            process: ProcessRunner(images: ImageMap(["img": image])), engine: ContainerEngineRunner(cli: "skiff-no-such-engine"))
        let lines = Lines()
        let container = try await runner.start(
            ContainerSpec(taskId: "t", name: "a", image: "img", command: ["echo", "local"]), output: lines.append)
        #expect(await container.wait().exitCode == 0)
        #expect(lines.texts == ["local"])
        await #expect {
            _ = try await runner.start(ContainerSpec(taskId: "t", name: "a", image: "unmapped", command: ["true"]), output: { _ in })
        } throws: { error in
            (error as? ContainerStartFailure)?.reason.contains("no skiff-no-such-engine engine answers") == true
        }
    }
}
