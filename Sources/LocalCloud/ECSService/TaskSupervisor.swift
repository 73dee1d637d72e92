import AWSProtocol
import Foundation
import JSONCore
import LocalCloud
import Logging
import Synchronization
import TaskRunners

/// Takes each task through its lifecycle, PROVISIONING → PENDING → RUNNING → DEPROVISIONING → STOPPED: starts its
/// containers on the runner, ships their output to CloudWatch Logs, records every change (store, then an
/// "ECS Task State Change" event), and stops tasks on request.
public final class TaskSupervisor: Sendable {
    let store: ECSStore
    let runner: any TaskRunner
    let environment: ServiceEnvironment
    private let live = Mutex<[String: LiveTask]>([:])
    /// ECS Exec and `skiff exec` sessions (``ExecSession``), which end with their task.
    let sessions = ExecSessions()

    init(store: ECSStore, runner: any TaskRunner, environment: ServiceEnvironment) {
        self.store = store
        self.runner = runner
        self.environment = environment
    }

    /// A task this process is running.
    final class LiveTask: Sendable {
        let record: TaskRecord
        let containers = Mutex<[String: any RunningContainer]>([:])
        /// Its containers' awslogs streams: flushed when the server stops and leaves the task running.
        let shippers = Mutex<[LogShipper]>([])
        /// Set by StopTask: the reason, and whether containers should be signalled once they start.
        let stopRequest = Mutex<String?>(nil)
        let done = Mutex<[CheckedContinuation<Void, Never>]?>([])

        init(record: TaskRecord) { self.record = record }

        func waitUntilDone() async {
            await withCheckedContinuation { continuation in
                let finished = done.withLock { waiters -> Bool in
                    guard waiters != nil else { return true }
                    waiters!.append(continuation)
                    return false
                }
                if finished { continuation.resume() }
            }
        }

        func markDone() {
            let waiters = done.withLock { waiters in
                defer { waiters = nil }
                return waiters ?? []
            }
            for waiter in waiters { waiter.resume() }
        }
    }

    /// The one writer of a task's state: every change is saved, then published.
    actor TaskRecord {
        private(set) var task: ECSAPI.Task
        let account: String
        let region: String
        let cluster: String
        let supervisor: TaskSupervisor

        init(task: ECSAPI.Task, account: String, region: String, cluster: String, supervisor: TaskSupervisor) {
            self.task = task
            self.account = account
            self.region = region
            self.cluster = cluster
            self.supervisor = supervisor
        }

        var context: RequestContext { RequestContext(accountId: account, region: region, requestId: RandomUUID.make()) }

        @discardableResult
        func update(publish: Bool = true, _ change: (inout ECSAPI.Task) -> Void) async throws -> ECSAPI.Task {
            let before = task
            change(&task)
            guard task != before else { return task }
            task.version = (task.version ?? 0) + 1
            try await supervisor.store.saveTask(account: account, region: region, cluster: cluster, task)
            if publish { await supervisor.publish(task, context: context) }
            return task
        }
    }

    // MARK: Starting

    func start(task: ECSAPI.Task, cluster: String, definition: ECSAPI.TaskDefinition, context: RequestContext) async {
        let id = ECSService.taskId(fromArn: task.taskArn ?? "")
        let record = TaskRecord(task: task, account: context.accountId, region: context.region, cluster: cluster, supervisor: self)
        let liveTask = LiveTask(record: record)
        live.withLock { $0[id] = liveTask }
        await publish(task, context: context)
        Task.detached { [self] in
            await self.run(liveTask, definition: definition, context: context)
            self.live.withLock { _ = $0.removeValue(forKey: id) }
            liveTask.markDone()
        }
    }

