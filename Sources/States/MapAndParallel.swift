import Foundation
import JSONCore

/// Parallel and Map states: their branches and iterations, run concurrently, each under a key that lets it resume.
extension ExecutionRun {
    func runParallel(_ state: StateDefinition, input: JSON, scope: VariableScope) async throws -> JSON {
        await emit("ParallelStateStarted", previous: lastEventId)
        do {
            // A failing branch ends the group: the others are cancelled (and say so) before the state fails.
            let outputs = try await withThrowingTaskGroup(of: (Int, JSON).self) { group in
                for (i, branch) in state.branches.enumerated() {
                    let branchScope = VariableScope(parent: scope)
                    let key = self.branchKey(state, "#\(i)")
                    group.addTask { (i, try await self.runBranch(branch, key: key, input: input, scope: branchScope)) }
                }
                var results = [JSON](repeating: .null, count: state.branches.count)
                for try await (i, output) in group { results[i] = output }
                return results
            }
            await emit("ParallelStateSucceeded", previous: lastEventId)
            return .array(outputs)
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            await emit("ParallelStateFailed", previous: lastEventId)
            throw error
        }
    }

    /// A Map's MaxConcurrency and failure tolerance, as it runs (fixed, from paths or from JSONata).
    struct MapLimits {
        var maxConcurrency = 0
        var toleratedFailureCount: Int?
        var toleratedFailurePercentage: Double?
    }

    func mapLimits(_ state: StateDefinition, input: JSON, context: JSON, scope: VariableScope, states: JSON?) throws -> MapLimits {
        var limits = MapLimits()
        // Within their bounds, the counts are whole numbers that convert exactly.
        if let n = try number(
            state.maxConcurrency, .maxConcurrency, of: state, input: input, context: context, scope: scope, states: states)
        {
            limits.maxConcurrency = Int(exactly: n) ?? 0
        }
        if let n = try number(
            state.toleratedFailureCount, .toleratedFailureCount, of: state, input: input, context: context, scope: scope, states: states)
        {
            limits.toleratedFailureCount = Int(exactly: n)
        }
        limits.toleratedFailurePercentage = try number(
            state.toleratedFailurePercentage, .toleratedFailurePercentage, of: state, input: input, context: context, scope: scope,
            states: states)
        return limits
    }

