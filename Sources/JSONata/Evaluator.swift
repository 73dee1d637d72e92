import Foundation
import JSONCore

/// A scope of variable bindings.
final class Frame {
    /// A name bound to undefined is kept (as nil) so that it hides the same name in outer frames.
    var bindings: [String: Value?] = [:]
    /// Variable only so that ``Teardown`` can take a frame apart.
    var parent: Frame?
    init(parent: Frame?) { self.parent = parent }

    func bind(_ name: String, _ value: Value?) {
        bindings[name] = .some(value)
    }

    func lookup(_ name: String) -> Value? {
        var frame: Frame? = self
        while let f = frame {
            if let v = f.bindings[name] { return v }
            frame = f.parent
        }
        return nil
    }
}

/// A function value: a built-in, a lambda (closure), a partial application, a regex, or a host function.
final class JFunction {
    /// What the function does. Everything that holds values or frames is a case of its own rather than a captured
    /// closure, so that ``Teardown`` can take a chain of functions apart without recursion.
    enum Body {
        case native((inout CallContext, [Value?]) throws -> Value?)
        case lambda(node: Node, input: Value?, frame: Frame)
        case regex(NSRegularExpression)
        /// `$f(?, x)`: the function with the holes left to fill.
        case partial(JFunction, arguments: [Value?], holes: [Int])
        /// `$f ~> $g`: `$g($f($x))`.
        case composition(JFunction, JFunction)
        /// `| pattern | update, delete |`, evaluated in `frame`.
        case transform(Node, Frame)
        /// Taken apart by ``Teardown``: never called again.
        case released
    }
    var body: Body
    var signature: Signature?
    var name: String
    var arity: Int
    var thunk = false
    /// Parameter names of a lambda.
    var parameters: [String] = []

    init(name: String, signature: Signature?, arity: Int, body: Body) {
        self.name = name
        self.signature = signature
        self.arity = arity
        self.body = body
    }

    deinit {
        switch body {
        case .native, .regex, .released: return
        default:
            var values: [Value] = []
            var frames: [Frame] = []
            takeParts(&values, &frames)
            Teardown.release(&values, &frames)
        }
    }

    /// Moves the values and frames the function holds onto the lists, leaving it ``Body/released``.
    func takeParts(_ values: inout [Value], _ frames: inout [Frame]) {
        switch body {
        case .native, .regex, .released: return
        case .lambda(_, let input, let frame):
            if let input { values.append(input) }
            frames.append(frame)
        case .partial(let f, let arguments, _):
            values.append(.function(f))
            for case let argument? in arguments { values.append(argument) }
        case .composition(let f, let g):
            values.append(.function(f))
            values.append(.function(g))
        case .transform(_, let frame):
            frames.append(frame)
        }
        body = .released
    }
}

/// What a native function sees of its caller.
struct CallContext {
    var evaluator: Evaluator
    var input: Value?
    var frame: Frame
    var position: Int
}

/// Evaluates processed ASTs, after jsonata-js's jsonata.js.
///
/// Bounded by ``JSONataLimits``: the depth of recursion (of `evaluate` and, separately, of function calls, which
/// chains of partial applications and compositions nest without `evaluate`), the time, checked every
/// ``clockInterval`` units of work (an evaluation step, an element a built-in visits), and the number of array
/// elements and object members created, counted where arrays and objects are built.
final class Evaluator {
    let limits: JSONataLimits
    let deadline: ContinuousClock.Instant?
    var depth = 0
    var callDepth = 0
    /// Units of work left before the clock is read again.
    var workUntilClock = Evaluator.clockInterval
    /// Array elements and object members created so far.
    var elements = 0
    /// The time of this evaluation, in epoch millis: `$now()` and `$millis()` answer the same value throughout.
    let timestamp = (Date().timeIntervalSince1970 * 1000).rounded(.down)

    /// Units of work between two readings of the clock: a reading costs about as much as a few hundred steps.
    static let clockInterval = 1024

    init(limits: JSONataLimits) {
        self.limits = limits
        deadline = limits.timeout.map { ContinuousClock.now + $0 }
    }

    // MARK: Limits

    /// Counts `units` of work (an evaluation step, elements visited by a built-in), reading the clock every
    /// ``clockInterval`` units.
    @inline(__always) func tick(_ units: Int = 1) throws(JSONataError) {
        workUntilClock &-= units
        if workUntilClock <= 0 { try checkClock() }
    }

    func checkClock() throws(JSONataError) {
        workUntilClock = Self.clockInterval
        if let deadline, ContinuousClock.now > deadline {
            throw JSONataError(code: "U1001", message: "Expression evaluation timeout: Check for infinite loop", value: nil as Value?)
        }
    }

    /// Counts `count` array elements or object members about to be created; `D2015` past
    /// ``JSONataLimits/maxElements``. Building them is work too, so it also counts toward the next clock reading.
    @inline(__always) func allocate(_ count: Int) throws(JSONataError) {
        elements &+= count
        if elements > limits.maxElements {
            throw JSONataError(
                code: "D2015",
                message:
                    "The maximum sequence length of \(limits.maxElements) was exceeded.  One evaluation may create at most \(limits.maxElements) array elements and object members in all.",
                value: .number(Double(limits.maxElements)))
        }
        try tick(count)
    }

