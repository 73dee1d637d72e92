import Foundation
import JSONCore
import JSONata

/// Parameters / ResultSelector / ItemSelector of JSONPath states: fields ending in `.$` take the value of a path,
/// a context path (`$$.`), or an intrinsic function (`States.Format(...)`).
enum PayloadTemplate {
    static func resolve(_ template: JSON, input: JSON, context: JSON, variables: VariableScope? = nil) throws(StatesError) -> JSON {
        switch template {
        case .object(let o):
            var out = JSONObject(minimumCapacity: o.count)
            for (key, value) in o {
                if key.hasSuffix(".$") {
                    let name = String(key.dropLast(2))
                    guard case .string(let expression) = value else {
                        throw StatesError("States.Runtime", "The value of field '\(key)' must be a path or an intrinsic function")
                    }
                    out[name] = try evaluate(expression, input: input, context: context, variables: variables, field: key)
                } else {
                    out[key] = try resolve(value, input: input, context: context, variables: variables)
                }
            }
            return .object(out)
        case .array(let a):
            var items: [JSON] = []
            items.reserveCapacity(a.count)
            for item in a { items.append(try resolve(item, input: input, context: context, variables: variables)) }
            return .array(items)
        default:
            return template
        }
    }

    /// The value of one `.$` field: a path into the input, the context object (`$$`) or a workflow variable
    /// (`$name`), or an intrinsic function call.
    static func evaluate(
        _ expression: String, input: JSON, context: JSON, variables: VariableScope? = nil, field: String
    ) throws(StatesError) -> JSON {
        if expression.hasPrefix("$$") {
            guard let v = try JSONPath.select("$" + expression.dropFirst(2), in: context) else {
                throw StatesError(
                    "States.Runtime",
                    "The JsonPath argument for the field '\(field)' could not find a value in the context object: \(expression)")
            }
            return v
        }
        if let reference = JSONPath.variableReference(expression) {
            guard let value = variables?.value(reference.name) else {
                throw StatesError("States.Runtime", "The variable '$\(reference.name)' used by the field '\(field)' is not defined")
            }
            guard let v = try JSONPath.select(reference.path, in: value) else {
                throw StatesError(
                    "States.Runtime",
                    "The JsonPath argument for the field '\(field)' could not be found in the variable '$\(reference.name)': \(expression)")
            }
            return v
        }
        if expression.hasPrefix("$") {
            guard let v = try JSONPath.select(expression, in: input) else {
                throw StatesError(
                    "States.Runtime",
                    "The JsonPath argument for the field '\(field)' could not be found in the input '\(input.serialized())'")
            }
            return v
        }
        if expression.hasPrefix("States.") {
            var parser = IntrinsicParser(Array(expression))
            let call = try parser.parseCall()
            return try Intrinsics.call(call, input: input, context: context, variables: variables)
        }
        throw StatesError("States.Runtime", "The value of field '\(field)' is neither a path nor an intrinsic function: \(expression)")
    }

    /// What a path selects: in `input` (`$…`), in the context object (`$$…`), or in a workflow variable
    /// (`$name…`); nil when it selects nothing (an undefined variable included).
    static func select(_ path: String, input: JSON, context: JSON, variables: VariableScope?) throws(StatesError) -> JSON? {
        if path.hasPrefix("$$") { return try JSONPath.select("$" + path.dropFirst(2), in: context) }
        if let reference = JSONPath.variableReference(path) {
            guard let value = variables?.value(reference.name) else { return nil }
            return try JSONPath.select(reference.path, in: value)
        }
        return try JSONPath.select(path, in: input)
    }

    /// Whether `path` is valid where JSONPath states take a path: the input, the context object (`$$`) or a
    /// workflow variable (`$name`); `reference` paths select one node only.
    static func isValidPath(_ path: String, reference: Bool = false) -> Bool {
        if path.hasPrefix("$$") { return JSONPath.isValid("$" + path.dropFirst(2), reference: reference) }
        if let variable = JSONPath.variableReference(path) {
            return Assignment.isValidName(variable.name) && JSONPath.isValid(variable.path, reference: reference)
        }
        return JSONPath.isValid(path, reference: reference)
    }
}

