import AWSProtocol
import Foundation
import GRDB
import JSONCore
import LocalCloud
import States
import Synchronization

/// AWS Step Functions on the States engine: state machines and executions kept in SQLite, executions run as
/// concurrent tasks (Wait states are timers), resumed after a restart from their last snapshot.
public struct StepFunctionsService: LocalService, SFNAPIHandler {
    let store: StepFunctionsStore
    let environment: ServiceEnvironment
    let runs: ExecutionRuns
    let tokens = TaskTokens()
    let activities = ActivityQueue()
    let definitions = DefinitionCache()
    /// How long GetActivityTask waits for work (AWS: 60 seconds).
    let activityPollTimeout: Duration

    public init(environment: ServiceEnvironment, activityPollTimeout: Duration = .seconds(60)) {
        self.environment = environment
        self.store = StepFunctionsStore(database: environment.database)
        self.runs = ExecutionRuns()
        self.activityPollTimeout = activityPollTimeout
    }

    func integrations(_ context: RequestContext) -> ServiceIntegrations {
        ServiceIntegrations(directory: environment.directory, tokens: tokens, activities: activities, store: store, context: context)
    }

    public var descriptor: ServiceDescriptor { SFNAPI.descriptor }
    public var errorStatus: [String: Int] { SFNAPI.errorStatus }

    public func handle(operation: String, request: OperationRequest, context: RequestContext) async throws -> OperationResponse {
        try await SFNAPI.dispatch(self, operation: operation, request: request, context: context)
    }

    public func registerMigrations(_ migrator: inout DatabaseMigrator) {
        StepFunctionsStore.registerMigrations(&migrator)
    }

    /// Resumes the executions that were running when the server stopped.
    public func run() async throws {
        for execution in try await store.runningExecutions() {
            let snapshot = try await loadSnapshot(execution)
            let context = RequestContext(accountId: execution.account, region: execution.region, requestId: "resume")
            try? launch(execution, context: context, resumingFrom: snapshot)
        }
        while !Task.isCancelled { try? await Task.sleep(for: .seconds(3600)) }
    }

    /// An execution's last snapshot with the progress of the Map iterations and Parallel branches under way.
    func loadSnapshot(_ execution: StepFunctionsStore.Execution) async throws -> ExecutionSnapshot? {
        guard var snapshot = execution.snapshot.flatMap({ try? JSONDecoder().decode(ExecutionSnapshot.self, from: Data($0.utf8)) }) else {
            return nil
        }
        for (key, text) in try await store.branches(execution.arn) {
            if let progress = try? JSONDecoder().decode(BranchProgress.self, from: Data(text.utf8)) { snapshot.branches[key] = progress }
        }
        return snapshot
    }

    // MARK: Names and ARNs

    static func validateName(_ name: String) throws {
        let forbidden = CharacterSet(charactersIn: " <>{}[]?*\"#%\\^|~`$&,;:/").union(.controlCharacters)
        guard (1...80).contains(name.count), name.unicodeScalars.allSatisfy({ !forbidden.contains($0) }) else {
            throw AWSError("InvalidName", "Invalid Name: '\(name)'")
        }
    }

    static func machineArn(_ name: String, _ context: RequestContext) -> String {
        "arn:aws:states:\(context.region):\(context.accountId):stateMachine:\(name)"
    }

    func requireMachine(_ arn: String, _ context: RequestContext) async throws -> StepFunctionsStore.Machine {
        guard arn.hasPrefix("arn:aws:states:"), arn.contains(":stateMachine:") else {
            throw AWSError("InvalidArn", "Invalid Arn: 'Resource type not valid in this context: \(arn)'")
        }
        guard let machine = try await store.machine(arn), machine.account == context.accountId else {
            throw AWSError("StateMachineDoesNotExist", "State Machine Does Not Exist: '\(arn)'")
        }
        return machine
    }

    func requireExecution(_ arn: String, _ context: RequestContext) async throws -> StepFunctionsStore.Execution {
        guard arn.hasPrefix("arn:aws:states:"), arn.contains(":execution:") || arn.contains(":express:") else {
            throw AWSError("InvalidArn", "Invalid Arn: 'Resource type not valid in this context: \(arn)'")
        }
        guard let execution = try await store.execution(arn), execution.account == context.accountId else {
            throw AWSError("ExecutionDoesNotExist", "Execution Does Not Exist: '\(arn)'")
        }
        return execution
    }