    /// Refuses a string longer than ``JSONataLimits/maxStringLength`` UTF-8 bytes (`D2015`).
    @inline(__always) func checkLength(_ utf8Count: Int) throws(JSONataError) {
        if utf8Count > limits.maxStringLength { throw stringTooLong() }
    }

    func stringTooLong() -> JSONataError {
        JSONataError(
            code: "D2015", message: "The maximum string length of \(limits.maxStringLength) was exceeded.",
            value: .number(Double(limits.maxStringLength)))
    }

    func stackOverflow(position: Int?) -> JSONataError {
        JSONataError(
            code: "U1001", position: position,
            message: "Stack overflow error: Check for non-terminating recursive function.  Consider rewriting as tail-recursive.",
            value: nil as Value?)
    }

    // MARK: Entry

    func evaluate(_ expr: Node, _ input: Value?, _ frame: Frame) throws -> Value? {
        depth += 1
        defer { depth -= 1 }
        if depth > limits.maxDepth { throw stackOverflow(position: expr.position) }
        workUntilClock &-= 1
        if workUntilClock <= 0 {
            do { try checkClock() } catch var error {
                error.position = expr.position
                throw error
            }
        }
        var result: Value?
        switch expr.kind {
        case .path: result = try evaluatePath(expr, input, frame)
        case .binary: result = try evaluateBinary(expr, input, frame)
        case .unary: result = try evaluateUnary(expr, input, frame)
        case .name: result = try lookup(input, expr.value)
        case .string, .number, .value: result = expr.literal
        case .wildcard: result = try evaluateWildcard(input)
        case .descendant: result = try evaluateDescendants(input)
        case .parent: result = frame.lookup(expr.slot!.label)
        case .condition:
            let condition = try evaluate(expr.condition!, input, frame)
            if boolean(condition) == true {
                result = try evaluate(expr.then!, input, frame)
            } else if let otherwise = expr.otherwise {
                result = try evaluate(otherwise, input, frame)
            }
        case .block:
            let blockFrame = Frame(parent: frame)
            for e in expr.expressions { result = try evaluate(e, input, blockFrame) }
        case .bind:
            let value = try evaluate(expr.rhs!, input, frame)
            frame.bind(expr.lhs!.value, value)
            result = value
        case .regex:
            result = .function(JFunction(name: "regex", signature: nil, arity: 1, body: .regex(expr.regex!)))
        case .function: result = try evaluateFunction(expr, input, frame, applyTo: nil)
        case .variable:
            if expr.value.isEmpty {
                if case .array(let a)? = input, a.outerWrapper { result = a.items.first } else { result = input }
            } else {
                result = frame.lookup(expr.value)
            }
        case .lambda:
            let f = JFunction(
                name: "lambda", signature: expr.signature, arity: expr.arguments.count,
                body: .lambda(node: expr, input: input, frame: frame))
            f.thunk = expr.thunk
            f.parameters = expr.arguments.map(\.value)
            result = .function(f)
        case .partial: result = try evaluatePartial(expr, input, frame)
        case .apply: result = try evaluateApply(expr, input, frame)
        case .transform: result = evaluateTransform(expr, frame)
        case .sort, .filter, .index, .placeholder:
            throw JSONataError(code: "S0201", position: expr.position, message: "Syntax error")
        }

        if let predicates = expr.predicate {
            for p in predicates { result = try evaluateFilter(p.expression!, result, frame) }
        }
        if expr.kind != .path, let group = expr.group {
            result = try evaluateGroup(group.pairs, position: group.position, result, frame)
        }
        if case .array(let a)? = result, a.sequence, !a.tupleStream {
            if expr.keepArray { a.keepSingleton = true }
            if a.items.isEmpty { result = nil } else if a.items.count == 1 && !a.keepSingleton { result = a.items[0] }
        }
        return result
    }

    // MARK: Paths

    func evaluatePath(_ expr: Node, _ input: Value?, _ frame: Frame) throws -> Value? {
        var inputSequence: JArray
        // Undefined input still runs the first step once (jsonata-js's createSequence(undefined)).
        var undefinedInput = false
        if case .array(let a)? = input, expr.steps[0].kind != .variable {
            inputSequence = a
        } else {
            inputSequence = JArray(input.map { [$0] } ?? [], sequence: true)
            undefinedInput = input == nil
        }
        var resultSequence: JArray? = nil
        var isTupleStream = false
        var tupleBindings: JArray? = nil

        for (i, step) in expr.steps.enumerated() {
            if step.tuple { isTupleStream = true }
            if i == 0 && step.consarray {
                let r = try evaluate(step, .array(inputSequence), frame)
                resultSequence =
                    r.map { v in
                        if case .array(let a) = v { return a }
                        return JArray([v], sequence: true)
                    } ?? JArray([], sequence: true)
            } else if isTupleStream {
                tupleBindings = try evaluateTupleStep(step, inputSequence, tupleBindings, frame, undefinedInput: i == 0 && undefinedInput)
            } else {
                resultSequence = try evaluateStep(
                    step, inputSequence, frame, lastStep: i == expr.steps.count - 1, undefinedInput: i == 0 && undefinedInput)
            }
            if !isTupleStream, resultSequence == nil || resultSequence!.items.isEmpty { break }
            if step.focus == nil, let r = resultSequence, !isTupleStream { inputSequence = r }
        }
        if isTupleStream {
            if expr.tuple {
                resultSequence = tupleBindings
            } else {
                let r = JArray([], sequence: true)
                for t in tupleBindings?.items ?? [] { if let v = t.objectBox?.members["@"] { r.append(v) } }
                resultSequence = r
            }
        }
        if expr.keepSingletonArray, let r = resultSequence {
            if r.cons && !r.sequence {
                resultSequence = JArray([.array(r)], sequence: true)
            }
            resultSequence!.keepSingleton = true
        }
        if let group = expr.group {
            let source = isTupleStream ? tupleBindings : resultSequence
            return try evaluateGroup(group.pairs, position: group.position, source.map { .array($0) }, frame)
        }
        return resultSequence.map { .array($0) }
    }