extension PayloadTemplate {
    static let intrinsicNames: Set<String> = [
        "States.Format", "States.StringToJson", "States.JsonToString", "States.Array", "States.ArrayPartition",
        "States.ArrayContains", "States.ArrayRange", "States.ArrayGetItem", "States.ArrayLength", "States.ArrayUnique",
        "States.Base64Encode", "States.Base64Decode", "States.Hash", "States.JsonMerge", "States.MathRandom", "States.MathAdd",
        "States.StringSplit", "States.UUID",
    ]

    /// Checks a Parameters / ResultSelector / ItemSelector template as CreateStateMachine does: every `.$` field
    /// holds a valid path, context path or intrinsic function call.
    static func validate(_ template: JSON, at path: String, _ diagnostics: inout [Diagnostic]) {
        switch template {
        case .object(let o):
            for (key, value) in o {
                let location = "\(path)/\(key)"
                guard key.hasSuffix(".$") else { validate(value, at: location, &diagnostics); continue }
                guard let expression = value.stringValue else {
                    diagnostics.append(
                        .schema(
                            "The value for the field '\(key)' must be a STRING that contains a JSONPath or an intrinsic function",
                            at: location))
                    continue
                }
                if expression.hasPrefix("$") {
                    if !isValidPath(expression) {
                        diagnostics.append(
                            Diagnostic(
                                code: "INVALID_JSON_PATH",
                                message: "The value for the field '\(key)' must be a valid JSONPath: \(expression)", location: location))
                    }
                } else if expression.hasPrefix("States.") {
                    var parser = IntrinsicParser(Array(expression))
                    do {
                        let call = try parser.parseCall()
                        if let unknown = unknownFunction(call) {
                            diagnostics.append(
                                .schema("The value for the field '\(key)' uses an unknown intrinsic function: \(unknown)", at: location))
                        }
                    } catch {
                        diagnostics.append(
                            .schema(
                                "The value for the field '\(key)' must be a valid intrinsic function call: \(error.cause)", at: location))
                    }
                } else {
                    diagnostics.append(
                        .schema(
                            "The value for the field '\(key)' must be a valid JSONPath or a valid intrinsic function call", at: location))
                }
            }
        case .array(let items):
            for (i, item) in items.enumerated() { validate(item, at: "\(path)/\(i)", &diagnostics) }
        default:
            break
        }
    }

    static func unknownFunction(_ argument: IntrinsicArgument) -> String? {
        guard case .call(let name, let arguments) = argument else { return nil }
        if !intrinsicNames.contains(name) { return name }
        return arguments.lazy.compactMap(unknownFunction).first
    }
}

/// A parsed intrinsic function call.
indirect enum IntrinsicArgument {
    case literal(JSON)
    case path(String)
    case call(String, [IntrinsicArgument])
}

struct IntrinsicParser {
    let chars: [Character]
    var i = 0
    /// How many calls enclose the one being parsed.
    var depth = 0
    init(_ chars: [Character]) { self.chars = chars }

    /// AWS: "You can nest up to 10 intrinsic functions within a field". Parsing, checking and evaluating a call
    /// recurse once per level, so the bound also keeps a field's text (up to a definition's size) from nesting
    /// them deeper than a stack survives.
    static let maxNesting = 10

    mutating func skipSpaces() { while i < chars.count, chars[i] == " " { i += 1 } }

    mutating func parseCall() throws(StatesError) -> IntrinsicArgument {
        depth += 1
        defer { depth -= 1 }
        guard depth <= Self.maxNesting else {
            throw StatesError("States.IntrinsicFailure", "Intrinsic functions nest at most \(Self.maxNesting) deep")
        }
        var name = ""
        while i < chars.count, chars[i] != "(" { name.append(chars[i]); i += 1 }
        guard i < chars.count else { throw StatesError("States.IntrinsicFailure", "Missing '(' after \(name)") }
        i += 1
        var args: [IntrinsicArgument] = []
        skipSpaces()
        if i < chars.count, chars[i] == ")" { i += 1; return .call(name, args) }
        while true {
            skipSpaces()
            args.append(try parseArgument())
            skipSpaces()
            guard i < chars.count else { throw StatesError("States.IntrinsicFailure", "Missing ')' in \(name)") }
            if chars[i] == "," { i += 1; continue }
            if chars[i] == ")" { i += 1; break }
            throw StatesError("States.IntrinsicFailure", "Unexpected '\(chars[i])' in arguments of \(name)")
        }
        return .call(name, args)
    }

