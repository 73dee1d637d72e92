import AWSProtocol
import Foundation
import JSONCore
import LocalCloud
import Logging
import Synchronization
import TaskRunners

/// The awslogs log driver of one container: creates its stream (and group, with `awslogs-create-group`),
/// then sends its output lines to CloudWatch Logs with PutLogEvents every 200 ms and when the container ends.
/// Calls go through the service directory, like any other client of CloudWatch Logs.
final class LogShipper: Sendable {
    let group: String
    let stream: String
    let directory: ServiceDirectory
    let context: RequestContext
    let logger: Logger
    private let pending = Mutex<[OutputLine]>([])
    private let flusher = Mutex<Task<Void, Never>?>(nil)

    static let flushInterval: Duration = .milliseconds(200)
    static let maximumBatchEvents = 10_000
    static let maximumBatchBytes = 1_048_576

    private init(group: String, stream: String, directory: ServiceDirectory, context: RequestContext, logger: Logger) {
        self.group = group
        self.stream = stream
        self.directory = directory
        self.context = context
        self.logger = logger
    }

    /// The stream name of the awslogs driver: `prefix/container/taskId`, or `container/taskId` with no prefix.
    static func streamName(prefix: String?, container: String, taskId: String) -> String {
        if let prefix, !prefix.isEmpty { return "\(prefix)/\(container)/\(taskId)" }
        return "\(container)/\(taskId)"
    }

    /// Opens the container's stream; throws the CloudWatch Logs error when the group is missing.
    static func open(
        _ configuration: ECSAPI.LogConfiguration, container: String, taskId: String, directory: ServiceDirectory, context: RequestContext,
        logger: Logger
    ) async throws -> LogShipper {
        let options = configuration.options ?? [:]
        let group = options["awslogs-group"] ?? ""
        var context = context
        if let region = options["awslogs-region"], !region.isEmpty { context.region = region }
        if options["awslogs-create-group"] == "true" {
            do {
                _ = try await directory.invoke(
                    "logs", operation: "CreateLogGroup", input: ["logGroupName": .string(group)], context: context)
            } catch let error as AWSError where error.code == "ResourceAlreadyExistsException" {}
        }
        let stream = streamName(prefix: options["awslogs-stream-prefix"], container: container, taskId: taskId)
        do {
            _ = try await directory.invoke(
                "logs", operation: "CreateLogStream", input: ["logGroupName": .string(group), "logStreamName": .string(stream)],
                context: context)
        } catch let error as AWSError where error.code == "ResourceAlreadyExistsException" {}
        let shipper = LogShipper(group: group, stream: stream, directory: directory, context: context, logger: logger)
        shipper.flusher.withLock {
            $0 = Task.detached {
                while true {
                    do { try await Task.sleep(for: flushInterval) } catch { return }
                    // A flush of its own, which the timer's cancellation cannot interrupt (the database refuses
                    // work from cancelled tasks), and which finish() waits for.
                    await Task { await shipper.flush() }.value
                }
            }
        }
        return shipper
    }

    func append(_ line: OutputLine) {
        pending.withLock { $0.append(line) }
    }

    /// Sends what is buffered, in timestamp order, in batches within PutLogEvents' limits.
    func flush() async {
        var lines = pending.withLock { lines in
            defer { lines.removeAll(keepingCapacity: true) }
            return lines
        }
        guard !lines.isEmpty else { return }
        lines.sort { $0.timestamp < $1.timestamp }
        var batch: [JSON] = []
        var bytes = 0
        for line in lines {
            let message = line.text.isEmpty ? " " : line.text
            let size = message.utf8.count + 26
            if batch.count == Self.maximumBatchEvents || bytes + size > Self.maximumBatchBytes {
                await send(batch)
                batch = []
                bytes = 0
            }
            batch.append(["timestamp": .number(Double(line.timestamp)), "message": .string(message)])
            bytes += size
        }
        await send(batch)
    }

    private func send(_ events: [JSON]) async {
        guard !events.isEmpty else { return }
        do {
            _ = try await directory.invoke(
                "logs", operation: "PutLogEvents",
                input: ["logGroupName": .string(group), "logStreamName": .string(stream), "logEvents": .array(events)], context: context)
        } catch {
            logger.warning("awslogs: cannot put log events", metadata: ["group": "\(group)", "stream": "\(stream)", "error": "\(error)"])
        }
    }

    /// Stops the timer and sends the rest; call after the container has ended (all its output read).
    /// Waits for a flush under way, so that every line is stored before the task is reported STOPPED.
    func finish() async {
        let timer = flusher.withLock { $0 }
        timer?.cancel()
        await timer?.value
        await flush()
    }
}
