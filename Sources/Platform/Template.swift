import OrderedCollections
import JSONCore

/// One CloudFormation resource: the L1 level every construct expands to, and the escape hatch
/// that lets any resource type be declared raw in a stack.
public struct Resource: Sendable, Equatable {
    public var logicalId: String
    public var type: String
    public var properties: JSONObject
    public var dependsOn: [String]
    public var metadata: JSONObject
    public var deletionPolicy: String?
    public var updateReplacePolicy: String?

    public init(
        _ logicalId: String, type: String, properties: JSONObject = [:], dependsOn: [String] = [],
        metadata: JSONObject = [:], deletionPolicy: String? = nil, updateReplacePolicy: String? = nil
    ) {
        self.logicalId = logicalId
        self.type = type
        self.properties = properties
        self.dependsOn = dependsOn
        self.metadata = metadata
        self.deletionPolicy = deletionPolicy
        self.updateReplacePolicy = updateReplacePolicy
    }

    /// `{"Ref": logicalId}`.
    public var ref: JSON { Fn.ref(logicalId) }
    /// `{"Fn::GetAtt": [logicalId, attribute]}`.
    public func getAtt(_ attribute: String) -> JSON { Fn.getAtt(logicalId, attribute) }

    var templateValue: JSON {
        var o: JSONObject = ["Type": .string(type)]
        if !properties.isEmpty { o["Properties"] = .object(properties) }
        if !dependsOn.isEmpty { o["DependsOn"] = .array(dependsOn.map(JSON.string)) }
        if !metadata.isEmpty { o["Metadata"] = .object(metadata) }
        if let deletionPolicy { o["DeletionPolicy"] = .string(deletionPolicy) }
        if let updateReplacePolicy { o["UpdateReplacePolicy"] = .string(updateReplacePolicy) }
        return .object(o)
    }
}

/// A stack parameter.
public struct Parameter: Sendable, Equatable {
    public var name: String
    public var type: String
    public var description: String?
    public var defaultValue: JSON?

    public init(_ name: String, type: String, description: String? = nil, default defaultValue: JSON? = nil) {
        self.name = name
        self.type = type
        self.description = description
        self.defaultValue = defaultValue
    }

    public var ref: JSON { Fn.ref(name) }
}

/// A stack output.
public struct Output: Sendable, Equatable {
    public var name: String
    public var value: JSON
    public var description: String?
    public var exportName: JSON?

    public init(_ name: String, value: JSON, description: String? = nil, exportName: JSON? = nil) {
        self.name = name
        self.value = value
        self.description = description
        self.exportName = exportName
    }
}

/// What a construct contributes to the stack it is declared in.
public struct StackParts: Sendable {
    public var parameters: [Parameter] = []
    public var resources: [Resource] = []
    public var outputs: [Output] = []
    /// Notes written to the template's top-level Metadata (e.g. features CloudFormation cannot express).
    public var notes: [String] = []

    public init(parameters: [Parameter] = [], resources: [Resource] = [], outputs: [Output] = [], notes: [String] = []) {
        self.parameters = parameters
        self.resources = resources
        self.outputs = outputs
        self.notes = notes
    }

    mutating func append(_ other: StackParts) {
        parameters += other.parameters
        resources += other.resources
        outputs += other.outputs
        notes += other.notes
    }
}

/// Anything declared in a stack: it expands to CloudFormation parameters, resources and outputs.
public protocol Construct: Sendable {
    var parts: StackParts { get }
    /// Rejects declarations CloudFormation or AWS would reject at deploy time, with a clear message.
    func validate() throws(SynthesisError)
}

extension Construct {
    public func validate() throws(SynthesisError) {}
}

extension Resource: Construct {
    public var parts: StackParts { StackParts(resources: [self]) }
}
extension Parameter: Construct {
    public var parts: StackParts { StackParts(parameters: [self]) }
}
extension Output: Construct {
    public var parts: StackParts { StackParts(outputs: [self]) }
}

@resultBuilder
public enum ConstructBuilder {
    public static func buildExpression(_ c: any Construct) -> [any Construct] { [c] }
    public static func buildExpression(_ cs: [any Construct]) -> [any Construct] { cs }
    public static func buildBlock(_ parts: [any Construct]...) -> [any Construct] { parts.flatMap { $0 } }
    public static func buildOptional(_ c: [any Construct]?) -> [any Construct] { c ?? [] }
    public static func buildEither(first c: [any Construct]) -> [any Construct] { c }
    public static func buildEither(second c: [any Construct]) -> [any Construct] { c }
    public static func buildArray(_ cs: [[any Construct]]) -> [any Construct] { cs.flatMap { $0 } }
}

