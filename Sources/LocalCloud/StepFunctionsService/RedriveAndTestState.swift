import AWSProtocol
import Foundation
import JSONCore
import LocalCloud
import States

extension StepFunctionsService {
    // MARK: RedriveExecution

    /// Restarts a failed, timed-out or aborted Standard execution from the state where it stopped, keeping its
    /// history (an `ExecutionRedriven` event, then the redriven states' events) and the outputs of the states it
    /// already finished. In a Map or Parallel state that failed, the iterations and branches that succeeded are
    /// not run again.
    public func redriveExecution(
        _ input: SFNAPI.RedriveExecutionInput, context: RequestContext
    ) async throws -> SFNAPI.RedriveExecutionOutput {
        let execution = try await requireExecution(input.executionArn, context)
        let last = try await store.lastEventId(execution.arn)
        if let reason = Self.notRedrivableReason(execution, machine: try await store.machine(execution.machineArn), lastEventId: last) {
            throw SFNAPI.Errors.executionNotRedrivable("Execution cannot be redriven: \(reason)")
        }
        let machine = try Self.parseDefinition(execution.definition)
        // Redriving a Map reruns only the iterations that did not succeed, as in AWS. A snapshot that cannot be
        // read does not say where the execution stopped: rerunning it from its start would repeat what it did.
        let saved: ExecutionSnapshot?
        do {
            saved = try await loadSnapshot(execution)
        } catch let error as SnapshotFormatError {
            throw SFNAPI.Errors.executionNotRedrivable(
                "Execution cannot be redriven: the state it stopped in cannot be read (\(error.reason))")
        }
        var snapshot =
            saved
            ?? ExecutionSnapshot(
                nextState: machine.startAt, input: (try? JSON(parsing: execution.input)) ?? [:], variables: [:], lastEventId: 0)
        let now = Date()
        guard try await store.redrive(execution.arn, at: now) else {
            throw SFNAPI.Errors.executionNotRedrivable("Execution cannot be redriven: its status changed meanwhile")
        }
        let redriven = HistoryEvent(
            id: last + 1, previousEventId: last, timestamp: now, type: "ExecutionRedriven",
            detailsKey: "executionRedrivenEventDetails", details: ["redriveCount": .number(Double(execution.redriveCount + 1))])
        await store.append(event: redriven.json, id: redriven.id, to: execution.arn)
        // Branch keys start with the generation (the snapshot's event id): carry them over to the new one.
        let (oldPrefix, newPrefix) = ("g\(snapshot.lastEventId)/", "g\(redriven.id)/")
        snapshot.branches = Dictionary(
            uniqueKeysWithValues: snapshot.branches.map { key, progress in
                (key.hasPrefix(oldPrefix) ? newPrefix + key.dropFirst(oldPrefix.count) : key, progress)
            })
        snapshot.lastEventId = redriven.id
        var running = execution
        running.status = .running
        running.redriveCount += 1
        running.redriveDate = now
        try await start(running, mode: .redrive(from: snapshot), context: context)
        return .init(redriveDate: now)
    }

    /// Why an execution cannot be redriven, in the model's words (DescribeExecution's redriveStatusReason), or nil
    /// when it can: failed, timed out or aborted, within 14 days of stopping, its machine not being deleted, and
    /// room left in its history (`lastEventId`, when known) for the redrive's events.
    static func notRedrivableReason(
        _ e: StepFunctionsStore.Execution, machine: StepFunctionsStore.Machine?, lastEventId: Int?, now: Date = Date()
    ) -> String? {
        if machine == nil || machine?.status == .deleting { return "State machine is in DELETING status" }
        switch e.status {
        case .running, .succeeded: return "Execution is \(e.status) and cannot be redriven"
        default: break
        }
        // ExecutionRedriven and an event that ends the execution need two places.
        if let lastEventId, lastEventId + 2 > ExecutionEngine.maxHistoryEvents { return "Execution history event limit exceeded" }
        if now.timeIntervalSince(e.stopped ?? e.started) > 14 * 86400 { return "Execution redrivable period exceeded" }
        return nil
    }

    // MARK: TestState

