import Foundation
import JSONCore

/// `$string` of a value: strings as they are, numbers to 15 significant digits, anything else as JSON.
func stringify(_ value: Value, _ evaluator: Evaluator, pretty: Bool = false) throws(JSONataError) -> String {
    switch value {
    case .string(let s): return s
    case .function: return ""
    case .number(let n):
        guard n.isFinite else {
            throw JSONataError(code: "D3001", message: "Attempting to invoke string function on Infinity or NaN", value: .number(n))
        }
        return formatJSONataNumber(n)
    default:
        var v = value
        if case .array(let a) = value, a.outerWrapper, let first = a.items.first { v = first }
        let json = try normalizedJSON(v, evaluator)
        guard let text = json.serialized(pretty ? .pretty : .compact, maximumLength: evaluator.limits.maxStringLength) else {
            throw evaluator.stringTooLong()
        }
        return text
    }
}

/// JSON for `$string`: numbers rounded to 15 digits, functions as "".
func normalizedJSON(_ value: Value, _ evaluator: Evaluator, depth: Int = 0) throws(JSONataError) -> JSON {
    switch value {
    case .number(let n):
        guard n.isFinite else { throw JSONataError(code: "D1001", message: "Number out of range: \(n)", value: .number(n)) }
        return .number(roundedTo15(n))
    case .array(let a):
        try checkValueDepth(depth + 1)
        try evaluator.allocate(a.items.count)
        var elements: [JSON] = []
        elements.reserveCapacity(a.items.count)
        for item in a.items { elements.append(try normalizedJSON(item, evaluator, depth: depth + 1)) }
        return .array(elements)
    case .object(let o):
        try checkValueDepth(depth + 1)
        try evaluator.allocate(o.members.count)
        var m = JSONObject(minimumCapacity: o.members.count)
        for (k, v) in o.members { m[k] = try normalizedJSON(v, evaluator, depth: depth + 1) }
        return .object(m)
    case .function: return .string("")
    case .null: return .null
    case .bool(let b): return .bool(b)
    case .string(let s): return .string(s)
    }
}

/// `n` as an Int, rounded toward zero and clamped to ±2^53 (beyond which no string, array or count reaches),
/// so that no number, however large, traps a conversion; NaN is 0.
func clampedInt(_ n: Double) -> Int {
    guard !n.isNaN else { return 0 }
    return Int(max(-9_007_199_254_740_992, min(9_007_199_254_740_992, n.rounded(.towardZero))))
}

typealias NativeBody = (inout CallContext, [Value?]) throws -> Value?

/// The built-in functions, bound in a frame every evaluation starts from.
enum Builtins {
    nonisolated(unsafe) static let frame: Frame = {
        let f = Frame(parent: nil)
        for (name, signature, body) in all {
            let sig = try! Signature(signature, position: 0)
            // Callbacks get as many arguments as the function's required parameters (JavaScript's length).
            let arity = sig.params.filter { !$0.regex.hasSuffix("?") || $0.context }.count
            f.bind(name, .function(JFunction(name: name, signature: sig, arity: arity, body: .native(body))))
        }
        return f
    }()

    static func num(_ v: Value?) -> Double? { v?.number }
    static func str(_ v: Value?) -> String? { v?.string }
    static func arr(_ v: Value?) -> [Value] {
        switch v {
        case .array(let a)?: a.items
        case nil: []
        case let x?: [x]
        }
    }
    static func seq(_ items: [Value]) -> Value? { .array(JArray(items, sequence: true)) }

    static func callArity(_ f: Value) -> Int {
        guard case .function(let fn) = f else { return 0 }
        return fn.arity
    }

    /// Calls a callback with as many of (value, index, array) as it declares parameters for.
    static func callback(_ context: inout CallContext, _ f: Value, _ args: [Value?]) throws -> Value? {
        let arity = callArity(f)
        let passed = Array(args.prefix(max(arity, 1)))
        return try context.evaluator.apply(f, passed, nil, context.frame, position: context.position)
    }