    static func parseDefinition(_ text: String) throws -> StateMachine {
        do {
            return try StateMachine(definition: text)
        } catch {
            throw AWSError("InvalidDefinition", error.description)
        }
    }

    // MARK: State machines

    public func createStateMachine(_ input: SFNAPI.CreateStateMachineInput, context: RequestContext) async throws -> SFNAPI.CreateStateMachineOutput {
        try Self.validateName(input.name)
        _ = try Self.parseDefinition(input.definition)
        let arn = Self.machineArn(input.name, context)
        let type = input.type ?? "STANDARD"
        if let existing = try await store.machine(arn) {
            // Idempotent when everything matches, as AWS.
            if existing.definition == input.definition && existing.roleArn == input.roleArn && existing.type == type {
                return .init(stateMachineArn: arn, creationDate: existing.created)
            }
            throw AWSError("StateMachineAlreadyExists", "State Machine Already Exists: '\(arn)'")
        }
        let now = Date()
        var tags: [String: String] = [:]
        for tag in input.tags ?? [] { tags[tag.key ?? ""] = tag.value ?? "" }
        try await store.insert(.init(
            arn: arn, account: context.accountId, region: context.region, name: input.name, definition: input.definition,
            roleArn: input.roleArn, type: type, created: now, updated: now, description: input.versionDescription,
            revisionId: UUID().uuidString.lowercased(), tags: tags))
        if input.publish == true, let machine = try await store.machine(arn) {
            let version = try await publish(machine, revisionId: nil, description: input.versionDescription)
            return .init(stateMachineArn: arn, creationDate: now, stateMachineVersionArn: version.arn)
        }
        return .init(stateMachineArn: arn, creationDate: now)
    }

    public func describeStateMachine(_ input: SFNAPI.DescribeStateMachineInput, context: RequestContext) async throws -> SFNAPI.DescribeStateMachineOutput {
        let (machineArn, qualifier) = try Self.splitMachineArn(input.stateMachineArn)
        let m = try await requireMachine(machineArn, context)
        if case .version = qualifier {
            // A version describes as itself: its ARN, definition, role, revision and description.
            let v = try await requireVersion(input.stateMachineArn)
            return .init(
                stateMachineArn: v.arn, name: m.name, status: "ACTIVE", definition: v.definition, roleArn: v.roleArn, type: m.type,
                creationDate: v.created, loggingConfiguration: .init(level: "OFF", includeExecutionData: false),
                tracingConfiguration: .init(enabled: false), revisionId: v.revisionId, description: v.description)
        }
        guard qualifier == .none else { throw AWSError("InvalidArn", "Invalid Arn: 'Resource type not valid in this context: \(input.stateMachineArn)'") }
        return .init(
            stateMachineArn: m.arn, name: m.name, status: "ACTIVE", definition: m.definition, roleArn: m.roleArn, type: m.type,
            creationDate: m.created, loggingConfiguration: .init(level: "OFF", includeExecutionData: false),
            tracingConfiguration: .init(enabled: false), revisionId: m.revisionId)
    }

    public func listStateMachines(_ input: SFNAPI.ListStateMachinesInput, context: RequestContext) async throws -> SFNAPI.ListStateMachinesOutput {
        let all = try await store.machines(account: context.accountId, region: context.region)
        let (page, next) = try Pagination.page(all, maxResults: input.maxResults, nextToken: input.nextToken)
        return .init(stateMachines: page.map { .init(stateMachineArn: $0.arn, name: $0.name, type: $0.type, creationDate: $0.created) }, nextToken: next)
    }

    public func deleteStateMachine(_ input: SFNAPI.DeleteStateMachineInput, context: RequestContext) async throws -> SFNAPI.DeleteStateMachineOutput {
        guard input.stateMachineArn.contains(":stateMachine:") else {
            throw AWSError("InvalidArn", "Invalid Arn: 'Resource type not valid in this context: \(input.stateMachineArn)'")
        }
        if let m = try await store.machine(input.stateMachineArn), m.account == context.accountId {
            try await store.deleteMachine(m.arn)
            try await store.deleteVersionsAndAliases(of: m.arn)
        }
        return .init()
    }