    func evaluateStep(_ expr: Node, _ input: JArray, _ frame: Frame, lastStep: Bool, undefinedInput: Bool = false) throws -> JArray {
        if expr.kind == .sort {
            var result = try evaluateSort(expr, input, frame)
            if let stages = expr.stages { result = try evaluateStages(stages, result, frame) }
            return result
        }
        var results: [Value] = []
        results.reserveCapacity(input.items.count)
        let items: [Value?] = undefinedInput ? [nil] : input.items.map { Optional($0) }
        for item in items {
            var res = try evaluate(expr, item, frame)
            if let stages = expr.stages {
                for stage in stages { res = try evaluateFilter(stage.expression!, res, frame) }
            }
            if let res { results.append(res) }
        }
        if lastStep, results.count == 1, case .array(let a) = results[0], !a.sequence {
            return a
        }
        let sequence = JArray([], sequence: true)
        sequence.items.reserveCapacity(results.count)
        for res in results {
            if case .array(let a) = res, !a.cons {
                try allocate(a.items.count)
                sequence.items.append(contentsOf: a.items)
            } else {
                sequence.append(res)
            }
        }
        try allocate(results.count)
        return sequence
    }

    func tuple(_ members: OrderedDictionary<String, Value>) -> Value { .object(JObjectBox(members)) }

    func frameFromTuple(_ frame: Frame, _ tuple: Value) -> Frame {
        let f = Frame(parent: frame)
        if let box = tuple.objectBox { for (k, v) in box.members { f.bindings[k] = v } }
        return f
    }

    func evaluateTupleStep(
        _ expr: Node, _ input: JArray, _ tupleBindings: JArray?, _ frame: Frame, undefinedInput: Bool = false
    ) throws -> JArray {
        if expr.kind == .sort {
            var result: JArray
            if let tupleBindings {
                result = try evaluateSort(expr, tupleBindings, frame)
            } else {
                let sorted = try evaluateSort(expr, input, frame)
                result = JArray([], sequence: true)
                result.tupleStream = true
                for (i, item) in sorted.items.enumerated() {
                    var members: OrderedDictionary<String, Value> = ["@": item]
                    if let index = expr.index { members[index] = .number(Double(i)) }
                    result.append(tuple(members))
                }
            }
            if let stages = expr.stages { result = try evaluateStages(stages, result, frame) }
            return result
        }
        var result = JArray([], sequence: true)
        result.tupleStream = true
        let bindings = tupleBindings ?? JArray(undefinedInput ? [tuple([:])] : input.items.map { tuple(["@": $0]) })
        for binding in bindings.items {
            let stepFrame = frameFromTuple(frame, binding)
            let context = binding.objectBox?.members["@"]
            guard let res = try evaluate(expr, context, stepFrame) else { continue }
            let items: [Value]
            var resIsTupleStream = false
            if case .array(let a) = res { items = a.items; resIsTupleStream = a.tupleStream } else { items = [res] }
            for (bb, item) in items.enumerated() {
                var members = binding.objectBox?.members ?? [:]
                if resIsTupleStream {
                    if let box = item.objectBox { for (k, v) in box.members { members[k] = v } }
                } else {
                    if let focus = expr.focus {
                        members[focus] = item
                        members["@"] = context
                    } else {
                        members["@"] = item
                    }
                    if let index = expr.index { members[index] = .number(Double(bb)) }
                    if let ancestor = expr.ancestor { members[ancestor.label] = context }
                }
                try allocate(members.count)
                result.append(tuple(members))
            }
        }
        if let stages = expr.stages { result = try evaluateStages(stages, result, frame) }
        return result
    }

    func evaluateStages(_ stages: [Node], _ input: JArray, _ frame: Frame) throws -> JArray {
        var result = input
        for stage in stages {
            switch stage.kind {
            case .filter:
                let filtered = try evaluateFilter(stage.expression!, .array(result), frame)
                if case .array(let a)? = filtered {
                    result = a
                } else {
                    result = JArray(filtered.map { [$0] } ?? [], sequence: true)
                    result.tupleStream = input.tupleStream
                }
            case .index:
                for (i, t) in result.items.enumerated() { t.objectBox?.members[stage.value] = .number(Double(i)) }
            default: break
            }
        }
        return result
    }

