import Foundation

/// A node of a parsed (and then processed) JSONata expression, mirroring the AST of jsonata-js.
final class Node {
    enum Kind {
        case path, binary, unary, name, string, number, value, wildcard, descendant, parent, condition, block, bind
        case regex, function, partial, variable, lambda, apply, transform, sort, filter, index, placeholder
    }

    var kind: Kind
    var value: String = ""
    var position: Int
    var literal: Value?

    var lhs: Node?
    var rhs: Node?
    var expression: Node?
    var expressions: [Node] = []
    var pairs: [(Node, Node)] = []
    var steps: [Node] = []
    var arguments: [Node] = []
    var procedure: Node?
    var body: Node?
    var signature: Signature?
    var condition: Node?
    var then: Node?
    var otherwise: Node?
    var pattern: Node?
    var update: Node?
    var delete: Node?
    var terms: [(descending: Bool, expression: Node)] = []
    var predicate: [Node]?
    var stages: [Node]?
    var group: (pairs: [(Node, Node)], position: Int)?
    var focus: String?
    var index: String?
    var tuple = false
    var keepArray = false
    var consarray = false
    var keepSingletonArray = false
    var thunk = false
    var regex: NSRegularExpression?
    /// Parent operator: the slot its ancestor is bound to.
    var slot: AncestorSlot?
    var seekingParent: [AncestorSlot] = []
    var ancestor: AncestorSlot?

    init(_ kind: Kind, _ value: String = "", position: Int) {
        self.kind = kind
        self.value = value
        self.position = position
    }
}

final class AncestorSlot {
    var label: String
    var level: Int
    var index: Int
    init(label: String, level: Int, index: Int) {
        self.label = label
        self.level = level
        self.index = index
    }
}

/// Pratt parser of JSONata, after jsonata-js's parser.js.
struct Parser {
    var tokenizer: Tokenizer
    var token: Token
    var previous: Token?
    /// How deeply the tree built so far nests at the point being parsed: one level per nested sub-expression and
    /// per operator of a left-associative chain (`1+1+1` nests as `(1+1)+1`). Bounded so that neither the parser
    /// nor anything that walks the tree after it (processing, evaluation, release) can overflow the stack.
    var nesting = 0

    static let bindingPower: [String: Int] = [
        ".": 75, "[": 80, "]": 0, "{": 70, "}": 0, "(": 80, ")": 0, ",": 0, "@": 80, "#": 80, ";": 80, ":": 80,
        "?": 20, "+": 50, "-": 50, "*": 60, "/": 60, "%": 60, "|": 20, "=": 40, "<": 40, ">": 40, "^": 40,
        "**": 60, "..": 20, ":=": 10, "!=": 40, "<=": 40, ">=": 40, "~>": 40, "?:": 40, "??": 40,
        "and": 30, "or": 25, "in": 40, "&": 50, "!": 0, "~": 0,
    ]

    init(_ source: String) throws {
        tokenizer = Tokenizer(source)
        token = Token(kind: .end, text: "", position: 0)
        token = try tokenizer.next(regexAllowed: true)
    }

    /// Symbols that only end or separate expressions: they never continue one (binding power 0).
    static let terminals: Set<String> = [":", ";", ",", ")", "]", "}", "..", "|"]

    var lbp: Int {
        switch token.kind {
        case .operator: Self.terminals.contains(token.text) ? 0 : (Self.bindingPower[token.text] ?? 0)
        default: 0
        }
    }

    func isOperator(_ text: String) -> Bool { token.kind == .operator && token.text == text }

    mutating func advance() throws {
        previous = token
        let regexAllowed: Bool
        switch token.kind {
        case .operator: regexAllowed = ![")", "]", "}"].contains(token.text)
        default: regexAllowed = false
        }
        token = try tokenizer.next(regexAllowed: regexAllowed)
        if token.kind == .operator && (token.text == "!" || token.text == "~") {
            throw JSONataError(code: "S0204", position: token.position, token: token.text, message: "Unknown operator: \(token.text)")
        }
    }

