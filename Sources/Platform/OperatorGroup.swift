import OrderedCollections
import JSONCore

/// An IAM group for people (e.g. an outside operations team) whose policy is derived from what they may do,
/// and the IAM users in it.
public struct OperatorGroup: Construct {
    /// Something operators are allowed to do; each maps to the narrowest statements that allow it.
    public enum Permission: Sendable {
        /// Start on-demand runs of a batch job and follow them.
        case startJob(BatchJob)
        /// Read a batch job's logs.
        case readJobLogs(BatchJob)
        /// Read a web service's logs.
        case readServiceLogs(WebService)
        /// Open a shell in a web service's tasks with ECS Exec, and find those tasks.
        case execInto(WebService)

        var statements: [PolicyStatement] {
            switch self {
            case .startJob(let job):
                let sm = job.stateMachineId
                return [
                    PolicyStatement(sid: "Start\(sm)", actions: ["states:StartExecution"], resources: [Fn.ref(sm)]),
                    PolicyStatement(
                        sid: "List\(sm)", actions: ["states:ListExecutions", "states:DescribeStateMachine"], resources: [Fn.ref(sm)]),
                    PolicyStatement(
                        sid: "Follow\(sm)", actions: ["states:DescribeExecution", "states:GetExecutionHistory", "states:StopExecution"],
                        resources: [Fn.sub("arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:execution:${\(sm).Name}:*")]),
                ]
            case .readJobLogs(let job): return Self.readLogs(job.logGroupId)
            case .readServiceLogs(let service): return Self.readLogs(service.logGroupId)
            case .execInto(let service):
                let cluster = service.clusterId
                return [
                    // ecs:container-name only exists for ExecuteCommand, so DescribeTasks gets its own statement.
                    PolicyStatement(
                        sid: "Exec\(service.serviceId)", actions: ["ecs:ExecuteCommand"],
                        resources: [Fn.getAtt(cluster, "Arn"), ARN.ecsTasks(clusterLogicalId: cluster)],
                        condition: ["StringEquals": ["ecs:container-name": .string(service.name)]]),
                    PolicyStatement(
                        sid: "Tasks\(service.serviceId)", actions: ["ecs:DescribeTasks"],
                        resources: [ARN.ecsTasks(clusterLogicalId: cluster)]),
                    PolicyStatement(
                        sid: "Find\(service.serviceId)", actions: ["ecs:ListTasks"],
                        resources: [
                            Fn.sub("arn:${AWS::Partition}:ecs:${AWS::Region}:${AWS::AccountId}:container-instance/${\(cluster)}/*")
                        ],
                        condition: ["ArnEquals": ["ecs:cluster": Fn.getAtt(cluster, "Arn")]]),
                    PolicyStatement(
                        sid: "Describe\(service.serviceId)", actions: ["ecs:DescribeServices"], resources: [Fn.ref(service.serviceId)]),
                ]
            }
        }

        static func readLogs(_ logGroupId: String) -> [PolicyStatement] {
            [
                PolicyStatement(
                    sid: "Read\(logGroupId)", actions: ["logs:DescribeLogStreams", "logs:FilterLogEvents"],
                    resources: [ARN.logGroup(logGroupId)]),
                PolicyStatement(sid: "ReadStreams\(logGroupId)", actions: ["logs:GetLogEvents"], resources: [ARN.logStreams(logGroupId)]),
            ]
        }
    }

    public var name: String
    public var permissions: [Permission]
    public var users: [String]

    public init(_ name: String, users: [String], permissions: [Permission]) {
        self.name = name
        self.users = users
        self.permissions = permissions
    }

    public var prefix: String { logicalIdPart(name) }
    public var policy: PolicyDocument { PolicyDocument(permissions.flatMap(\.statements)) }

    public var parts: StackParts {
        var p = StackParts()
        p.resources.append(
            Resource(
                prefix + "Group", type: "AWS::IAM::Group",
                properties: [
                    "Policies": [["PolicyName": "operate", "PolicyDocument": policy.json]]
                ]))
        for u in users {
            // Users sign in with their own MFA device; access keys are not created here.
            p.resources.append(
                Resource(
                    prefix + "User" + logicalIdPart(u), type: "AWS::IAM::User",
                    properties: [
                        "UserName": .string(u), "Groups": [Fn.ref(prefix + "Group")],
                    ]))
        }
        return p
    }
}