    func evaluateFilter(_ predicate: Node, _ input: Value?, _ frame: Frame) throws -> Value? {
        let results = JArray([], sequence: true)
        let items: [Value]
        var tupleStream = false
        switch input {
        case .array(let a)?:
            items = a.items
            tupleStream = a.tupleStream
        case nil: items = []
        case let v?: items = [v]
        }
        results.tupleStream = tupleStream
        if predicate.kind == .number, case .number(let n)? = predicate.literal {
            if let index = arrayIndex(n, count: items.count) {
                let item = items[index]
                if case .array(let a) = item { return .array(a) }
                results.append(item)
            }
            return .array(results)
        }
        for (index, item) in items.enumerated() {
            var context: Value? = item
            var env = frame
            if tupleStream {
                context = item.objectBox?.members["@"]
                env = frameFromTuple(frame, item)
            }
            var res = try evaluate(predicate, context, env)
            if case .number? = res { res = .array(JArray([res!])) }
            if case .array(let a)? = res, !a.items.isEmpty, a.items.allSatisfy({ if case .number = $0 { true } else { false } }) {
                for v in a.items where arrayIndex(v.number!, count: items.count) == index {
                    results.append(item)
                }
            } else if boolean(res) == true {
                results.append(item)
            }
        }
        try allocate(results.count)
        return .array(results)
    }

    /// The position `n` names in an array of `count` items (negative from the end, fractions rounded down), or
    /// nil when it is outside, however large `n` is.
    func arrayIndex(_ n: Double, count: Int) -> Int? {
        var index = n.rounded(.down)
        if index < 0 { index += Double(count) }
        return index >= 0 && index < Double(count) ? Int(index) : nil
    }

    func lookup(_ input: Value?, _ key: String) throws(JSONataError) -> Value? {
        switch input {
        case .array(let a)?:
            let result = JArray([], sequence: true)
            for item in a.items {
                if let res = try lookup(item, key) {
                    if case .array(let inner) = res {
                        try allocate(inner.items.count)
                        result.items.append(contentsOf: inner.items)
                    } else {
                        try allocate(1)
                        result.append(res)
                    }
                }
            }
            return .array(result)
        case .object(let o)?:
            return o.members[key]
        default:
            return nil
        }
    }

    func evaluateWildcard(_ input: Value?) throws(JSONataError) -> Value? {
        let results = JArray([], sequence: true)
        var input = input
        if case .array(let a)? = input, a.outerWrapper, !a.items.isEmpty { input = a.items[0] }
        let values: [Value]
        switch input {
        case .object(let o)?: values = Array(o.members.values)
        case .array(let a)?: values = a.items
        default: values = []
        }
        for value in values {
            if case .array = value { try flatten(value, into: results) } else { results.append(value) }
        }
        try allocate(results.count)
        return .array(results)
    }

    func evaluateDescendants(_ input: Value?) throws(JSONataError) -> Value? {
        guard let input else { return nil }
        let results = JArray([], sequence: true)
        try recurseDescendants(input, results, depth: 0)
        try allocate(results.count)
        return results.items.count == 1 ? results.items[0] : .array(results)
    }

    func recurseDescendants(_ input: Value, _ results: JArray, depth: Int) throws(JSONataError) {
        if case .array(let a) = input {
            try checkValueDepth(depth + 1)
            for m in a.items { try recurseDescendants(m, results, depth: depth + 1) }
            return
        }
        results.append(input)
        if case .object(let o) = input {
            try checkValueDepth(depth + 1)
            try tick(o.members.count)
            for (_, v) in o.members { try recurseDescendants(v, results, depth: depth + 1) }
        }
    }

    // MARK: Operators

    func evaluateBinary(_ expr: Node, _ input: Value?, _ frame: Frame) throws -> Value? {
        let op = expr.value
        let lhs = try evaluate(expr.lhs!, input, frame)
        if op == "and" || op == "or" {
            let l = boolean(lhs) ?? false
            if op == "and" {
                if !l { return .bool(false) }
                return .bool(boolean(try evaluate(expr.rhs!, input, frame)) ?? false)
            }
            if l { return .bool(true) }
            return .bool(boolean(try evaluate(expr.rhs!, input, frame)) ?? false)
        }
        if op == "??" {
            if let lhs { return lhs }
            return try evaluate(expr.rhs!, input, frame)
        }
        if op == "?:" {
            if boolean(lhs) == true { return lhs }
            return try evaluate(expr.rhs!, input, frame)
        }
        let rhs = try evaluate(expr.rhs!, input, frame)
        do {
            switch op {
            case "+", "-", "*", "/", "%":
                return try numeric(lhs, rhs, op)
            case "=": return (lhs == nil || rhs == nil) ? .bool(false) : .bool(try deepEqual(lhs, rhs))
            case "!=": return (lhs == nil || rhs == nil) ? .bool(false) : .bool(!(try deepEqual(lhs, rhs)))
            case "<", "<=", ">", ">=":
                return try comparison(lhs, rhs, op)
            case "&":
                let l = try lhs.map { try stringify($0, self) } ?? ""
                let r = try rhs.map { try stringify($0, self) } ?? ""
                try checkLength(l.utf8.count + r.utf8.count)
                return .string(l + r)
            case "..":
                return try range(lhs, rhs)
            case "in":
                guard let lhs, let rhs else { return .bool(false) }
                let items: [Value]
                if case .array(let a) = rhs { items = a.items } else { items = [rhs] }
                return .bool(items.contains { strictEqual($0, lhs) })
            default:
                throw JSONataError(code: "S0201", position: expr.position, token: op, message: "Syntax error: \(op)")
            }
        } catch var error as JSONataError {
            if error.position == nil { error.position = expr.position }
            if error.token == nil { error.token = op }
            throw error
        }
    }