    /// Where a container's output goes: its awslogs stream in CloudWatch Logs (opened here; the CloudWatch Logs error
    /// when its group is missing), or the server's debug log.
    func logDriver(
        of container: ECSAPI.ContainerDefinition, taskId: String, context: RequestContext
    ) async throws(AWSError)
        -> (LogShipper?, @Sendable (OutputLine) -> Void)
    {
        let name = container.name ?? ""
        if let configuration = container.logConfiguration, configuration.logDriver == .awslogs {
            let shipper: LogShipper
            do {
                shipper = try await LogShipper.open(
                    configuration, container: name, taskId: taskId, directory: environment.directory,
                    context: context, logger: environment.logger)
            } catch let error as AWSError {
                throw error
            } catch {
                throw AWSError("InternalError", "\(error)")
            }
            return (shipper, { line in shipper.append(line) })
        }
        let logger = environment.logger
        return (
            nil, { line in logger.debug("task output", metadata: ["task": "\(taskId)", "container": "\(name)", "line": "\(line.text)"]) }
        )
    }

    /// The lifecycle of one task, until STOPPED.
    private func run(_ liveTask: LiveTask, definition: ECSAPI.TaskDefinition, context: RequestContext) async {
        let record = liveTask.record
        let task = await record.task
        let taskId = ECSService.taskId(fromArn: task.taskArn ?? "")
        do {
            try await record.update { task in
                task.lastTaskStatus = .pending
                task.pullStartedAt = Date()
            }
            var shippers: [String: LogShipper] = [:]
            var started: [(name: String, container: any RunningContainer, essential: Bool)] = []
            var failure: String? = nil
            for definitionContainer in definition.containerDefinitions ?? [] {
                if liveTask.stopRequest.withLock({ $0 }) != nil { break }
                let name = definitionContainer.name ?? ""
                let spec = containerSpec(definitionContainer, task: task, taskId: taskId, context: context)
                let shipper: LogShipper?
                let sink: @Sendable (OutputLine) -> Void
                do {
                    (shipper, sink) = try await logDriver(of: definitionContainer, taskId: taskId, context: context)
                } catch {
                    failure =
                        "ResourceInitializationError: failed to validate logger args: create stream has been retried 1 times: failed to create Cloudwatch log stream: \(error.code): \(error.message) : exit status 1"
                    break
                }
                shippers[name] = shipper
                if let shipper { liveTask.shippers.withLock { $0.append(shipper) } }
                do {
                    let container = try await runner.start(spec, output: sink)
                    started.append((name, container, definitionContainer.essential ?? true))
                    liveTask.containers.withLock { $0[name] = container }
                    // Kept before the task shows RUNNING, so that a server started after this one dies knows the process.
                    if let identity = container.processIdentity {
                        try await store.saveProcess(
                            .init(
                                account: record.account, region: record.region, taskId: taskId, container: name,
                                identity: identity, imageRoot: container.imageDirectory))
                    }
                } catch let error as ContainerStartFailure {
                    failure = error.reason
                    try await record.update(publish: false) { task in
                        if let index = task.containers?.firstIndex(where: { $0.name == name }) {
                            task.containers?[index].reason = error.reason
                        }
                    }
                    break
                } catch {
                    failure = "CannotStartContainerError: \(error)"
                    break
                }
            }

            if failure != nil || liveTask.stopRequest.withLock({ $0 }) != nil {
                for entry in started { await entry.container.stop() }
                for entry in started { _ = await entry.container.wait() }
                for shipper in shippers.values { await shipper.finish() }
                let userReason = liveTask.stopRequest.withLock { $0 }
                try await finish(
                    record, stopCode: failure != nil ? .taskFailedToStart : .userInitiated,
                    reason: failure ?? userReason ?? "Task stopped by user", exits: [:])
                return
            }

            let runtimeIds = Dictionary(uniqueKeysWithValues: started.map { ($0.name, $0.container.runtimeId) })
            try await record.update { task in
                task.lastTaskStatus = .running
                task.pullStoppedAt = Date()
                task.startedAt = Date()
                for index in (task.containers ?? []).indices {
                    task.containers?[index].lastContainerStatus = .running
                    let name = task.containers?[index].name ?? ""
                    task.containers?[index].runtimeId = runtimeIds[name]
                    // ECS Exec's agent, as DescribeTasks shows it for a task run with enableExecuteCommand.
                    if task.enableExecuteCommand == true {
                        task.containers?[index].managedAgents = [
                            ECSAPI.ManagedAgent(lastStartedAt: Date(), name: .executeCommandAgent, lastStatus: TaskStatus.running.rawValue)
                        ]
                    }
                }
            }
            environment.logger.info(
                "ECS task started",
                metadata: [
                    "service": "ecs", "account": "\(record.account)", "region": "\(record.region)", "cluster": "\(record.cluster)",
                    "task": "\(taskId)", "task-definition": "\(Self.familyAndRevision(task.taskDefinitionArn))",
                    "started-by": "\(task.startedBy ?? "-")",
                ])
            // StopTask may have come while the containers were starting.
            if liveTask.stopRequest.withLock({ $0 }) != nil {
                for entry in started { await entry.container.stop() }
            }

            try await superviseRunning(liveTask, running: started, shippers: Array(shippers.values))
        } catch {
            environment.logger.error("task lifecycle failed", metadata: ["task": "\(taskId)", "error": "\(error)"])
            try? await finish(record, stopCode: .taskFailedToStart, reason: "InternalError: \(error)", exits: [:])
        }
    }

