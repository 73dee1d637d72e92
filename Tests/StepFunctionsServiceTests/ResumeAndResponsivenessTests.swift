import AWSProtocol
import Foundation
import JSONCore
import LocalCloud
import States
import Synchronization
import Testing

@testable import StepFunctionsService

private let role = "arn:aws:iam::000000000000:role/r"
private let twoPasses =
    #"{"StartAt":"First","States":{"First":{"Type":"Pass","Result":"ran","ResultPath":"$.first","Next":"Done"},"Done":{"Type":"Pass","End":true}}}"#

private func service(of cloud: Cloud) throws -> StepFunctionsService {
    try #require(cloud.services.lazy.compactMap { $0 as? StepFunctionsService }.first)
}

/// An execution the server was running when it stopped, recorded as a run would have left it: RUNNING, with
/// `events` history events and `snapshot` as its last snapshot.
private func runningExecution(
    _ cloud: Cloud, definition: String = twoPasses, events: Int, snapshot: String?
) async throws -> StepFunctionsStore.Execution {
    let store = try service(of: cloud).store
    let machine = try #require(
        await call(cloud, "CreateStateMachine", ["name": "m", "roleArn": .string(role), "definition": .string(definition)]).1[
            "stateMachineArn"]?.stringValue)
    let arn = "arn:aws:states:us-east-1:000000000000:execution:m:e"
    try await store.insert(
        .init(
            arn: arn, account: "000000000000", region: "us-east-1", machineArn: machine, name: "e", status: .running,
            input: "{}", started: Date(), definition: definition, roleArn: role, snapshot: nil))
    for id in stride(from: 1, through: events, by: 1) {
        let event = HistoryEvent(
            id: id, previousEventId: id - 1, timestamp: Date(), type: id == 1 ? "ExecutionStarted" : "PassStateEntered")
        await store.append(event: event.json, id: id, to: arn)
    }
    if let snapshot { try await store.saveSnapshot(snapshot, for: arn) }
    return try #require(await store.execution(arn))
}

private func historyTypes(_ cloud: Cloud, _ arn: String) async -> [String] {
    await call(cloud, "GetExecutionHistory", ["executionArn": .string(arn), "maxResults": 1000]).1["events"]?.arrayValue?.compactMap {
        $0["type"]?.stringValue
    } ?? []
}

/// A restarted server resumes each running execution where its snapshot says it stood. One it cannot resume so
/// (a snapshot that does not read, a definition no longer valid) fails with States.Runtime and a cause, keeping
/// its history; it never runs again from its start, repeating the states it finished, and never stops the server.
@Suite struct ResumeFailureTests {
    @Test func anUnreadableSnapshotFailsTheExecutionAndKeepsItsHistory() async throws {
        let cloud = try makeCloud()
        let execution = try await runningExecution(
            cloud, events: 3, snapshot: #"{"format":2,"nextState":"Done","input":"{\"unterminated\": "}"#)
        try await service(of: cloud).resume(execution)
        let done = await waitForEnd(cloud, .string(execution.arn))
        #expect(done["status"] == "FAILED")
        #expect(done["error"] == "States.Runtime")
        #expect(done["cause"]?.stringValue?.hasPrefix("The execution could not be resumed after the server restarted: ") == true, "\(done)")
        #expect(
            await historyTypes(cloud, execution.arn) == ["ExecutionStarted", "PassStateEntered", "PassStateEntered", "ExecutionFailed"])
    }

    @Test func anUnreadableBranchFailsTheExecution() async throws {
        let cloud = try makeCloud()
        let snapshot = ExecutionSnapshot(nextState: "Done", input: [:], variables: [:], lastEventId: 2).serialized()
        let execution = try await runningExecution(cloud, events: 2, snapshot: snapshot)
        try await service(of: cloud).store.saveBranch(execution.arn, key: "g2/Done[0]", progress: "{not json")
        try await service(of: cloud).resume(execution)
        let done = await waitForEnd(cloud, .string(execution.arn))
        #expect(done["status"] == "FAILED")
        #expect(done["error"] == "States.Runtime")
        #expect(await historyTypes(cloud, execution.arn) == ["ExecutionStarted", "PassStateEntered", "ExecutionFailed"])
    }

