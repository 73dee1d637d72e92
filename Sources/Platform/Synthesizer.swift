import OrderedCollections
import JSONCore
import Yams

/// A whole platform: the stacks to deploy.
public struct PlatformApp: Sendable {
    public var name: String
    public var stacks: [Stack]

    public init(_ name: String, @StackBuilder _ stacks: () -> [Stack]) {
        self.name = name
        self.stacks = stacks()
    }

    /// The synthesized templates, as values: no I/O.
    public func synthesize() throws -> CloudAssembly {
        var seen = Set<String>()
        var templates: [CloudAssembly.StackTemplate] = []
        for stack in stacks {
            guard seen.insert(stack.name).inserted else { throw SynthesisError("duplicate stack name \(stack.name)") }
            templates.append(.init(stack: stack.name, environment: stack.environment, template: try stack.template()))
        }
        return CloudAssembly(stacks: templates)
    }
}

@resultBuilder
public enum StackBuilder {
    public static func buildExpression(_ s: Stack) -> [Stack] { [s] }
    public static func buildExpression(_ s: [Stack]) -> [Stack] { s }
    public static func buildBlock(_ parts: [Stack]...) -> [Stack] { parts.flatMap { $0 } }
    public static func buildOptional(_ s: [Stack]?) -> [Stack] { s ?? [] }
    public static func buildEither(first s: [Stack]) -> [Stack] { s }
    public static func buildEither(second s: [Stack]) -> [Stack] { s }
    public static func buildArray(_ s: [[Stack]]) -> [Stack] { s.flatMap { $0 } }
}

/// The synthesized platform: one template per stack and a manifest, like `cdk.out`.
public struct CloudAssembly: Sendable {
    public struct StackTemplate: Sendable {
        public var stack: String
        public var environment: Environment
        public var template: JSON
        public var fileName: String { "\(stack).template.json" }
        public var yamlFileName: String { "\(stack).template.yaml" }
    }

    public var stacks: [StackTemplate]

    /// `manifest.json`: the stacks, their environments and template files.
    public func manifest(includeYAML: Bool) -> JSON {
        var artifacts = JSONObject()
        for s in stacks {
            var props: JSONObject = ["templateFile": .string(s.fileName)]
            if includeYAML { props["yamlTemplateFile"] = .string(s.yamlFileName) }
            artifacts[s.stack] = [
                "type": "aws:cloudformation:stack",
                "environment": .string("aws://\(s.environment.account)/\(s.environment.region)"),
                "properties": .object(props),
            ]
        }
        return ["version": "skiff-1", "artifacts": .object(artifacts)]
    }

    /// The files of the assembly folder, by name, in a stable order.
    public func files(includeYAML: Bool) throws -> [(name: String, contents: String)] {
        var files: [(String, String)] = []
        for s in stacks {
            files.append((s.fileName, s.template.serialized(.pretty) + "\n"))
            if includeYAML { files.append((s.yamlFileName, try CloudFormationYAML.render(s.template))) }
        }
        files.append(("manifest.json", manifest(includeYAML: includeYAML).serialized(.pretty) + "\n"))
        return files
    }
}

/// CloudFormation YAML, intrinsics in their long form (`Fn::GetAtt:`), keys in template order.
public enum CloudFormationYAML {
    public static func render(_ template: JSON) throws -> String {
        try Yams.serialize(node: node(template), width: -1, sortKeys: false)
    }

    static func node(_ value: JSON) -> Node {
        switch value {
        case .null: return Node("null", Tag(.null))
        case .bool(let b): return Node(b ? "true" : "false", Tag(.bool))
        case .number(let n): return Node(JSON.formatNumber(n), Tag(n.rounded() == n ? .int : .float))
        case .string(let s):
            // Quote strings YAML would otherwise read as another type ("true", "10", "2012-10-17", "").
            return Node(s, Tag(.str), needsQuotes(s) ? .doubleQuoted : .any)
        case .array(let a): return .sequence(Node.Sequence(a.map(node)))
        case .object(let o): return .mapping(Node.Mapping(o.map { (Node($0.key), node($0.value)) }))
        }
    }

    static func needsQuotes(_ s: String) -> Bool {
        if s.isEmpty { return true }
        let resolved = Resolver.default.resolveTag(of: Node(s))
        return resolved != .str || s.first == "*" || s.first == "!" || s.first == "&"
    }
}
