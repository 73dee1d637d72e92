import Foundation
import JSONCore

/// Retry and Catch: what a state's failure comes to (another attempt, a Catch's Next state, or the failure itself).
extension ExecutionRun {
    func runStateWithRecovery(_ state: StateDefinition, input: JSON, scope: VariableScope, parentEventId: Int) async throws -> StateOutcome
    {
        var attempts = [Int](repeating: 0, count: state.retry.count)
        var retryCount = 0
        while true {
            try checkHistoryRoom()
            do {
                return try await runState(state, input: input, scope: scope, retryCount: retryCount)
            } catch let error as StatesError {
                if error.error == "States.QueryEvaluationError" {
                    await emit(
                        "EvaluationFailed", previous: lastEventId, "evaluationFailedEventDetails",
                        [
                            "error": .string(error.error), "cause": .string(error.cause), "state": .string(state.name),
                        ])
                }
                if let index = state.retry.firstIndex(where: { Self.matches($0.errorEquals, error.error) }) {
                    let retrier = state.retry[index]
                    if attempts[index] < retrier.maxAttempts {
                        var delay = retrier.intervalSeconds * pow(retrier.backoffRate, Double(attempts[index]))
                        // However fast it grows (a BackoffRate of 1e300 makes it infinite at once), a retry waits at
                        // most MaxDelaySeconds, and without one at most the year an execution can last.
                        let cap = retrier.maxDelaySeconds ?? NumberBounds.maxRetryDelay
                        if !(delay <= cap) { delay = cap }
                        if retrier.jitterFull { delay = Double.random(in: 0...delay) }
                        attempts[index] += 1
                        retryCount += 1
                        try await engine.clock.sleep(seconds: delay)
                        continue
                    }
                }
                guard let catcher = state.catchers.first(where: { Self.matches($0.errorEquals, error.error) }) else { throw error }
                return try caught(error, by: catcher, state: state, input: input, scope: scope, retryCount: retryCount)
            }
        }
    }

    /// The output a Catch hands to its Next state: the error output placed at ResultPath (JSONPath) or the
    /// catcher's Output (JSONata), after its Assign (which sees the error output as `$` in JSONPath).
    func caught(
        _ error: StatesError, by catcher: Catcher, state: StateDefinition, input: JSON, scope: VariableScope, retryCount: Int = 0
    ) throws -> StateOutcome {
        let errorOutput: JSON = ["Error": .string(error.error), "Cause": .string(error.cause)]
        let context = contextObject(state: state, retryCount: retryCount)
        if state.queryLanguage == .jsonata {
            let states: JSON = ["input": input, "errorOutput": errorOutput, "context": context]
            let output =
                try catcher.output.map { try evaluateTemplate($0, states: states, scope: scope, field: "Catch.Output") } ?? errorOutput
            let assigned = try catcher.assign.map { try assignJSONata($0, states: states, scope: scope, field: "Catch.Assign") }
            try checkOutput(output, state: state)
            return StateOutcome(output: output, next: catcher.next, assigned: assigned)
        }
        let assigned = try catcher.assign.map { try PayloadTemplate.resolve($0, input: errorOutput, context: context, variables: scope) }
        let output = catcher.resultPathIsNull ? input : try JSONPath.placing(errorOutput, at: catcher.resultPath ?? "$", in: input)
        try checkOutput(output, state: state)
        return StateOutcome(output: output, next: catcher.next, assigned: try assigned.map { try commitAssign($0, scope: scope) })
    }

    /// One attempt of one state, as TestState reports it: a matching Retry is not waited for (RETRIABLE) and a
    /// matching Catch is applied (CAUGHT_ERROR).
    func testOnce(_ state: StateDefinition, input: JSON, scope: VariableScope) async -> TestStateResult {
        do {
            let outcome = try await runState(state, input: input, scope: scope)
            return TestStateResult(status: .succeeded, output: outcome.output, nextState: outcome.next, variables: scope.values)
        } catch let error as StatesError {
            if error.error != "States.Runtime", state.retry.contains(where: { Self.matches($0.errorEquals, error.error) }) {
                return TestStateResult(status: .retriable, error: error.error, cause: error.cause, variables: scope.values)
            }
            if let catcher = state.catchers.first(where: { Self.matches($0.errorEquals, error.error) }) {
                do {
                    let outcome = try caught(error, by: catcher, state: state, input: input, scope: scope)
                    return TestStateResult(
                        status: .caughtError, output: outcome.output, error: error.error, cause: error.cause, nextState: catcher.next,
                        variables: scope.values)
                } catch let failure as StatesError {
                    return TestStateResult(status: .failed, error: failure.error, cause: failure.cause, variables: scope.values)
                } catch {
                    return TestStateResult(status: .failed, error: "States.Runtime", cause: "\(error)", variables: scope.values)
                }
            }
            return TestStateResult(status: .failed, error: error.error, cause: error.cause, variables: scope.values)
        } catch {
            return TestStateResult(status: .failed, error: "States.Runtime", cause: "\(error)", variables: scope.values)
        }
    }

    /// Whether an ErrorEquals list names `error`. States.ALL matches all but States.Runtime and
    /// States.DataLimitExceeded, which are never retried nor caught. States.TaskFailed "matches any known error
    /// name except for States.Timeout" (AWS's error handling guide); a heartbeat timeout is a States.Timeout too.
    static func matches(_ names: [String], _ error: String) -> Bool {
        if error == "States.Runtime" || error == "States.DataLimitExceeded" { return false }
        let isTimeout = error == "States.Timeout" || error == "States.HeartbeatTimeout"
        for name in names {
            if name == error || name == "States.ALL" { return true }
            // States.Timeout names both kinds of task timeout: TimeoutSeconds and HeartbeatSeconds.
            if name == "States.Timeout" && error == "States.HeartbeatTimeout" { return true }
            if name == "States.TaskFailed" && !isTimeout { return true }
        }
        return false
    }
}