    nonisolated(unsafe) static let all: [(String, String, NativeBody)] = [
        // Aggregation
        (
            "sum", "<a<n>:n>",
            { c, a in
                guard case .array(let arr)? = a[0] else { return nil }
                try c.evaluator.tick(arr.count)
                return .number(arr.items.reduce(0) { $0 + ($1.number ?? 0) })
            }
        ),
        (
            "count", "<a:n>",
            { _, a in
                guard let v = a[0] else { return .number(0) }
                if case .array(let arr) = v { return .number(Double(arr.count)) }
                return .number(1)
            }
        ),
        (
            "max", "<a<n>:n>",
            { _, a in
                guard case .array(let arr)? = a[0], !arr.items.isEmpty else { return nil }
                return .number(arr.items.compactMap(\.number).max()!)
            }
        ),
        (
            "min", "<a<n>:n>",
            { _, a in
                guard case .array(let arr)? = a[0], !arr.items.isEmpty else { return nil }
                return .number(arr.items.compactMap(\.number).min()!)
            }
        ),
        (
            "average", "<a<n>:n>",
            { _, a in
                guard case .array(let arr)? = a[0], !arr.items.isEmpty else { return nil }
                return .number(arr.items.reduce(0) { $0 + ($1.number ?? 0) } / Double(arr.count))
            }
        ),
        // Strings
        (
            "string", "<x-b?:s>",
            { c, a in
                guard let v = a[0] else { return nil }
                return .string(try stringify(v, c.evaluator, pretty: a.count > 1 && boolean(a[1]) == true))
            }
        ),
        (
            "substring", "<s-nn?:s>",
            { _, a in
                guard let s = str(a[0]) else { return nil }
                let chars = Array(s.unicodeScalars)
                var start = clampedInt(num(a[1])!)
                let count = chars.count
                if start < 0 { start = max(0, count + start) }
                if start > count { return .string("") }
                var end = count
                if a.count > 2, let l = num(a[2]) {
                    let length = clampedInt(l)
                    if length <= 0 { return .string("") }
                    end = length >= count - start ? count : start + length
                }
                return .string(start < end ? String(String.UnicodeScalarView(chars[start..<end])) : "")
            }
        ),
        (
            "substringBefore", "<s-s:s>",
            { _, a in
                guard let s = str(a[0]) else { return nil }
                guard let chars = str(a[1]) else { return .string(s) }
                if chars.isEmpty { return .string("") }
                guard let r = s.range(of: chars) else { return .string(s) }
                return .string(String(s[..<r.lowerBound]))
            }
        ),
        (
            "substringAfter", "<s-s:s>",
            { _, a in
                guard let s = str(a[0]) else { return nil }
                guard let chars = str(a[1]) else { return .string(s) }
                if chars.isEmpty { return .string(s) }
                guard let r = s.range(of: chars) else { return .string(s) }
                return .string(String(s[r.upperBound...]))
            }
        ),
        ("lowercase", "<s-:s>", { _, a in str(a[0]).map { .string($0.lowercased()) } }),
        ("uppercase", "<s-:s>", { _, a in str(a[0]).map { .string($0.uppercased()) } }),
        ("length", "<s-:n>", { _, a in str(a[0]).map { .number(Double($0.unicodeScalars.count)) } }),
        (
            "trim", "<s-:s>",
            { _, a in
                guard let s = str(a[0]) else { return nil }
                let collapsed = s.replacingOccurrences(of: "[ \t\n\r]+", with: " ", options: .regularExpression)
                return .string(collapsed.trimmingCharacters(in: CharacterSet(charactersIn: " ")))
            }
        ),
        (
            "pad", "<s-ns?:s>",
            { c, a in
                guard let s = str(a[0]) else { return nil }
                let width = clampedInt(num(a[1])!)
                let padChar = (a.count > 2 ? str(a[2]) : nil).flatMap { $0.isEmpty ? nil : $0 } ?? " "
                // Lengths in code points, as jsonata-js counts them; built in one pass (a loop re-counting the
                // padding is quadratic, and `$pad('', 250000)` is a realistic Step Functions payload).
                let needed = abs(width) - s.unicodeScalars.count
                if needed <= 0 { return .string(s) }
                // Each padding character is at least one byte.
                try c.evaluator.checkLength(s.utf8.count + needed)
                try c.evaluator.tick(needed)
                let unit = Array(padChar.unicodeScalars)
                var padding = String.UnicodeScalarView()
                padding.reserveCapacity(needed)
                for i in 0..<needed { padding.append(unit[i % unit.count]) }
                let padded = String(padding)
                try c.evaluator.checkLength(s.utf8.count + padded.utf8.count)
                return .string(width > 0 ? s + padded : padded + s)
            }
        ),
        (
            "contains", "<s-(sf):b>",
            { context, a in
                guard let s = str(a[0]) else { return nil }
                switch a[1] {
                case .string(let t)?: return .bool(s.contains(t) || t.isEmpty)
                case .function(let f)?:
                    if case .regex(let re) = f.body {
                        return .bool(re.firstMatch(in: s, range: NSRange(location: 0, length: (s as NSString).length)) != nil)
                    }
                    return .bool(!(try customMatches(&context, a[1]!, s, function: "contains", limit: 1)).isEmpty)
                default: return nil
                }
            }
        ),
        (
            "split", "<s-(sf)n?:a<s>>",
            { context, a in
                guard let s = str(a[0]) else { return nil }
                var limit: Int? = nil
                if a.count > 2, let l = num(a[2]) {
                    if l < 0 {
                        throw JSONataError(
                            code: "D3020", message: "Third argument of split function must evaluate to a positive number", value: .number(l)
                        )
                    }
                    limit = clampedInt(l)
                }
                try context.evaluator.tick(s.utf8.count)
                var parts: [String]
                switch a[1] {
                case .string(let sep)?:
                    if sep.isEmpty { parts = s.map(String.init) } else { parts = s.components(separatedBy: sep) }
                case .function(let f)?:
                    let ns = s as NSString
                    parts = []
                    var last = 0
                    if case .regex(let re) = f.body {
                        for m in re.matches(in: s, range: NSRange(location: 0, length: ns.length)) {
                            parts.append(ns.substring(with: NSRange(location: last, length: m.range.location - last)))
                            last = m.range.location + m.range.length
                        }
                    } else {
                        for m in try customMatches(&context, a[1]!, s, function: "split", limit: limit ?? Int.max) {
                            parts.append(ns.substring(with: NSRange(location: last, length: max(0, m.start - last))))
                            last = m.end
                        }
                    }
                    parts.append(ns.substring(from: min(last, ns.length)))
                default: return nil
                }
                if let limit { parts = Array(parts.prefix(limit)) }
                try context.evaluator.allocate(parts.count)
                return .array(JArray(parts.map { .string($0) }))
            }
        ),
        (
            "join", "<a<s>s?:s>",
            { c, a in
                guard case .array(let arr)? = a[0] else { return nil }
                let sep = a.count > 1 ? str(a[1]) ?? "" : ""
                var length = max(0, arr.count - 1) * sep.utf8.count
                for item in arr.items { length += item.string?.utf8.count ?? 0 }
                try c.evaluator.checkLength(length)
                try c.evaluator.tick(arr.count + length / 64)
                return .string(arr.items.compactMap(\.string).joined(separator: sep))
            }
        ),
        (
            "match", "<s-f<s:o>n?:a<o>>",
            { context, a in
                guard let s = str(a[0]) else { return nil }
                guard case .function(let f)? = a[1] else {
                    throw JSONataError(
                        code: "T0410", message: "Argument 2 of function match does not match function signature", value: a[1], index: 2)
                }
                var limit = Int.max
                if a.count > 2, let l = num(a[2]) {
                    if l < 0 {
                        throw JSONataError(
                            code: "D3040", message: "Third argument of match function must evaluate to a positive number", value: .number(l)
                        )
                    }
                    limit = clampedInt(l)
                }
                guard case .regex(let re) = f.body else {
                    // A user-defined matcher: a function answering {match, start, end, groups, next}.
                    return seq(
                        try customMatches(&context, a[1]!, s, function: "match", limit: limit).map { m in
                            .object(
                                JObjectBox([
                                    "match": .string(m.match), "index": .number(Double(m.start)), "groups": .array(JArray(m.groups)),
                                ]))
                        })
                }
                let ns = s as NSString
                try context.evaluator.tick(ns.length)
                let matches = re.matches(in: s, range: NSRange(location: 0, length: ns.length)).prefix(limit)
                try context.evaluator.allocate(matches.count * 4)
                let objects: [Value] = matches.map { m in
                    let o = matchObject(m, in: ns, regex: re)
                    o.objectBox!.members.removeValue(forKey: "start")
                    o.objectBox!.members.removeValue(forKey: "end")
                    o.objectBox!.members["index"] = .number(Double(m.range.location))
                    let box = o.objectBox!
                    return .object(
                        JObjectBox(["match": box.members["match"]!, "index": box.members["index"]!, "groups": box.members["groups"]!]))
                }
                return seq(objects)
            }
        ),
        (
            "replace", "<s-(sf)(sf)n?:s>",
            { context, a in
                guard let s = str(a[0]) else { return nil }
                var limit = Int.max
                if a.count > 3, let l = num(a[3]) {
                    if l < 0 {
                        throw JSONataError(
                            code: "D3011", message: "Fourth argument of replace function must evaluate to a positive number",
                            value: .number(l))
                    }
                    limit = clampedInt(l)
                }
                switch a[1] {
                case .string(let pattern)?:
                    if pattern.isEmpty {
                        throw JSONataError(
                            code: "D3010", message: "Second argument of replace function cannot be an empty string", value: nil as Value?)
                    }
                    guard case .string(let replacement)? = a[2] else {
                        if case .function? = a[2] {
                            throw JSONataError(
                                code: "T0410", message: "Argument 3 of function replace does not match function signature", value: a[2],
                                index: 3)
                        }
                        return nil
                    }
                    var result = ""
                    var rest = Substring(s)
                    var count = 0
                    while count < limit, let r = rest.range(of: pattern) {
                        result += rest[..<r.lowerBound] + replacement
                        rest = rest[r.upperBound...]
                        count += 1
                        try context.evaluator.checkLength(result.utf8.count)
                        try context.evaluator.tick()
                    }
                    try context.evaluator.checkLength(result.utf8.count + rest.utf8.count)
                    return .string(result + rest)
                case .function(let f)?:
                    guard case .regex(let re) = f.body else { return nil }
                    let ns = s as NSString
                    var result = ""
                    var last = 0
                    try context.evaluator.tick(ns.length)
                    for (i, m) in re.matches(in: s, range: NSRange(location: 0, length: ns.length)).enumerated() where i < limit {
                        try context.evaluator.checkLength(result.utf8.count)
                        try context.evaluator.tick()
                        if m.range.length == 0 {
                            throw JSONataError(
                                code: "D1004", message: "Regular expression matches zero length string", value: nil as Value?)
                        }
                        result += ns.substring(with: NSRange(location: last, length: m.range.location - last))
                        switch a[2] {
                        case .string(let template)?:
                            result += expandReplacement(template, m, ns)
                        case let fn? where fn.isFunction:
                            let obj = matchObject(m, in: ns, regex: re)
                            let box = obj.objectBox!
                            let arg: Value = .object(
                                JObjectBox([
                                    "match": box.members["match"]!, "index": .number(Double(m.range.location)),
                                    "groups": box.members["groups"]!,
                                ]))
                            let r = try context.evaluator.apply(fn, [arg], nil, context.frame, position: context.position)
                            guard case .string(let rs)? = r else {
                                throw JSONataError(
                                    code: "D3012", message: "Attempted to replace a matched string with a non-string value", value: r)
                            }
                            result += rs
                        default: break
                        }
                        last = m.range.location + m.range.length
                    }
                    let rest = ns.substring(from: last)
                    try context.evaluator.checkLength(result.utf8.count + rest.utf8.count)
                    return .string(result + rest)
                default: return nil
                }
            }
        ),
        ("base64encode", "<s-:s>", { _, a in str(a[0]).map { .string(Data($0.utf8).base64EncodedString()) } }),
        (
            "base64decode", "<s-:s>",
            { _, a in
                guard let s = str(a[0]) else { return nil }
                guard let d = Data(base64Encoded: s, options: .ignoreUnknownCharacters) else { return nil }
                return .string(String(decoding: d, as: UTF8.self))
            }
        ),
        (
            "encodeUrlComponent", "<s-:s>",
            { _, a in
                guard let s = str(a[0]) else { return nil }
                if s.unicodeScalars.contains(where: { (0xD800...0xDFFF).contains($0.value) }) {
                    throw JSONataError(code: "D3140", message: "Malformed URL passed to $encodeUrlComponent(): \(s)", value: .string(s))
                }
                var allowed = CharacterSet.alphanumerics.intersection(CharacterSet(charactersIn: "\u{0}"..."\u{7F}"))
                allowed.insert(charactersIn: "-_.!~*'()")
                return .string(s.addingPercentEncoding(withAllowedCharacters: allowed) ?? s)
            }
        ),
        (
            "encodeUrl", "<s-:s>",
            { _, a in
                guard let s = str(a[0]) else { return nil }
                var allowed = CharacterSet.alphanumerics.intersection(CharacterSet(charactersIn: "\u{0}"..."\u{7F}"))
                allowed.insert(charactersIn: "-_.!~*'();/?:@&=+$,#")
                return .string(s.addingPercentEncoding(withAllowedCharacters: allowed) ?? s)
            }
        ),
        (
            "decodeUrlComponent", "<s-:s>",
            { _, a in
                guard let s = str(a[0]) else { return nil }
                guard let d = s.removingPercentEncoding else {
                    throw JSONataError(code: "D3140", message: "Malformed URL passed to $decodeUrlComponent(): \(s)", value: .string(s))
                }
                return .string(d)
            }
        ),
        (
            "decodeUrl", "<s-:s>",
            { _, a in
                guard let s = str(a[0]) else { return nil }
                guard let d = s.removingPercentEncoding else {
                    throw JSONataError(code: "D3140", message: "Malformed URL passed to $decodeUrl(): \(s)", value: .string(s))
                }
                return .string(d)
            }
        ),
        // Numbers
        (
            "number", "<(nsb)-:n>",
            { _, a in
                guard let v = a[0] else { return nil }
                switch v {
                case .number: return v
                case .bool(let b): return .number(b ? 1 : 0)
                case .string(let s):
                    if let n = parseJSNumber(s) { return .number(n) }
                    throw JSONataError(code: "D3030", message: "Unable to cast value to a number: \(s)", value: v)
                default:
                    throw JSONataError(code: "D3030", message: "Unable to cast value to a number", value: v)
                }
            }
        ),
        ("floor", "<n-:n>", { _, a in num(a[0]).map { .number($0.rounded(.down)) } }),
        ("ceil", "<n-:n>", { _, a in num(a[0]).map { .number($0.rounded(.up)) } }),
        ("abs", "<n-:n>", { _, a in num(a[0]).map { .number(abs($0)) } }),
        (
            "sqrt", "<n-:n>",
            { _, a in
                guard let n = num(a[0]) else { return nil }
                if n < 0 {
                    throw JSONataError(
                        code: "D3060", message: "The sqrt function cannot be applied to a negative number: \(n)", value: .number(n))
                }
                return .number(n.squareRoot())
            }
        ),
        (
            "power", "<n-n:n>",
            { _, a in
                guard let b = num(a[0]), let e = num(a[1]) else { return nil }
                let r = pow(b, e)
                guard r.isFinite else {
                    throw JSONataError(
                        code: "D3061",
                        message:
                            "The power function has resulted in a value that cannot be represented as a JSON number: base=\(b), exponent=\(e)",
                        value: .number(b))
                }
                return .number(r)
            }
        ),
        (
            "round", "<n-n?:n>",
            { _, a in
                guard let n = num(a[0]) else { return nil }
                let precision = a.count > 1 ? clampedInt(num(a[1]) ?? 0) : 0
                return .number(roundHalfEven(n, precision))
            }
        ),
        ("random", "<:n>", { _, _ in .number(Double.random(in: 0..<1)) }),
        (
            "formatBase", "<n-n?:s>",
            { _, a in
                guard let n = num(a[0]) else { return nil }
                let radixArgument = a.count > 1 ? (num(a[1]) ?? 10) : 10
                let radix = clampedInt(radixArgument)
                guard (2...36).contains(radix) else {
                    throw JSONataError(
                        code: "D3100",
                        message:
                            "The radix of the formatBase function must be between 2 and 36.  It was given \(JSON.formatNumber(radixArgument))",
                        value: .number(radixArgument))
                }
                return .string(integerText(roundHalfEven(n, 0), radix: radix))
            }
        ),
        // Booleans
        ("boolean", "<x-:b>", { _, a in boolean(a[0]).map { .bool($0) } }),
        ("not", "<x-:b>", { _, a in boolean(a[0]).map { .bool(!$0) } }),
        ("exists", "<x:b>", { _, a in .bool(a[0] != nil) }),
        // Arrays
        ("append", "<xx:a>", { _, a in appendValues(a[0], a.count > 1 ? a[1] : nil) }),
        (
            "reverse", "<a:a>",
            { c, a in
                guard case .array(let arr)? = a[0] else { return nil }
                try c.evaluator.allocate(arr.count)
                return .array(JArray(arr.items.reversed()))
            }
        ),
        (
            "distinct", "<x:x>",
            { c, a in
                guard let v = a[0] else { return nil }
                guard case .array(let arr) = v, arr.items.count > 1 else { return v }
                try c.evaluator.allocate(arr.count)
                return .array(JArray(try distinctValues(arr.items, c.evaluator), sequence: arr.sequence))
            }
        ),
        (
            "shuffle", "<a:a>",
            { c, a in
                guard case .array(let arr)? = a[0] else { return nil }
                try c.evaluator.allocate(arr.count)
                return .array(JArray(arr.items.shuffled()))
            }
        ),
        (
            "zip", "<a+>",
            { c, a in
                let arrays = a.map { arr($0) }
                let length = arrays.map(\.count).min() ?? 0
                try c.evaluator.allocate(length * (arrays.count + 1))
                var out: [Value] = []
                for i in 0..<length { out.append(.array(JArray(arrays.map { $0[i] }))) }
                return .array(JArray(out))
            }
        ),
        (
            "sort", "<af?:a>",
            { context, a in
                guard let v = a[0] else { return nil }
                guard case .array(let arr) = v else { return v }
                if arr.items.count <= 1 { return v }
                try context.evaluator.allocate(arr.count)
                if a.count > 1, let cmp = a[1] {
                    var failure: Error?
                    var ctx = context
                    let sorted = mergeSort(arr.items) { x, y in
                        if failure != nil { return false }
                        do { return boolean(try callback(&ctx, cmp, [x, y])) == true } catch { failure = error; return false }
                    }
                    if let failure { throw failure }
                    return .array(JArray(sorted))
                }
                let evaluator = context.evaluator
                if arr.items.allSatisfy({ $0.number != nil }) {
                    return .array(
                        JArray(
                            try mergeSort(arr.items) { (x, y) throws(JSONataError) in
                                try evaluator.tick()
                                return x.number! > y.number!
                            }))
                }
                if arr.items.allSatisfy({ $0.string != nil }) {
                    return .array(
                        JArray(
                            try mergeSort(arr.items) { (x, y) throws(JSONataError) in
                                try evaluator.tick()
                                return compareJS(x.string!, y.string!) > 0
                            }))
                }
                throw JSONataError(
                    code: "D3070",
                    message:
                        "The single argument form of the sort function can only be applied to an array of strings or an array of numbers.  Use the second argument to specify a comparison function",
                    value: nil as Value?)
            }
        ),
        // Objects
        (
            "keys", "<x-:a<s>>",
            { c, a in
                var keys = OrderedSet<String>()
                for item in arr(a[0]) {
                    if case .object(let o) = item {
                        try c.evaluator.tick(o.members.count)
                        keys.append(contentsOf: o.members.keys)
                    }
                }
                try c.evaluator.allocate(keys.count)
                return seq(keys.map { .string($0) })
            }
        ),
        (
            "lookup", "<x-s:x>",
            { context, a in
                guard let key = str(a[1]) else { return nil }
                return try context.evaluator.lookup(a[0], key)
            }
        ),
        (
            "spread", "<x-:a<o>>",
            { c, a in
                guard let v = a[0] else { return nil }
                var out: [Value] = []
                for item in arr(v) {
                    if case .object(let o) = item { try c.evaluator.allocate(o.members.count * 2) }
                    if case .object(let o) = item {
                        for (k, val) in o.members { out.append(.object(JObjectBox([k: val]))) }
                    } else {
                        out.append(item)
                    }
                }
                return seq(out)
            }
        ),
        (
            "merge", "<a<o>:o>",
            { c, a in
                guard let v = a[0] else { return nil }
                var result = OrderedDictionary<String, Value>()
                for item in arr(v) {
                    if case .object(let o) = item {
                        try c.evaluator.allocate(o.members.count)
                        for (k, val) in o.members { result[k] = val }
                    }
                }
                return .object(JObjectBox(result))
            }
        ),
        (
            "each", "<o-f:a>",
            { context, a in
                guard case .object(let o)? = a[0], let f = a[1] else { return nil }
                var out: [Value] = []
                for (k, v) in o.members {
                    if let r = try callback(&context, f, [v, .string(k), a[0]]) { out.append(r) }
                }
                return seq(out)
            }
        ),
        (
            "sift", "<o-f?:o>",
            { context, a in
                guard case .object(let o)? = a[0], let f = a[1] else { return nil }
                var result = OrderedDictionary<String, Value>()
                for (k, v) in o.members where boolean(try callback(&context, f, [v, .string(k), a[0]])) == true {
                    result[k] = v
                }
                return result.isEmpty ? nil : .object(JObjectBox(result))
            }
        ),
        ("type", "<x:s>", { _, a in a[0].map { .string($0.typeName) } }),
        (
            "error", "<s?:x>",
            { _, a in
                throw JSONataError(code: "D3137", message: str(a.first ?? nil) ?? "$error() function evaluated", value: nil as Value?)
            }
        ),
        (
            "assert", "<bs?:x>",
            { _, a in
                if case .bool(false)? = a[0] {
                    throw JSONataError(
                        code: "D3141", message: (a.count > 1 ? str(a[1]) : nil) ?? "$assert() statement failed", value: nil as Value?)
                }
                return nil
            }
        ),
        ("clone", "<(oa)-:o>", { c, a in try a[0].map { v throws(JSONataError) in try deepClone(v, c.evaluator) } }),
        // Higher order
        (
            "map", "<af>",
            { context, a in
                guard let f = a[1] else { return nil }
                let items = arr(a[0])
                var out: [Value] = []
                try context.evaluator.allocate(items.count)
                for (i, item) in items.enumerated() {
                    if let r = try callback(&context, f, [item, .number(Double(i)), a[0]]) { out.append(r) }
                }
                return seq(out)
            }
        ),
        (
            "filter", "<af>",
            { context, a in
                guard let f = a[1] else { return nil }
                let items = arr(a[0])
                var out: [Value] = []
                for (i, item) in items.enumerated() where boolean(try callback(&context, f, [item, .number(Double(i)), a[0]])) == true {
                    out.append(item)
                }
                try context.evaluator.allocate(out.count)
                return seq(out)
            }
        ),
        (
            "single", "<af?>",
            { context, a in
                guard a[0] != nil else { return nil }
                let items = arr(a[0])
                var found: Value? = nil
                var foundAny = false
                for (i, item) in items.enumerated() {
                    let ok: Bool
                    if a.count > 1, let f = a[1] {
                        ok = boolean(try callback(&context, f, [item, .number(Double(i)), a[0]])) == true
                    } else {
                        ok = true
                    }
                    if ok {
                        if foundAny {
                            throw JSONataError(
                                code: "D3138",
                                message: "The $single() function expected exactly 1 matching result.  Instead it matched more.",
                                value: nil as Value?)
                        }
                        found = item
                        foundAny = true
                    }
                }
                if !foundAny {
                    throw JSONataError(
                        code: "D3139", message: "The $single() function expected exactly 1 matching result.  Instead it matched 0.",
                        value: nil as Value?)
                }
                return found
            }
        ),
        (
            "reduce", "<afj?:j>",
            { context, a in
                guard let f = a[1] else { return nil }
                let items = arr(a[0])
                if callArity(f) < 2 {
                    throw JSONataError(
                        code: "D3050", message: "The second argument of reduce function must be a function with at least two arguments",
                        value: nil as Value?)
                }
                var index = 0
                var acc: Value?
                if a.count > 2, let initial = a[2] { acc = initial } else if !items.isEmpty { acc = items[0]; index = 1 }
                while index < items.count {
                    acc = try callback(&context, f, [acc, items[index], .number(Double(index)), a[0]])
                    index += 1
                }
                return acc
            }
        ),
        (
            "eval", "<sx?:x>",
            { context, a in
                guard let text = str(a[0]) else { return nil }
                let ast: Node
                do {
                    var parser = try Parser(text)
                    ast = try parser.parse()
                } catch let e as JSONataError {
                    throw JSONataError(
                        code: "D3120", message: "Syntax error in expression passed to function eval: \(e.message)", value: nil as Value?)
                }
                let input = (a.count > 1 ? a[1] : nil) ?? context.input
                do {
                    return try context.evaluator.evaluate(ast, input, context.frame)
                } catch let e as JSONataError {
                    throw JSONataError(
                        code: "D3121", message: "Dynamic error evaluating the expression passed to function eval: \(e.message)",
                        value: nil as Value?)
                }
            }
        ),
        // Date and time
        ("millis", "<:n>", { c, _ in .number(c.evaluator.timestamp) }),
        (
            "now", "<s?s?:s>",
            { c, a in
                try .string(
                    formatMillis(c.evaluator.timestamp, picture: a.count > 0 ? str(a[0]) : nil, timezone: a.count > 1 ? str(a[1]) : nil))
            }
        ),
        (
            "fromMillis", "<n-s?s?:s>",
            { _, a in
                guard let n = num(a[0]) else { return nil }
                return try .string(formatMillis(n, picture: a.count > 1 ? str(a[1]) : nil, timezone: a.count > 2 ? str(a[2]) : nil))
            }
        ),
        (
            "toMillis", "<s-s?:n>",
            { c, a in
                guard let s = str(a[0]) else { return nil }
                if a.count > 1, let picture = str(a[1]) {
                    return try DateTimePicture(picture).parse(s, now: c.evaluator.timestamp).map { .number($0) }
                }
                guard let ms = parseISOMillis(s) else {
                    throw JSONataError(
                        code: "D3110", message: "The timestamp value \(s) could not be parsed as ISO 8601 format", value: .string(s))
                }
                return .number(ms)
            }
        ),
        (
            "formatNumber", "<n-so?:s>",
            { _, a in
                guard let n = num(a[0]), let picture = a.count > 1 ? str(a[1]) : nil else { return nil }
                var options: [String: String]?
                if a.count > 2, case .object(let box)? = a[2] {
                    options = [:]
                    for (k, v) in box.members { if let text = v.string { options?[k] = text } }
                }
                return try .string(NumberPicture.format(n, picture: picture, options: options))
            }
        ),
        (
            "formatInteger", "<n-s:s>",
            { _, a in
                guard let n = num(a[0]), let picture = a.count > 1 ? str(a[1]) : nil else { return nil }
                return try .string(IntegerPicture(picture).format(n.rounded(.down)))
            }
        ),
        (
            "parseInteger", "<s-s:n>",
            { _, a in
                guard let s = str(a[0]), let picture = a.count > 1 ? str(a[1]) : nil else { return nil }
                return try IntegerPicture(picture).parse(s).map { .number($0) }
            }
        ),
    ]
}

