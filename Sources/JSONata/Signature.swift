import Foundation

/// A function signature such as `<s-nn?:s>`, validating and filling in arguments as jsonata-js's signature.js.
struct Signature {
    struct Param {
        var regex: String
        var type: String
        var context = false
        var contextRegex: String?
        var subtype: String?
    }

    let definition: String
    var params: [Param] = []
    let regex: NSRegularExpression

    init(_ signature: String, position: Int) throws {
        definition = signature
        let chars = Array(signature)
        var position = 1
        var params: [Param] = []
        func next(_ p: Param) { params.append(p) }
        func closing(_ start: Int, _ open: Character, _ close: Character) -> Int {
            var depth = 1
            var p = start
            while p < chars.count - 1 {
                p += 1
                if chars[p] == close { depth -= 1; if depth == 0 { break } } else if chars[p] == open { depth += 1 }
            }
            return p
        }
        while position < chars.count {
            let symbol = chars[position]
            if symbol == ":" { break }
            switch symbol {
            case "s", "n", "b", "l", "o":
                next(Param(regex: "[\(symbol)m]", type: String(symbol)))
            case "a":
                next(Param(regex: "[asnblfom]", type: "a"))
            case "f":
                next(Param(regex: "f", type: "f"))
            case "j":
                next(Param(regex: "[asnblom]", type: "j"))
            case "x":
                next(Param(regex: "[asnblfom]", type: "x"))
            case "-":
                if !params.isEmpty {
                    params[params.count - 1].context = true
                    params[params.count - 1].contextRegex = params[params.count - 1].regex
                    params[params.count - 1].regex += "?"
                }
            case "?", "+":
                if !params.isEmpty { params[params.count - 1].regex += String(symbol) }
            case "(":
                let end = closing(position, "(", ")")
                let choice = String(chars[(position + 1)..<end])
                if choice.contains("<") {
                    throw JSONataError(
                        code: "S0402", position: position, message: "Choice groups containing parameterized types are not supported",
                        value: .string(choice))
                }
                next(Param(regex: "[\(choice)m]", type: "(\(choice))"))
                position = end
            case "<":
                if let last = params.last, last.type == "a" || last.type == "f" {
                    let end = closing(position, "<", ">")
                    params[params.count - 1].subtype = String(chars[(position + 1)..<end])
                    position = end
                } else {
                    throw JSONataError(
                        code: "S0401", position: position, message: "Type parameters can only be applied to functions and arrays",
                        value: .string(params.last?.type ?? ""))
                }
            default:
                break
            }
            position += 1
        }
        self.params = params
        let pattern = "^" + params.map { "(\($0.regex))" }.joined() + "$"
        regex = try NSRegularExpression(pattern: pattern)
    }

    static func symbol(_ value: Value?) -> Character {
        switch value {
        case nil: "m"
        case .function?: "f"
        case .string?: "s"
        case .number?: "n"
        case .bool?: "b"
        case .null?: "l"
        case .array?: "a"
        case .object?: "o"
        }
    }

    func validate(_ args: [Value?], context: Value?) throws -> [Value?] {
        let supplied = String(args.map(Self.symbol))
        let ns = supplied as NSString
        guard let match = regex.firstMatch(in: supplied, range: NSRange(location: 0, length: ns.length)) else {
            try throwValidationError(args, supplied)
        }
        var validated: [Value?] = []
        var argIndex = 0
        for (index, param) in params.enumerated() {
            let range = match.range(at: index + 1)
            let matched = range.location == NSNotFound ? "" : ns.substring(with: range)
            if matched.isEmpty {
                if param.context, let contextRegex = param.contextRegex {
                    let contextType = String(Self.symbol(context))
                    if contextType.range(of: "^" + contextRegex + "$", options: .regularExpression) != nil {
                        validated.append(context)
                    } else {
                        throw JSONataError(
                            code: "T0411", message: "Context value is not a compatible type with argument \(argIndex + 1) of function",
                            value: context, index: argIndex + 1)
                    }
                } else {
                    validated.append(argIndex < args.count ? args[argIndex] : nil)
                    argIndex += 1
                }
            } else {
                for single in matched {
                    let arg = argIndex < args.count ? args[argIndex] : nil
                    if param.type == "a" {
                        if single == "m" {
                            validated.append(nil)
                        } else {
                            var ok = true
                            if let subtype = param.subtype {
                                if single != "a" && matched != subtype {
                                    ok = false
                                } else if single == "a", case .array(let a)? = arg, let first = a.items.first {
                                    let itemType = Self.symbol(first)
                                    if String(itemType) != String(subtype.prefix(1)) {
                                        ok = false
                                    } else {
                                        ok = a.items.allSatisfy { Self.symbol($0) == itemType }
                                    }
                                }
                            }
                            if !ok {
                                throw JSONataError(
                                    code: "T0412",
                                    message:
                                        "Argument \(argIndex + 1) of function must be an array of \(Self.typeName(param.subtype ?? ""))",
                                    value: arg, index: argIndex + 1)
                            }
                            if single != "a", let arg {
                                validated.append(.array(JArray([arg])))
                            } else {
                                validated.append(arg)
                            }
                        }
                    } else {
                        validated.append(arg)
                    }
                    argIndex += 1
                }
            }
        }
        return validated
    }

    static func typeName(_ symbol: String) -> String {
        ["a": "arrays", "b": "booleans", "f": "functions", "n": "numbers", "o": "objects", "s": "strings"][symbol] ?? symbol
    }

    func throwValidationError(_ args: [Value?], _ supplied: String) throws -> Never {
        var partial = "^"
        var goodTo = 0
        let ns = supplied as NSString
        for param in params {
            partial += param.regex
            let re = try NSRegularExpression(pattern: partial)
            guard let m = re.firstMatch(in: supplied, range: NSRange(location: 0, length: ns.length)) else {
                throw JSONataError(
                    code: "T0410", message: "Argument \(goodTo + 1) of function does not match function signature",
                    value: goodTo < args.count ? args[goodTo] : nil, index: goodTo + 1)
            }
            goodTo = m.range.length
        }
        throw JSONataError(
            code: "T0410", message: "Argument \(goodTo + 1) of function does not match function signature",
            value: goodTo < args.count ? args[goodTo] : nil, index: goodTo + 1)
    }
}