    mutating func parseArgument() throws(StatesError) -> IntrinsicArgument {
        guard i < chars.count else { throw StatesError("States.IntrinsicFailure", "Missing argument") }
        let c = chars[i]
        if c == "'" {
            i += 1
            var s = ""
            while i < chars.count, chars[i] != "'" {
                if chars[i] == "\\", i + 1 < chars.count { i += 1 }
                s.append(chars[i])
                i += 1
            }
            i += 1
            return .literal(.string(s))
        }
        if c == "$" {
            var p = ""
            var depth = 0
            while i < chars.count, depth > 0 || (chars[i] != "," && chars[i] != ")") {
                if chars[i] == "[" { depth += 1 } else if chars[i] == "]" { depth -= 1 }
                p.append(chars[i])
                i += 1
            }
            return .path(p.trimmingCharacters(in: .whitespaces))
        }
        if String(chars[i...].prefix(7)) == "States." { return try parseCall() }
        var token = ""
        while i < chars.count, chars[i] != ",", chars[i] != ")" { token.append(chars[i]); i += 1 }
        token = token.trimmingCharacters(in: .whitespaces)
        guard let value = try? JSON(parsing: token) else {
            throw StatesError("States.IntrinsicFailure", "Invalid argument '\(token)'")
        }
        return .literal(value)
    }
}

enum Intrinsics {
    static func value(_ arg: IntrinsicArgument, input: JSON, context: JSON, variables: VariableScope?) throws(StatesError) -> JSON {
        switch arg {
        case .literal(let v): return v
        case .path(let p):
            guard let v = try PayloadTemplate.select(p, input: input, context: context, variables: variables) else {
                let place =
                    p.hasPrefix("$$") ? "the context object" : JSONPath.variableReference(p) != nil ? "the workflow variables" : "the input"
                throw StatesError("States.Runtime", "The JsonPath argument \(p) could not be found in \(place)")
            }
            return v
        case .call: return try call(arg, input: input, context: context, variables: variables)
        }
    }

    static func fail(_ message: String) -> StatesError { StatesError("States.IntrinsicFailure", message) }