/// `$distinct`'s items: the first of each set of deep-equal values, in order. Strings, numbers, booleans and
/// null are looked up by hash; only arrays, objects and functions are compared with each other one by one.
func distinctValues(_ items: [Value], _ evaluator: Evaluator) throws(JSONataError) -> [Value] {
    enum Key: Hashable { case null, bool(Bool), number(Double), string(String) }
    var seen = Set<Key>()
    var composites: [Value] = []
    var out: [Value] = []
    items: for item in items {
        let key: Key
        switch item {
        case .null: key = .null
        case .bool(let b): key = .bool(b)
        case .number(let n): key = .number(n)
        case .string(let s): key = .string(s)
        case .array, .object, .function:
            try evaluator.tick(composites.count + 1)
            for kept in composites where try deepEqual(kept, item) { continue items }
            composites.append(item)
            out.append(item)
            continue
        }
        if seen.insert(key).inserted { out.append(item) }
    }
    return out
}

/// One match found by a matcher: a regex, or a user-defined function as jsonata-js allows.
struct MatchRecord {
    var match: String
    var start: Int
    var end: Int
    var groups: [Value]
}

/// Runs a user-defined matcher on `s`: called with the string, it answers `{match, start, end, groups, next}`
/// (or undefined for no match), and `next()` answers the following match. T1010 when it answers anything else.
func customMatches(_ context: inout CallContext, _ matcher: Value, _ s: String, function: String, limit: Int) throws -> [MatchRecord] {
    var records: [MatchRecord] = []
    var result = try context.evaluator.apply(matcher, [.string(s)], nil, context.frame, position: context.position)
    while let current = result, records.count < limit {
        guard case .object(let box) = current, case .string(let match)? = box.members["match"],
            case .number(let start)? = box.members["start"], case .number(let end)? = box.members["end"]
        else {
            throw JSONataError(
                code: "T1010",
                message: "The matcher function argument passed to function \(function) does not return the correct object structure",
                value: current)
        }
        var groups: [Value] = []
        if case .array(let g)? = box.members["groups"] { groups = g.items }
        records.append(MatchRecord(match: match, start: clampedInt(start), end: clampedInt(end), groups: groups))
        try context.evaluator.tick()
        guard let next = box.members["next"], next.isFunction else { break }
        result = try context.evaluator.apply(next, [], nil, context.frame, position: context.position)
    }
    return records
}