    func strictEqual(_ a: Value, _ b: Value) -> Bool {
        switch (a, b) {
        case (.number(let x), .number(let y)): x == y
        case (.string(let x), .string(let y)): x == y
        case (.bool(let x), .bool(let y)): x == y
        case (.null, .null): true
        case (.array(let x), .array(let y)): x === y
        case (.object(let x), .object(let y)): x === y
        case (.function(let x), .function(let y)): x === y
        default: false
        }
    }

    func numeric(_ lhs: Value?, _ rhs: Value?, _ op: String) throws -> Value? {
        // jsonata-js's isNumeric: an infinite operand is out of range.
        for operand in [lhs, rhs] {
            if case .number(let n)? = operand, !n.isFinite {
                throw JSONataError(code: "D1001", message: "Number out of range: \(n)", value: .number(n))
            }
        }
        if let lhs, lhs.number == nil {
            throw JSONataError(code: "T2001", message: "The left side of the \(op) operator must evaluate to a number", value: lhs)
        }
        if let rhs, rhs.number == nil {
            throw JSONataError(code: "T2002", message: "The right side of the \(op) operator must evaluate to a number", value: rhs)
        }
        guard let l = lhs?.number, let r = rhs?.number else { return nil }
        let result: Double
        switch op {
        case "+": result = l + r
        case "-": result = l - r
        case "*": result = l * r
        case "/": result = l / r
        default: result = fmod(l, r)
        }
        return .number(result)
    }

    func comparison(_ lhs: Value?, _ rhs: Value?, _ op: String) throws -> Value? {
        func comparable(_ v: Value?) -> Bool {
            switch v {
            case nil, .string?, .number?: true;
            default: false
            }
        }
        if !comparable(lhs) || !comparable(rhs) {
            throw JSONataError(
                code: "T2010", message: "The expressions either side of operator \"\(op)\" must evaluate to numeric or string values",
                value: !comparable(lhs) ? lhs : rhs)
        }
        guard let lhs, let rhs else { return nil }
        switch (lhs, rhs) {
        case (.number(let a), .number(let b)):
            switch op {
            case "<": return .bool(a < b)
            case "<=": return .bool(a <= b)
            case ">": return .bool(a > b)
            default: return .bool(a >= b)
            }
        case (.string(let a), .string(let b)):
            let c = compareJS(a, b)
            switch op {
            case "<": return .bool(c < 0)
            case "<=": return .bool(c <= 0)
            case ">": return .bool(c > 0)
            default: return .bool(c >= 0)
            }
        default:
            throw JSONataError(
                code: "T2009",
                message: "The values \(lhs.json) and \(rhs.json) either side of operator \"\(op)\" must be of the same data type",
                value: lhs, value2: rhs)
        }
    }

    func range(_ lhs: Value?, _ rhs: Value?) throws -> Value? {
        if let lhs, !(lhs.number.map { $0 == $0.rounded() } ?? false) {
            throw JSONataError(code: "T2003", message: "The left side of the range operator (..) must evaluate to an integer", value: lhs)
        }
        if let rhs, !(rhs.number.map { $0 == $0.rounded() } ?? false) {
            throw JSONataError(code: "T2004", message: "The right side of the range operator (..) must evaluate to an integer", value: rhs)
        }
        guard let l = lhs?.number, let r = rhs?.number else { return nil }
        if l > r { return nil }
        let size = r - l + 1
        if size > 1e7 {
            throw JSONataError(
                code: "D2014",
                message:
                    "The size of the sequence allocated by the range operator (..) must not exceed 1e7.  Attempted to allocate \(JSON.formatNumber(size)).",
                value: .number(size))
        }
        let count = Int(size)
        try allocate(count)
        let result = JArray([], sequence: true)
        result.items.reserveCapacity(count)
        // Counted rather than stepped: above 2^53, `i += 1` no longer moves `i`.
        for offset in 0..<count { result.items.append(.number(l + Double(offset))) }
        return .array(result)
    }

    func evaluateUnary(_ expr: Node, _ input: Value?, _ frame: Frame) throws -> Value? {
        switch expr.value {
        case "-":
            guard let v = try evaluate(expr.expression!, input, frame) else { return nil }
            guard let n = v.number else {
                throw JSONataError(
                    code: "D1002", position: expr.position, token: "-", message: "Cannot negate a non-numeric value: \(v.json)", value: v)
            }
            return .number(-n)
        case "[":
            let result = JArray()
            for item in expr.expressions {
                guard let value = try evaluate(item, input, frame) else { continue }
                if item.kind == .unary && item.value == "[" {
                    try allocate(1)
                    result.append(value)
                } else if case .array(let a) = value {
                    if result.items.isEmpty {
                        // Shares the array's storage until either is changed: a range is not copied.
                        result.items = a.items
                    } else {
                        try allocate(a.items.count)
                        result.items.append(contentsOf: a.items)
                    }
                } else {
                    try allocate(1)
                    result.append(value)
                }
            }
            if expr.consarray { result.cons = true }
            return .array(result)
        case "{":
            return try evaluateGroup(expr.pairs, position: expr.position, input, frame)
        default:
            throw JSONataError(
                code: "S0211", position: expr.position, token: expr.value,
                message: "The symbol \(expr.value) cannot be used as a unary operator")
        }
    }

    // MARK: Objects, sorting, grouping

