import OrderedCollections
import JSONCore

/// AWS Organizations for the management account: organizational units, one member account per
/// environment, service control policies, and root-user protection.
public struct Organization: Construct {
    public struct Account: Sendable {
        public var name: String
        public var email: String
        public var unit: String
        public init(_ name: String, email: String, unit: String) {
            self.name = name
            self.email = email
            self.unit = unit
        }
    }

    public struct ServiceControlPolicy: Sendable {
        public var name: String
        public var description: String
        public var document: PolicyDocument
        /// Organizational unit names it is attached to; empty attaches it to the root.
        public var units: [String]
        public init(_ name: String, description: String, document: PolicyDocument, units: [String] = []) {
            self.name = name
            self.description = description
            self.document = document
            self.units = units
        }
    }

    public var units: [String]
    public var accounts: [Account]
    public var policies: [ServiceControlPolicy]
    /// Attach the SCP that denies every action by member-account root users (on by default).
    public var denyMemberRootActions: Bool

    public init(
        units: [String], accounts: [Account], policies: [ServiceControlPolicy] = [],
        denyMemberRootActions: Bool = true
    ) {
        self.units = units
        self.accounts = accounts
        self.policies = policies
        self.denyMemberRootActions = denyMemberRootActions
    }

    /// The SCP that denies everything to member-account root users. A Deny of `"*"` is the only way to
    /// cover every action, present and future; it grants nothing.
    public static let denyRootPolicy = PolicyDocument([
        PolicyStatement(
            sid: "DenyMemberAccountRoot", effect: .deny, actions: ["*"], resources: ["*"],
            condition: ["ArnLike": ["aws:PrincipalArn": "arn:aws:iam::*:root"]],
            wildcardReason: "Deny of all actions: an SCP cannot enumerate every action a root user could take")
    ])

    static func unitId(_ name: String) -> String { "OU" + logicalIdPart(name) }

    public var parts: StackParts {
        var p = StackParts()
        p.resources.append(
            Resource(
                "Organization", type: "AWS::Organizations::Organization",
                properties: ["FeatureSet": "ALL"], deletionPolicy: "Retain", updateReplacePolicy: "Retain"))
        for u in units {
            p.resources.append(
                Resource(
                    Self.unitId(u), type: "AWS::Organizations::OrganizationalUnit",
                    properties: ["Name": .string(u), "ParentId": Fn.getAtt("Organization", "RootId")]))
        }
        for a in accounts {
            p.resources.append(
                Resource(
                    "Account" + logicalIdPart(a.name), type: "AWS::Organizations::Account",
                    properties: [
                        "AccountName": .string(a.name), "Email": .string(a.email),
                        "ParentIds": [Fn.ref(Self.unitId(a.unit))],
                    ],
                    deletionPolicy: "Retain", updateReplacePolicy: "Retain"))
        }
        var all = policies
        if denyMemberRootActions {
            all.insert(
                ServiceControlPolicy(
                    "deny-member-root", description: "Denies every action to member-account root users",
                    document: Self.denyRootPolicy, units: units), at: 0)
        }
        for scp in all {
            let targets: [JSON] = scp.units.isEmpty ? [Fn.getAtt("Organization", "RootId")] : scp.units.map { Fn.ref(Self.unitId($0)) }
            var r = Resource(
                "Scp" + logicalIdPart(scp.name), type: "AWS::Organizations::Policy",
                properties: [
                    "Name": .string(scp.name), "Description": .string(scp.description),
                    "Type": "SERVICE_CONTROL_POLICY", "Content": scp.document.json,
                    "TargetIds": .array(targets),
                ])
            let reasons = scp.document.statements.compactMap(\.wildcardReason)
            if !reasons.isEmpty { r.metadata["Skiff::WildcardReasons"] = .array(reasons.map(JSON.string)) }
            p.resources.append(r)
        }
        p.notes.append(
            "Centralized root access management (iam:EnableOrganizationsRootCredentialsManagement and iam:EnableOrganizationsRootSessions), and the trusted access for IAM in Organizations it needs, have no CloudFormation resource type: run `aws organizations enable-aws-service-access --service-principal iam.amazonaws.com`, `aws iam enable-organizations-root-credentials-management` and `aws iam enable-organizations-root-sessions` once from the management account after this stack deploys, then delete member-account root credentials with `aws iam delete-login-profile` via `sts assume-root`."
        )
        p.outputs.append(Output("OrganizationRootId", value: Fn.getAtt("Organization", "RootId")))
        for a in accounts {
            p.outputs.append(Output("Account\(logicalIdPart(a.name))Id", value: Fn.getAtt("Account" + logicalIdPart(a.name), "AccountId")))
        }
        return p
    }
}

