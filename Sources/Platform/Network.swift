import OrderedCollections
import JSONCore

/// Where tasks run: a VPC and private subnets, given as template values (usually stack parameters).
public struct Network: Sendable {
    public var vpcId: JSON
    /// A list value (e.g. `Ref` of a `List<AWS::EC2::Subnet::Id>` parameter).
    public var privateSubnets: JSON
    public var publicSubnetIds: [JSON]

    public init(vpcId: JSON, privateSubnets: JSON, publicSubnetIds: [JSON] = []) {
        self.vpcId = vpcId
        self.privateSubnets = privateSubnets
        self.publicSubnetIds = publicSubnetIds
    }
}

/// The parts shared by Fargate constructs: cluster, log group, execution role, task role, task definition.
struct FargateTask {
    var prefix: String
    var containerName: String
    var image: JSON
    var entryPoint: [String]
    var command: [String]
    var environment: OrderedDictionary<String, String>
    var cpu: Int
    var memory: Int
    var logRetentionDays: Int
    var portMappings: [Int] = []
    var taskRoleStatements: [PolicyStatement] = []
    var ecrRepositoryArn: JSON? = nil

    var clusterId: String { prefix + "Cluster" }
    var logGroupId: String { prefix + "LogGroup" }
    var executionRoleId: String { prefix + "ExecutionRole" }
    var taskRoleId: String { prefix + "TaskRole" }
    var taskDefinitionId: String { prefix + "TaskDefinition" }

    /// The execution role may pull the image and write the log group, nothing else.
    var executionPolicy: PolicyDocument {
        var statements = [
            PolicyStatement(
                sid: "WriteLogs", actions: ["logs:CreateLogStream", "logs:PutLogEvents"],
                resources: [ARN.logGroup(logGroupId)])
        ]
        if let repo = ecrRepositoryArn {
            statements.append(
                PolicyStatement(
                    sid: "PullImage", actions: ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
                    resources: [repo]))
            statements.append(
                PolicyStatement(
                    sid: "EcrAuth", actions: ["ecr:GetAuthorizationToken"], resources: ["*"],
                    wildcardReason: "ecr:GetAuthorizationToken supports no resource-level permissions"))
        }
        return PolicyDocument(statements)
    }

    func resources() -> [Resource] {
        var rs: [Resource] = []
        rs.append(
            Resource(
                clusterId, type: "AWS::ECS::Cluster",
                properties: [
                    "ClusterSettings": [["Name": "containerInsights", "Value": "enabled"]]
                ]))
        rs.append(
            Resource(
                logGroupId, type: "AWS::Logs::LogGroup",
                properties: [
                    "RetentionInDays": .number(Double(logRetentionDays))
                ], deletionPolicy: "Retain", updateReplacePolicy: "Retain"))
        rs.append(role(executionRoleId, service: "ecs-tasks.amazonaws.com", policies: [("execution", executionPolicy)]))
        rs.append(
            role(
                taskRoleId, service: "ecs-tasks.amazonaws.com",
                policies: taskRoleStatements.isEmpty ? [] : [("task", PolicyDocument(taskRoleStatements))],
                sourceAccountCondition: true))
        var container: JSONObject = ["Name": .string(containerName), "Image": image, "Essential": true]
        if !entryPoint.isEmpty { container["EntryPoint"] = .array(entryPoint.map(JSON.string)) }
        if !command.isEmpty { container["Command"] = .array(command.map(JSON.string)) }
        if !environment.isEmpty {
            container["Environment"] = .array(environment.map { ["Name": .string($0.key), "Value": .string($0.value)] })
        }
        if !portMappings.isEmpty {
            container["PortMappings"] = .array(portMappings.map { ["ContainerPort": .number(Double($0)), "Protocol": "tcp"] })
        }
        container["ReadonlyRootFilesystem"] = false
        container["LogConfiguration"] = [
            "LogDriver": "awslogs",
            "Options": ["awslogs-group": Fn.ref(logGroupId), "awslogs-region": Fn.region, "awslogs-stream-prefix": .string(containerName)],
        ]
        rs.append(
            Resource(
                taskDefinitionId, type: "AWS::ECS::TaskDefinition",
                properties: [
                    "Family": Fn.sub("${AWS::StackName}-\(containerName)"),
                    "Cpu": .string(String(cpu)), "Memory": .string(String(memory)),
                    "NetworkMode": "awsvpc", "RequiresCompatibilities": ["FARGATE"],
                    "RuntimePlatform": ["CpuArchitecture": "X86_64", "OperatingSystemFamily": "LINUX"],
                    "ExecutionRoleArn": Fn.getAtt(executionRoleId, "Arn"), "TaskRoleArn": Fn.getAtt(taskRoleId, "Arn"),
                    "ContainerDefinitions": [.object(container)],
                ]))
        return rs
    }
}