    func evaluateGroup(_ pairs: [(Node, Node)], position: Int, _ input: Value?, _ frame: Frame) throws -> Value? {
        var items: [Value?]
        var reduce = false
        switch input {
        case .array(let a)?:
            items = a.items.map { Optional($0) }
            reduce = a.tupleStream
        case nil: items = []
        case let v?: items = [v]
        }
        if items.isEmpty { items = [nil] }
        var groups = OrderedDictionary<String, (data: AppendedValues, exprIndex: Int)>()
        for item in items {
            let env = reduce && item != nil ? frameFromTuple(frame, item!) : frame
            let context = reduce ? item?.objectBox?.members["@"] : item
            for (pairIndex, pair) in pairs.enumerated() {
                let key = try evaluate(pair.0, context, env)
                guard let key else { continue }
                guard case .string(let k) = key else {
                    throw JSONataError(
                        code: "T1003", position: position, message: "Key in object structure must evaluate to a string; got: \(key.json)",
                        value: key)
                }
                try allocate(1)
                if let index = groups.index(forKey: k) {
                    if groups.values[index].exprIndex != pairIndex {
                        throw JSONataError(
                            code: "D1009", position: position, message: "Multiple key definitions evaluate to same key: \(k)", value: key)
                    }
                    groups.values[index].data.append(item)
                } else {
                    groups[k] = (AppendedValues(item), pairIndex)
                }
            }
        }
        var result = OrderedDictionary<String, Value>()
        for (key, entry) in groups {
            var context = entry.data.value
            var env = frame
            if reduce, let data = context {
                var reduced = reduceTupleStream(data)
                context = reduced.removeValue(forKey: "@")
                env = frameFromTuple(frame, .object(JObjectBox(reduced)))
            }
            if let value = try evaluate(pairs[entry.exprIndex].1, context, env) {
                result[key] = value
            }
        }
        return .object(JObjectBox(result))
    }

    func reduceTupleStream(_ stream: Value) -> OrderedDictionary<String, Value> {
        guard case .array(let a) = stream else { return stream.objectBox?.members ?? [:] }
        var appended = OrderedDictionary<String, AppendedValues>()
        for (k, v) in a.items.first?.objectBox?.members ?? [:] { appended[k] = AppendedValues(v) }
        for t in a.items.dropFirst() {
            for (k, v) in t.objectBox?.members ?? [:] {
                appended[k, default: AppendedValues(nil)].append(v)
            }
        }
        var result = OrderedDictionary<String, Value>(minimumCapacity: appended.count)
        for (k, v) in appended { result[k] = v.value }
        return result
    }

    func evaluateSort(_ expr: Node, _ input: JArray, _ frame: Frame) throws -> JArray {
        let isTupleSort = input.tupleStream
        // Precompute the sort keys of each item once.
        var keyed: [(item: Value, keys: [Value?])] = []
        keyed.reserveCapacity(input.items.count)
        for item in input.items {
            var keys: [Value?] = []
            for term in expr.terms {
                let context = isTupleSort ? item.objectBox?.members["@"] : item
                let env = isTupleSort ? frameFromTuple(frame, item) : frame
                keys.append(try evaluate(term.expression, context, env))
            }
            keyed.append((item, keys))
        }
        var failure: JSONataError?
        func comesAfter(_ a: [Value?], _ b: [Value?]) throws(JSONataError) -> Bool {
            try tick()
            for (i, term) in expr.terms.enumerated() {
                let aa = a[i], bb = b[i]
                var comp = 0
                switch (aa, bb) {
                case (nil, nil): comp = 0; continue
                case (nil, _): return true
                case (_, nil): return false
                case (.number(let x)?, .number(let y)?): comp = x == y ? 0 : (x < y ? -1 : 1)
                case (.string(let x)?, .string(let y)?): comp = compareJS(x, y)
                case (let x?, let y?):
                    let xOK: Bool = {
                        if case .number = x { return true }; if case .string = x { return true }; return false
                    }()
                    let yOK: Bool = {
                        if case .number = y { return true }; if case .string = y { return true }; return false
                    }()
                    if !xOK || !yOK {
                        failure =
                            failure
                            ?? JSONataError(
                                code: "T2008", position: expr.position,
                                message: "The expressions within an order-by clause must evaluate to numeric or string values",
                                value: !xOK ? x : y)
                    } else {
                        failure =
                            failure
                            ?? JSONataError(
                                code: "T2007", position: expr.position,
                                message: "Type mismatch when comparing values \(x.json) and \(y.json) in order-by clause", value: x,
                                value2: y)
                    }
                    return false
                }
                if comp == 0 { continue }
                if term.descending { comp = -comp }
                return comp == 1
            }
            return false
        }
        let sorted = try mergeSort(keyed) { (a, b) throws(JSONataError) in try comesAfter(a.keys, b.keys) }
        if let failure { throw failure }
        let result = JArray(sorted.map(\.item), sequence: true)
        result.tupleStream = input.tupleStream
        return result
    }

    // MARK: Functions

    func evaluateFunction(_ expr: Node, _ input: Value?, _ frame: Frame, applyTo: Value??) throws -> Value? {
        let proc = try evaluate(expr.procedure!, input, frame)
        let procName = expr.procedure!.kind == .path ? expr.procedure!.steps[0].value : expr.procedure!.value
        if proc == nil, expr.procedure!.kind == .path, frame.lookup(expr.procedure!.steps[0].value) != nil {
            throw JSONataError(
                code: "T1005", position: expr.position, token: procName,
                message: "Attempted to invoke a non-function. Did you mean ${{\(procName)}}?")
        }
        var args: [Value?] = []
        if let applyTo { args.append(applyTo) }
        for arg in expr.arguments { args.append(try evaluate(arg, input, frame)) }
        do {
            return try apply(proc, args, input, frame, position: expr.position)
        } catch var error as JSONataError {
            if error.position == nil { error.position = expr.position }
            if error.token == nil { error.token = procName }
            throw error
        }
    }