func substringUTF16(_ s: String, _ start: Int, _ end: Int) -> String {
    let u = Array(s.utf16)
    guard start < end, start >= 0, end <= u.count else { return "" }
    return String(decoding: u[start..<end], as: UTF16.self)
}

/// Expands `$n` group references in a replacement string exactly as jsonata-js does.
func expandReplacement(_ replacement: String, _ m: NSTextCheckingResult, _ ns: NSString) -> String {
    let chars = Array(replacement)
    let groupCount = m.numberOfRanges - 1
    func group(_ i: Int) -> String? {
        guard i >= 1, i <= groupCount else { return nil }
        let r = m.range(at: i)
        return r.location == NSNotFound ? "" : ns.substring(with: r)
    }
    var out = ""
    var position = 0
    while position < chars.count, let dollar = chars[position...].firstIndex(of: "$") {
        out += String(chars[position..<dollar])
        position = dollar + 1
        guard position < chars.count else { out += "$"; return out }
        let next = chars[position]
        if next == "$" {
            out += "$"
            position += 1
        } else if next == "0" {
            out += ns.substring(with: m.range)
            position += 1
        } else {
            let maxDigits = groupCount == 0 ? 1 : Int(log10(Double(groupCount))) + 1
            func parse(_ n: Int) -> Int? {
                let digits = chars[position..<min(chars.count, position + n)].prefix { $0.isASCII && $0.isNumber }
                return digits.isEmpty ? nil : Int(String(digits))
            }
            var index = parse(maxDigits)
            if maxDigits > 1, let i = index, i > groupCount { index = parse(maxDigits - 1) }
            if let index {
                if groupCount > 0, let g = group(index) { out += g }
                position += String(index).count
            } else {
                out += "$"
            }
        }
    }
    if position < chars.count { out += String(chars[position...]) }
    return out
}