    /// A RUNNING task until STOPPED: the first essential container to end stops the others, as in ECS; each exit is
    /// recorded, and the task's stop code says why it ended.
    private func superviseRunning(
        _ liveTask: LiveTask, running: [(name: String, container: any RunningContainer, essential: Bool)],
        shippers: [LogShipper]
    ) async throws {
        let record = liveTask.record
        // The first essential container to end stops the others, as in ECS.
        let firstEssentialExit = FirstExit()
        let exits = await withTaskGroup(of: (String, ContainerExit).self) { group in
            for entry in running {
                group.addTask {
                    let exit = await entry.container.wait()
                    if entry.essential {
                        let first = firstEssentialExit.value.withLock { value -> Bool in
                            guard value == nil else { return false }
                            value = (entry.name, exit)
                            return true
                        }
                        if first {
                            for other in running where other.name != entry.name { await other.container.stop() }
                        }
                    }
                    return (entry.name, exit)
                }
            }
            var exits: [String: ContainerExit] = [:]
            for await (name, exit) in group {
                exits[name] = exit
                _ = try? await record.update(publish: false) { task in
                    if let index = task.containers?.firstIndex(where: { $0.name == name }) {
                        task.containers?[index].lastContainerStatus = .stopped
                        task.containers?[index].exitCode = exit.exitCode
                        task.containers?[index].reason = exit.reason
                    }
                }
            }
            return exits
        }
        // Commands run in the task end with its containers, as in a container's PID namespace.
        sessions.endSessions(ofTask: ECSService.taskId(fromArn: await record.task.taskArn ?? ""), message: "The task stopped.")
        try await record.update { task in
            task.lastTaskStatus = .deprovisioning
            task.desiredTaskStatus = .stopped
            task.executionStoppedAt = Date()
            if task.stoppingAt == nil { task.stoppingAt = Date() }
        }
        for shipper in shippers { await shipper.finish() }
        if let userReason = liveTask.stopRequest.withLock({ $0 }) {
            try await finish(record, stopCode: .userInitiated, reason: userReason, exits: exits)
        } else {
            let name = firstEssentialExit.value.withLock { $0?.name } ?? ""
            try await finish(
                record, stopCode: .essentialContainerExited, reason: "Essential container in task exited", exits: exits, essential: name)
        }
    }

    /// The first essential container of a task to end.
    final class FirstExit: Sendable {
        let value = Mutex<(name: String, exit: ContainerExit)?>(nil)
    }

    private func finish(
        _ record: TaskRecord, stopCode: ECSAPI.TaskStopCode, reason: String, exits: [String: ContainerExit], essential: String? = nil
    ) async throws {
        let now = Date()
        let taskId = ECSService.taskId(fromArn: await record.task.taskArn ?? "")
        try await store.deleteProcesses(account: record.account, region: record.region, taskId: taskId)
        let stopped = try await record.update { task in
            task.lastTaskStatus = .stopped
            task.desiredTaskStatus = .stopped
            task.stopCode = stopCode
            task.stoppedReason = task.stoppedReason ?? reason
            if task.stoppingAt == nil { task.stoppingAt = now }
            if task.executionStoppedAt == nil { task.executionStoppedAt = now }
            task.stoppedAt = now
            for index in (task.containers ?? []).indices {
                task.containers?[index].lastContainerStatus = .stopped
                for agent in task.containers?[index].managedAgents?.indices ?? 0..<0 {
                    task.containers?[index].managedAgents?[agent].lastStatus = TaskStatus.stopped.rawValue
                }
                if let exit = exits[task.containers?[index].name ?? ""] {
                    task.containers?[index].exitCode = exit.exitCode
                    task.containers?[index].reason = exit.reason
                }
            }
        }
        logStopped(stopped, account: record.account, region: record.region, cluster: record.cluster)
    }

