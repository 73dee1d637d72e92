import Foundation
import Synchronization
import Testing

@testable import TaskRunners

/// A directory standing in for an image, with scripts in it.
func makeImage(_ scripts: [String: String]) throws -> String {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("skiff-image-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    for (name, body) in scripts {
        let path = (directory as NSString).appendingPathComponent(name)
        try body.write(toFile: path, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: path)
    }
    return directory
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
        let map = try ImageMap(arguments: ["php-app=/cli"], environment: ["SKIFF_IMAGE_PHP_APP": "/env", "SKIFF_IMAGE_WORKER_2": "rel", "HOME": "/root"], base: "/base")
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
        let image = try makeImage(["job.sh": "#!/bin/sh\necho \"args: $*\"\necho \"cwd: $(pwd)\"\necho \"name: $JOB_NAME\"\necho oops >&2\nexit 7\n"])
        let runner = ProcessRunner(images: ImageMap(["php-app": image]))
        let lines = Lines()
        let container = try await runner.start(
            ContainerSpec(taskId: "t1", name: "app", image: "php-app:latest", entryPoint: ["job.sh"], command: ["a", "b c"], environment: ["JOB_NAME": "nightly"]),
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
        let container = try await runner.start(ContainerSpec(taskId: "t", name: "app", image: "php-app", entryPoint: ["php"], command: ["batch.php"]), output: lines.append)
        #expect(await container.wait().exitCode == 0)
        #expect(lines.texts == ["fake php batch.php"])
    }

    @Test func unmappedImageFailsToStartWithHowToMapIt() async throws {
        let runner = ProcessRunner(images: ImageMap())
        await #expect {
            _ = try await runner.start(ContainerSpec(taskId: "t", name: "app", image: "php-app", command: ["true"]), output: { _ in })
        } throws: { error in
            let reason = (error as? ContainerStartFailure)?.reason ?? ""
            return reason.hasPrefix("CannotPullContainerError") && reason.contains("--image-map php-app=DIR") && reason.contains("SKIFF_IMAGE_PHP_APP")
        }
    }

    @Test func missingExecutableAndWorkingDirectoryFailToStart() throws {
        let image = try makeImage([:])
        let runner = ProcessRunner(images: ImageMap(["img": image]))
        #expect(throws: ContainerStartFailure.self) { try runner.prepare(ContainerSpec(taskId: "t", name: "a", image: "img", command: ["no-such-program-xyz"])) }
        #expect(throws: ContainerStartFailure.self) { try runner.prepare(ContainerSpec(taskId: "t", name: "a", image: "img", command: [])) }
        #expect(throws: ContainerStartFailure.self) { try runner.prepare(ContainerSpec(taskId: "t", name: "a", image: "img", command: ["true"], workingDirectory: "missing")) }
        let prepared = try runner.prepare(ContainerSpec(taskId: "t", name: "a", image: "img", command: ["true"], memoryMiB: 64))
        #expect(prepared.launchVector.0 == "/bin/sh")
        #expect(prepared.launchVector.1.contains("ulimit -d 65536 && exec \"$@\""))
    }

    @Test func appliesUlimitsAndRejectsUnknownOnes() async throws {
        let image = try makeImage([:])
        let runner = ProcessRunner(images: ImageMap(["img": image]))
        let lines = Lines()
        let container = try await runner.start(
            ContainerSpec(taskId: "t", name: "a", image: "img", command: ["sh", "-c", "ulimit -S -n; ulimit -H -n"],
                          ulimits: ["nofile": ResourceLimit(soft: 200, hard: 300)]),
            output: lines.append)
        #expect(await container.wait().exitCode == 0)
        #expect(lines.texts == ["200", "300"])
        #expect(throws: ContainerStartFailure.self) {
            try runner.prepare(ContainerSpec(taskId: "t", name: "a", image: "img", command: ["true"], ulimits: ["bogus": ResourceLimit(soft: 1, hard: 1)]))
        }
    }

    @Test func stopSendsTermThenTheProcessEnds() async throws {
        let image = try makeImage(["wait.sh": "#!/bin/sh\ntrap 'echo got TERM; exit 0' TERM\necho ready\nwhile true; do sleep 0.05; done\n"])
        let runner = ProcessRunner(images: ImageMap(["img": image]))
        let lines = Lines()
        let container = try await runner.start(ContainerSpec(taskId: "t", name: "a", image: "img", command: ["./wait.sh"]), output: lines.append)
        for _ in 0..<200 where !lines.texts.contains("ready") { try await Task.sleep(for: .milliseconds(10)) }
        await container.stop()
        let exit = await container.wait()
        #expect(exit.exitCode == 0)
        #expect(lines.texts.contains("got TERM"))
    }

    @Test func stopKillsAfterTheStopTimeout() async throws {
        let image = try makeImage(["stubborn.sh": "#!/bin/sh\ntrap '' TERM\necho ready\nwhile true; do sleep 0.05; done\n"])
        let runner = ProcessRunner(images: ImageMap(["img": image]))
        let lines = Lines()
        let container = try await runner.start(ContainerSpec(taskId: "t", name: "a", image: "img", command: ["./stubborn.sh"], stopTimeoutSeconds: 1), output: lines.append)
        for _ in 0..<200 where !lines.texts.contains("ready") { try await Task.sleep(for: .milliseconds(10)) }
        await container.stop()
        let exit = await container.wait()
        #expect(exit.exitCode == 137)
    }

    @Test func execRunsInTheContainersEnvironment() async throws {
        let image = try makeImage(["hold.sh": "#!/bin/sh\nexec sleep 5\n"])
        let runner = ProcessRunner(images: ImageMap(["img": image]))
        let container = try await runner.start(ContainerSpec(taskId: "t", name: "a", image: "img", command: ["./hold.sh"], environment: ["SECRET": "42"]), output: { _ in })
        let result = try await container.exec(["sh", "-c", "echo $SECRET; echo err >&2; exit 3"], timeoutSeconds: 10)
        #expect(result == ExecResult(exitCode: 3, output: "42\n", errorOutput: "err\n"))
        await container.stop()
        _ = await container.wait()
        await #expect(throws: ContainerStartFailure.self) { _ = try await container.exec(["true"], timeoutSeconds: 5) }
    }

    @Test func splitsLongLinesAndKeepsALastLineWithoutBreak() async throws {
        let image = try makeImage(["long.sh": "#!/bin/sh\nhead -c 20000 /dev/zero | tr '\\\\0' x\necho\nprintf 'tail'\n"])
        let runner = ProcessRunner(images: ImageMap(["img": image]))
        let lines = Lines()
        let container = try await runner.start(ContainerSpec(taskId: "t", name: "a", image: "img", command: ["./long.sh"]), output: lines.append)
        _ = await container.wait()
        #expect(lines.texts.map(\.count) == [16384, 20000 - 16384, 4])
        #expect(lines.texts.last == "tail")
    }
}