func parseJSNumber(_ s: String) -> Double? {
    let t = s.trimmingCharacters(in: .whitespaces)
    if t.hasPrefix("0x") || t.hasPrefix("0X"), let v = Int(t.dropFirst(2), radix: 16) { return Double(v) }
    if t.hasPrefix("0b") || t.hasPrefix("0B"), let v = Int(t.dropFirst(2), radix: 2) { return Double(v) }
    if t.hasPrefix("0o") || t.hasPrefix("0O"), let v = Int(t.dropFirst(2), radix: 8) { return Double(v) }
    guard t.range(of: #"^-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$"#, options: .regularExpression) != nil,
        let v = Double(t), v.isFinite
    else { return nil }
    return v
}

func roundHalfEven(_ value: Double, _ precision: Int) -> Double {
    // A double has no digit 400 places after the point that rounding could change, and none is as large as
    // half of 10^400: past those, the answer is known without shifting (which would overflow).
    if precision > 400 { return value }
    if precision < -400 { return 0 }
    // Shift by decimal exponent textually to avoid binary rounding surprises, as jsonata-js does.
    let shifted = Double("\(JSON.formatNumber(value))e\(precision)") ?? value * pow(10, Double(precision))
    if !shifted.isFinite { return value }
    var result = shifted.rounded()
    let diff = abs(shifted - shifted.rounded(.towardZero))
    if diff == 0.5 {
        result = shifted.rounded(.toNearestOrEven)
    }
    let back = Double("\(JSON.formatNumber(result))e\(-precision)") ?? result / pow(10, Double(precision))
    return back == 0 ? 0 : back
}

/// `$fromMillis`/`$now` with an optional picture (default ISO 8601) and `±hhmm` time zone.
func formatMillis(_ millis: Double, picture: String?, timezone: String?) throws(JSONataError) -> String {
    // JavaScript's dates reach 8.64e15 ms either side of 1970; jsonata-js fails beyond ("Invalid time value").
    guard abs(millis) <= maximumMillis else {
        throw JSONataError(code: "D1001", message: "Number out of range: \(JSON.formatNumber(millis))", value: .number(millis))
    }
    var hours = 0, minutes = 0
    if let timezone {
        // As jsonata-js: parseInt of the ±hhmm text, then hours and minutes from it. An offset past ±99:99 is
        // no time zone: held there, so that no arithmetic on it overflows.
        let parsed = Int(timezone.prefix { $0.isNumber || $0 == "-" || $0 == "+" }) ?? 0
        let offset = max(-9999, min(9999, parsed))
        hours = Int((Double(offset) / 100).rounded(.down))
        minutes = offset % 100
    }
    if picture == nil && timezone == nil { return isoMillis(millis) }
    return try DateTimePicture(picture ?? DateTimePicture.iso8601).format(millis: millis, offsetHours: hours, offsetMinutes: minutes)
}

/// The instants JavaScript's `Date` holds: 8.64e15 ms (100 million days) either side of 1970.
let maximumMillis = 8.64e15

func isoMillis(_ millis: Double) -> String {
    let date = Date(timeIntervalSince1970: millis / 1000)
    var calendar = Calendar(identifier: .gregorian)
    calendar.timeZone = TimeZone(identifier: "UTC")!
    let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second, .nanosecond], from: date)
    let ms = Int((millis.truncatingRemainder(dividingBy: 1000) + 1000).truncatingRemainder(dividingBy: 1000))
    return String(format: "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", c.year!, c.month!, c.day!, c.hour!, c.minute!, c.second!, ms)
}