    public func updateStateMachine(_ input: SFNAPI.UpdateStateMachineInput, context: RequestContext) async throws -> SFNAPI.UpdateStateMachineOutput {
        var m = try await requireMachine(input.stateMachineArn, context)
        guard input.definition != nil || input.roleArn != nil || input.loggingConfiguration != nil || input.tracingConfiguration != nil else {
            throw AWSError("MissingRequiredParameter", "Either the definition, the role ARN, the LoggingConfiguration, or the TracingConfiguration must be specified")
        }
        if let definition = input.definition {
            _ = try Self.parseDefinition(definition)
            m.definition = definition
        }
        if let role = input.roleArn { m.roleArn = role }
        m.updated = Date()
        m.revisionId = UUID().uuidString.lowercased()
        try await store.update(m)
        if input.publish == true {
            let version = try await publish(m, revisionId: nil, description: input.versionDescription)
            return .init(updateDate: m.updated, revisionId: m.revisionId, stateMachineVersionArn: version.arn)
        }
        return .init(updateDate: m.updated, revisionId: m.revisionId)
    }

    public func validateStateMachineDefinition(_ input: SFNAPI.ValidateStateMachineDefinitionInput, context: RequestContext) async throws -> SFNAPI.ValidateStateMachineDefinitionOutput {
        let diagnostics = StateMachine.validate(input.definition)
        let limit = input.maxResults ?? 100
        return .init(
            result: diagnostics.isEmpty ? "OK" : "FAIL",
            diagnostics: diagnostics.prefix(limit).map { .init(severity: $0.severity, code: $0.code, message: $0.message, location: $0.location) },
            truncated: diagnostics.count > limit)
    }

    // MARK: Executions

    public func startExecution(_ input: SFNAPI.StartExecutionInput, context: RequestContext) async throws -> SFNAPI.StartExecutionOutput {
        let target = try await resolveForExecution(input.stateMachineArn, context)
        let m = target.machine
        if m.type == "EXPRESS" {
            throw AWSError("StateMachineTypeNotSupported", "This operation is not supported by this type of state machine")
        }
        let name = input.name ?? UUID().uuidString.lowercased()
        try Self.validateName(name)
        let inputText = input.input ?? "{}"
        guard (try? JSON(parsing: inputText)) != nil else {
            throw AWSError("InvalidExecutionInput", "Invalid State Machine Execution Input: 'Invalid JSON'")
        }
        let arn = "arn:aws:states:\(context.region):\(context.accountId):execution:\(m.name):\(name)"
        if let existing = try await store.execution(arn) {
            // Idempotent by name while the same input is running, as AWS.
            if existing.input == inputText && existing.status == "RUNNING" {
                return .init(executionArn: arn, startDate: existing.started)
            }
            throw AWSError("ExecutionAlreadyExists", "Execution Already Exists: '\(arn)'")
        }
        let execution = StepFunctionsStore.Execution(
            arn: arn, account: context.accountId, region: context.region, machineArn: m.arn, name: name, status: "RUNNING",
            input: inputText, started: Date(), definition: target.definition, roleArn: target.roleArn,
            versionArn: target.versionArn, aliasArn: target.aliasArn)
        try await store.insert(execution)
        try launch(execution, context: context, resumingFrom: nil)
        // Events reach EventBridge asynchronously, as in AWS: the caller does not wait for rule matching.
        Task { await self.publish(execution, status: "RUNNING", context: context) }
        return .init(executionArn: arn, startDate: execution.started)
    }

    public func startSyncExecution(_ input: SFNAPI.StartSyncExecutionInput, context: RequestContext) async throws -> SFNAPI.StartSyncExecutionOutput {
        let m = try await requireMachine(input.stateMachineArn, context)
        guard m.type == "EXPRESS" else {
            throw AWSError("StateMachineTypeNotSupported", "This operation is not supported by this type of state machine")
        }
        let name = input.name ?? UUID().uuidString.lowercased()
        try Self.validateName(name)
        let inputText = input.input ?? "{}"
        guard let inputJSON = try? JSON(parsing: inputText) else {
            throw AWSError("InvalidExecutionInput", "Invalid State Machine Execution Input: 'Invalid JSON'")
        }
        let machine = try Self.parseDefinition(m.definition)
        let arn = "arn:aws:states:\(context.region):\(context.accountId):express:\(m.name):\(name):\(UUID().uuidString.lowercased())"
        let engine = ExecutionEngine(machine: machine, integrations: integrations(context))
        let start = Date()
        let outcome = await engine.run(input: inputJSON, context: ExecutionContext(executionArn: arn, name: name, stateMachineArn: m.arn, stateMachineName: m.name, roleArn: m.roleArn, startTime: start))
        return .init(
            executionArn: arn, stateMachineArn: m.arn, name: name, startDate: start, stopDate: Date(), status: outcome.status.rawValue,
            error: outcome.error, cause: outcome.cause, input: inputText, inputDetails: .init(included: true),
            output: outcome.output?.serialized(), outputDetails: .init(included: true))
    }