    /// A definition valid when the execution started but refused now (here a Wait of more than 99999999
    /// seconds) fails the execution rather than leaving it RUNNING for ever.
    @Test func aDefinitionRefusedNowFailsTheExecution() async throws {
        let cloud = try makeCloud()
        let refused = #"{"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":1e16,"End":true}}}"#
        let execution = try await runningExecution(cloud, events: 2, snapshot: nil)
        var stale = execution
        stale.definition = refused
        try await service(of: cloud).resume(stale)
        let done = await waitForEnd(cloud, .string(execution.arn))
        #expect(done["status"] == "FAILED")
        #expect(
            done["cause"]?.stringValue?.contains("The value for the field 'Seconds' must be an integer between 0 and 99999999") == true,
            "\(done)")
    }

    /// Data as deep as the parser reads is in the snapshot as the execution held it: the execution resumes from
    /// the state it stood before, not from its start.
    @Test func dataAsDeepAsTheParserReadsResumesWhereItStood() async throws {
        let cloud = try makeCloud()
        var deep: JSON = 0
        for _ in 0..<JSON.maximumParseDepth { deep = [deep] }
        let snapshot = ExecutionSnapshot(nextState: "Done", input: deep, variables: ["v": deep], lastEventId: 5).serialized()
        let execution = try await runningExecution(cloud, events: 5, snapshot: snapshot)
        try await service(of: cloud).resume(execution)
        let done = await waitForEnd(cloud, .string(execution.arn))
        #expect(done["status"] == "SUCCEEDED")
        // `First` did not run again: its result is not in the output.
        #expect(try JSON(parsing: done["output"]?.stringValue ?? "") == deep)
        let types = await historyTypes(cloud, execution.arn)
        #expect(types.prefix(5) == ["ExecutionStarted", "PassStateEntered", "PassStateEntered", "PassStateEntered", "PassStateEntered"])
        #expect(types.dropFirst(5) == ["PassStateEntered", "PassStateExited", "ExecutionSucceeded"])
    }

    /// A redrive needs to know where the execution stopped: a snapshot that does not read refuses it rather
    /// than rerunning the execution from its start.
    @Test func anUnreadableSnapshotIsNotRedriven() async throws {
        let cloud = try makeCloud()
        let execution = try await runningExecution(cloud, events: 2, snapshot: "{garbage")
        try await service(of: cloud).resume(execution)
        #expect(await waitForEnd(cloud, .string(execution.arn))["status"] == "FAILED")
        let redriven = await call(cloud, "RedriveExecution", ["executionArn": .string(execution.arn)]).1
        #expect(redriven["__type"] == "ExecutionNotRedrivable")
        #expect(await call(cloud, "DescribeExecution", ["executionArn": .string(execution.arn)]).1["status"] == "FAILED")
    }

    /// The events a run recorded after its snapshot, before the server stopped, are recorded again as it resumes:
    /// those it repeats keep the times they happened at, and one it does not repeat is dropped.
    @Test func repeatedEventsKeepTheirFirstTimesAndOthersAreDropped() async throws {
        let cloud = try makeCloud()
        let snapshot = ExecutionSnapshot(nextState: "First", input: [:], variables: [:], lastEventId: 1).serialized()
        let execution = try await runningExecution(cloud, events: 1, snapshot: snapshot)
        let store = try service(of: cloud).store
        let before = Date(timeIntervalSince1970: 1_700_000_000)
        let entered = HistoryEvent(
            id: 2, previousEventId: 1, timestamp: before, type: "PassStateEntered",
            detailsKey: "stateEnteredEventDetails", details: ["name": "First", "input": "{}"])
        // Recorded by the previous run, but not what this run does next: it goes away.
        let stray = HistoryEvent(id: 3, previousEventId: 2, timestamp: before, type: "WaitStateEntered")
        await store.append(event: entered.json, id: 2, to: execution.arn)
        await store.append(event: stray.json, id: 3, to: execution.arn)
        try await service(of: cloud).resume(try #require(await store.execution(execution.arn)))
        #expect(await waitForEnd(cloud, .string(execution.arn))["status"] == "SUCCEEDED")
        let events =
            await call(cloud, "GetExecutionHistory", ["executionArn": .string(execution.arn), "maxResults": 1000]).1["events"]?.arrayValue
            ?? []
        #expect(
            events.compactMap { $0["type"]?.stringValue } == [
                "ExecutionStarted", "PassStateEntered", "PassStateExited", "PassStateEntered", "PassStateExited", "ExecutionSucceeded",
            ])
        #expect(events.compactMap { $0["id"]?.intValue } == Array(1...6))
        #expect(events[1]["timestamp"]?.numberValue == before.timeIntervalSince1970, "the repeated event keeps its first time")
        #expect((events[2]["timestamp"]?.numberValue ?? 0) > before.timeIntervalSince1970)
    }

    @Test func aMadeUpPageTokenIsRefusedNotOverflowed() async throws {
        let cloud = try makeCloud()
        let machine = try #require(
            await call(cloud, "CreateStateMachine", ["name": "m", "roleArn": .string(role), "definition": .string(twoPasses)]).1[
                "stateMachineArn"])
        for key in ["-9223372036854775807|x", "9223372036854775807|x"] {
            let token = Data(("skiff-page:" + key).utf8).base64EncodedString()
            #expect(
                await call(cloud, "ListExecutions", ["stateMachineArn": machine, "nextToken": .string(token)]).1["__type"] == "InvalidToken"
            )
        }
    }
}

