import AWSProtocol
import Foundation
import GRDB
import JSONCore
import Logging
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

    /// The pages of every list operation; AWS answers `InvalidToken` for a page token (or task token) it did not issue.
    static let pages = Paginator(invalidToken: SFNAPI.Errors.invalidToken("Invalid Token: 'Invalid token'"))

    public func handle(operation: String, request: OperationRequest, context: RequestContext) async throws -> OperationResponse {
        try await SFNAPI.dispatch(self, operation: operation, request: request, context: context)
    }

    public func registerMigrations(_ migrator: inout DatabaseMigrator) {
        StepFunctionsStore.registerMigrations(&migrator)
    }

    /// Resumes the executions that were running when the server stopped.
    public func run() async throws {
        for execution in try await store.runningExecutions() {
            await resume(execution)
        }
        while !Task.isCancelled { try? await Task.sleep(for: .seconds(3600)) }
        // The local cloud is stopping: workers' long polls answer now rather than hold the shutdown for a minute.
        activities.close()
    }

    /// Resumes one execution from its last snapshot; without one (it stopped before its first durable state), from
    /// its start. One that cannot be resumed as it stood (its snapshot or a branch's progress unreadable, its
    /// definition no longer valid) fails with States.Runtime, keeping its history: running it again from its
    /// start would repeat the states it finished.
    func resume(_ execution: StepFunctionsStore.Execution) async {
        let context = RequestContext(accountId: execution.account, region: execution.region, requestId: "resume")
        do {
            let machine = try definitions.machine(execution.definition)
            let snapshot = try await loadSnapshot(execution)
            // The events recorded after the snapshot are recorded again as the execution resumes from it: those it
            // repeats keep the times they first happened at.
            let recorded = try await store.events(execution.arn, after: snapshot?.lastEventId ?? 0)
            try await start(execution, mode: .resume(from: snapshot, replaying: recorded), machine: machine, context: context)
        } catch {
            await failResume(
                execution, cause: "The execution could not be resumed after the server restarted: \(Self.describe(error))", context: context
            )
        }
    }

    /// Ends an execution that cannot resume: an ExecutionFailed event after its last one, and its FAILED record.
    func failResume(_ execution: StepFunctionsStore.Execution, cause: String, context: RequestContext) async {
        let error = "States.Runtime"
        let ending = Ending(stopped: Date(), error: error, cause: cause)
        let last = (try? await store.lastEventId(execution.arn)) ?? 0
        let failed = HistoryEvent(
            id: last + 1, previousEventId: last, timestamp: ending.stopped, type: "ExecutionFailed",
            detailsKey: "executionFailedEventDetails", details: ["error": .string(error), "cause": .string(cause)])
        await store.append(event: failed.json, id: failed.id, to: execution.arn)
        try? await store.finish(execution.arn, status: .failed, output: nil, error: error, cause: cause, stopped: ending.stopped)
        await publish(execution, status: .failed, ending: ending, context: context)
        logEnded(execution.arn, status: .failed, started: execution.started, ending: ending, context: context)
    }

    static func describe(_ error: any Error) -> String {
        if let error = error as? AWSError { return error.message }
        return "\(error)"
    }

    /// An execution's last snapshot with the progress of the Map iterations and Parallel branches under way,
    /// the deadlines its timers count to and the tasks it had started; nil when it has none. Throws
    /// ``SnapshotFormatError`` when one is stored but cannot be read.
    func loadSnapshot(_ execution: StepFunctionsStore.Execution) async throws -> ExecutionSnapshot? {
        guard let text = execution.snapshot else { return nil }
        var snapshot = try ExecutionSnapshot(serialized: text)
        for (key, text) in try await store.branches(execution.arn) {
            snapshot.branches[key] = try BranchProgress(serialized: text)
        }
        snapshot.timers = try await store.timers(execution.arn)
        snapshot.tasks = try await store.openTasks(execution.arn)
        return snapshot
    }

    // MARK: Names and ARNs

    /// The characters AWS refuses in names besides control and format characters (Unicode Cc and Cf).
    static let forbiddenNameCharacters: Set<Unicode.Scalar> = Set(" <>{}[]?*\"#%\\^|~`$&,;:/".unicodeScalars)

    static func validateName(_ name: String) throws {
        let allowed = name.unicodeScalars.allSatisfy { scalar in
            let category = scalar.properties.generalCategory
            return !forbiddenNameCharacters.contains(scalar) && category != .control && category != .format
        }
        guard (1...80).contains(name.count), allowed else {
            throw SFNAPI.Errors.invalidName("Invalid Name: '\(name)'")
        }
    }

    static func machineArn(_ name: String, _ context: RequestContext) -> String {
        context.arn(service: "states", resource: "stateMachine:\(name)")
    }

    /// A state machine of the caller's account and region: resources are regional, as in AWS.
    func requireMachine(_ arn: String, _ context: RequestContext) async throws -> StepFunctionsStore.Machine {
        guard arn.hasPrefix("arn:aws:states:"), arn.containsBytes(":stateMachine:") else {
            throw SFNAPI.Errors.invalidArn("Invalid Arn: 'Resource type not valid in this context: \(arn)'")
        }
        guard let machine = try await store.machine(arn), machine.account == context.accountId, machine.region == context.region else {
            throw SFNAPI.Errors.stateMachineDoesNotExist("State Machine Does Not Exist: '\(arn)'")
        }
        return machine
    }

    /// An execution of the caller's account and region. Express executions keep no record: none is found.
    func requireExecution(_ arn: String, _ context: RequestContext) async throws -> StepFunctionsStore.Execution {
        guard arn.hasPrefix("arn:aws:states:"), arn.containsBytes(":execution:") || arn.containsBytes(":express:") else {
            throw SFNAPI.Errors.invalidArn("Invalid Arn: 'Resource type not valid in this context: \(arn)'")
        }
        guard let execution = try await store.execution(arn), execution.account == context.accountId, execution.region == context.region
        else {
            throw SFNAPI.Errors.executionDoesNotExist("Execution Does Not Exist: '\(arn)'")
        }
        return execution
    }

    /// Whether an ARN names a resource of the caller's account and region (`arn:aws:states:<region>:<account>:…`).
    static func isOwn(_ arn: String, _ context: RequestContext) -> Bool {
        guard let parsed = ARN(arn) else { return false }
        return parsed.region == context.region && parsed.account == context.accountId
    }

    static func parseDefinition(_ text: String) throws -> StateMachine {
        do {
            return try StateMachine(definition: text)
        } catch {
            throw SFNAPI.Errors.invalidDefinition(error.description)
        }
    }

    // MARK: State machines

    public func createStateMachine(
        _ input: SFNAPI.CreateStateMachineInput, context: RequestContext
    ) async throws -> SFNAPI.CreateStateMachineOutput {
        try Self.validateName(input.name)
        let type = input.type ?? .standard
        let machine = try Self.parseDefinition(input.definition)
        try Self.checkType(machine, type: type)
        let arn = Self.machineArn(input.name, context)
        let logging = input.loggingConfiguration?.json()
        let tracing = input.tracingConfiguration?.json()
        let encryption = input.encryptionConfiguration?.json()
        try StepFunctionsStore.tagRules.check(StepFunctionsStore.resourceTags(input.tags ?? []))
        if let existing = try await store.machine(arn) {
            return try await answerCreate(input, existing: existing, type: type, logging: logging, tracing: tracing, encryption: encryption)
        }
        let now = Date()
        let inserted = try await store.insertIfAbsent(
            .init(
                arn: arn, account: context.accountId, region: context.region, name: input.name, definition: input.definition,
                roleArn: input.roleArn, type: type, created: now, updated: now, description: input.versionDescription,
                revisionId: RandomUUID.make(), logging: logging, tracing: tracing, encryption: encryption), tags: input.tags ?? [])
        if !inserted {
            // Another request created it since the look-up above (and may be deleting it again already).
            guard let existing = try await store.machine(arn) else {
                throw SFNAPI.Errors.stateMachineDeleting("State Machine is being deleted: '\(arn)'")
            }
            return try await answerCreate(input, existing: existing, type: type, logging: logging, tracing: tracing, encryption: encryption)
        }
        if input.publish == true, let machine = try await store.machine(arn) {
            let version = try await publish(machine, revisionId: nil, description: input.versionDescription)
            return .init(stateMachineArn: arn, creationDate: now, stateMachineVersionArn: version.arn)
        }
        return .init(stateMachineArn: arn, creationDate: now)
    }

    /// CreateStateMachine's answer when the machine exists: idempotent, as AWS, on name, definition, type, logging,
    /// tracing and encryption configuration, and publish and versionDescription; a different roleArn or tags are
    /// ignored (and not applied).
    private func answerCreate(
        _ input: SFNAPI.CreateStateMachineInput, existing: StepFunctionsStore.Machine, type: SFNAPI.StateMachineType, logging: JSON?,
        tracing: JSON?, encryption: JSON?
    ) async throws -> SFNAPI.CreateStateMachineOutput {
        if existing.status == .deleting {
            throw SFNAPI.Errors.stateMachineDeleting("State Machine is being deleted: '\(existing.arn)'")
        }
        let latest = try await store.versions(of: existing.arn).first
        let samePublish =
            input.publish != true || (latest?.revisionId == existing.revisionId && latest?.description == input.versionDescription)
        if existing.definition == input.definition && existing.type == type && existing.logging == logging && existing.tracing == tracing
            && existing.encryption == encryption && samePublish
        {
            return .init(
                stateMachineArn: existing.arn, creationDate: existing.created,
                stateMachineVersionArn: input.publish == true ? latest?.arn : nil)
        }
        throw SFNAPI.Errors.stateMachineAlreadyExists("State Machine Already Exists: '\(existing.arn)'")
    }

    public func describeStateMachine(
        _ input: SFNAPI.DescribeStateMachineInput, context: RequestContext
    ) async throws -> SFNAPI.DescribeStateMachineOutput {
        let (machineArn, qualifier) = try Self.splitMachineArn(input.stateMachineArn)
        let m = try await requireMachine(machineArn, context)
        if case .version = qualifier {
            // A version describes as itself: its ARN, definition, role, revision, description and configuration.
            let v = try await requireVersion(input.stateMachineArn, context, missing: .machine)
            return .init(
                stateMachineArn: v.arn, name: m.name, status: m.status, definition: v.definition, roleArn: v.roleArn, type: m.type,
                creationDate: v.created, loggingConfiguration: Self.logging(v.logging ?? m.logging),
                tracingConfiguration: Self.tracing(v.tracing ?? m.tracing),
                revisionId: v.revisionId, description: v.description, encryptionConfiguration: Self.encryption(m.encryption))
        }
        guard qualifier == .none else {
            throw SFNAPI.Errors.invalidArn("Invalid Arn: 'Resource type not valid in this context: \(input.stateMachineArn)'")
        }
        return .init(
            stateMachineArn: m.arn, name: m.name, status: m.status, definition: m.definition, roleArn: m.roleArn, type: m.type,
            creationDate: m.created, loggingConfiguration: Self.logging(m.logging), tracingConfiguration: Self.tracing(m.tracing),
            revisionId: m.revisionId, encryptionConfiguration: Self.encryption(m.encryption))
    }

    /// The configurations as given to CreateStateMachine or UpdateStateMachine, or AWS's defaults.
    static func logging(_ json: JSON?) -> SFNAPI.LoggingConfiguration {
        var decoder = ShapeDecoder()
        return json.flatMap { try? SFNAPI.LoggingConfiguration(json: $0, decoder: &decoder, path: "") }
            ?? .init(level: .off, includeExecutionData: false)
    }

    static func tracing(_ json: JSON?) -> SFNAPI.TracingConfiguration {
        var decoder = ShapeDecoder()
        return json.flatMap { try? SFNAPI.TracingConfiguration(json: $0, decoder: &decoder, path: "") } ?? .init(enabled: false)
    }

    static func encryption(_ json: JSON?) -> SFNAPI.EncryptionConfiguration? {
        var decoder = ShapeDecoder()
        return json.flatMap { try? SFNAPI.EncryptionConfiguration(json: $0, decoder: &decoder, path: "") }
    }

    /// Express workflows run at most five minutes and keep no history: they cannot wait for callbacks, run
    /// activities or wait for jobs (`.sync`), as CreateStateMachine reports for type EXPRESS.
    static func expressDiagnostics(_ machine: StateMachine, path: String = "") -> [Diagnostic] {
        var found: [Diagnostic] = []
        for (name, state) in machine.states.sorted(by: { $0.key < $1.key }) {
            let location = "\(path)/States/\(name)"
            if let resource = state.resource,
                resource.hasSuffix(".sync") || resource.hasSuffix(".sync:2") || resource.hasSuffix(".waitForTaskToken")
                    || resource.contains(":activity:")
            {
                found.append(
                    Diagnostic(
                        code: "SCHEMA_VALIDATION_FAILED",
                        message:
                            "Express state machines do not support the .sync and .waitForTaskToken integration patterns nor activities: \(resource)",
                        location: location + "/Resource"))
            }
            for (i, branch) in state.branches.enumerated() { found += expressDiagnostics(branch, path: "\(location)/Branches/\(i)") }
            if let iterator = state.iterator { found += expressDiagnostics(iterator, path: location + "/ItemProcessor") }
        }
        return found
    }

    static func checkType(_ machine: StateMachine, type: SFNAPI.StateMachineType) throws {
        guard type == .express else { return }
        let problems = expressDiagnostics(machine)
        if !problems.isEmpty { throw SFNAPI.Errors.invalidDefinition(DefinitionError(problems).description) }
    }

    public func listStateMachines(
        _ input: SFNAPI.ListStateMachinesInput, context: RequestContext
    ) async throws -> SFNAPI.ListStateMachinesOutput {
        let all = try await store.machines(account: context.accountId, region: context.region)
        let page = try Self.pages.page(all, maxResults: input.maxResults, nextToken: input.nextToken) {
            PageKey(PageKey.time($0.created), $0.name)
        }
        return .init(
            stateMachines: page.items.map { .init(stateMachineArn: $0.arn, name: $0.name, type: $0.type, creationDate: $0.created) },
            nextToken: page.nextToken)
    }

    /// Deletes a state machine as AWS does: it goes DELETING (no new executions), its running executions are
    /// stopped, then it is deleted with its versions and aliases.
    public func deleteStateMachine(
        _ input: SFNAPI.DeleteStateMachineInput, context: RequestContext
    ) async throws -> SFNAPI.DeleteStateMachineOutput {
        guard input.stateMachineArn.contains(":stateMachine:") else {
            throw SFNAPI.Errors.invalidArn("Invalid Arn: 'Resource type not valid in this context: \(input.stateMachineArn)'")
        }
        if var m = try await store.machine(input.stateMachineArn), m.account == context.accountId, m.region == context.region {
            m.status = .deleting
            try await store.update(m)
            for listed in try await store.executions(machineArn: m.arn, status: .running) {
                // A listing carries no input; the ABORTED status event does.
                guard let execution = try await store.execution(listed.arn) else { continue }
                try await stop(execution, error: nil, cause: "The state machine \(m.name) was deleted", context: context)
            }
            try await store.deleteMachine(m.arn)
            try await store.deleteVersionsAndAliases(of: m.arn)
        }
        return .init()
    }

    public func updateStateMachine(
        _ input: SFNAPI.UpdateStateMachineInput, context: RequestContext
    ) async throws -> SFNAPI.UpdateStateMachineOutput {
        var m = try await requireMachine(input.stateMachineArn, context)
        guard input.definition != nil || input.roleArn != nil || input.loggingConfiguration != nil || input.tracingConfiguration != nil
        else {
            throw SFNAPI.Errors.missingRequiredParameter(
                "Either the definition, the role ARN, the LoggingConfiguration, or the TracingConfiguration must be specified")
        }
        if let definition = input.definition {
            try Self.checkType(try Self.parseDefinition(definition), type: m.type)
            m.definition = definition
        }
        if let role = input.roleArn { m.roleArn = role }
        if let logging = input.loggingConfiguration { m.logging = logging.json() }
        if let tracing = input.tracingConfiguration { m.tracing = tracing.json() }
        if let encryption = input.encryptionConfiguration { m.encryption = encryption.json() }
        m.updated = Date()
        m.revisionId = RandomUUID.make()
        try await store.update(m)
        if input.publish == true {
            let version = try await publish(m, revisionId: nil, description: input.versionDescription)
            return .init(updateDate: m.updated, revisionId: m.revisionId, stateMachineVersionArn: version.arn)
        }
        return .init(updateDate: m.updated, revisionId: m.revisionId)
    }

    public func validateStateMachineDefinition(
        _ input: SFNAPI.ValidateStateMachineDefinitionInput, context: RequestContext
    ) async throws -> SFNAPI.ValidateStateMachineDefinitionOutput {
        var diagnostics = StateMachine.validate(input.definition)
        if diagnostics.isEmpty, input.type == .express, let machine = try? StateMachine(definition: input.definition) {
            diagnostics = Self.expressDiagnostics(machine)
        }
        let limit = input.maxResults ?? 100
        return .init(
            result: diagnostics.isEmpty ? .ok : .fail,
            diagnostics: diagnostics.prefix(limit).map {
                .init(severity: .init(rawValue: $0.severity), code: $0.code, message: $0.message, location: $0.location)
            },
            truncated: diagnostics.count > limit)
    }

    // MARK: Executions

    /// An execution's input as given (`{}` when none) and parsed.
    static func executionInput(_ text: String?) throws -> (text: String, json: JSON) {
        let text = text ?? "{}"
        guard let json = try? JSON(parsing: text) else {
            throw SFNAPI.Errors.invalidExecutionInput("Invalid State Machine Execution Input: 'Invalid JSON'")
        }
        return (text, json)
    }

    public func startExecution(_ input: SFNAPI.StartExecutionInput, context: RequestContext) async throws -> SFNAPI.StartExecutionOutput {
        let target = try await resolveForExecution(input.stateMachineArn, context)
        let m = target.machine
        let name = input.name ?? RandomUUID.make()
        try Self.validateName(name)
        let (inputText, inputJSON) = try Self.executionInput(input.input)
        let machine = try definitions.machine(target.definition)
        if m.type == .express {
            let execution = Self.expressExecution(target, name: name, input: inputText, context: context)
            try await start(execution, mode: .express, machine: machine, input: inputJSON, context: context)
            return .init(executionArn: execution.arn, startDate: execution.started)
        }
        let arn = context.arn(service: "states", resource: "execution:\(m.name):\(name)")
        let execution = StepFunctionsStore.Execution(
            arn: arn, account: context.accountId, region: context.region, machineArn: m.arn, name: name, status: .running,
            input: inputText, started: Date(), definition: target.definition, roleArn: target.roleArn,
            versionArn: target.versionArn, aliasArn: target.aliasArn, revisionId: target.revisionId)
        do {
            if machine.endsWithoutWaiting {
                try await start(execution, mode: .standardAtOnce, machine: machine, input: inputJSON, context: context)
                return .init(executionArn: arn, startDate: execution.started)
            }
            try await store.insert(execution)
        } catch let error as DatabaseError where error.resultCode == .SQLITE_CONSTRAINT {
            // The name is taken (found by the insert itself, which spares a read on every start). Idempotent by
            // name while the same input is running, as AWS.
            if let existing = try await store.execution(arn), existing.input == inputText && existing.status == .running {
                return .init(executionArn: arn, startDate: existing.started)
            }
            throw SFNAPI.Errors.executionAlreadyExists("Execution Already Exists: '\(arn)'")
        }
        try await start(execution, mode: .standard, machine: machine, input: inputJSON, context: context)
        return .init(executionArn: arn, startDate: execution.started)
    }

    /// Runs an Express execution to its end and answers its outcome. Versions and aliases run as with
    /// StartExecution.
    public func startSyncExecution(
        _ input: SFNAPI.StartSyncExecutionInput, context: RequestContext
    ) async throws -> SFNAPI.StartSyncExecutionOutput {
        let target = try await resolveForExecution(input.stateMachineArn, context)
        let m = target.machine
        guard m.type == .express else {
            throw SFNAPI.Errors.stateMachineTypeNotSupported("This operation is not supported by this type of state machine")
        }
        let name = input.name ?? RandomUUID.make()
        try Self.validateName(name)
        let (inputText, inputJSON) = try Self.executionInput(input.input)
        let machine = try definitions.machine(target.definition)
        let execution = Self.expressExecution(target, name: name, input: inputText, context: context)
        guard
            let (outcome, ending) = try await start(
                execution, mode: .synchronousExpress, machine: machine, input: inputJSON, context: context)
        else {
            preconditionFailure("a synchronous Express execution runs within the request")
        }
        let (arn, start, stop) = (execution.arn, execution.started, ending.stopped)
        // Express workflows bill by the 100 ms, with at least 64 MB of memory.
        let billed = max(100, Int((stop.timeIntervalSince(start) * 10).rounded(.up)) * 100)
        return .init(
            executionArn: arn, stateMachineArn: target.versionArn ?? target.aliasArn ?? m.arn, name: name, startDate: start, stopDate: stop,
            status: .init(rawValue: outcome.status.rawValue), error: outcome.error, cause: outcome.cause, input: inputText,
            inputDetails: .init(included: true),
            output: ending.output, outputDetails: .init(included: outcome.output != nil),
            billingDetails: .init(billedMemoryUsedInMB: 64, billedDurationInMilliseconds: billed))
    }

    /// What follows an ARN's last colon (a state machine's name), found among its bytes: splitting the ARN into
    /// Characters cost 2% of an execution's instructions.
    static func lastARNComponent(_ arn: String) -> String {
        guard let colon = arn.utf8.lastIndex(of: UInt8(ascii: ":")) else { return arn }
        return String(arn[arn.utf8.index(after: colon)...])
    }

    /// Whether an execution of this status could be redriven (so that its history's length matters).
    static func mayBeRedrivable(_ status: SFNAPI.ExecutionStatus) -> Bool { status == .failed || status == .timedOut || status == .aborted }

    public func describeExecution(
        _ input: SFNAPI.DescribeExecutionInput, context: RequestContext
    ) async throws -> SFNAPI.DescribeExecutionOutput {
        let e = try await requireExecution(input.executionArn, context)
        let machine = try await store.machine(e.machineArn)
        let last = Self.mayBeRedrivable(e.status) ? try await store.lastEventId(e.arn) : nil
        let notRedrivable = Self.notRedrivableReason(e, machine: machine, lastEventId: last)
        return .init(
            executionArn: e.arn, stateMachineArn: e.machineArn, name: e.name, status: e.status, startDate: e.started, stopDate: e.stopped,
            input: e.input, inputDetails: .init(included: true), output: e.output,
            outputDetails: e.output.map { _ in .init(included: true) },
            error: e.error, cause: e.cause, stateMachineVersionArn: e.versionArn, stateMachineAliasArn: e.aliasArn,
            redriveCount: e.redriveCount, redriveDate: e.redriveDate,
            redriveStatus: notRedrivable == nil ? .redrivable : .notRedrivable, redriveStatusReason: notRedrivable)
    }

    /// The state machine as the execution ran it: the definition, role and revision of the version (or of the
    /// machine's revision) it was started with.
    public func describeStateMachineForExecution(
        _ input: SFNAPI.DescribeStateMachineForExecutionInput, context: RequestContext
    ) async throws -> SFNAPI.DescribeStateMachineForExecutionOutput {
        let e = try await requireExecution(input.executionArn, context)
        let m = try await store.machine(e.machineArn)
        let version = try await e.versionArn.asyncMap { try await store.version($0) } ?? nil
        let updated = version?.created ?? (m?.revisionId == e.revisionId ? m?.updated : nil) ?? e.started
        return .init(
            stateMachineArn: e.versionArn ?? e.machineArn, name: m?.name ?? Self.lastARNComponent(e.machineArn),
            definition: e.definition, roleArn: e.roleArn, updateDate: updated,
            loggingConfiguration: Self.logging(version?.logging ?? m?.logging),
            tracingConfiguration: Self.tracing(version?.tracing ?? m?.tracing),
            revisionId: e.revisionId ?? version?.revisionId, encryptionConfiguration: Self.encryption(m?.encryption))
    }

    public func listExecutions(_ input: SFNAPI.ListExecutionsInput, context: RequestContext) async throws -> SFNAPI.ListExecutionsOutput {
        switch (input.stateMachineArn, input.mapRunArn) {
        case (nil, nil):
            throw SFNAPI.Errors.validationException("Must provide a StateMachine ARN or a MapRun ARN")
        case (.some, .some):
            throw SFNAPI.Errors.validationException("You can specify either a mapRunArn or a stateMachineArn, but not both")
        case (nil, let mapRun?):
            // Map Runs are the child executions of Distributed Map states, which Skiff does not run: none exists.
            guard mapRun.hasPrefix("arn:aws:states:"), mapRun.contains(":mapRun:") else {
                throw SFNAPI.Errors.invalidArn("Invalid Arn: 'Resource type not valid in this context: \(mapRun)'")
            }
            throw SFNAPI.Errors.resourceNotFound("Resource not found: '\(mapRun)'")
        case (let machineArn?, nil):
            return try await listExecutions(of: machineArn, input, context: context)
        }
    }

    func listExecutions(
        of machineArn: String, _ input: SFNAPI.ListExecutionsInput, context: RequestContext
    ) async throws -> SFNAPI.ListExecutionsOutput {
        // A version or alias ARN lists the executions started through it.
        let (unqualified, qualifier) = try Self.splitMachineArn(machineArn)
        let machine = try await requireMachine(unqualified, context)
        guard machine.type != .express else {
            throw SFNAPI.Errors.stateMachineTypeNotSupported("This operation is not supported by this type of state machine")
        }
        var filter = StepFunctionsStore.ExecutionFilter(status: input.statusFilter)
        switch qualifier {
        case .none: break
        case .version: filter.versionArn = machineArn
        case .alias: filter.aliasArn = machineArn
        }
        switch input.redriveFilter {
        case .redriven: filter.redriven = true
        case .notRedriven: filter.redriven = false
        case .unmodeled, .none: break
        }
        // Newest first, then by ARN; the token names the last execution listed (its start and ARN), so that
        // executions started meanwhile do not shift pages.
        var after: (micros: Int, arn: String)?
        if let key = try Self.pages.start(input.nextToken) {
            guard let micros = key.number(at: 0), key.parts.count == 2 else { throw Self.pages.invalidToken }
            after = (micros, key.parts[1])
        }
        let size = Self.pages.size(input.maxResults)
        let found = try await store.executionsPage(machineArn: unqualified, filter: filter, after: after, limit: size + 1)
        let page = Self.pages.page(fetched: found, size: size) { PageKey(PageKey.time($0.started), $0.arn) }
        return .init(
            executions: page.items.map {
                .init(
                    executionArn: $0.arn, stateMachineArn: $0.machineArn, name: $0.name, status: $0.status, startDate: $0.started,
                    stopDate: $0.stopped,
                    stateMachineVersionArn: $0.versionArn, stateMachineAliasArn: $0.aliasArn, redriveCount: $0.redriveCount,
                    redriveDate: $0.redriveDate)
            }, nextToken: page.nextToken)
    }

    public func stopExecution(_ input: SFNAPI.StopExecutionInput, context: RequestContext) async throws -> SFNAPI.StopExecutionOutput {
        let e = try await requireExecution(input.executionArn, context)
        guard e.status == .running else { return .init(stopDate: e.stopped ?? Date()) }
        let stopped = try await stop(e, error: input.error, cause: input.cause, context: context)
        return .init(stopDate: stopped)
    }

    /// Stops a running execution: its run is cancelled with the error and cause (its ExecutionAborted event
    /// carries them) and awaited, as the run writes the outcome; an execution not running here is marked ABORTED.
    @discardableResult
    func stop(_ e: StepFunctionsStore.Execution, error: String?, cause: String?, context: RequestContext) async throws -> Date {
        if let run = runs.stop(e.arn, error: error, cause: cause) {
            await run.value
        } else {
            let ending = Ending(stopped: Date(), error: error, cause: cause)
            try await store.finish(e.arn, status: .aborted, output: nil, error: error, cause: cause, stopped: ending.stopped)
            await publish(e, status: .aborted, ending: ending, context: context)
        }
        return try await store.execution(e.arn)?.stopped ?? Date()
    }

    public func getExecutionHistory(
        _ input: SFNAPI.GetExecutionHistoryInput, context: RequestContext
    ) async throws -> SFNAPI.GetExecutionHistoryOutput {
        let e = try await requireExecution(input.executionArn, context)
        let reverse = input.reverseOrder == true
        // The token names the last event listed.
        var after: Int?
        if let key = try Self.pages.start(input.nextToken) {
            guard let id = key.number(at: 0), key.parts.count == 1 else { throw Self.pages.invalidToken }
            after = id
        }
        let size = Self.pages.size(input.maxResults)
        let found = try await store.historyPage(e.arn, after: after, newestFirst: reverse, limit: size)
        let page = Self.pages.page(fetched: found, size: size) { PageKey(PageKey.number($0["id"]?.intValue ?? 0)) }
        var decoder = ShapeDecoder()
        let includeData = input.includeExecutionData ?? true
        let shaped = try page.items.map { event -> SFNAPI.HistoryEvent in
            try SFNAPI.HistoryEvent(json: includeData ? event : Self.withoutData(event), decoder: &decoder, path: "")
        }
        return .init(events: shaped, nextToken: page.nextToken)
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

    public func sendTaskSuccess(_ input: SFNAPI.SendTaskSuccessInput, context: RequestContext) async throws -> SFNAPI.SendTaskSuccessOutput
    {
        try Self.checkToken(input.taskToken)
        guard let output = try? JSON(parsing: input.output) else {
            throw SFNAPI.Errors.invalidOutput("Invalid Output: 'Invalid JSON'")
        }
        try await onToken(input.taskToken) { tokens.complete(input.taskToken, with: .success(output)) }
        return .init()
    }

    public func sendTaskFailure(_ input: SFNAPI.SendTaskFailureInput, context: RequestContext) async throws -> SFNAPI.SendTaskFailureOutput
    {
        try Self.checkToken(input.taskToken)
        let failure = StatesError(input.error ?? "", input.cause ?? "")
        try await onToken(input.taskToken) { tokens.complete(input.taskToken, with: .failure(failure)) }
        return .init()
    }

    public func sendTaskHeartbeat(
        _ input: SFNAPI.SendTaskHeartbeatInput, context: RequestContext
    ) async throws -> SFNAPI.SendTaskHeartbeatOutput {
        try Self.checkToken(input.taskToken)
        try await onToken(input.taskToken) { tokens.beat(input.taskToken) }
        return .init()
    }

    /// Task tokens are 64 hexadecimal digits (``ExecutionEngine``'s); anything else is not a token at all.
    static func checkToken(_ token: String) throws {
        guard token.count == 64, token.allSatisfy(\.isHexDigit) else {
            throw Self.pages.invalidToken
        }
    }

    /// Applies `action` to the state waiting on `token`. When none waits: a task still open is one whose
    /// execution is resuming after a restart, and waits on the token again in a moment; a closed one ended
    /// (completed, failed, timed out, stopped) — AWS's TaskTimedOut, "the task token has either expired or the
    /// task associated with the token has already been closed"; any other token was never issued.
    func onToken(_ token: String, _ action: () -> Bool) async throws {
        if action() { return }
        if let task = try await store.task(token), task.callback {
            if task.status != .closed {
                for _ in 0..<100 {
                    try await Task.sleep(for: .milliseconds(50))
                    if action() { return }
                }
            }
            throw SFNAPI.Errors.taskTimedOut("Task Timed Out: '\(token)'")
        }
        throw SFNAPI.Errors.taskDoesNotExist("Task Does Not Exist: '\(token)'")
    }

    // MARK: Tags

    public func tagResource(_ input: SFNAPI.TagResourceInput, context: RequestContext) async throws -> SFNAPI.TagResourceOutput {
        try await requireTaggable(input.resourceArn, context)
        try await store.addTags(input.resourceArn, input.tags)
        return .init()
    }

    public func untagResource(_ input: SFNAPI.UntagResourceInput, context: RequestContext) async throws -> SFNAPI.UntagResourceOutput {
        try await requireTaggable(input.resourceArn, context)
        try await store.removeTags(input.resourceArn, keys: input.tagKeys)
        return .init()
    }

    public func listTagsForResource(
        _ input: SFNAPI.ListTagsForResourceInput, context: RequestContext
    ) async throws -> SFNAPI.ListTagsForResourceOutput {
        try await requireTaggable(input.resourceArn, context)
        return .init(tags: try await store.tags(input.resourceArn))
    }

    /// Checks that `arn` names a state machine or an activity (the resources Step Functions tags) of the caller's
    /// account and region.
    func requireTaggable(_ arn: String, _ context: RequestContext) async throws {
        guard let parsed = ARN(arn), parsed.service == "states", ["stateMachine", "activity"].contains(parsed.resourceType),
            !parsed.resourceParts(separatedBy: ":").isEmpty
        else {
            throw SFNAPI.Errors.invalidArn("Invalid Arn: 'Resource type not valid in this context: \(arn)'")
        }
        if arn.contains(":activity:"), let activity = try await store.activity(arn), activity.account == context.accountId,
            activity.region == context.region
        {
            return
        }
        if let m = try await store.machine(arn), m.account == context.accountId, m.region == context.region { return }
        throw SFNAPI.Errors.resourceNotFound("Resource not found: '\(arn)'")
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
    let tasks = Mutex<[String: (task: Task<Void, Never>, recorder: HistoryRecorder?)]>([:])
    func add(_ arn: String, _ task: Task<Void, Never>, recorder: HistoryRecorder? = nil) { tasks.withLock { $0[arn] = (task, recorder) } }
    func remove(_ arn: String) { _ = tasks.withLock { $0.removeValue(forKey: arn) } }

    /// Cancels the run of `arn` with StopExecution's error and cause; answers the run to await, nil when none.
    func stop(_ arn: String, error: String?, cause: String?) -> Task<Void, Never>? {
        guard let run = tasks.withLock({ $0[arn] }) else { return nil }
        run.recorder?.setAbortReason(error: error, cause: cause)
        run.task.cancel()
        return run.task
    }
}

extension Optional {
    func asyncMap<U>(_ transform: (Wrapped) async throws -> U) async rethrows -> U? {
        guard let value = self else { return nil }
        return try await transform(value)
    }
}