    /// Starts (or resumes) running an execution in the background.
    func launch(_ execution: StepFunctionsStore.Execution, context: RequestContext, resumingFrom snapshot: ExecutionSnapshot?) throws {
        let machine = try definitions.machine(execution.definition)
        let integrations = self.integrations(context)
        let engine = ExecutionEngine(machine: machine, integrations: integrations)
        let input = (try? JSON(parsing: execution.input)) ?? [:]
        let executionContext = ExecutionContext(
            executionArn: execution.arn, name: execution.name, stateMachineArn: execution.machineArn,
            stateMachineName: String(execution.machineArn.split(separator: ":").last ?? ""), roleArn: execution.roleArn, startTime: execution.started,
            redriveCount: execution.redriveCount)
        let observer = HistoryRecorder(store: store, executionArn: execution.arn)
        let store = self.store
        let service = self
        let task = Task {
            let outcome = await engine.run(input: input, context: executionContext, resumingFrom: snapshot, observer: observer)
            await observer.flush()
            try? await store.finish(
                execution.arn, status: outcome.status.rawValue, output: outcome.output?.serialized(), error: outcome.error,
                cause: outcome.cause, stopped: Date())
            await service.publish(execution, status: outcome.status.rawValue, context: context)
            service.runs.remove(execution.arn)
        }
        runs.add(execution.arn, task)
    }

    func publish(_ execution: StepFunctionsStore.Execution, status: String, context: RequestContext) async {
        let current = try? await store.execution(execution.arn)
        await environment.directory.publish(ServiceEvent(
            source: "aws.states", detailType: "Step Functions Execution Status Change",
            detail: [
                "executionArn": .string(execution.arn), "stateMachineArn": .string(execution.machineArn), "name": .string(execution.name),
                "status": .string(status), "startDate": .number((execution.started.timeIntervalSince1970 * 1000).rounded()),
                "stopDate": current?.stopped.map { .number(($0.timeIntervalSince1970 * 1000).rounded()) } ?? .null,
                "input": .string(execution.input), "output": current?.output.map { .string($0) } ?? .null,
                "error": current?.error.map { .string($0) } ?? .null, "cause": current?.cause.map { .string($0) } ?? .null,
            ],
            resources: [execution.arn]), context: context)
    }

    public func describeExecution(_ input: SFNAPI.DescribeExecutionInput, context: RequestContext) async throws -> SFNAPI.DescribeExecutionOutput {
        let e = try await requireExecution(input.executionArn, context)
        return .init(
            executionArn: e.arn, stateMachineArn: e.machineArn, name: e.name, status: e.status, startDate: e.started, stopDate: e.stopped,
            input: e.input, inputDetails: .init(included: true), output: e.output, outputDetails: e.output.map { _ in .init(included: true) },
            error: e.error, cause: e.cause, stateMachineVersionArn: e.versionArn, stateMachineAliasArn: e.aliasArn,
            redriveCount: e.redriveCount, redriveDate: e.redriveDate,
            redriveStatus: Self.notRedrivableReason(e) == nil ? "REDRIVABLE" : "NOT_REDRIVABLE", redriveStatusReason: Self.notRedrivableReason(e))
    }

    public func describeStateMachineForExecution(_ input: SFNAPI.DescribeStateMachineForExecutionInput, context: RequestContext) async throws -> SFNAPI.DescribeStateMachineForExecutionOutput {
        let e = try await requireExecution(input.executionArn, context)
        let m = try await store.machine(e.machineArn)
        return .init(
            stateMachineArn: e.machineArn, name: m?.name ?? String(e.machineArn.split(separator: ":").last ?? ""),
            definition: e.definition, roleArn: e.roleArn, updateDate: m?.updated ?? e.started, revisionId: m?.revisionId)
    }