    /// The server log's line for a task that ended: why, and each container's exit code (`?` when unknown).
    func logStopped(_ task: ECSAPI.Task, account: String, region: String, cluster: String) {
        let exitCodes = (task.containers ?? []).map { "\($0.name ?? "-"):\($0.exitCode.map(String.init) ?? "?")" }.joined(separator: ",")
        environment.logger.info(
            "ECS task stopped",
            metadata: [
                "service": "ecs", "account": "\(account)", "region": "\(region)", "cluster": "\(cluster)",
                "task": "\(ECSService.taskId(fromArn: task.taskArn ?? ""))",
                "task-definition": "\(Self.familyAndRevision(task.taskDefinitionArn))",
                "stop-code": "\(task.stopCode?.rawValue ?? "-")", "exit-codes": "\(exitCodes)", "reason": "\(task.stoppedReason ?? "-")",
            ])
    }

    /// `php-app:3` of a task definition ARN, as the console shows it.
    static func familyAndRevision(_ arn: String?) -> String {
        guard let arn, let slash = arn.lastIndex(of: "/") else { return arn ?? "-" }
        return String(arn[arn.index(after: slash)...])
    }

    /// The runner's view of a container: the definition with the task's overrides applied.
    func containerSpec(_ container: ECSAPI.ContainerDefinition, task: ECSAPI.Task, taskId: String, context: RequestContext) -> ContainerSpec
    {
        let override = task.overrides?.containerOverrides?.first { $0.name == container.name }
        var variables: [String: String] = [
            "AWS_REGION": context.region,
            "AWS_DEFAULT_REGION": context.region,
            "AWS_EXECUTION_ENV": task.launchType == .fargate ? "AWS_ECS_FARGATE" : "AWS_ECS_EC2",
            "ECS_TASK_ARN": task.taskArn ?? "",
            "ECS_CLUSTER": ECSService.clusterName(task.clusterArn),
            "ECS_CONTAINER_NAME": container.name ?? "",
        ]
        let configuration = environment.configuration
        let host = configuration.host == "0.0.0.0" ? "127.0.0.1" : configuration.host
        variables["AWS_ENDPOINT_URL"] = "http://\(host):\(configuration.port)"
        for pair in container.environment ?? [] { if let name = pair.name { variables[name] = pair.value ?? "" } }
        for pair in override?.environment ?? [] { if let name = pair.name { variables[name] = pair.value ?? "" } }
        return ContainerSpec(
            taskId: taskId, name: container.name ?? "", image: container.image ?? "",
            entryPoint: container.entryPoint ?? [], command: override?.command ?? container.command ?? [],
            environment: variables, workingDirectory: container.workingDirectory,
            memoryMiB: override?.memory ?? container.memory, stopTimeoutSeconds: container.stopTimeout ?? 30,
            ulimits: Dictionary((container.ulimits ?? []).map { ($0.name.rawValue, ResourceLimit(soft: $0.softLimit, hard: $0.hardLimit)) })
            { $1 })
    }

    // MARK: Stopping