    mutating func expect(_ text: String) throws {
        guard isOperator(text) else {
            if token.kind == .end {
                throw JSONataError(
                    code: "S0203", position: token.position, token: text, message: "Expected \(text) before end of expression")
            }
            throw JSONataError(
                code: "S0202", position: token.position, token: token.text, message: "Expected \(text), got \(token.text)",
                value: .string(text))
        }
        try advance()
    }

    mutating func parse() throws -> Node {
        let expr = try expression(0)
        if token.kind != .end {
            throw JSONataError(code: "S0201", position: token.position, token: token.text, message: "Syntax error: \(token.text)")
        }
        var processor = ASTProcessor()
        let ast = try processor.process(expr)
        if ast.kind == .parent || !ast.seekingParent.isEmpty {
            throw JSONataError(
                code: "S0217", position: ast.position, token: "\(ast.kind)",
                message: "The object representing the 'parent' cannot be derived from this expression")
        }
        return ast
    }

    mutating func expression(_ rbp: Int) throws -> Node {
        let outer = nesting
        defer { nesting = outer }
        try nest()
        let t = token
        try advance()
        var left = try nud(t)
        while rbp < lbp {
            try nest()
            let op = token
            try advance()
            left = try led(op, left)
        }
        return left
    }

    mutating func nest() throws(JSONataError) {
        nesting += 1
        let maximum = JSONataExpression.maximumNesting
        if nesting > maximum {
            throw JSONataError(
                code: "U1001", position: token.position, token: token.text,
                message: "Stack overflow error: the expression nests more than \(maximum) levels deep", value: nil as Value?)
        }
    }

    mutating func nud(_ t: Token) throws -> Node {
        switch t.kind {
        case .end:
            throw JSONataError(code: "S0207", position: t.position, token: "(end)", message: "Unexpected end of expression")
        case .string:
            let n = Node(.string, t.text, position: t.position)
            n.literal = .string(t.text)
            return n
        case .number:
            let n = Node(.number, t.text, position: t.position)
            n.literal = .number(t.number)
            return n
        case .value:
            let n = Node(.value, t.text, position: t.position)
            n.literal = t.literal
            return n
        case .name:
            return Node(.name, t.text, position: t.position)
        case .variable:
            return Node(.variable, t.text, position: t.position)
        case .regex:
            let n = Node(.regex, t.text, position: t.position)
            n.regex = try makeRegex(t.text, flags: t.regexFlags, position: t.position)
            return n
        case .operator:
            switch t.text {
            case "and", "or", "in":
                return Node(.name, t.text, position: t.position)
            case "-":
                let n = Node(.unary, "-", position: t.position)
                n.expression = try expression(70)
                return n
            case "*":
                return Node(.wildcard, "*", position: t.position)
            case "**":
                return Node(.descendant, "**", position: t.position)
            case "%":
                return Node(.parent, "%", position: t.position)
            case "(":
                let n = Node(.block, "(", position: t.position)
                while !isOperator(")") {
                    n.expressions.append(try expression(0))
                    if !isOperator(";") { break }
                    try advance()
                }
                try expect(")")
                return n
            case "[":
                let n = Node(.unary, "[", position: t.position)
                if !isOperator("]") {
                    while true {
                        var item = try expression(0)
                        if isOperator("..") {
                            let range = Node(.binary, "..", position: token.position)
                            range.lhs = item
                            try advance()
                            range.rhs = try expression(0)
                            item = range
                        }
                        n.expressions.append(item)
                        if !isOperator(",") { break }
                        try advance()
                    }
                }
                try expect("]")
                return n
            case "{":
                let n = Node(.unary, "{", position: t.position)
                n.pairs = try objectPairs()
                return n
            case "|":
                let n = Node(.transform, "|", position: t.position)
                n.pattern = try expression(0)
                try expect("|")
                n.update = try expression(0)
                if isOperator(",") {
                    try advance()
                    n.delete = try expression(0)
                }
                try expect("|")
                return n
            default:
                throw JSONataError(
                    code: "S0211", position: t.position, token: t.text, message: "The symbol \(t.text) cannot be used as a unary operator")
            }
        }
    }

