import Foundation
import Synchronization
import Testing

@testable import TaskRunners

/// A task's output kept in files, followed as it is written, and taken up again by a later server where the
/// previous one stopped.
@Suite struct TaskOutputFilesTests {
    func makeFiles() throws -> TaskOutputFiles {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("skiff-output-\(UUID().uuidString)").path
        let files = TaskOutputFiles(root: root, taskId: "3f2a", container: "app")
        try files.prepare()
        return files
    }

    func append(_ text: String, to path: String) throws {
        if !FileManager.default.fileExists(atPath: path) { #expect(FileManager.default.createFile(atPath: path, contents: nil)) }
        let handle = try #require(FileHandle(forWritingAtPath: path))
        handle.seekToEndOfFile()
        handle.write(Data(text.utf8))
        try handle.close()
    }

    @Test func namesStayInsideTheTaskDirectory() {
        let files = TaskOutputFiles(root: "/state/tasks", taskId: "../../etc", container: "../passwd")
        #expect(files.directory == "/state/tasks/______etc")
        #expect(files.status == "/state/tasks/______etc/___passwd.status")
    }

    @Test func linesAreCutAtNewlinesAndAt16KiB() {
        var assembler = LineAssembler()
        var lines: [String] = []
        #expect(assembler.append(ArraySlice("one\r\ntw".utf8)) { lines.append($0) } == 2)
        #expect(assembler.append(ArraySlice("o\n".utf8)) { lines.append($0) } == 0)
        assembler.append(ArraySlice([UInt8](repeating: UInt8(ascii: "x"), count: LineAssembler.maximumLineBytes + 5))) { lines.append($0) }
        assembler.finish { lines.append($0) }
        #expect(lines.count == 4)
        #expect(Array(lines.prefix(2)) == ["one", "two"])
        #expect(lines[2].utf8.count == LineAssembler.maximumLineBytes && lines[3] == "xxxxx")
    }

    @Test func followerShipsLinesAsWrittenAndTheLastUnfinishedOneAtTheEnd() throws {
        let files = try makeFiles()
        defer { files.remove() }
        let lines = Mutex<[OutputLine]>([])
        let follower = OutputFollower(files: files) { line in lines.withLock { $0.append(line) } }
        try append("starting\n", to: files.standardOutput)
        follower.start()
        try append("oops\n", to: files.standardError)
        try append("half", to: files.standardOutput)
        let deadline = Date().addingTimeInterval(5)
        while lines.withLock({ $0.count }) < 2 && Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
        try append(" done", to: files.standardOutput)
        follower.finish()
        let shipped = lines.withLock { $0.map { "\($0.stream.rawValue): \($0.text)" } }
        #expect(shipped.sorted() == ["stderr: oops", "stdout: half done", "stdout: starting"])
        #expect(files.readShipped() == (stdout: 18, stderr: 5))
    }

    @Test func aLaterFollowerStartsWhereTheDetachedOneStopped() throws {
        let files = try makeFiles()
        defer { files.remove() }
        let first = Mutex<[String]>([])
        let before = OutputFollower(files: files) { line in first.withLock { $0.append(line.text) } }
        try append("one\ntwo\nthr", to: files.standardOutput)
        before.start()
        let deadline = Date().addingTimeInterval(5)
        while first.withLock({ $0.count }) < 2 && Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
        before.detach()  // the server stops; the process goes on writing
        #expect(first.withLock { $0 } == ["one", "two"])
        #expect(files.readShipped() == (stdout: 8, stderr: 0), "an unfinished line is left to the next server")

        try append("ee\nfour\n", to: files.standardOutput)
        let second = Mutex<[String]>([])
        let after = OutputFollower(files: files) { line in second.withLock { $0.append(line.text) } }
        after.start()
        after.finish()
        #expect(second.withLock { $0 } == ["three", "four"])
    }

    @Test func statusIsTheShellsNumberOrNothing() throws {
        let files = try makeFiles()
        defer { files.remove() }
        #expect(files.readStatus() == nil)
        try "143\n".write(toFile: files.status, atomically: false, encoding: .utf8)
        #expect(files.readStatus() == 143)
        files.remove()
        #expect(!FileManager.default.fileExists(atPath: files.directory))
    }

    @Test func aContainerWithFilesShipsItsOutputAndReportsItsStatus() async throws {
        let image = try makeImage(["job.sh": "#!/bin/sh\necho one\necho two >&2\nprintf last\nexit 3\n"])
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("skiff-output-\(UUID().uuidString) with 'quotes'").path
        let runner = ProcessRunner(images: ImageMap(["img": image]), taskOutputRoot: root)
        let lines = Mutex<[String]>([])
        let container = try await runner.start(
            ContainerSpec(taskId: "t1", name: "app", image: "img", entryPoint: ["./job.sh"], memoryMiB: 64)
        ) { line in
            lines.withLock { $0.append("\(line.stream.rawValue): \(line.text)") }
        }
        #expect(await container.wait() == ContainerExit(exitCode: 3))
        #expect(lines.withLock { $0 }.sorted() == ["stderr: two", "stdout: last", "stdout: one"])
        let files = try #require(runner.outputFiles(taskId: "t1", container: "app"))
        #expect(!FileManager.default.fileExists(atPath: files.directory), "shipped and ended: its files are gone")
    }

    @Test func aDetachedContainerRunsOnAndIsTakenOverWithItsStatus() async throws {
        // The job goes on only once the test says so (the file $GO), whatever the load on the machine.
        let image = try makeImage(
            ["job.sh": "#!/bin/sh\necho before\nwhile [ ! -e \"$GO\" ]; do sleep 0.05; done\necho after\nexit 4\n"],
            programs: ["sleep"])
        let go = FileManager.default.temporaryDirectory.appendingPathComponent("skiff-go-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: go) }
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("skiff-output-\(UUID().uuidString)").path
        let runner = ProcessRunner(images: ImageMap(["img": image]), taskOutputRoot: root)
        let first = Mutex<[String]>([])
        let container = try await runner.start(
            ContainerSpec(
                taskId: "t2", name: "app", image: "img", entryPoint: ["./job.sh"],
                environment: ["GO": go])
        ) { line in
            first.withLock { $0.append(line.text) }
        }
        let deadline = Date().addingTimeInterval(30)
        while first.withLock({ $0.isEmpty }) && Date() < deadline { try await Task.sleep(for: .milliseconds(20)) }
        container.detach()  // the server stops here; the process goes on
        #expect(first.withLock { $0 } == ["before"])
        let identity = try #require(container.processIdentity)
        let files = try #require(runner.outputFiles(taskId: "t2", container: "app"))
        // The next server takes it over: the rest of the output, and the status its shell wrote.
        let second = Mutex<[String]>([])
        let adopted = try #require(
            ProcessRunner.adopt(identity, imageRoot: image, stopTimeoutSeconds: 5, files: files) { line in
                second.withLock { $0.append(line.text) }
            })
        #expect(FileManager.default.createFile(atPath: go, contents: nil))
        #expect(await adopted.wait() == ContainerExit(exitCode: 4))
        #expect(second.withLock { $0 } == ["after"])
        #expect(await container.wait() == ContainerExit(exitCode: 4), "the first server's own wait sees the same end")
    }

    @Test func statusFileNamesAreQuotedForTheShell() {
        #expect(PreparedProcess.shellQuoted("/state/it's here") == #"'/state/it'\''s here'"#)
    }
}