/// Runs a task's jobs one at a time on one serial queue: a stand-in for an HTTP event loop, whose thread also
/// reads and answers every other request of its connections.
final class SerialTaskExecutor: TaskExecutor, @unchecked Sendable {
    let queue = DispatchQueue(label: "serial-task-executor")

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let executor = asUnownedTaskExecutor()
        queue.async { job.runSynchronously(on: executor) }
    }
}

/// A request whose execution runs long expressions does not hold the thread that answers it: the local cloud
/// answers requests on event loops, and an execution run within StartExecution (a machine of Pass states only),
/// StartSyncExecution or TestState runs its expressions on the global executor.
@Suite struct ResponsivenessTests {
    /// Twenty Pass states, each evaluating a JSONata expression that takes about a third of a second (in a debug
    /// build on a quiet machine): the execution runs for several seconds, each expression far within JSONata's
    /// time limit even on a loaded machine.
    static let slow: String = {
        let expression = "{% $count($filter([1..60000], function($v) { $v % 7 = 0 })) %}"
        let states = (0..<20).map { i in
            #""S\#(i)":{"Type":"Pass","Output":"\#(expression)",\#(i == 19 ? #""End":true"# : #""Next":"S\#(i + 1)""#)}"#
        }
        return #"{"QueryLanguage":"JSONata","StartAt":"S0","States":{\#(states.joined(separator: ","))}}"#
    }()

    @Test func aLongExecutionInARequestDoesNotHoldItsThread() async throws {
        let cloud = try makeCloud()
        let machine = try #require(
            await call(cloud, "CreateStateMachine", ["name": "slow", "roleArn": .string(role), "definition": .string(Self.slow)]).1[
                "stateMachineArn"])
        let loop = SerialTaskExecutor()
        let finished = Mutex(false)
        let started = ContinuousClock.now
        let long = Task(executorPreference: loop) {
            let answer = await call(cloud, "StartExecution", ["stateMachineArn": machine])
            finished.withLock { $0 = true }
            return answer
        }
        try await Task.sleep(for: .milliseconds(200))
        // On the same thread as the execution's request, while it runs.
        let listed = await Task(executorPreference: loop) { await call(cloud, "ListStateMachines", [:]) }.value
        let described = await Task(executorPreference: loop) { await call(cloud, "DescribeStateMachine", ["stateMachineArn": machine]) }
            .value
        let answeredAfter = started.duration(to: .now)
        #expect(!finished.withLock { $0 }, "the other requests were answered only once the execution had ended, after \(answeredAfter)")
        #expect(listed.0 == 200 && listed.1["stateMachines"]?.arrayValue?.count == 1)
        #expect(described.1["name"] == "slow")
        let (status, body) = await long.value
        let ranFor = started.duration(to: .now)
        #expect(status == 200, "ran for \(ranFor)")
        let done = await call(cloud, "DescribeExecution", ["executionArn": body["executionArn"]!]).1
        #expect(done["status"] == "SUCCEEDED", "\(done)")
    }
}