    mutating func objectPairs() throws -> [(Node, Node)] {
        var pairs: [(Node, Node)] = []
        if !isOperator("}") {
            while true {
                let key = try expression(0)
                try expect(":")
                let value = try expression(0)
                pairs.append((key, value))
                if !isOperator(",") { break }
                try advance()
            }
        }
        try expect("}")
        return pairs
    }

    mutating func led(_ t: Token, _ left: Node) throws -> Node {
        let bp = Self.bindingPower[t.text] ?? 0
        switch t.text {
        case ".", "+", "-", "*", "/", "%", "=", "<", ">", "!=", "<=", ">=", "&", "and", "or", "in", "..", "??", "?:", "~>":
            let n = Node(.binary, t.text, position: t.position)
            n.lhs = left
            n.rhs = try expression(bp)
            return n
        case ":=":
            guard left.kind == .variable else {
                throw JSONataError(
                    code: "S0212", position: t.position, token: left.value,
                    message: "The left side of := must be a variable name (start with $)")
            }
            let n = Node(.binary, ":=", position: t.position)
            n.lhs = left
            n.rhs = try expression(bp - 1)
            return n
        case "@", "#":
            let n = Node(.binary, t.text, position: t.position)
            n.lhs = left
            n.rhs = try expression(bp)
            guard n.rhs?.kind == .variable else {
                throw JSONataError(
                    code: "S0214", position: n.rhs?.position ?? t.position, token: t.text,
                    message: "The right side of \(t.text) must be a variable name (start with $)")
            }
            return n
        case "?":
            let n = Node(.condition, "?", position: t.position)
            n.condition = left
            n.then = try expression(0)
            if isOperator(":") {
                try advance()
                n.otherwise = try expression(0)
            }
            return n
        case "(":
            return try call(t, left)
        case "[":
            if isOperator("]") {
                var step: Node? = left
                while let s = step, s.kind == .binary, s.value == "[" { step = s.lhs }
                step?.keepArray = true
                try advance()
                return left
            }
            let n = Node(.binary, "[", position: t.position)
            n.lhs = left
            n.rhs = try expression(0)
            try expect("]")
            return n
        case "{":
            let n = Node(.binary, "{", position: t.position)
            n.lhs = left
            n.pairs = try objectPairs()
            return n
        case "^":
            try expect("(")
            let n = Node(.binary, "^", position: t.position)
            n.lhs = left
            while true {
                var descending = false
                if isOperator("<") { try advance() } else if isOperator(">") { descending = true; try advance() }
                n.terms.append((descending, try expression(0)))
                if !isOperator(",") { break }
                try advance()
            }
            try expect(")")
            return n
        default:
            throw JSONataError(code: "S0201", position: t.position, token: t.text, message: "Syntax error: \(t.text)")
        }
    }

    mutating func call(_ t: Token, _ left: Node) throws -> Node {
        var args: [Node] = []
        var isPartial = false
        if !isOperator(")") {
            while true {
                if isOperator("?") {
                    isPartial = true
                    args.append(Node(.placeholder, "?", position: token.position))
                    try advance()
                } else {
                    args.append(try expression(0))
                }
                if !isOperator(",") { break }
                try advance()
            }
        }
        try expect(")")
        if left.kind == .name && (left.value == "function" || left.value == "λ") {
            for arg in args where arg.kind != .variable {
                throw JSONataError(
                    code: "S0208", position: arg.position, token: arg.value,
                    message: "Parameter \(arg.value) of function definition must be a variable name (start with $)")
            }
            let n = Node(.lambda, left.value, position: t.position)
            n.arguments = args
            if isOperator("<") {
                var depth = 1
                var text = "<"
                while depth > 0 && !isOperator("{") && token.kind != .end {
                    try advance()
                    let tok = token
                    if tok.kind == .operator && tok.text == ">" {
                        depth -= 1
                    } else if tok.kind == .operator && tok.text == "<" {
                        depth += 1
                    }
                    text += tok.kind == .variable ? "$" + tok.text : tok.text
                }
                try expect(">")
                n.signature = try Signature(text, position: t.position)
            }
            try expect("{")
            n.body = try expression(0)
            try expect("}")
            return n
        }
        let n = Node(isPartial ? .partial : .function, "(", position: t.position)
        n.procedure = left
        n.arguments = args
        return n
    }
}