func parseISOMillis(_ s: String) -> Double? {
    let pattern = #"^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?(Z|[+-]\d{2}:?\d{2})?)?)?)?$"#
    guard let re = try? NSRegularExpression(pattern: pattern) else { return nil }
    let ns = s as NSString
    guard let m = re.firstMatch(in: s, range: NSRange(location: 0, length: ns.length)) else { return nil }
    func group(_ i: Int) -> String? {
        let r = m.range(at: i)
        return r.location == NSNotFound ? nil : ns.substring(with: r)
    }
    var components = DateComponents()
    components.year = Int(group(1)!)
    components.month = group(2).flatMap(Int.init) ?? 1
    components.day = group(3).flatMap(Int.init) ?? 1
    components.hour = group(4).flatMap(Int.init) ?? 0
    components.minute = group(5).flatMap(Int.init) ?? 0
    components.second = group(6).flatMap(Int.init) ?? 0
    var calendar = Calendar(identifier: .gregorian)
    calendar.timeZone = TimeZone(identifier: "UTC")!
    guard let date = calendar.date(from: components) else { return nil }
    var millis = (date.timeIntervalSince1970 * 1000).rounded()
    if let frac = group(7) {
        let padded = (frac + "000").prefix(3)
        millis += Double(padded) ?? 0
    }
    if let zone = group(8), zone != "Z" {
        let sign: Double = zone.hasPrefix("-") ? -1 : 1
        let digits = zone.dropFirst().replacingOccurrences(of: ":", with: "")
        let hours = Double(digits.prefix(2)) ?? 0
        let minutes = Double(digits.suffix(2)) ?? 0
        millis -= sign * (hours * 3600 + minutes * 60) * 1000
    }
    return millis
}

