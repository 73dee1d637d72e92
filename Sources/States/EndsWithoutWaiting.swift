extension StateMachine {
    /// Whether every run of the machine is over after a bounded number of states that touch nothing outside the
    /// execution: only Pass, Choice, Succeed and Fail states are reachable, and no path comes back to a state.
    ///
    /// Such a run never waits (no timer, task, callback or branch), so a host may run it to its end at once and
    /// record it in one write, without the bookkeeping of a run that may wait or be resumed after a restart.
    public var endsWithoutWaiting: Bool {
        // The reachable states, each with the states it leads to; iteratively, as a definition may chain thousands.
        var successors: [String: [String]] = [:]
        var pending = [startAt]
        while let name = pending.popLast() {
            if successors[name] != nil { continue }
            guard let state = states[name] else { return false }
            switch state.type {
            case .pass, .choice, .succeed, .fail: break
            case .task, .wait, .parallel, .map: return false
            }
            let next = ([state.next, state.defaultState] + state.choices.map(\.next)).compactMap { $0 }
            successors[name] = next
            pending += next
        }
        // No cycle: peeling the states nothing leads to, one after another, peels them all (Kahn).
        var incoming = successors.mapValues { _ in 0 }
        for next in successors.values { for name in next { incoming[name, default: 0] += 1 } }
        var free = incoming.filter { $0.value == 0 }.map(\.key)
        var peeled = 0
        while let name = free.popLast() {
            peeled += 1
            for next in successors[name] ?? [] {
                incoming[next]! -= 1
                if incoming[next] == 0 { free.append(next) }
            }
        }
        return peeled == successors.count
    }
}