    func apply(_ proc: Value?, _ args: [Value?], _ input: Value?, _ frame: Frame, position: Int) throws -> Value? {
        // Calls nest without `evaluate` through partial applications and compositions of compositions.
        callDepth += 1
        defer { callDepth -= 1 }
        if callDepth > limits.maxDepth { throw stackOverflow(position: position) }
        var result = try applyInner(proc, args, input, frame, position: position)
        while case .function(let f)? = result, f.thunk, case .lambda(let node, let thunkInput, let thunkFrame) = f.body {
            let call = node.body!
            let next = try evaluate(call.procedure!, thunkInput, thunkFrame)
            var nextArgs: [Value?] = []
            for a in call.arguments { nextArgs.append(try evaluate(a, thunkInput, thunkFrame)) }
            result = try applyInner(next, nextArgs, thunkInput, thunkFrame, position: call.position)
        }
        return result
    }

    func applyInner(_ proc: Value?, _ args: [Value?], _ input: Value?, _ frame: Frame, position: Int) throws -> Value? {
        guard case .function(let f)? = proc else {
            throw JSONataError(code: "T1006", position: position, message: "Attempted to invoke a non-function")
        }
        let validated = try f.signature?.validate(args, context: input) ?? args
        switch f.body {
        case .native(let body):
            var context = CallContext(evaluator: self, input: input, frame: frame, position: position)
            return try body(&context, validated)
        case .lambda(let node, let lambdaInput, let lambdaFrame):
            let env = Frame(parent: lambdaFrame)
            for (i, param) in node.arguments.enumerated() {
                env.bind(param.value, i < validated.count ? validated[i] : nil)
            }
            return try evaluate(node.body!, lambdaInput, env)
        case .regex(let regex):
            return try regexMatch(regex, args.first ?? nil)
        case .partial(let f, let captured, let holes):
            var full = captured
            for (n, hole) in holes.enumerated() { full[hole] = n < validated.count ? validated[n] : nil }
            return try apply(.function(f), full, input, frame, position: position)
        case .composition(let f, let g):
            let inner = try apply(.function(f), [validated.first ?? nil], input, frame, position: position)
            return try apply(.function(g), [inner], input, frame, position: position)
        case .transform(let node, let transformFrame):
            return try transform(node, validated.first ?? nil, transformFrame)
        case .released:
            return nil
        }
    }

    /// Calls a function value from a built-in (`$map`'s callback, a comparator ...).
    func call(_ f: Value, _ args: [Value?], _ input: Value?, _ frame: Frame, position: Int) throws -> Value? {
        try apply(f, args, input, frame, position: position)
    }

    func evaluatePartial(_ expr: Node, _ input: Value?, _ frame: Frame) throws -> Value? {
        var args: [Value?] = []
        var holes: [Int] = []
        for (i, arg) in expr.arguments.enumerated() {
            if arg.kind == .placeholder { holes.append(i); args.append(nil) } else { args.append(try evaluate(arg, input, frame)) }
        }
        let proc = try evaluate(expr.procedure!, input, frame)
        guard case .function(let f)? = proc else {
            if expr.procedure!.kind == .path, frame.lookup(expr.procedure!.steps[0].value) != nil {
                throw JSONataError(
                    code: "T1007", position: expr.position, token: expr.procedure!.steps[0].value,
                    message: "Attempted to partially apply a non-function. Did you mean ${{\(expr.procedure!.steps[0].value)}}?")
            }
            throw JSONataError(
                code: "T1008", position: expr.position,
                token: expr.procedure!.kind == .path ? expr.procedure!.steps[0].value : expr.procedure!.value,
                message: "Attempted to partially apply a non-function")
        }
        return .function(JFunction(name: "partial", signature: nil, arity: holes.count, body: .partial(f, arguments: args, holes: holes)))
    }

    func evaluateApply(_ expr: Node, _ input: Value?, _ frame: Frame) throws -> Value? {
        let lhs = try evaluate(expr.lhs!, input, frame)
        if expr.rhs!.kind == .function {
            return try evaluateFunction(expr.rhs!, input, frame, applyTo: .some(lhs))
        }
        let fn = try evaluate(expr.rhs!, input, frame)
        guard case .function(let g)? = fn else {
            throw JSONataError(
                code: "T2006", position: expr.position,
                message: "The right side of the function application operator ~> must be a function", value: fn)
        }
        if case .function(let f)? = lhs {
            // Function composition: λ($x){ $g($f($x)) }
            return .function(JFunction(name: "composition", signature: nil, arity: 1, body: .composition(f, g)))
        }
        return try apply(fn, [lhs], input, frame, position: expr.position)
    }

    static let transformSignature = try! Signature("<(oa):o>", position: 0)

    func evaluateTransform(_ expr: Node, _ frame: Frame) -> Value? {
        .function(JFunction(name: "transform", signature: Self.transformSignature, arity: 1, body: .transform(expr, frame)))
    }