    public func listExecutions(_ input: SFNAPI.ListExecutionsInput, context: RequestContext) async throws -> SFNAPI.ListExecutionsOutput {
        guard let machineArn = input.stateMachineArn else {
            throw AWSError("ValidationException", "Must provide a StateMachine ARN or MapRun ARN")
        }
        // A version or alias ARN lists the executions started through it.
        let (unqualified, qualifier) = try Self.splitMachineArn(machineArn)
        _ = try await requireMachine(unqualified, context)
        var all = try await store.executions(machineArn: unqualified, status: input.statusFilter)
        switch qualifier {
        case .none: break
        case .version: all = all.filter { $0.versionArn == machineArn }
        case .alias: all = all.filter { $0.aliasArn == machineArn }
        }
        switch input.redriveFilter {
        case "REDRIVEN": all = all.filter { $0.redriveCount > 0 }
        case "NOT_REDRIVEN": all = all.filter { $0.redriveCount == 0 }
        default: break
        }
        let (page, next) = try Pagination.page(all, maxResults: input.maxResults, nextToken: input.nextToken)
        return .init(executions: page.map {
            .init(executionArn: $0.arn, stateMachineArn: $0.machineArn, name: $0.name, status: $0.status, startDate: $0.started, stopDate: $0.stopped,
                  stateMachineVersionArn: $0.versionArn, stateMachineAliasArn: $0.aliasArn, redriveCount: $0.redriveCount, redriveDate: $0.redriveDate)
        }, nextToken: next)
    }

    public func stopExecution(_ input: SFNAPI.StopExecutionInput, context: RequestContext) async throws -> SFNAPI.StopExecutionOutput {
        let e = try await requireExecution(input.executionArn, context)
        let now = Date()
        guard e.status == "RUNNING" else { return .init(stopDate: e.stopped ?? now) }
        runs.cancel(e.arn)
        try await store.finish(e.arn, status: "ABORTED", output: nil, error: input.error, cause: input.cause, stopped: now)
        await publish(e, status: "ABORTED", context: context)
        return .init(stopDate: now)
    }

    public func getExecutionHistory(_ input: SFNAPI.GetExecutionHistoryInput, context: RequestContext) async throws -> SFNAPI.GetExecutionHistoryOutput {
        let e = try await requireExecution(input.executionArn, context)
        var events = try await store.history(e.arn)
        if input.reverseOrder == true { events.reverse() }
        let (page, next) = try Pagination.page(events, maxResults: input.maxResults, nextToken: input.nextToken)
        var decoder = ShapeDecoder()
        let includeData = input.includeExecutionData ?? true
        let shaped = try page.map { event -> SFNAPI.HistoryEvent in
            try SFNAPI.HistoryEvent(json: includeData ? event : Self.withoutData(event), decoder: &decoder, path: "")
        }
        return .init(events: shaped, nextToken: next)
    }

    /// includeExecutionData false: events keep their shape but lose inputs and outputs.
    static func withoutData(_ event: JSON) -> JSON {
        guard case .object(var o) = event else { return event }
        for (key, value) in o where key.hasSuffix("EventDetails") {
            if case .object(var details) = value {
                for field in ["input", "output", "parameters"] where details[field] != nil { details.removeValue(forKey: field) }
                o[key] = .object(details)
            }
        }
        return .object(o)
    }

    // MARK: Task tokens

    public func sendTaskSuccess(_ input: SFNAPI.SendTaskSuccessInput, context: RequestContext) async throws -> SFNAPI.SendTaskSuccessOutput {
        guard let output = try? JSON(parsing: input.output) else {
            throw AWSError("InvalidOutput", "Invalid Output: 'Invalid JSON'")
        }
        guard tokens.complete(input.taskToken, with: .success(output)) else { throw AWSError("TaskDoesNotExist", "Task Does Not Exist: '\(input.taskToken)'") }
        return .init()
    }

    public func sendTaskFailure(_ input: SFNAPI.SendTaskFailureInput, context: RequestContext) async throws -> SFNAPI.SendTaskFailureOutput {
        let failure = StatesError(input.error ?? "", input.cause ?? "")
        guard tokens.complete(input.taskToken, with: .failure(failure)) else { throw AWSError("TaskDoesNotExist", "Task Does Not Exist: '\(input.taskToken)'") }
        return .init()
    }

    public func sendTaskHeartbeat(_ input: SFNAPI.SendTaskHeartbeatInput, context: RequestContext) async throws -> SFNAPI.SendTaskHeartbeatOutput {
        guard tokens.beat(input.taskToken) else { throw AWSError("TaskDoesNotExist", "Task Does Not Exist: '\(input.taskToken)'") }
        return .init()
    }

    // MARK: Tags

    public func tagResource(_ input: SFNAPI.TagResourceInput, context: RequestContext) async throws -> SFNAPI.TagResourceOutput {
        var tags = try await tags(of: input.resourceArn, context)
        for tag in input.tags { tags[tag.key ?? ""] = tag.value ?? "" }
        try await setTags(tags, of: input.resourceArn, context)
        return .init()
    }

