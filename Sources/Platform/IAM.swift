import OrderedCollections
import JSONCore

/// One statement of an IAM policy.
public struct PolicyStatement: Sendable, Equatable {
    public enum Effect: String, Sendable { case allow = "Allow", deny = "Deny" }
    public var sid: String?
    public var effect: Effect
    public var actions: [String]
    public var resources: [JSON]
    public var condition: JSONObject?
    /// Why the statement needs `"*"` as action or resource, when it does (AWS has no narrower form).
    public var wildcardReason: String?

    public init(
        sid: String? = nil, effect: Effect = .allow, actions: [String], resources: [JSON],
        condition: JSONObject? = nil, wildcardReason: String? = nil
    ) {
        self.sid = sid
        self.effect = effect
        self.actions = actions
        self.resources = resources
        self.condition = condition
        self.wildcardReason = wildcardReason
    }

    public var json: JSON {
        var o: JSONObject = [:]
        if let sid { o["Sid"] = .string(sid) }
        o["Effect"] = .string(effect.rawValue)
        o["Action"] = actions.count == 1 ? .string(actions[0]) : .array(actions.map(JSON.string))
        o["Resource"] = resources.count == 1 ? resources[0] : .array(resources)
        if let condition { o["Condition"] = .object(condition) }
        return .object(o)
    }

    /// True when an action or resource is the bare wildcard `*`.
    public var usesWildcard: Bool {
        actions.contains("*") || actions.contains { $0.hasSuffix(":*") } || resources.contains(.string("*"))
    }
}

/// An IAM policy document.
public struct PolicyDocument: Sendable, Equatable {
    public var statements: [PolicyStatement]
    public init(_ statements: [PolicyStatement]) { self.statements = statements }
    public var json: JSON { ["Version": "2012-10-17", "Statement": .array(statements.map(\.json))] }
}

/// A trust policy letting an AWS service assume a role.
func assumeRolePolicy(service: String, sourceAccountCondition: Bool = false) -> JSON {
    var statement: JSONObject = [
        "Effect": "Allow", "Principal": ["Service": .string(service)], "Action": "sts:AssumeRole",
    ]
    if sourceAccountCondition {
        statement["Condition"] = ["StringEquals": ["aws:SourceAccount": Fn.accountId]]
    }
    return ["Version": "2012-10-17", "Statement": [.object(statement)]]
}

/// An `AWS::IAM::Role` resource with inline policies.
func role(
    _ logicalId: String, service: String, policies: [(String, PolicyDocument)],
    managedPolicies: [String] = [], sourceAccountCondition: Bool = false
) -> Resource {
    var p: JSONObject = ["AssumeRolePolicyDocument": assumeRolePolicy(service: service, sourceAccountCondition: sourceAccountCondition)]
    if !managedPolicies.isEmpty {
        p["ManagedPolicyArns"] = .array(managedPolicies.map { Fn.sub("arn:${AWS::Partition}:iam::aws:policy/\($0)") })
    }
    if !policies.isEmpty {
        p["Policies"] = .array(policies.map { ["PolicyName": .string($0.0), "PolicyDocument": $0.1.json] })
    }
    var r = Resource(logicalId, type: "AWS::IAM::Role", properties: p)
    let reasons = policies.flatMap { $0.1.statements.compactMap(\.wildcardReason) }
    if !reasons.isEmpty { r.metadata["Skiff::WildcardReasons"] = .array(reasons.map(JSON.string)) }
    return r
}

/// ARN helpers, built with Fn::Sub so templates stay partition- and region-neutral.
enum ARN {
    static func logGroup(_ logGroupLogicalId: String) -> JSON {
        Fn.sub("arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:${\(logGroupLogicalId)}:*")
    }
    static func logStreams(_ logGroupLogicalId: String) -> JSON {
        Fn.sub("arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:${\(logGroupLogicalId)}:log-stream:*")
    }
    static func ecsTasks(clusterLogicalId: String) -> JSON {
        Fn.sub("arn:${AWS::Partition}:ecs:${AWS::Region}:${AWS::AccountId}:task/${\(clusterLogicalId)}/*")
    }
}