/// Notifies every root-user console sign-in: EventBridge rule → SNS topic → webhook or AWS Chatbot Slack channel.
/// Console sign-in events of root users are delivered in us-east-1: deploy this construct there.
public struct RootSignInAlert: Construct {
    public enum Destination: Sendable {
        /// An HTTPS endpoint subscribed to the topic (a chat webhook relay).
        case webhook(url: String)
        /// An AWS Chatbot Slack channel (the workspace must already be authorized in AWS Chatbot).
        case slack(workspaceId: String, channelId: String)
    }

    public var destination: Destination
    public init(destination: Destination) { self.destination = destination }

    public var parts: StackParts {
        var p = StackParts()
        p.resources.append(
            Resource(
                "RootSignInTopic", type: "AWS::SNS::Topic",
                properties: ["DisplayName": "Root sign-in alerts"]))
        p.resources.append(
            Resource(
                "RootSignInTopicPolicy", type: "AWS::SNS::TopicPolicy",
                properties: [
                    "Topics": [Fn.ref("RootSignInTopic")],
                    "PolicyDocument": [
                        "Version": "2012-10-17",
                        "Statement": [
                            [
                                "Sid": "AllowEventBridgePublish", "Effect": "Allow",
                                "Principal": ["Service": "events.amazonaws.com"], "Action": "sns:Publish",
                                "Resource": Fn.ref("RootSignInTopic"),
                                "Condition": ["ArnEquals": ["aws:SourceArn": Fn.getAtt("RootSignInRule", "Arn")]],
                            ]
                        ],
                    ],
                ]))
        p.resources.append(
            Resource(
                "RootSignInRule", type: "AWS::Events::Rule",
                properties: [
                    "Description": "Every console sign-in of a root user",
                    "State": "ENABLED",
                    "EventPattern": [
                        "source": ["aws.signin"],
                        "detail-type": ["AWS Console Sign In via CloudTrail"],
                        "detail": ["userIdentity": ["type": ["Root"]]],
                    ],
                    "Targets": [["Id": "RootSignInTopic", "Arn": Fn.ref("RootSignInTopic")]],
                ]))
        switch destination {
        case .webhook(let url):
            p.resources.append(
                Resource(
                    "RootSignInWebhook", type: "AWS::SNS::Subscription",
                    properties: [
                        "TopicArn": Fn.ref("RootSignInTopic"), "Protocol": "https", "Endpoint": .string(url),
                    ]))
        case .slack(let workspace, let channel):
            p.resources.append(role("RootSignInChatbotRole", service: "chatbot.amazonaws.com", policies: []))
            p.resources.append(
                Resource(
                    "RootSignInSlackChannel", type: "AWS::Chatbot::SlackChannelConfiguration",
                    properties: [
                        "ConfigurationName": Fn.sub("${AWS::StackName}-root-sign-in"),
                        "IamRoleArn": Fn.getAtt("RootSignInChatbotRole", "Arn"),
                        "SlackWorkspaceId": .string(workspace), "SlackChannelId": .string(channel),
                        "SnsTopicArns": [Fn.ref("RootSignInTopic")],
                        "GuardrailPolicies": [Fn.sub("arn:${AWS::Partition}:iam::aws:policy/ReadOnlyAccess")],
                    ]))
        }
        return p
    }
}