/// An integer as `Number.prototype.toString(radix)` writes it: below 2^63 exactly; beyond, in radix 10 as
/// JavaScript does (`1e+300`), in other radices with all its digits, worked out on 32-bit limbs.
func integerText(_ n: Double, radix: Int) -> String {
    guard n.isFinite else { return n.isNaN ? "NaN" : n < 0 ? "-Infinity" : "Infinity" }
    if abs(n) < 9.2e18 { return String(Int64(n), radix: radix) }
    if radix == 10 { return JSON.formatNumber(n) }
    let magnitude = abs(n)
    let exponent = Int(magnitude.exponent)
    let significand = UInt64(magnitude.significandBitPattern) | (1 << 52)
    var limbs = [UInt32](repeating: 0, count: exponent / 32 + 2)
    for bit in 0..<53 where (significand >> UInt64(bit)) & 1 == 1 {
        let position = bit + exponent - 52
        limbs[position / 32] |= 1 << UInt32(position % 32)
    }
    let symbols = Array("0123456789abcdefghijklmnopqrstuvwxyz")
    var digits: [Character] = []
    while limbs.contains(where: { $0 != 0 }) {
        var remainder: UInt64 = 0
        for i in stride(from: limbs.count - 1, through: 0, by: -1) {
            let current = remainder << 32 | UInt64(limbs[i])
            limbs[i] = UInt32(current / UInt64(radix))
            remainder = current % UInt64(radix)
        }
        digits.append(symbols[Int(remainder)])
    }
    return (n < 0 ? "-" : "") + String(digits.reversed())
}
