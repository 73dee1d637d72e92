import AWSProtocol
import Foundation
import JSONCore
import Logging
import LocalCloud
import States

/// Starting an execution, whichever way it starts: StartExecution (Standard or Express), StartSyncExecution,
/// RedriveExecution, and the resume of the executions that were running when the server stopped. A nested
/// `states:startExecution` task calls StartExecution, so it starts here too.
///
/// Every start takes the same steps: the engine run of the execution's definition and input, its history recorder
/// when it keeps one, the log's line for its start and its "execution ended" line, its status-change events, and,
/// for a run in the background, its entry in ``ExecutionRuns`` until it ends. ``StartMode`` says how they differ.
extension StepFunctionsService {
    /// How an execution starts: whether it keeps a record and a history, whether it runs in the background or
    /// within the request, where it starts from, and what its start tells the log and EventBridge.
    enum StartMode: Sendable {
        /// StartExecution of a Standard workflow, its record inserted RUNNING: runs in the background, its history
        /// recorded as it happens. The run publishes RUNNING before it runs, so that RUNNING always precedes its
        /// final status.
        case standard
        /// StartExecution of a Standard workflow that ends without waiting (``StateMachine/endsWithoutWaiting``),
        /// its record not inserted: runs within the request, then is written, ended, with its whole history in one
        /// write. A run in the background costs a task, and writes of its start, its events and its end apart, for
        /// a run that takes microseconds. Nothing of it can be seen before it has ended, and what a client sees
        /// after is what a run in the background shows once done. The write throws the insert's constraint error
        /// when the name is taken, having written nothing.
        case standardAtOnce
        /// An execution that was running when the server stopped, from its last snapshot (nil: from its start).
        /// `recorded` are the events it recorded after the snapshot: those it repeats keep the times they first
        /// happened at. RUNNING was published when it started; it is not published again.
        case resume(from: ExecutionSnapshot?, replaying: [JSON])
        /// RedriveExecution, from the snapshot of the state where the execution stopped: runs in the background,
        /// and RUNNING is published before the request answers.
        case redrive(from: ExecutionSnapshot)
        /// StartExecution of an Express workflow: runs in the background and is kept nowhere (AWS keeps no history
        /// of Express executions, DescribeExecution does not know them, and no status events are sent).
        case express
        /// StartSyncExecution: an Express execution run within the request, its outcome the answer.
        case synchronousExpress

        /// Express executions keep no record and no history, and publish no status-change events.
        var isExpress: Bool {
            switch self {
            case .express, .synchronousExpress: true
            case .standard, .standardAtOnce, .resume, .redrive: false
            }
        }

        /// Whether the request returns once the run is under way (true) or once it ended.
        var runsInBackground: Bool {
            switch self {
            case .standard, .resume, .redrive, .express: true
            case .standardAtOnce, .synchronousExpress: false
            }
        }

        /// Where the run starts: nil, from the machine's start.
        var snapshot: ExecutionSnapshot? {
            switch self {
            case .resume(let snapshot, _): snapshot
            case .redrive(let snapshot): snapshot
            case .standard, .standardAtOnce, .express, .synchronousExpress: nil
            }
        }

        var replaying: [JSON] {
            if case .resume(_, let recorded) = self { return recorded }
            return []
        }
    }