func makeRegex(_ pattern: String, flags: String, position: Int) throws -> NSRegularExpression {
    var options: NSRegularExpression.Options = []
    if flags.contains("i") { options.insert(.caseInsensitive) }
    if flags.contains("m") { options.insert(.anchorsMatchLines) }
    if flags.contains("s") { options.insert(.dotMatchesLineSeparators) }
    do {
        return try NSRegularExpression(pattern: pattern, options: options)
    } catch {
        throw JSONataError(code: "S0303", position: position, token: pattern, message: "The regular expression is not valid: \(pattern)")
    }
}

/// jsonata-js's `processAST`: turns `.` chains into paths of steps, attaches predicates, group-by, sort, focus
/// and index bindings to their steps, resolves the parent operator, and marks tail calls.
struct ASTProcessor {
    var ancestorLabel = 0
    var ancestorIndex = 0
    var ancestry: [Node] = []

    mutating func process(_ expr: Node) throws -> Node {
        switch expr.kind {
        case .binary:
            switch expr.value {
            case ".":
                let lstep = try process(expr.lhs!)
                let result: Node
                if lstep.kind == .path {
                    result = lstep
                } else {
                    result = Node(.path, position: lstep.position)
                    result.steps = [lstep]
                }
                if lstep.kind == .parent { result.seekingParent = [lstep.slot!] }
                let rest = try process(expr.rhs!)
                if rest.kind == .path {
                    result.steps.append(contentsOf: rest.steps)
                } else {
                    if let p = rest.predicate {
                        rest.stages = p
                        rest.predicate = nil
                    }
                    result.steps.append(rest)
                }
                for step in result.steps {
                    if step.kind == .number || step.kind == .value {
                        throw JSONataError(
                            code: "S0213", position: step.position, token: step.value,
                            message: "The literal value \(step.value) cannot be used as a step within a path expression",
                            value: step.literal.map { .init($0.json) })
                    }
                    if step.kind == .string { step.kind = .name }
                }
                if result.steps.contains(where: \.keepArray) { result.keepSingletonArray = true }
                if let first = result.steps.first, first.kind == .unary, first.value == "[" { first.consarray = true }
                if let last = result.steps.last, last.kind == .unary, last.value == "[" { last.consarray = true }
                try resolveAncestry(result)
                return result
            case "[":
                let result = try process(expr.lhs!)
                var step = result
                var useStages = false
                if result.kind == .path {
                    step = result.steps[result.steps.count - 1]
                    useStages = true
                }
                if step.group != nil {
                    throw JSONataError(
                        code: "S0209", position: expr.position, message: "A predicate cannot follow a grouping expression in a step")
                }
                let predicate = try process(expr.rhs!)
                let filter = Node(.filter, position: expr.position)
                filter.expression = predicate
                if useStages {
                    step.stages = (step.stages ?? []) + [filter]
                } else {
                    step.predicate = (step.predicate ?? []) + [filter]
                }
                if !predicate.seekingParent.isEmpty {
                    for slot in predicate.seekingParent {
                        if slot.level == 1 { try seekParent(step, slot) } else { slot.level -= 1 }
                    }
                    pushAncestry(step, predicate)
                }
                return result
            case "{":
                let result = try process(expr.lhs!)
                if result.group != nil {
                    throw JSONataError(code: "S0210", position: expr.position, message: "Each step can only have one grouping expression")
                }
                result.group = (try expr.pairs.map { (try process($0.0), try process($0.1)) }, expr.position)
                return result
            case "^":
                var result = try process(expr.lhs!)
                if result.kind != .path {
                    let path = Node(.path, position: result.position)
                    path.steps = [result]
                    result = path
                }
                let sort = Node(.sort, position: expr.position)
                sort.terms = try expr.terms.map { term in
                    let expression = try process(term.expression)
                    // A `%` in a sort term seeks the parent of the step being sorted.
                    pushAncestry(sort, expression)
                    return (term.descending, expression)
                }
                result.steps.append(sort)
                try resolveAncestry(result)
                if expr.keepArray { result.keepArray = true }
                return result
            case ":=":
                let n = Node(.bind, ":=", position: expr.position)
                n.lhs = try process(expr.lhs!)
                n.rhs = try process(expr.rhs!)
                pushAncestry(n, n.rhs!)
                return n
            case "@":
                let result = try process(expr.lhs!)
                var step = result
                if result.kind == .path { step = result.steps[result.steps.count - 1] }
                if step.stages != nil || step.predicate != nil {
                    throw JSONataError(
                        code: "S0215", position: expr.position, message: "A context variable binding must precede any predicates on a step")
                }
                if step.kind == .sort {
                    throw JSONataError(
                        code: "S0216", position: expr.position,
                        message: "A context variable binding must precede the 'order-by' clause on a step")
                }
                if expr.keepArray { step.keepArray = true }
                step.focus = expr.rhs!.value
                step.tuple = true
                return result
            case "#":
                var result = try process(expr.lhs!)
                var step = result
                if result.kind == .path {
                    step = result.steps[result.steps.count - 1]
                } else {
                    let path = Node(.path, position: result.position)
                    path.steps = [result]
                    result = path
                    if let p = step.predicate {
                        step.stages = p
                        step.predicate = nil
                    }
                }
                if step.stages == nil {
                    step.index = expr.rhs!.value
                } else {
                    let index = Node(.index, expr.rhs!.value, position: expr.position)
                    step.stages!.append(index)
                }
                step.tuple = true
                // `[]` after an index-bound step (`$#$pos[...][]`) marks the '#' node: keep the result an array.
                if expr.keepArray { result.keepArray = true }
                return result
            case "~>":
                let n = Node(.apply, "~>", position: expr.position)
                n.lhs = try process(expr.lhs!)
                n.rhs = try process(expr.rhs!)
                n.keepArray = n.lhs!.keepArray || n.rhs!.keepArray
                return n
            default:
                let n = Node(.binary, expr.value, position: expr.position)
                n.lhs = try process(expr.lhs!)
                n.rhs = try process(expr.rhs!)
                pushAncestry(n, n.lhs!)
                pushAncestry(n, n.rhs!)
                return n
            }
        case .unary:
            let n = Node(.unary, expr.value, position: expr.position)
            if expr.value == "[" {
                n.expressions = try expr.expressions.map { item in
                    let v = try process(item)
                    pushAncestry(n, v)
                    return v
                }
            } else if expr.value == "{" {
                n.pairs = try expr.pairs.map { pair in
                    let k = try process(pair.0)
                    pushAncestry(n, k)
                    let v = try process(pair.1)
                    pushAncestry(n, v)
                    return (k, v)
                }
            } else {
                let e = try process(expr.expression!)
                if expr.value == "-", e.kind == .number, case .number(let v)? = e.literal {
                    let folded = Node(.number, position: e.position)
                    folded.literal = .number(-v)
                    folded.value = "-" + e.value
                    return folded
                }
                n.expression = e
                pushAncestry(n, e)
            }
            n.keepArray = expr.keepArray
            return n
        case .function, .partial:
            let n = Node(expr.kind, expr.value, position: expr.position)
            n.arguments = try expr.arguments.map { arg in
                let a = try process(arg)
                pushAncestry(n, a)
                return a
            }
            n.procedure = try process(expr.procedure!)
            n.keepArray = expr.keepArray
            return n
        case .lambda:
            let n = Node(.lambda, expr.value, position: expr.position)
            n.arguments = expr.arguments
            n.signature = expr.signature
            let body = try process(expr.body!)
            n.body = tailCallOptimize(body)
            return n
        case .condition:
            let n = Node(.condition, position: expr.position)
            n.condition = try process(expr.condition!)
            pushAncestry(n, n.condition!)
            n.then = try process(expr.then!)
            pushAncestry(n, n.then!)
            if let e = expr.otherwise {
                n.otherwise = try process(e)
                pushAncestry(n, n.otherwise!)
            }
            n.keepArray = expr.keepArray
            return n
        case .transform:
            let n = Node(.transform, position: expr.position)
            n.pattern = try process(expr.pattern!)
            n.update = try process(expr.update!)
            if let d = expr.delete { n.delete = try process(d) }
            return n
        case .block:
            let n = Node(.block, position: expr.position)
            n.expressions = try expr.expressions.map { item in
                let p = try process(item)
                pushAncestry(n, p)
                if p.consarray || (p.kind == .path && p.steps.first?.consarray == true) { n.consarray = true }
                return p
            }
            n.keepArray = expr.keepArray
            return n
        case .name:
            let path = Node(.path, position: expr.position)
            path.steps = [expr]
            if expr.keepArray { path.keepSingletonArray = true }
            return path
        case .parent:
            let n = Node(.parent, "%", position: expr.position)
            n.slot = AncestorSlot(label: "!\(ancestorLabel)", level: 1, index: ancestorIndex)
            ancestorLabel += 1
            ancestorIndex += 1
            ancestry.append(n)
            return n
        default:
            return expr
        }
    }

