import JSONCore

/// A compiled JSONata expression.
///
/// ```swift
/// let expression = try JSONataExpression("Account.Order.Product.Price ~> $sum()")
/// let total = try expression.evaluate(input)            // JSON? — nil is JSONata's "undefined"
/// ```
/// Compile once, evaluate many times and from many threads: the compiled form is immutable.
public struct JSONataExpression: @unchecked Sendable {
    let ast: Node
    public let source: String

    /// The deepest an expression may nest (parentheses, brackets, operands of operands, steps of a path) before it
    /// is refused with `U1001`. jsonata-js has no such limit of its own (its recursive parser fails with
    /// JavaScript's "Maximum call stack size exceeded").
    ///
    /// Measured, a level takes up to 2 KiB of stack in a release build (parsing, then processing the tree) and
    /// up to 12 KiB in a debug build: 256 levels use a sixteenth of the 8 MiB stack of a Swift task or NIO thread
    /// on Linux in release, and under half of it in debug. Deeper nesting is also beyond what evaluation, limited
    /// to ``JSONataLimits/maxDepth`` levels, could run.
    public static let maximumNesting = 256

    public init(_ source: String) throws {
        self.source = source
        var parser = try Parser(source)
        ast = try parser.parse()
    }

    /// Evaluates against `input` (nil: no input at all). Returns nil when the result is undefined.
    public func evaluate(_ input: JSON?, environment: JSONataEnvironment = .init()) throws -> JSON? {
        let evaluator = Evaluator(limits: environment.limits)
        let root = Frame(parent: Builtins.frame)
        for (name, value) in environment.variables { root.bind(name, Value(value)) }
        for (name, function) in environment.functions { root.bind(name, .function(function.value)) }
        var value = input.map(Value.init)
        root.bind("$", value)
        if case .array(let a)? = value {
            let wrapper = JArray([.array(a)], sequence: true)
            wrapper.outerWrapper = true
            value = .array(wrapper)
        }
        let result = try evaluator.evaluate(ast, value, root)
        return try result?.toJSON()
    }
}

/// Variables, host functions and limits of one evaluation.
public struct JSONataEnvironment: Sendable {
    public var variables: [String: JSON]
    public var functions: [String: JSONataFunction]
    public var limits: JSONataLimits

    public init(variables: [String: JSON] = [:], functions: [String: JSONataFunction] = [:], limits: JSONataLimits = .init()) {
        self.variables = variables
        self.functions = functions
        self.limits = limits
    }
}

/// Bounds that keep a hostile expression from hanging, exhausting memory or crashing the host.
///
/// Independent of these, an expression nested more than ``JSONataExpression/maximumNesting`` levels deep is
/// refused when compiled, and a value nested more than 512 arrays and objects deep (as deep as the JSON parser
/// reads) is refused where it would be walked or returned (`U1001`).
public struct JSONataLimits: Sendable {
    /// Deepest nesting of evaluation (recursion) before `U1001`. Function calls count on their own, against the
    /// same bound. The default leaves a wide margin on the 512 KiB stacks of secondary threads.
    public var maxDepth: Int
    /// Longest evaluation before `U1001`; nil for none. Checked inside built-in functions as well.
    public var timeout: Duration?
    /// Most array elements and object members one evaluation may create, in all, before `D2015`; a sequence of
    /// 10 million (the range operator's own limit) fits, with room to use it.
    public var maxElements: Int
    /// Longest string, in UTF-8 bytes, one evaluation may build (by `&`, `$join`, `$pad`, `$string`, ...)
    /// before `D2015`.
    public var maxStringLength: Int

    public init(maxDepth: Int = 500, timeout: Duration? = .seconds(10), maxElements: Int = 16_000_000, maxStringLength: Int = 100_000_000) {
        self.maxDepth = maxDepth
        self.timeout = timeout
        self.maxElements = maxElements
        self.maxStringLength = maxStringLength
    }
}

/// A function the host binds, called with its evaluated arguments (nil for undefined).
public struct JSONataFunction: @unchecked Sendable {
    let value: JFunction

    public init(signature: String? = nil, _ body: @escaping @Sendable ([JSON?]) throws -> JSON?) {
        let parsed = signature.flatMap { try? Signature($0, position: 0) }
        value = JFunction(
            name: "host", signature: parsed, arity: parsed?.params.count ?? 1,
            body: .native { _, args in
                try body(args.map { try $0?.toJSON() }).map(Value.init)
            })
    }
}

/// An error of compilation or evaluation, with jsonata-js's code (`S0201`, `T2001`, `D3030`, ...).
public struct JSONataError: Error, Sendable, Equatable, CustomStringConvertible {
    public var code: String
    /// Offset in the expression text just past the offending token.
    public var position: Int?
    public var token: String?
    public var message: String
    /// The offending value, when there is one.
    public var value: JSON?
    public var value2: JSON?
    public var index: Int?

    public init(code: String, position: Int? = nil, token: String? = nil, message: String, value: JSON? = nil) {
        self.code = code
        self.position = position
        self.token = token
        self.message = message
        self.value = value
    }

    init(code: String, position: Int? = nil, token: String? = nil, message: String, value: Value?, value2: Value? = nil, index: Int? = nil)
    {
        self.code = code
        self.position = position
        self.token = token
        self.message = message
        self.value = value?.json
        self.value2 = value2?.json
        self.index = index
    }

    public var description: String {
        "\(code): \(message)" + (position.map { " (at position \($0))" } ?? "")
    }
}
