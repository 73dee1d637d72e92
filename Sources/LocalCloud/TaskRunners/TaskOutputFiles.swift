import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
    private let closeDescriptor = Glibc.close
#elseif canImport(Darwin)
    import Darwin
    private let closeDescriptor = Darwin.close
#endif

/// The files of one container of a task run as a local process, in the state directory
/// (`<state-dir>/tasks/<task id>/<container>.*`): its standard output and error, how far each was shipped to its
/// log driver, and its exit status.
///
/// They are what lets a task outlive its server: a process writing to a pipe would get SIGPIPE once the server that
/// read it is gone, and its exit status would go to its parent, the server. A file keeps what the process writes until
/// a server reads it, and Skiff's own shell around the process (``PreparedProcess/launchVector(statusFile:)``) writes
/// the status when it ends, for whichever server then watches the task.
public struct TaskOutputFiles: Sendable, Equatable {
    public let directory: String
    public let container: String

    /// The folder of a state directory that holds them.
    public static func root(stateDirectory: String) -> String {
        (stateDirectory as NSString).appendingPathComponent("tasks")
    }

    public init(root: String, taskId: String, container: String) {
        directory = (root as NSString).appendingPathComponent(Self.safeName(taskId))
        self.container = Self.safeName(container)
    }

    /// A path component from a name the API accepted: container names are `[A-Za-z0-9_-]`, task ids hex, but a file
    /// name must never climb out of its directory whatever it is given.
    public static func safeName(_ name: String) -> String {
        let cleaned = String(name.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" ? $0 : "_" })
        return cleaned.isEmpty ? "_" : cleaned
    }

    var standardOutput: String { path("stdout") }
    var standardError: String { path("stderr") }
    var shippedOffsets: String { path("shipped") }
    public var status: String { path("status") }

    private func path(_ suffix: String) -> String {
        (directory as NSString).appendingPathComponent("\(container).\(suffix)")
    }

    /// Creates the task's directory, readable by the server's user alone (the output may hold secrets).
    func prepare() throws(ContainerStartFailure) {
        do {
            try FileManager.default.createDirectory(
                atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw ContainerStartFailure("CannotStartContainerError: cannot create the output directory \(directory): \(error)")
        }
        for file in [standardOutput, standardError, shippedOffsets, status] { unlink(file) }
    }

    /// How many bytes of standard output and error were shipped; zero for a container never shipped from.
    func readShipped() -> (stdout: UInt64, stderr: UInt64) {
        guard let text = try? String(contentsOfFile: shippedOffsets, encoding: .utf8) else { return (0, 0) }
        let numbers = text.split(whereSeparator: { $0 == " " || $0 == "\n" }).compactMap { UInt64($0) }
        return numbers.count == 2 ? (numbers[0], numbers[1]) : (0, 0)
    }

    /// Records how far each stream was shipped: written beside, then renamed over, so that a reader finds the old
    /// offsets or the new ones.
    func saveShipped(stdout: UInt64, stderr: UInt64) {
        let temporary = shippedOffsets + ".new"
        guard
            FileManager.default.createFile(
                atPath: temporary, contents: Data("\(stdout) \(stderr)\n".utf8), attributes: [.posixPermissions: 0o600])
        else { return }
        rename(temporary, shippedOffsets)
    }

    /// The exit status the shell around the process wrote when it ended: its code, or 128 + the signal that ended
    /// it, as a shell and a container runtime report it; nil when it has not ended or the shell was killed with it.
    public func readStatus() -> Int? {
        guard let text = try? String(contentsOfFile: status, encoding: .utf8) else { return nil }
        return Int(text.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// Removes the container's files once its task has ended and its output was shipped; the task's directory goes
    /// with its last container.
    func remove() {
        for file in [standardOutput, standardError, shippedOffsets, shippedOffsets + ".new", status, status + ".new"] { unlink(file) }
        rmdir(directory)
    }
}

/// Reads a container's output files as its process writes them and hands each line to the log driver: a thread that
/// reads what is new every ``pollInterval`` (a regular file has no end to wait on), until the process has ended and
/// all it wrote is read. How far it read is saved at most every second and when it stops, so that a server that takes
/// the task over later goes on from there.
final class OutputFollower: Sendable {
    static let pollInterval: Duration = .milliseconds(50)
    static let saveInterval: Duration = .seconds(1)

    let files: TaskOutputFiles
    private let output: @Sendable (OutputLine) -> Void
    private let state = Mutex<State>(State())
    private let finished = DispatchSemaphore(value: 0)

    struct State {
        /// The process ended: read to the end once more, then stop.
        var ended = false
        /// The server is stopping and the process goes on: stop at the last whole line, for a later server.
        var detached = false
    }

    init(files: TaskOutputFiles, output: @escaping @Sendable (OutputLine) -> Void) {
        self.files = files
        self.output = output
    }

    /// Starts following from where the previous server stopped shipping (nothing, for a new container).
    func start() {
        let thread = Thread { [self] in self.follow() }
        thread.name = "skiff-task-output"
        thread.start()
    }

    /// The process ended: ships what it wrote last, including a last line without its newline, and returns then;
    /// false when the follower was detached before (what is left is the next server's to ship).
    @discardableResult
    func finish() -> Bool {
        let detached = state.withLock { state -> Bool in
            if !state.detached { state.ended = true }
            return state.detached
        }
        finished.wait()
        finished.signal()
        return !detached
    }

    /// The server is stopping but the process goes on: saves how far output was shipped and stops reading, leaving
    /// an unfinished line to the next server.
    func detach() {
        state.withLock { state in
            if !state.ended { state.detached = true }
        }
        finished.wait()
        finished.signal()
    }

    private func follow() {
        let shipped = files.readShipped()
        var streams = [
            FollowedStream(path: files.standardOutput, stream: .stdout, offset: shipped.stdout),
            FollowedStream(path: files.standardError, stream: .stderr, offset: shipped.stderr),
        ]
        var lastSave = ContinuousClock.now
        var saved = (shipped.stdout, shipped.stderr)
        func stop() {
            files.saveShipped(stdout: streams[0].shippedOffset, stderr: streams[1].shippedOffset)
            for index in streams.indices { streams[index].close() }
            finished.signal()
        }
        while true {
            let (ended, detached) = state.withLock { ($0.ended, $0.detached) }
            var read = false
            for index in streams.indices {
                read = streams[index].readAvailable { self.output($0) } || read
            }
            if detached { return stop() }
            if ended {
                // Nothing is written after the process ended (its session is gone): read until nothing is new.
                if read { continue }
                for index in streams.indices { streams[index].flushPartialLine { self.output($0) } }
                return stop()
            }
            let offsets = (streams[0].shippedOffset, streams[1].shippedOffset)
            if offsets != saved && ContinuousClock.now - lastSave >= Self.saveInterval {
                files.saveShipped(stdout: offsets.0, stderr: offsets.1)
                saved = offsets
                lastSave = .now
            }
            if !read { Thread.sleep(forTimeInterval: Double(Self.pollInterval.components.attoseconds) / 1e18) }
        }
    }
}

/// One output file being followed: its descriptor, the bytes read past the last whole line, and the offset up to
/// which lines were handed over.
struct FollowedStream {
    let path: String
    let stream: OutputLine.Stream
    private var descriptor: Int32 = -1
    private var lines = LineAssembler()
    /// The end of the last whole line handed over: what a later server starts from.
    private(set) var shippedOffset: UInt64
    private var readOffset: UInt64

    init(path: String, stream: OutputLine.Stream, offset: UInt64) {
        self.path = path
        self.stream = stream
        shippedOffset = offset
        readOffset = offset
    }

    /// Reads what was written since the last call and hands over its whole lines; true when anything was read.
    mutating func readAvailable(_ deliver: (OutputLine) -> Void) -> Bool {
        if descriptor < 0 {
            descriptor = open(path, O_RDONLY | O_CLOEXEC)
            guard descriptor >= 0 else { return false }
        }
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        var any = false
        while true {
            let count = buffer.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, $0.count, off_t(readOffset)) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { return any }
            any = true
            readOffset += UInt64(count)
            let stream = self.stream
            let pendingBytes = lines.append(buffer[0..<count]) {
                deliver(OutputLine(stream: stream, text: $0, timestamp: Date.nowMilliseconds))
            }
            shippedOffset = readOffset - UInt64(pendingBytes)
        }
    }

    /// Hands over a last line that ends without a newline (the process has ended).
    mutating func flushPartialLine(_ deliver: (OutputLine) -> Void) {
        let stream = self.stream
        lines.finish { deliver(OutputLine(stream: stream, text: $0, timestamp: Date.nowMilliseconds)) }
        shippedOffset = readOffset
    }

    mutating func close() {
        if descriptor >= 0 { _ = closeDescriptor(descriptor) }
        descriptor = -1
    }
}

/// Bytes of output cut into lines, as the awslogs driver cuts them: at each newline (a carriage return before it
/// dropped), and at 16 KiB when a line runs longer.
struct LineAssembler {
    /// Lines longer than this are cut, as the awslogs driver cuts lines at 16 KiB.
    static let maximumLineBytes = 16 * 1024
    private var pending: [UInt8] = []

    /// Appends `bytes`, handing over every line they complete; answers how many bytes wait for their line's end.
    @discardableResult
    mutating func append(_ bytes: ArraySlice<UInt8>, _ line: (String) -> Void) -> Int {
        var start = bytes.startIndex
        for index in bytes.indices where bytes[index] == UInt8(ascii: "\n") {
            pending.append(contentsOf: bytes[start..<index])
            emit(line)
            start = index + 1
        }
        pending.append(contentsOf: bytes[start..<bytes.endIndex])
        while pending.count >= Self.maximumLineBytes {
            line(String(decoding: pending.prefix(Self.maximumLineBytes), as: UTF8.self))
            pending.removeFirst(Self.maximumLineBytes)
        }
        return pending.count
    }

    /// Hands over what is left as a last line, if anything is.
    mutating func finish(_ line: (String) -> Void) {
        if !pending.isEmpty { emit(line) }
    }

    private mutating func emit(_ line: (String) -> Void) {
        if pending.last == UInt8(ascii: "\r") { pending.removeLast() }
        var start = 0
        while pending.count - start > Self.maximumLineBytes {
            line(String(decoding: pending[start..<start + Self.maximumLineBytes], as: UTF8.self))
            start += Self.maximumLineBytes
        }
        line(String(decoding: pending[start...], as: UTF8.self))
        pending.removeAll(keepingCapacity: true)
    }
}