/// Where a stack deploys.
public struct Environment: Sendable, Equatable {
    public var account: String
    public var region: String
    public init(account: String, region: String) {
        self.account = account
        self.region = region
    }
}

/// Errors found while assembling a stack.
public struct SynthesisError: Error, Equatable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// One CloudFormation stack: a name, where it deploys, and the constructs declared in it.
public struct Stack: Sendable {
    public var name: String
    public var environment: Environment
    public var description: String
    public var constructs: [any Construct]

    public init(
        _ name: String, environment: Environment, description: String,
        @ConstructBuilder _ constructs: () -> [any Construct]
    ) {
        self.name = name
        self.environment = environment
        self.description = description
        self.constructs = constructs()
    }

    /// The CloudFormation template as a JSON value. Fails on duplicate logical IDs or dangling Refs.
    public func template() throws -> JSON {
        var all = StackParts()
        for c in constructs {
            do { try c.validate() } catch { throw SynthesisError("stack \(name): \(error.description)") }
            all.append(c.parts)
        }
        var t: JSONObject = ["AWSTemplateFormatVersion": "2010-09-09", "Description": .string(description)]
        if !all.notes.isEmpty {
            t["Metadata"] = ["Skiff::Notes": .array(all.notes.map(JSON.string))]
        }
        var declared = Set<String>()
        if !all.parameters.isEmpty {
            var ps = JSONObject()
            for p in all.parameters {
                if ps[p.name] != nil { continue }  // shared parameters (VpcId, SubnetIds) are declared once
                var o: JSONObject = ["Type": .string(p.type)]
                if let d = p.description { o["Description"] = .string(d) }
                if let v = p.defaultValue { o["Default"] = v }
                ps[p.name] = .object(o)
                declared.insert(p.name)
            }
            t["Parameters"] = .object(ps)
        }
        var rs = JSONObject()
        for r in all.resources {
            guard rs[r.logicalId] == nil, !declared.contains(r.logicalId) else {
                throw SynthesisError("stack \(name): duplicate logical ID \(r.logicalId)")
            }
            rs[r.logicalId] = r.templateValue
            declared.insert(r.logicalId)
        }
        t["Resources"] = .object(rs)
        if !all.outputs.isEmpty {
            var os = JSONObject()
            for o in all.outputs {
                var v: JSONObject = [:]
                if let d = o.description { v["Description"] = .string(d) }
                v["Value"] = o.value
                if let e = o.exportName { v["Export"] = ["Name": e] }
                os[o.name] = .object(v)
            }
            t["Outputs"] = .object(os)
        }
        let template = JSON.object(t)
        for missing in referencedNames(template).sorted() where !declared.contains(missing) && !missing.hasPrefix("AWS::") {
            throw SynthesisError("stack \(name): reference (Ref, Fn::GetAtt or Fn::Sub) to undeclared \(missing)")
        }
        for r in all.resources {
            for d in r.dependsOn where rs[d] == nil {
                throw SynthesisError("stack \(self.name): \(r.logicalId) depends on undeclared \(d)")
            }
        }
        return template
    }
}

/// Names used by Ref, Fn::GetAtt and Fn::Sub's `${Name}` / `${Name.Attribute}` anywhere in a value.
func referencedNames(_ value: JSON) -> Set<String> {
    var names = Set<String>()
    func walk(_ v: JSON) {
        switch v {
        case .object(let o):
            if o.count == 1, let r = o["Ref"]?.stringValue { names.insert(r) }
            if o.count == 1, let g = o["Fn::GetAtt"]?[0]?.stringValue { names.insert(g) }
            if o.count == 1, let sub = o["Fn::Sub"] {
                let text = sub.stringValue ?? sub[0]?.stringValue ?? ""
                let local = Set(sub[1]?.objectValue?.keys.map { $0 } ?? [])
                for name in subVariables(text) where !local.contains(name) { names.insert(name) }
            }
            for (_, x) in o { walk(x) }
        case .array(let a): a.forEach(walk)
        default: break
        }
    }
    walk(value)
    return names
}

/// The names `${Name}` and `${Name.Attribute}` of an Fn::Sub text refers to (`${!Literal}` is not a reference).
func subVariables(_ text: String) -> [String] {
    var names: [String] = []
    var rest = Substring(text)
    while let open = rest.range(of: "${") {
        rest = rest[open.upperBound...]
        guard let close = rest.firstIndex(of: "}") else { break }
        let body = rest[..<close]
        rest = rest[rest.index(after: close)...]
        if body.hasPrefix("!") || body.isEmpty { continue }
        names.append(String(body.split(separator: ".", maxSplits: 1)[0]))
    }
    return names
}