    func tailCallOptimize(_ expr: Node) -> Node {
        switch expr.kind {
        case .function where expr.predicate == nil:
            let thunk = Node(.lambda, position: expr.position)
            thunk.thunk = true
            thunk.body = expr
            return thunk
        case .condition:
            expr.then = expr.then.map(tailCallOptimize)
            expr.otherwise = expr.otherwise.map(tailCallOptimize)
            return expr
        case .block:
            if let last = expr.expressions.last {
                expr.expressions[expr.expressions.count - 1] = tailCallOptimize(last)
            }
            return expr
        default:
            return expr
        }
    }

    // MARK: Parent operator

    mutating func seekParent(_ node: Node, _ slot: AncestorSlot) throws {
        switch node.kind {
        case .name, .wildcard:
            slot.level -= 1
            if slot.level == 0 {
                if node.ancestor == nil {
                    node.ancestor = slot
                } else {
                    // Reuse the existing slot: point this one at it.
                    ancestry[slot.index].slot!.label = node.ancestor!.label
                    node.ancestor = slot
                }
                node.tuple = true
            }
        case .parent:
            slot.level += 1
        case .block:
            if let last = node.expressions.last {
                node.tuple = true
                try seekParent(last, slot)
            }
        case .path:
            node.tuple = true
            var index = node.steps.count - 1
            try seekParent(node.steps[index], slot)
            while slot.level > 0 && index > 0 {
                index -= 1
                try seekParent(node.steps[index], slot)
            }
        default:
            throw JSONataError(
                code: "S0217", position: node.position, token: "\(node.kind)",
                message: "The object representing the 'parent' cannot be derived from this expression")
        }
    }

    mutating func pushAncestry(_ result: Node, _ value: Node) {
        guard !value.seekingParent.isEmpty || value.kind == .parent else { return }
        let slots = value.kind == .parent ? [value.slot!] : value.seekingParent
        result.seekingParent.append(contentsOf: slots)
    }

    mutating func resolveAncestry(_ path: Node) throws {
        var index = path.steps.count - 1
        let laststep = path.steps[index]
        var slots = laststep.seekingParent
        if laststep.kind == .parent { slots.append(laststep.slot!) }
        for slot in slots {
            index = path.steps.count - 2
            while slot.level > 0 {
                if index < 0 {
                    path.seekingParent.append(slot)
                    break
                }
                var step = path.steps[index]
                index -= 1
                while index >= 0 && step.focus != nil && path.steps[index].focus != nil {
                    step = path.steps[index]
                    index -= 1
                }
                try seekParent(step, slot)
            }
        }
    }
}