    /// Runs one state once with the given input (and variables) and reports what happened, without creating a
    /// state machine or an execution. Task states call their services for real, as in AWS; `mock` replaces the
    /// call with a result or an error.
    public func testState(_ input: SFNAPI.TestStateInput, context: RequestContext) async throws -> SFNAPI.TestStateOutput {
        guard let json = try? JSON(parsing: input.definition), case .object(let object) = json else {
            throw SFNAPI.Errors.invalidDefinition("Invalid State Machine Definition: 'The definition is not valid JSON'")
        }
        let state: StateDefinition
        do {
            if object["States"] != nil {
                // A whole machine: the state to test is named by stateName (or is its StartAt).
                let machine = try StateMachine(json: json)
                let name = input.stateName ?? machine.startAt
                guard let named = machine.states[name] else {
                    throw SFNAPI.Errors.validationException("State '\(name)' does not exist in the state machine definition")
                }
                state = named
            } else {
                state = try StateDefinition.standalone(name: input.stateName ?? "TestState", json: json)
            }
        } catch let error as DefinitionError {
            throw SFNAPI.Errors.invalidDefinition("Invalid State Machine Definition: '\(error.description)'")
        }
        guard let stateInput = try? JSON(parsing: input.input ?? "{}") else {
            throw SFNAPI.Errors.invalidExecutionInput("Invalid State Machine Execution Input: 'Invalid JSON'")
        }
        var variables: [String: JSON] = [:]
        if let text = input.variables {
            guard case .object(let object)? = try? JSON(parsing: text) else {
                throw SFNAPI.Errors.validationException("Invalid variables: the variables must be a JSON object")
            }
            for (key, value) in object { variables[key] = value }
        }
        // Without a mock, TestState runs no activity, no .sync or .waitForTaskToken task and no Map or Parallel
        // state (AWS: "TestState only supports the following when a mock is specified"); a context object too
        // needs a mock.
        if input.mock == nil {
            let resource = state.resource ?? ""
            let needsMock =
                state.type == .map || state.type == .parallel || resource.contains(":activity:")
                || resource.hasSuffix(".sync") || resource.hasSuffix(".sync:2") || resource.hasSuffix(".waitForTaskToken")
            if needsMock {
                throw SFNAPI.Errors.validationException(
                    "TestState supports Activity tasks, the .sync and .waitForTaskToken integration patterns, and Parallel and Map states only when a mock is specified"
                )
            }
            if input.context != nil {
                throw SFNAPI.Errors.validationException("The context field may only be specified together with a mock")
            }
        }
        var contextObject: JSON?
        if let text = input.context {
            guard case .object? = try? JSON(parsing: text) else {
                throw SFNAPI.Errors.validationException("Invalid context: the context must be a JSON object")
            }
            contextObject = try? JSON(parsing: text)
        }
        let integrations: any TaskIntegration = try input.mock.map { try MockedIntegration($0) } ?? self.integrations(context)
        let machine = try StateMachine(json: ["StartAt": .string(state.name), "States": .object([state.name: ["Type": "Succeed"]])])
        // Wait states do not wait in a test, as in AWS.
        let engine = ExecutionEngine(machine: machine, integrations: integrations, clock: ImmediateClock())
        let arn = context.arn(service: "states", resource: "execution:TestStateMachine:\(RandomUUID.make())")
        let result = await engine.test(
            state, input: stateInput, context: ExecutionContext(executionArn: arn, name: "TestState", roleArn: input.roleArn ?? ""),
            variables: variables, contextObject: contextObject)
        let level = input.inspectionLevel ?? .info
        var inspection: SFNAPI.InspectionData?
        if level != .info {
            let step = { (name: String) in result.inspection[name]?.serialized() }
            inspection = .init(
                input: stateInput.serialized(), afterArguments: step("afterArguments"), afterInputPath: step("afterInputPath"),
                afterParameters: step("afterParameters"), result: step("result") ?? result.output?.serialized(),
                afterResultSelector: step("afterResultSelector"), afterResultPath: step("afterResultPath"),
                variables: JSON.object(
                    JSONObject(uniqueKeysWithValues: result.variables.sorted { $0.key < $1.key }.map { ($0.key, $0.value) })
                ).serialized())
        }
        return .init(
            output: result.output?.serialized(), error: result.error, cause: result.cause, inspectionData: inspection,
            nextState: result.nextState, status: .init(rawValue: result.status.rawValue))
    }
}

/// A clock whose waits end at once, for TestState.
struct ImmediateClock: StatesClock {
    func now() -> Date { Date() }
    func sleep(seconds: Double) async throws {}
}

/// TestState's `mock`: the Task state's call answers the given result, or fails with the given error.
struct MockedIntegration: TaskIntegration {
    let result: Result<JSON, StatesError>

    init(_ mock: SFNAPI.MockInput) throws {
        if let text = mock.result {
            guard let value = try? JSON(parsing: text) else {
                throw SFNAPI.Errors.validationException("Invalid mock result: the result must be valid JSON")
            }
            result = .success(value)
        } else if let failure = mock.errorOutput {
            result = .failure(StatesError(failure.error ?? "", failure.cause ?? ""))
        } else {
            throw SFNAPI.Errors.validationException("A mock needs a result or an errorOutput")
        }
    }

    func invoke(_ task: TaskInvocation) async throws -> JSON { try result.get() }
}