@Suite struct ContainerEngineRunnerTests {
    @Test func buildsDockerRunArguments() {
        let runner = ContainerEngineRunner(cli: "docker")
        let arguments = runner.runArguments(ContainerSpec(
            taskId: "abc", name: "app", image: "php-app:1", entryPoint: ["php"], command: ["job.php"],
            environment: ["B": "2", "A": "1"], workingDirectory: "/srv", memoryMiB: 128))
        #expect(arguments == ["run", "--detach", "--name", "skiff-abc-app", "--label", "skiff.task=abc", "--env", "A=1", "--env", "B=2",
                              "--workdir", "/srv", "--memory", "128m", "--entrypoint", "php", "php-app:1", "job.php"])
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
            ContainerSpec(taskId: UUID().uuidString.lowercased(), name: "app", image: "busybox", entryPoint: ["sh", "-c"], command: ["echo hi; exit 5"]),
            output: lines.append)
        #expect(await container.wait().exitCode == 5)
        #expect(lines.texts == ["hi"])
    }

    @Test func selectingRunnerUsesTheProcessRunnerForMappedImages() async throws {
        let image = try makeImage([:])
        let runner = SelectingRunner(process: ProcessRunner(images: ImageMap(["img": image])), engine: ContainerEngineRunner(cli: "skiff-no-such-engine"))
        let lines = Lines()
        let container = try await runner.start(ContainerSpec(taskId: "t", name: "a", image: "img", command: ["echo", "local"]), output: lines.append)
        #expect(await container.wait().exitCode == 0)
        #expect(lines.texts == ["local"])
        await #expect {
            _ = try await runner.start(ContainerSpec(taskId: "t", name: "a", image: "unmapped", command: ["true"]), output: { _ in })
        } throws: { error in
            (error as? ContainerStartFailure)?.reason.contains("no skiff-no-such-engine engine answers") == true
        }
    }
}