    public func untagResource(_ input: SFNAPI.UntagResourceInput, context: RequestContext) async throws -> SFNAPI.UntagResourceOutput {
        var tags = try await tags(of: input.resourceArn, context)
        for key in input.tagKeys { tags.removeValue(forKey: key) }
        try await setTags(tags, of: input.resourceArn, context)
        return .init()
    }

    public func listTagsForResource(_ input: SFNAPI.ListTagsForResourceInput, context: RequestContext) async throws -> SFNAPI.ListTagsForResourceOutput {
        let tags = try await tags(of: input.resourceArn, context)
        return .init(tags: tags.sorted { $0.key < $1.key }.map { .init(key: $0.key, value: $0.value) })
    }

    /// The tags of a state machine or an activity (the resources Step Functions tags).
    func tags(of arn: String, _ context: RequestContext) async throws -> [String: String] {
        if arn.contains(":activity:"), let activity = try await store.activity(arn), activity.account == context.accountId {
            return activity.tags
        }
        if let m = try await store.machine(arn), m.account == context.accountId { return m.tags }
        throw AWSError("ResourceNotFound", "Resource not found: '\(arn)'")
    }

    func setTags(_ tags: [String: String], of arn: String, _ context: RequestContext) async throws {
        if arn.contains(":activity:") {
            try await store.setTags(activity: arn, tags)
        } else if var m = try await store.machine(arn) {
            m.tags = tags
            try await store.update(m)
        }
    }
}

/// Parsed definitions by their text: executions of one state machine share one parse.
final class DefinitionCache: Sendable {
    private let machines = Mutex<[String: StateMachine]>([:])
    /// Bounds the cache; beyond it definitions are parsed on each use.
    private let capacity = 1000

    func machine(_ definition: String) throws -> StateMachine {
        if let cached = machines.withLock({ $0[definition] }) { return cached }
        let machine = try StepFunctionsService.parseDefinition(definition)
        machines.withLock { if $0.count < capacity { $0[definition] = machine } }
        return machine
    }
}

/// The executions running in this process, so StopExecution can cancel them.
final class ExecutionRuns: Sendable {
    let tasks = Mutex<[String: Task<Void, Never>]>([:])
    func add(_ arn: String, _ task: Task<Void, Never>) { tasks.withLock { $0[arn] = task } }
    func remove(_ arn: String) { _ = tasks.withLock { $0.removeValue(forKey: arn) } }
    func cancel(_ arn: String) { tasks.withLock { $0.removeValue(forKey: arn) }?.cancel() }
}

/// Writes an execution's events and snapshots to the store as they happen, in order.
final class HistoryRecorder: ExecutionObserver, @unchecked Sendable {
    let store: StepFunctionsStore
    let executionArn: String

    init(store: StepFunctionsStore, executionArn: String) {
        self.store = store
        self.executionArn = executionArn
    }

    func record(_ event: HistoryEvent) async {
        try? await store.append(event: event.json, id: event.id, to: executionArn)
    }

    func checkpoint(_ snapshot: ExecutionSnapshot) async {
        guard let data = try? JSONEncoder().encode(snapshot) else { return }
        try? await store.saveSnapshot(String(decoding: data, as: UTF8.self), for: executionArn)
    }

    func checkpoint(branch: String, progress: BranchProgress) async {
        guard let data = try? JSONEncoder().encode(progress) else { return }
        try? await store.saveBranch(executionArn, key: branch, progress: String(decoding: data, as: UTF8.self))
    }

    func clearBranches() async {
        try? await store.clearBranches(executionArn)
    }

    func flush() async {}
}

/// Opaque `nextToken`s over an ordered list, as AWS's list operations page.
enum Pagination {
    static func page<T>(_ items: [T], maxResults: Int?, nextToken: String?) throws -> ([T], String?) {
        var start = 0
        if let nextToken {
            guard let data = Data(base64Encoded: nextToken), let offset = Int(String(decoding: data, as: UTF8.self)), offset >= 0, offset <= items.count else {
                throw AWSError("InvalidToken", "Invalid Token: 'Invalid token'")
            }
            start = offset
        }
        let size = (maxResults ?? 0) > 0 ? maxResults! : 100
        let end = min(items.count, start + size)
        let next = end < items.count ? Data(String(end).utf8).base64EncodedString() : nil
        return (Array(items[start..<end]), next)
    }
}