    func stop(taskArn: String, cluster: String, reason: String, context: RequestContext) async throws -> ECSAPI.Task {
        let id = ECSService.taskId(fromArn: taskArn)
        guard let liveTask = live.withLock({ $0[id] }) else {
            // Known to the store but not running here: it ends now.
            guard var task = try await store.task(account: context.accountId, region: context.region, cluster: cluster, id: id) else {
                throw ECSAPI.Errors.invalidParameterException("The referenced task was not found.")
            }
            guard task.lastTaskStatus != .stopped else { return task }
            task.lastTaskStatus = .stopped
            task.desiredTaskStatus = .stopped
            task.stopCode = .userInitiated
            task.stoppedReason = reason
            task.stoppedAt = Date()
            task.version = (task.version ?? 0) + 1
            try await store.saveTask(account: context.accountId, region: context.region, cluster: cluster, task)
            await publish(task, context: context)
            return task
        }
        let first = liveTask.stopRequest.withLock { value -> Bool in
            guard value == nil else { return false }
            value = reason
            return true
        }
        let task = try await liveTask.record.update { task in
            task.desiredTaskStatus = .stopped
            if first {
                task.stoppingAt = Date()
                task.stopCode = .userInitiated
                task.stoppedReason = reason
            }
        }
        if first {
            let containers = liveTask.containers.withLock { Array($0.values) }
            for container in containers { await container.stop() }
        }
        return task
    }

    /// Waits until a task this process runs reaches STOPPED (at once for any other task).
    public func waitUntilStopped(taskId: String) async {
        guard let liveTask = live.withLock({ $0[taskId] }) else { return }
        await liveTask.waitUntilDone()
    }

    // MARK: Exec

    /// The container `container` (the task's first when nil) of a RUNNING task of `account`, running here. Only a task of
    /// `account` is found: another account's task is as unknown to the caller as through the ECS API.
    func runningContainer(
        task reference: String, account: String, container: String?
    ) async throws(ExecError) -> (task: ECSAPI.Task, name: String) {
        let id = ECSService.taskId(fromArn: reference)
        guard let liveTask = live.withLock({ $0[id] }), liveTask.record.account == account else {
            throw ExecError.notRunning("Task \(id) is not running in this local cloud.")
        }
        let task = await liveTask.record.task
        guard task.lastTaskStatus == .running else {
            throw ExecError.notRunning("Task \(id) is \(task.lastStatus ?? "not running"); commands run only in RUNNING tasks.")
        }
        let names = (task.containers ?? []).compactMap(\.name)
        let name = container ?? names.first ?? ""
        guard task.containers?.first(where: { $0.name == name })?.lastContainerStatus == .running,
            liveTask.containers.withLock({ $0[name] }) != nil
        else {
            throw ExecError.noContainer(
                "Task \(id) has no running container named \(name); its containers: \(names.joined(separator: ", ")).")
        }
        return (task, name)
    }

    /// What runs `command` in container `name` of task `taskId` now, or why it cannot (``ContainerExec``).
    func launch(_ command: [String], taskId: String, container name: String, terminalType: String?) throws(ExecRefusal) -> ExecLaunch {
        guard let running = live.withLock({ $0[taskId] })?.containers.withLock({ $0[name] }) else {
            throw ExecRefusal(status: ExecRefusal.cannotRun, message: "exec: the container \(name) is not running")
        }
        return try ContainerExec.launch(command, in: running, terminalType: terminalType)
    }

    /// Runs `command` in a running task's container (the first one when `container` is nil), with the task's
    /// environment and working directory, as ECS Exec does, and returns its output and exit status: 127 (with the
    /// reason on standard error) for a program that is not in the container, 126 for one that cannot be run, as a shell
    /// and an interactive session say. It is killed after `timeoutSeconds`.
    public func exec(
        task reference: String, account: String, container: String?, command: [String], timeoutSeconds: Int = 300
    ) async throws -> ExecResult {
        let (task, name) = try await runningContainer(task: reference, account: account, container: container)
        let taskId = ECSService.taskId(fromArn: task.taskArn ?? reference)
        let launch: ExecLaunch
        do {
            launch = try self.launch(command, taskId: taskId, container: name, terminalType: nil)
        } catch {
            return ExecResult(exitCode: error.status, output: "", errorOutput: error.message + "\n")
        }
        let collected = CollectedOutput()
        let exit: ExecExit = await withCheckedContinuation { continuation in
            do throws(ExecRefusal) {
                let process = try ExecProcess.start(
                    launch, streams: ExecStreams(terminal: nil, input: false),
                    handlers: .init(
                        output: { stream, bytes in collected.append(stream, bytes) },
                        ended: { exit in continuation.resume(returning: exit) }))
                process.killSession(after: .seconds(timeoutSeconds))
            } catch {
                collected.append(.error, Array((error.message + "\n").utf8))
                continuation.resume(returning: ExecExit(status: error.status))
            }
        }
        let (output, errorOutput) = collected.text
        return ExecResult(exitCode: exit.status, output: output, errorOutput: errorOutput)
    }

