import Dispatch
import Foundation

/// Runs the machine's programs the platform commands drive (`swift`, `aws`, the user's platform program), each
/// output passed through or collected.
enum ChildProcess {
    /// Where a child's output goes.
    enum Output {
        /// To skiff's own stream of the same kind.
        case inherit
        /// To skiff's standard error (a child's progress, while skiff's standard output holds its answer).
        case standardError
        /// Collected into ``Result``.
        case capture
    }

    struct Result {
        var status: Int32
        /// Whether a signal ended the program (`status` is then its number).
        var signaled: Bool
        var standardOutput: Data
        var standardError: Data
        var succeeded: Bool { status == 0 && !signaled }

        /// `exit status 2`, or `signal 9`.
        var statusDescription: String { signaled ? "signal \(status)" : "exit status \(status)" }
        var standardOutputText: String { String(decoding: standardOutput, as: UTF8.self) }
        /// The last line of what the program wrote on standard error, where tools such as the AWS CLI explain a failure.
        var lastErrorLine: String? {
            String(decoding: standardError, as: UTF8.self).split(whereSeparator: \.isNewline)
                .map { $0.trimmingCharacters(in: .whitespaces) }.last(where: { !$0.isEmpty })
        }
    }

    /// The path of the executable `name` in `PATH`, or nil.
    static func find(_ name: String, environment: [String: String] = ProcessInfo.processInfo.environment) -> String? {
        if name.contains("/") { return FileManager.default.isExecutableFile(atPath: name) ? name : nil }
        for directory in (environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin").split(separator: ":") {
            let path = (String(directory) as NSString).appendingPathComponent(name)
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue,
                FileManager.default.isExecutableFile(atPath: path)
            {
                return path
            }
        }
        return nil
    }

    /// Runs `executable` to its end. Standard input is skiff's own.
    static func run(
        _ executable: String, _ arguments: [String], directory: String? = nil,
        environment: [String: String]? = nil, standardOutput: Output = .inherit,
        standardError: Output = .inherit
    ) throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        if let environment { process.environment = environment }
        let collected = [Collector(), Collector()]
        for (index, output) in [standardOutput, standardError].enumerated() {
            let destination: Any
            switch output {
            case .inherit: destination = index == 0 ? FileHandle.standardOutput : FileHandle.standardError
            case .standardError: destination = FileHandle.standardError
            case .capture:
                let pipe = Pipe()
                collected[index].start(reading: pipe.fileHandleForReading)
                destination = pipe
            }
            if index == 0 { process.standardOutput = destination } else { process.standardError = destination }
        }
        // Waits on a semaphore: Foundation's waitUntilExit spins a run loop, which on a thread without one is a busy
        // wait taking a core from the build it waits for.
        let exited = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in exited.signal() }
        // What skiff printed so far comes before what the child writes to the same streams.
        fflush(nil)
        do { try process.run() } catch {
            throw CommandFailure("cannot run \(executable): \(error.localizedDescription)")
        }
        exited.wait()
        return Result(
            status: process.terminationStatus, signaled: process.terminationReason == .uncaughtSignal,
            standardOutput: collected[0].finish(), standardError: collected[1].finish())
    }

    /// Reads one pipe to its end on a thread of its own, so that a child filling both pipes never blocks.
    private final class Collector: @unchecked Sendable {
        private var data = Data()
        private let done = DispatchSemaphore(value: 0)
        private var started = false

        func start(reading handle: FileHandle) {
            started = true
            Thread.detachNewThread { [self] in
                data = handle.readDataToEndOfFile()
                done.signal()
            }
        }

        func finish() -> Data {
            guard started else { return Data() }
            done.wait()
            return data
        }
    }
}