    /// Applies a transform expression `| pattern | update, delete |` to a copy of `obj`.
    func transform(_ expr: Node, _ obj: Value?, _ frame: Frame) throws -> Value? {
        guard let obj else { return nil }
        let result = try deepClone(obj, self)
        let matches = try evaluate(expr.pattern!, result, frame)
        guard let matches else { return result }
        let list: [Value]
        if case .array(let a) = matches { list = a.items } else { list = [matches] }
        for match in list {
            let update = try evaluate(expr.update!, match, frame)
            if let update {
                guard case .object(let u) = update else {
                    throw JSONataError(
                        code: "T2011", position: expr.update!.position,
                        message: "The insert/update clause of the transform expression must evaluate to an object: \(update.json)",
                        value: update)
                }
                if case .object(let m) = match {
                    try allocate(u.members.count)
                    for (k, v) in u.members { m.members[k] = v }
                }
            }
            if let deleteExpr = expr.delete, let deletions = try evaluate(deleteExpr, match, frame) {
                let names: [Value]
                if case .array(let a) = deletions { names = a.items } else { names = [deletions] }
                guard names.allSatisfy({ $0.string != nil }) else {
                    throw JSONataError(
                        code: "T2012", position: deleteExpr.position,
                        message:
                            "The delete clause of the transform expression must evaluate to a string or array of strings: \(deletions.json)",
                        value: deletions)
                }
                if case .object(let m) = match {
                    for n in names { m.members.removeValue(forKey: n.string!) }
                }
            }
        }
        return result
    }

    func regexMatch(_ regex: NSRegularExpression, _ value: Value?) throws -> Value? {
        guard case .string(let s)? = value else { return nil }
        let ns = s as NSString
        guard let m = regex.firstMatch(in: s, range: NSRange(location: 0, length: ns.length)) else { return nil }
        return matchObject(m, in: ns, regex: regex)
    }
}

func matchObject(_ m: NSTextCheckingResult, in ns: NSString, regex: NSRegularExpression) -> Value {
    var groups: [Value] = []
    if m.numberOfRanges > 1 {
        for g in 1..<m.numberOfRanges {
            let r = m.range(at: g)
            groups.append(.string(r.location == NSNotFound ? "" : ns.substring(with: r)))
        }
    }
    return .object(
        JObjectBox([
            "match": .string(ns.substring(with: m.range)),
            "start": .number(Double(m.range.location)),
            "end": .number(Double(m.range.location + m.range.length)),
            "groups": .array(JArray(groups)),
        ]))
}

/// A copy of `value` sharing nothing mutable with it (`$clone`, transforms).
func deepClone(_ value: Value, _ evaluator: Evaluator, depth: Int = 0) throws(JSONataError) -> Value {
    switch value {
    case .array(let a):
        try checkValueDepth(depth + 1)
        try evaluator.allocate(a.items.count)
        var items: [Value] = []
        items.reserveCapacity(a.items.count)
        for item in a.items { items.append(try deepClone(item, evaluator, depth: depth + 1)) }
        let c = JArray(items, sequence: a.sequence)
        c.keepSingleton = a.keepSingleton
        c.cons = a.cons
        return .array(c)
    case .object(let o):
        try checkValueDepth(depth + 1)
        try evaluator.allocate(o.members.count)
        var m = OrderedDictionary<String, Value>(minimumCapacity: o.members.count)
        for (k, v) in o.members { m[k] = try deepClone(v, evaluator, depth: depth + 1) }
        return .object(JObjectBox(m))
    default:
        return value
    }
}

/// JavaScript string comparison: by UTF-16 code units.
func compareJS(_ a: String, _ b: String) -> Int {
    var ia = a.utf16.makeIterator(), ib = b.utf16.makeIterator()
    while true {
        switch (ia.next(), ib.next()) {
        case (nil, nil): return 0
        case (nil, _): return -1
        case (_, nil): return 1
        case let (x?, y?): if x != y { return x < y ? -1 : 1 }
        }
    }
}

/// Stable merge sort where `swap(a, b)` says a must come after b (jsonata-js's comparator convention).
func mergeSort<T, E: Error>(_ items: [T], _ swap: (T, T) throws(E) -> Bool) throws(E) -> [T] {
    if items.count <= 1 { return items }
    let mid = items.count / 2
    let left = try mergeSort(Array(items[..<mid]), swap)
    let right = try mergeSort(Array(items[mid...]), swap)
    var result: [T] = []
    result.reserveCapacity(items.count)
    var i = 0, j = 0
    while i < left.count && j < right.count {
        if try swap(left[i], right[j]) { result.append(right[j]); j += 1 } else { result.append(left[i]); i += 1 }
    }
    result.append(contentsOf: left[i...])
    result.append(contentsOf: right[j...])
    return result
}

/// Repeated `appendValues` (grouping's accumulation of the items of one key) in amortized constant time per
/// item: the array is built once rather than copied at every item.
struct AppendedValues {
    private var single: Value?
    private var items: [Value]?

    init(_ value: Value?) { single = value }

    mutating func append(_ value: Value?) {
        guard let value else { return }
        if items == nil {
            guard let first = single else {
                single = value
                return
            }
            if case .array(let a) = first { items = a.items } else { items = [first] }
            single = nil
        }
        if case .array(let b) = value { items!.append(contentsOf: b.items) } else { items!.append(value) }
    }

    /// What `appendValues` would have answered.
    var value: Value? { items.map { .array(JArray($0)) } ?? single }
}