    /// The output of a command run by ``exec(task:account:container:command:timeoutSeconds:)``, up to 8 MiB a stream.
    final class CollectedOutput: Sendable {
        private let bytes = Mutex<(output: [UInt8], error: [UInt8])>(([], []))
        static let limit = 8 * 1024 * 1024

        func append(_ stream: ExecProcess.Stream, _ chunk: [UInt8]) {
            bytes.withLock { bytes in
                if stream == .error {
                    bytes.error.append(contentsOf: chunk.prefix(max(0, Self.limit - bytes.error.count)))
                } else {
                    bytes.output.append(contentsOf: chunk.prefix(max(0, Self.limit - bytes.output.count)))
                }
            }
        }

        var text: (String, String) {
            bytes.withLock { (String(decoding: $0.output, as: UTF8.self), String(decoding: $0.error, as: UTF8.self)) }
        }
    }

    public enum ExecError: Error, CustomStringConvertible {
        case notRunning(String), noContainer(String), failed(String)
        public var description: String {
            switch self {
            case .notRunning(let text), .noContainer(let text), .failed(let text): text
            }
        }
    }

    // MARK: Restart and shutdown

    /// What a previous server left: a RUNNING task whose processes still run is taken over (it stays RUNNING and its
    /// end is recorded as any task's); every other unfinished task ends STOPPED with a reason, and every process a
    /// task left behind is killed. Processes are known by their session and start time (``ProcessTable``), never by
    /// anything the task could set.
    func reconcileAfterRestart() async {
        do {
            var processes = Dictionary(grouping: try await store.allProcesses()) {
                TaskKey(account: $0.account, region: $0.region, taskId: $0.taskId)
            }
            for (account, region, cluster, var task) in try await store.unfinishedTasks() {
                let id = ECSService.taskId(fromArn: task.taskArn ?? "")
                let key = TaskKey(account: account, region: region, taskId: id)
                let recorded = processes.removeValue(forKey: key) ?? []
                if live.withLock({ $0[id] != nil }) { continue }
                if task.lastTaskStatus == .running,
                    try await adopt(task, processes: recorded, account: account, region: region, cluster: cluster)
                {
                    continue
                }
                let wasRunning = task.lastTaskStatus == .running || task.lastTaskStatus == .deprovisioning
                // Processes outlive a server killed with SIGKILL (they have sessions of their own): end them.
                var killed = false
                for process in recorded where ProcessTable.killAll(process.identity) { killed = true }
                try await store.deleteProcesses(account: account, region: region, taskId: id)
                task.lastTaskStatus = .stopped
                task.desiredTaskStatus = .stopped
                task.stopCode = wasRunning ? .terminationNotice : .taskFailedToStart
                task.stoppedReason =
                    task.stoppedReason
                    ?? (wasRunning
                        ? (killed
                            ? "Host stopped: the Skiff local cloud stopped while the task ran; its leftover processes were killed at restart"
                            : "Host stopped: the Skiff local cloud stopped while the task ran, and its processes did not survive")
                        : "Host stopped: the Skiff local cloud stopped before the task started")
                task.stoppedAt = Date()
                for index in (task.containers ?? []).indices where task.containers?[index].lastContainerStatus != .stopped {
                    task.containers?[index].lastContainerStatus = .stopped
                }
                task.version = (task.version ?? 0) + 1
                try await store.saveTask(account: account, region: region, cluster: cluster, task)
                logStopped(task, account: account, region: region, cluster: cluster)
                await publish(task, context: RequestContext(accountId: account, region: region, requestId: RandomUUID.make()))
            }
            // Processes of tasks already STOPPED (a server died between their end and its record of it) or unknown.
            for (key, recorded) in processes where live.withLock({ $0[key.taskId] == nil }) {
                for process in recorded { ProcessTable.killAll(process.identity) }
                try await store.deleteProcesses(account: key.account, region: key.region, taskId: key.taskId)
            }
            removeOutputFilesOfEndedTasks()
        } catch is CancellationError {
            // The server is stopping before it ever served (its port was taken, say): nothing to report.
        } catch {
            environment.logger.error("cannot reconcile ECS tasks after a restart", metadata: ["error": "\(error)"])
        }
    }