    func runMap(
        _ state: StateDefinition, input: JSON, scope: VariableScope, jsonata: Bool, states: JSON = .null, context baseContext: JSON,
        limits: MapLimits
    ) async throws -> JSON {
        let itemsValue: JSON
        if jsonata {
            itemsValue = try state.items.map { try evaluateTemplate($0, states: states, scope: scope, field: "Items") } ?? input
        } else {
            itemsValue = try selectRequired(state.itemsPath ?? "$", in: input, context: baseContext, scope: scope, field: "ItemsPath")
        }
        try checkNesting(itemsValue, of: state, field: "Items")
        guard case .array(var items) = itemsValue else {
            throw StatesError(
                "States.Runtime", "Map state \(state.name): the items must be a JSON array, got \(itemsValue.serialized().prefix(200))")
        }
        if let batcher = state.itemBatcher, let size = batcher["MaxItemsPerBatch"]?.intValue, size > 0 {
            items = stride(from: 0, to: items.count, by: size).map { start in
                var batch: JSONObject = ["Items": .array(Array(items[start..<min(start + size, items.count)]))]
                if let extra = batcher["BatchInput"] { batch["BatchInput"] = extra }
                return .object(batch)
            }
        }
        guard let iterator = state.iterator else { throw StatesError("States.Runtime", "Map state \(state.name) has no ItemProcessor") }
        await emit("MapStateStarted", previous: lastEventId, "mapStateStartedEventDetails", ["length": .number(Double(items.count))])
        let limit = limits.maxConcurrency > 0 ? limits.maxConcurrency : max(items.count, 1)
        var failures = 0
        var results = [JSON](repeating: .null, count: items.count)
        try await withThrowingTaskGroup(of: (Int, Result<JSON, Error>).self) { group in
            var nextIndex = 0
            func startNext() throws {
                guard nextIndex < items.count else { return }
                let index = nextIndex
                nextIndex += 1
                let item = items[index]
                var context = baseContext
                context["Map"] = ["Item": ["Index": .number(Double(index)), "Value": item]]
                let itemInput: JSON
                if let selector = state.itemSelector {
                    if jsonata {
                        var s = states
                        s["context"] = context
                        itemInput = try evaluateTemplate(selector, states: s, scope: scope, field: "ItemSelector")
                    } else {
                        itemInput = try PayloadTemplate.resolve(selector, input: input, context: context, variables: scope)
                    }
                } else {
                    itemInput = item
                }
                // An item selected or batched deeper than the items themselves.
                if state.itemSelector != nil || state.itemBatcher != nil {
                    try self.checkNesting(itemInput, of: state, field: "ItemSelector")
                }
                let iterationScope = VariableScope(parent: scope)
                let key = self.branchKey(state, "[\(index)]")
                group.addTask {
                    // An iteration that finished before a restart is not run again.
                    if case .done(let output)? = self.resumeBranches[key] { return (index, .success(output)) }
                    let details: JSON = ["name": .string(state.name), "index": .number(Double(index))]
                    await self.emit("MapIterationStarted", previous: self.lastEventId, "mapIterationStartedEventDetails", details)
                    do {
                        let output = try await self.runBranch(iterator, key: key, input: itemInput, scope: iterationScope)
                        await self.emit("MapIterationSucceeded", previous: self.lastEventId, "mapIterationSucceededEventDetails", details)
                        return (index, .success(output))
                    } catch is CancellationError {
                        await self.emit("MapIterationAborted", previous: self.lastEventId, "mapIterationAbortedEventDetails", details)
                        return (index, .failure(CancellationError()))
                    } catch {
                        await self.emit("MapIterationFailed", previous: self.lastEventId, "mapIterationFailedEventDetails", details)
                        return (index, .failure(error))
                    }
                }
            }
            for _ in 0..<min(limit, items.count) { try startNext() }
            while let (index, result) = try await group.next() {
                switch result {
                case .success(let output): results[index] = output
                case .failure(let error):
                    // A full history is no iteration's failure: no tolerance applies to it.
                    if error is CancellationError || error is HistoryLimitReached { throw error }
                    failures += 1
                    if !tolerated(failures, of: items.count, limits: limits) {
                        // The iterations still running are aborted, and their events come before the state's failure.
                        group.cancelAll()
                        while try await group.next() != nil {}
                        await emit("MapStateFailed", previous: lastEventId)
                        if limits.toleratedFailureCount != nil || limits.toleratedFailurePercentage != nil {
                            throw StatesError(
                                "States.ExceedToleratedFailureThreshold", "The specified tolerated failure threshold was exceeded")
                        }
                        throw error
                    }
                }
                try startNext()
            }
        }
        await emit("MapStateSucceeded", previous: lastEventId)
        return .array(results)
    }

    /// Runs a Map iteration or Parallel branch under its key: from where it stood when the execution resumed,
    /// recording its progress and its output.
    func runBranch(_ machine: StateMachine, key: String, input: JSON, scope: VariableScope) async throws -> JSON {
        var start: String?
        var data = input
        switch resumeBranches[key] {
        case .done(let output)?: return output
        case .at(let next, let saved, let variables)?:
            start = next
            data = saved
            scope.values = variables
        case nil: break
        }
        let output = try await Self.$branchKey.withValue(key) {
            try await runMachine(machine, input: data, scope: scope, start: start, branchKey: key)
        }
        if let observer { await observer.checkpoint(branch: key, progress: .done(output: output)) }
        return output
    }

    func tolerated(_ failures: Int, of total: Int, limits: MapLimits) -> Bool {
        if let count = limits.toleratedFailureCount, failures <= count { return true }
        if let percentage = limits.toleratedFailurePercentage, total > 0, Double(failures) * 100 / Double(total) <= percentage {
            return true
        }
        return false
    }
}