    /// Starts `execution` as `mode` says. `machine` and `input`, when the caller has them, are the execution's
    /// definition and input already parsed. An execution run within the request answers how it ended; one run in
    /// the background, nil.
    @discardableResult
    func start(
        _ execution: StepFunctionsStore.Execution, mode: StartMode, machine: StateMachine? = nil, input: JSON? = nil,
        context: RequestContext
    ) async throws -> (outcome: ExecutionOutcome, ending: Ending)? {
        let machine = try machine ?? definitions.machine(execution.definition)
        let engine = ExecutionEngine(machine: machine, integrations: integrations(context))
        let input = input ?? (try? JSON(parsing: execution.input)) ?? [:]
        let executionContext = self.executionContext(execution)
        // A run within the request writes its whole record once it has ended: its recorder holds what it records.
        let recorder =
            mode.isExpress
            ? nil
            : HistoryRecorder(store: store, executionArn: execution.arn, holding: !mode.runsInBackground, replaying: mode.replaying)
        guard mode.runsInBackground else {
            let outcome = await engine.run(input: input, context: executionContext, observer: recorder)
            let ending = self.ending(of: outcome, recorder: recorder, mode: mode)
            let status = SFNAPI.ExecutionStatus(outcome.status)
            if let recorder {
                var ended = execution
                ended.status = status
                (ended.output, ended.error, ended.cause, ended.stopped) = (ending.output, ending.error, ending.cause, ending.stopped)
                // The last snapshot of an execution that did not succeed stays, for RedriveExecution (as ``StepFunctionsStore/finish``).
                ended.snapshot = outcome.status == .succeeded ? nil : recorder.heldSnapshot?.serialized()
                try await store.insertEnded(ended) { db in try recorder.writeHeldEvents(into: db) }
            }
            // Nothing of a run within the request is seen before it ended: its start is logged with its end.
            logStart(execution, mode: mode, context: context)
            logEnded(execution.arn, status: status, started: execution.started, ending: ending, context: context)
            // Events reach EventBridge asynchronously, as in AWS; RUNNING first.
            if !mode.isExpress, await environment.directory.hasEventRules(context: context) {
                Task {
                    await publish(execution, status: .running, context: context)
                    await publish(execution, status: status, ending: ending, context: context)
                }
            }
            return (outcome, ending)
        }
        logStart(execution, mode: mode, context: context)
        let publishesRunningFirst = if case .standard = mode { true } else { false }
        let snapshot = mode.snapshot
        let service = self
        let task = Task {
            // Events reach EventBridge asynchronously, as in AWS: the caller does not wait for rule matching.
            if publishesRunningFirst { await service.publish(execution, status: .running, context: context) }
            let outcome = await engine.run(input: input, context: executionContext, resumingFrom: snapshot, observer: recorder)
            // This task is the one writer of the outcome: StopExecution cancels it and waits for it, so the
            // status, the ExecutionAborted event and the published event agree.
            let ending = service.ending(of: outcome, recorder: recorder, mode: mode)
            let status = SFNAPI.ExecutionStatus(outcome.status)
            if let recorder {
                await recorder.finish(status: status, ending: ending)
            }
            service.logEnded(execution.arn, status: status, started: execution.started, ending: ending, context: context)
            if !mode.isExpress {
                await service.publish(execution, status: status, ending: ending, context: context)
            }
            service.runs.remove(execution.arn)
        }
        runs.add(execution.arn, task, recorder: recorder)
        if case .redrive = mode { await publish(execution, status: .running, context: context) }
        return nil
    }

    /// How a run ended. A stopped execution ends with the error and cause StopExecution gave its recorder; an
    /// Express execution started in the background answers no one and keeps nothing: its output is not serialized.
    private func ending(of outcome: ExecutionOutcome, recorder: HistoryRecorder?, mode: StartMode) -> Ending {
        let aborted = outcome.status == .aborted
        let reason = recorder?.abortReason ?? (error: nil, cause: nil)
        let keepsOutput = !(mode.isExpress && mode.runsInBackground)
        return Ending(
            stopped: Date(), output: keepsOutput ? outcome.output?.serialized() : nil,
            error: aborted ? reason.error : outcome.error, cause: aborted ? reason.cause : outcome.cause)
    }

    /// The log's line for an execution's start: "execution started", or how it started again.
    private func logStart(_ execution: StepFunctionsStore.Execution, mode: StartMode, context: RequestContext) {
        switch mode {
        case .resume(let snapshot, _):
            logExecution("execution resumed", execution.arn, context: context, ["from-event": "\(snapshot?.lastEventId ?? 0)"])
        case .redrive:
            logExecution("execution redriven", execution.arn, context: context, ["redrive-count": "\(execution.redriveCount)"])
        case .standard, .standardAtOnce, .express, .synchronousExpress:
            logExecution("execution started", execution.arn, context: context)
        }
    }

    /// The record of an Express execution, which is kept nowhere: its ARN is new at each start, even with a name
    /// already used.
    static func expressExecution(
        _ target: ExecutionTarget, name: String, input: String, context: RequestContext
    ) -> StepFunctionsStore.Execution {
        let m = target.machine
        return StepFunctionsStore.Execution(
            arn: context.arn(service: "states", resource: "express:\(m.name):\(name):\(RandomUUID.make())"),
            account: context.accountId, region: context.region, machineArn: m.arn, name: name, status: .running, input: input,
            started: Date(), definition: target.definition, roleArn: target.roleArn, versionArn: target.versionArn,
            aliasArn: target.aliasArn,
            revisionId: target.revisionId)
    }