    /// The output files left by tasks that no server watches any more (ended above, or before a crash): what they
    /// hold was shipped or belongs to a task that is over.
    private func removeOutputFilesOfEndedTasks() {
        guard let outputRoot, let directories = try? FileManager.default.contentsOfDirectory(atPath: outputRoot) else { return }
        let watched = live.withLock { Set($0.keys.map { TaskOutputFiles.safeName($0) }) }
        for directory in directories where !watched.contains(directory) {
            try? FileManager.default.removeItem(atPath: (outputRoot as NSString).appendingPathComponent(directory))
        }
    }

    struct TaskKey: Hashable {
        var account: String
        var region: String
        var taskId: String
    }

    /// Takes over a RUNNING task of a previous server when each of its containers was a recorded local process and one
    /// of them still runs; returns false otherwise. A container whose process has ended counts as exited, with its
    /// exit code unknown (only the process's parent, gone with that server, could read it).
    private func adopt(
        _ task: ECSAPI.Task, processes: [ECSStore.TaskProcess], account: String, region: String, cluster: String
    ) async throws -> Bool {
        let names = (task.containers ?? []).compactMap(\.name)
        let byName = Dictionary(processes.map { ($0.container, $0) }) { $1 }
        let id = ECSService.taskId(fromArn: task.taskArn ?? "")
        let files = { (container: String) in self.outputRoot.map { TaskOutputFiles(root: $0, taskId: id, container: container) } }
        // Taken over when a process still runs, or when one ended while no server watched and its status was kept.
        guard !names.isEmpty, names.allSatisfy({ byName[$0] != nil }),
            processes.contains(where: { ProcessTable.isRunning($0.identity) || files($0.container)?.readStatus() != nil })
        else { return false }
        var definition: ECSAPI.TaskDefinition? = nil
        if let arn = task.taskDefinitionArn, let reference = try? ECSService.taskDefinitionReference(arn) {
            definition = try await store.taskDefinition(
                account: account, region: region, family: reference.family, revision: reference.revision)?.0
        }
        let context = RequestContext(accountId: account, region: region, requestId: RandomUUID.make())
        let liveTask = LiveTask(record: TaskRecord(task: task, account: account, region: region, cluster: cluster, supervisor: self))
        var running: [(name: String, container: any RunningContainer, essential: Bool)] = []
        var shippers: [LogShipper] = []
        for name in names {
            let containerDefinition = definition?.containerDefinitions?.first { $0.name == name }
            let process = byName[name]!
            // Its output goes on to its log stream from where the previous server stopped shipping it.
            var sink: @Sendable (OutputLine) -> Void = { _ in }
            if let containerDefinition, let (shipper, output) = try? await logDriver(of: containerDefinition, taskId: id, context: context)
            {
                sink = output
                if let shipper { shippers.append(shipper) }
            }
            let container =
                ProcessRunner.adopt(
                    process.identity, imageRoot: process.imageRoot, stopTimeoutSeconds: containerDefinition?.stopTimeout ?? 30,
                    files: files(name), output: sink)
                ?? ExitedContainer(runtimeId: String(process.identity.pid))
            running.append((name, container, containerDefinition?.essential ?? true))
        }
        liveTask.shippers.withLock { $0 = shippers }
        liveTask.containers.withLock { containers in
            for entry in running { containers[entry.name] = entry.container }
        }
        live.withLock { $0[id] = liveTask }
        environment.logger.info(
            "ECS task taken over",
            metadata: [
                "service": "ecs", "account": "\(account)", "region": "\(region)", "cluster": "\(cluster)", "task": "\(id)",
                "containers": "\(names.joined(separator: ","))", "reason": "it ran when the previous server stopped",
            ])
        // StopTask came just before the previous server died.
        if task.desiredTaskStatus == .stopped {
            liveTask.stopRequest.withLock { $0 = task.stoppedReason ?? "Task stopped by user" }
            for entry in running { await entry.container.stop() }
        }
        Task.detached { [self] in
            do {
                try await self.superviseRunning(liveTask, running: running, shippers: shippers)
            } catch {
                self.environment.logger.error("task lifecycle failed", metadata: ["task": "\(id)", "error": "\(error)"])
                try? await self.finish(liveTask.record, stopCode: .taskFailedToStart, reason: "InternalError: \(error)", exits: [:])
            }
            self.live.withLock { _ = $0.removeValue(forKey: id) }
            liveTask.markDone()
        }
        return true
    }