    static func call(_ call: IntrinsicArgument, input: JSON, context: JSON, variables: VariableScope? = nil) throws(StatesError) -> JSON {
        guard case .call(let name, let rawArgs) = call else { return try value(call, input: input, context: context, variables: variables) }
        var args: [JSON] = []
        for a in rawArgs { args.append(try value(a, input: input, context: context, variables: variables)) }
        func arg(_ i: Int) throws(StatesError) -> JSON {
            guard i < args.count else { throw fail("\(name) expects at least \(i + 1) arguments") }
            return args[i]
        }
        func string(_ i: Int) throws(StatesError) -> String {
            guard let s = try arg(i).stringValue else { throw fail("Argument \(i + 1) of \(name) must be a string") }
            return s
        }
        func number(_ i: Int) throws(StatesError) -> Double {
            guard let n = try arg(i).numberValue else { throw fail("Argument \(i + 1) of \(name) must be a number") }
            return n
        }
        /// An integer argument, exactly (a JSON number holds integers exactly up to 2^53).
        func integer(_ i: Int) throws(StatesError) -> Int {
            let n = try number(i)
            guard n == n.rounded(.towardZero), abs(n) <= 9_007_199_254_740_992, let value = Int(exactly: n) else {
                throw fail("Argument \(i + 1) of \(name) must be an integer, not \(JSON.formatNumber(n))")
            }
            return value
        }
        func array(_ i: Int) throws(StatesError) -> [JSON] {
            guard let a = try arg(i).arrayValue else { throw fail("Argument \(i + 1) of \(name) must be an array") }
            return a
        }
        switch name {
        case "States.Format":
            let template = try string(0)
            var out = ""
            var n = 1
            var chars = Array(template)[...]
            while let c = chars.first {
                chars = chars.dropFirst()
                if c == "\\", let next = chars.first { out.append(next); chars = chars.dropFirst(); continue }
                if c == "{", chars.first == "}" {
                    chars = chars.dropFirst()
                    guard n < args.count else { throw fail("States.Format has more {} than arguments") }
                    let v = args[n]
                    out += v.stringValue ?? v.serialized()
                    n += 1
                    continue
                }
                out.append(c)
            }
            if n != args.count { throw fail("States.Format has more arguments than {}") }
            return .string(out)
        case "States.StringToJson":
            do { return try JSON(parsing: try string(0)) } catch { throw fail("States.StringToJson: the string is not valid JSON") }
        case "States.JsonToString":
            return .string(try arg(0).serialized())
        case "States.Array":
            return .array(args)
        case "States.ArrayPartition":
            let items = try array(0)
            let size = try integer(1)
            guard size > 0 else { throw fail("The chunk size of States.ArrayPartition must be positive") }
            return .array(stride(from: 0, to: items.count, by: size).map { .array(Array(items[$0..<min($0 + size, items.count)])) })
        case "States.ArrayContains":
            return .bool(try array(0).contains(try arg(1)))
        case "States.ArrayRange":
            let start = try integer(0), end = try integer(1), step = try integer(2)
            guard step != 0 else { throw fail("The step of States.ArrayRange must not be 0") }
            // Integers up to 2^53: their difference fits an Int. A step away from the end gives no item.
            let span = end - start
            let count = span == 0 ? 1 : (span > 0) == (step > 0) ? span / step + 1 : 0
            guard count <= 1000 else { throw fail("States.ArrayRange can create at most 1000 items") }
            return .array((0..<count).map { .number(Double(start) + Double($0) * Double(step)) })
        case "States.ArrayGetItem":
            let items = try array(0)
            let index = try integer(1)
            guard items.indices.contains(index) else { throw fail("States.ArrayGetItem index \(index) is out of bounds") }
            return items[index]
        case "States.ArrayLength":
            return .number(Double(try array(0).count))
        case "States.ArrayUnique":
            var seen: [JSON] = []
            for item in try array(0) where !seen.contains(item) { seen.append(item) }
            return .array(seen)
        case "States.Base64Encode":
            return .string(Data(try string(0).utf8).base64EncodedString())
        case "States.Base64Decode":
            guard let data = Data(base64Encoded: try string(0)) else { throw fail("States.Base64Decode: the string is not valid base64") }
            return .string(String(decoding: data, as: UTF8.self))
        case "States.Hash":
            let algorithm = try string(1)
            guard let digest = StepFunctionsHash.hex(try string(0), algorithm: algorithm) else {
                throw fail("States.Hash algorithm must be one of \(StepFunctionsHash.algorithms.joined(separator: ", ")), not \(algorithm)")
            }
            return .string(digest)
        case "States.JsonMerge":
            guard case .object(let a) = try arg(0), case .object(let b) = try arg(1) else {
                throw fail("States.JsonMerge merges two objects")
            }
            if args.count > 2, args[2] == .bool(true) { throw fail("States.JsonMerge supports shallow merges only (third argument false)") }
            var merged = a
            for (k, v) in b { merged[k] = v }
            return .object(merged)
        case "States.MathRandom":
            // Integers up to 2^53: end - start and start + an offset below it cannot overflow.
            let start = try integer(0), end = try integer(1)
            guard start < end else { throw fail("States.MathRandom needs start < end") }
            if args.count > 2 {
                var generator = SplitMix64(seed: UInt64(bitPattern: Int64(try integer(2))))
                return .number(Double(start + Int(generator.next() % UInt64(end - start))))
            }
            return .number(Double(Int.random(in: start..<end)))
        case "States.MathAdd":
            return .number(try number(0) + number(1))
        case "States.StringSplit":
            let delimiters = Set(try string(1))
            return .array(try string(0).split(whereSeparator: { delimiters.contains($0) }).map { .string(String($0)) })
        case "States.UUID":
            return .string(UUID().uuidString.lowercased())
        default:
            throw fail("Unknown intrinsic function \(name)")
        }
    }
}