    /// What the context object (`$$.Execution`, `$$.StateMachine`) tells the states of `execution`.
    func executionContext(_ execution: StepFunctionsStore.Execution) -> ExecutionContext {
        ExecutionContext(
            executionArn: execution.arn, name: execution.name, stateMachineArn: execution.machineArn,
            stateMachineName: Self.lastARNComponent(execution.machineArn), roleArn: execution.roleArn, startTime: execution.started,
            redriveCount: execution.redriveCount, redriveTime: execution.redriveDate,
            stateMachineVersionArn: execution.versionArn, stateMachineAliasArn: execution.aliasArn)
    }

    // MARK: The log and status-change events

    /// How an execution ended, for its last status-change event.
    struct Ending: Sendable {
        var stopped: Date
        var output: String?
        var error: String?
        var cause: String?
    }

    /// A line of the server log about one execution.
    func logExecution(_ message: Logger.Message, _ arn: String, context: RequestContext, _ extra: Logger.Metadata = [:]) {
        var metadata: Logger.Metadata = [
            "service": "states", "account": "\(context.accountId)", "region": "\(context.region)", "execution": "\(arn)",
        ]
        metadata.merge(extra) { $1 }
        environment.logger.info(message, metadata: metadata)
    }

    /// The server log's line for an execution that ended: its status, its error, and how long it ran.
    func logEnded(_ arn: String, status: SFNAPI.ExecutionStatus, started: Date, ending: Ending, context: RequestContext) {
        guard environment.logger.logLevel <= .info else { return }
        var extra: Logger.Metadata = [
            "status": "\(status)", "duration-ms": "\(Int((ending.stopped.timeIntervalSince(started) * 1000).rounded()))",
        ]
        if let error = ending.error { extra["error"] = "\(error)" }
        logExecution("execution ended", arn, context: context, extra)
    }

    /// Publishes the "Step Functions Execution Status Change" event AWS sends to the default bus. `ending` is
    /// given for the statuses that end an execution (the run that ended it knows how, so nothing is read back).
    func publish(
        _ execution: StepFunctionsStore.Execution, status: SFNAPI.ExecutionStatus, ending: Ending? = nil, context: RequestContext
    ) async {
        let store = self.store
        await environment.directory.publish(context: context) {
            var ended = execution
            ended.status = status
            ended.stopped = ending?.stopped
            let machine = try? await store.machine(execution.machineArn)
            let last = Self.mayBeRedrivable(status) ? try? await store.lastEventId(execution.arn) : nil
            let notRedrivable = Self.notRedrivableReason(ended, machine: machine, lastEventId: last)
            var detail: JSONObject = [
                "executionArn": .string(execution.arn), "stateMachineArn": .string(execution.machineArn), "name": .string(execution.name),
                "status": .string(status.rawValue), "startDate": .number((execution.started.timeIntervalSince1970 * 1000).rounded()),
                "stopDate": ending.map { .number(($0.stopped.timeIntervalSince1970 * 1000).rounded()) } ?? .null,
                "input": .string(execution.input), "inputDetails": ["included": true],
                "output": ending?.output.map { .string($0) } ?? .null, "outputDetails": ending?.output == nil ? .null : ["included": true],
                "error": ending?.error.map { .string($0) } ?? .null, "cause": ending?.cause.map { .string($0) } ?? .null,
                "redriveCount": .number(Double(execution.redriveCount)),
                "redriveDate": execution.redriveDate.map { .number(($0.timeIntervalSince1970 * 1000).rounded()) } ?? .null,
                "redriveStatus": .string(notRedrivable == nil ? "REDRIVABLE" : "NOT_REDRIVABLE"),
            ]
            detail["redriveStatusReason"] = notRedrivable.map(JSON.string) ?? .null
            return ServiceEvent(
                source: "aws.states", detailType: "Step Functions Execution Status Change", detail: .object(detail),
                resources: [execution.arn])
        }
    }
}