    /// A container of a taken-over task whose process had already ended.
    struct ExitedContainer: RunningContainer {
        let runtimeId: String
        func wait() async -> ContainerExit {
            ContainerExit(exitCode: nil, reason: "The process ended while the Skiff local cloud was stopped; its exit code is unknown")
        }
        func stop() async {}
        func exec(_ command: [String], timeoutSeconds: Int) async throws -> ExecResult {
            throw ContainerStartFailure("The container is not running")
        }
    }

    /// Where containers keep their output and exit status (``TaskOutputFiles``): in the state directory, for a
    /// server that keeps state; nil otherwise.
    var outputRoot: String? { environment.configuration.stateDirectory.map { TaskOutputFiles.root(stateDirectory: $0) } }

    /// The server stops. With a state directory, running tasks go on: their output is shipped up to where they
    /// are, and the next server takes them over (``reconcileAfterRestart()``). Without, nothing could take them
    /// over: each is stopped (SIGTERM, then SIGKILL after its stop timeout), and waited for.
    func shutdown() async {
        sessions.endAll(message: "The Skiff local cloud is stopping.")
        let tasks = live.withLock { Array($0.values) }
        guard !tasks.isEmpty else { return }
        if outputRoot != nil {
            var ids: [String] = []
            for liveTask in tasks {
                for container in liveTask.containers.withLock({ Array($0.values) }) { container.detach() }
                for shipper in liveTask.shippers.withLock({ $0 }) { await shipper.finish() }
                ids.append(ECSService.taskId(fromArn: await liveTask.record.task.taskArn ?? ""))
            }
            environment.logger.notice(
                "ECS tasks left running, for the next start to take over",
                metadata: [
                    "service": "ecs", "tasks": "\(ids.sorted().joined(separator: ","))",
                ])
            return
        }
        environment.logger.notice("stopping the ECS tasks still running", metadata: ["service": "ecs", "tasks": "\(tasks.count)"])
        for liveTask in tasks {
            let (account, region, cluster, arn) = (
                liveTask.record.account, liveTask.record.region, liveTask.record.cluster, await liveTask.record.task.taskArn ?? ""
            )
            _ = try? await stop(
                taskArn: arn, cluster: cluster, reason: "The Skiff local cloud is shutting down",
                context: RequestContext(accountId: account, region: region, requestId: RandomUUID.make()))
        }
        for liveTask in tasks { await liveTask.waitUntilDone() }
    }

    // MARK: Events

    func publish(_ task: ECSAPI.Task, context: RequestContext) async {
        await environment.directory.publish(context: context) { Self.stateChangeEvent(task) }
    }

    /// The "ECS Task State Change" event of a task: its description with ISO 8601 timestamps, as EventBridge shows it.
    static func stateChangeEvent(_ task: ECSAPI.Task) -> ServiceEvent {
        var detail = task.json().objectValue ?? [:]
        let timestamps: Set<String> = [
            "createdAt", "startedAt", "stoppedAt", "stoppingAt", "pullStartedAt", "pullStoppedAt", "executionStoppedAt", "connectivityAt",
        ]
        for key in detail.keys where timestamps.contains(key) {
            if let seconds = detail[key]?.numberValue { detail[key] = .string(Timestamps.iso8601(Date(timeIntervalSince1970: seconds))) }
        }
        detail["updatedAt"] = .string(Timestamps.iso8601(Date()))
        return ServiceEvent(
            source: "aws.ecs", detailType: "ECS Task State Change", detail: .object(detail), resources: [task.taskArn ?? ""])
    }
}
