import Foundation
import JSONCore
import Synchronization
import Testing

@testable import States

/// Executions run on threads of their own: not on the caller's (an event loop), and not on Swift's global executor,
/// whose few threads the rest of the process needs.
@Suite struct ExecutionThreadsTests {
    @Test func anExecutionsWorkRunsOnTheExecutionThreads() async throws {
        let places = Mutex<[Bool]>([])
        let tasks = ScriptedTasks { _, _ in
            places.withLock { $0.append(ExecutionThreads.shared.runsCallersThread) }
            return [:]
        }
        let outcome = try await run(
            #"{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke","End":true}}}"#, tasks: tasks)
        #expect(outcome.status == .succeeded)
        #expect(places.withLock { $0 } == [true])
    }

    /// Jobs held running on every thread of another pool do not keep a pool's jobs from running: each pool's threads
    /// are its own.
    @Test func aPoolsJobsRunWhileAnotherPoolIsHeld() async throws {
        let held = ExecutionThreads(count: 1)
        let free = ExecutionThreads(count: 1)
        let release = Mutex(false)
        let holding = Task(executorPreference: held) {
            while !release.withLock({ $0 }) { usleep(1000) }  // a long expression, holding its thread
        }
        let ranOnFree = await Task(executorPreference: free) { free.runsCallersThread }.value
        #expect(ranOnFree)
        release.withLock { $0 = true }
        await holding.value
    }
}
