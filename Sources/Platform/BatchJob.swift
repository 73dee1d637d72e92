import OrderedCollections
import JSONCore

/// A batch job: an ECS cluster and Fargate task definition, an optional EventBridge Scheduler schedule,
/// and an on-demand Step Functions state machine that validates its required arguments and runs the task.
public struct BatchJob: Construct {
    public struct Schedule: Sendable {
        /// `cron(...)`, `rate(...)` or `at(...)`, as EventBridge Scheduler accepts.
        public var expression: String
        public var timeZone: String
        public init(_ expression: String, timeZone: String = "UTC") {
            self.expression = expression
            self.timeZone = timeZone
        }
    }

    public var name: String
    public var image: JSON
    public var entryPoint: [String]
    public var command: [String]
    public var environment: OrderedDictionary<String, String>
    public var cpu: Int
    public var memory: Int
    public var schedule: Schedule?
    /// Arguments an on-demand run must be given; they are appended, in this order, to `command`.
    public var requiredArguments: [String]
    public var network: Network
    public var logRetentionDays: Int
    /// The ECR repository the image comes from, when it is one: the execution role may pull from it only.
    public var imageRepositoryArn: JSON?

    public init(
        _ name: String, image: JSON, imageRepositoryArn: JSON? = nil, entryPoint: [String] = [], command: [String] = [],
        environment: OrderedDictionary<String, String> = [:], cpu: Int = 256, memory: Int = 512,
        schedule: Schedule? = nil, requiredArguments: [String] = [], network: Network, logRetentionDays: Int = 90
    ) {
        self.name = name
        self.image = image
        self.entryPoint = entryPoint
        self.command = command
        self.environment = environment
        self.cpu = cpu
        self.memory = memory
        self.schedule = schedule
        self.requiredArguments = requiredArguments
        self.network = network
        self.logRetentionDays = logRetentionDays
        self.imageRepositoryArn = imageRepositoryArn
    }

    public func validate() throws(SynthesisError) {
        if logicalIdPart(name).isEmpty { throw SynthesisError("batch job name \"\(name)\" has no letters or digits") }
        if let expression = schedule?.expression {
            let kinds = ["cron(": 6, "rate(": 2, "at(": 1]
            guard let (prefix, fields) = kinds.first(where: { expression.hasPrefix($0.key) }), expression.hasSuffix(")") else {
                throw SynthesisError("batch job \(name): schedule \"\(expression)\" is not cron(...), rate(...) or at(...)")
            }
            let inner = expression.dropFirst(prefix.count).dropLast()
            let count = inner.split(separator: " ", omittingEmptySubsequences: true).count
            if count != fields {
                throw SynthesisError("batch job \(name): \(prefix.dropLast())(...) takes \(fields) fields, \"\(expression)\" has \(count)")
            }
        }
        var seen = Set<String>()
        for a in requiredArguments {
            if a.isEmpty { throw SynthesisError("batch job \(name): an empty required argument name") }
            if !seen.insert(a).inserted { throw SynthesisError("batch job \(name): required argument \(a) is listed twice") }
        }
    }

    public var prefix: String { logicalIdPart(name) }
    var task: FargateTask {
        FargateTask(
            prefix: prefix, containerName: name, image: image, entryPoint: entryPoint, command: command,
            environment: environment, cpu: cpu, memory: memory, logRetentionDays: logRetentionDays,
            ecrRepositoryArn: imageRepositoryArn)
    }
    public var stateMachineId: String { prefix + "StateMachine" }
    public var logGroupId: String { task.logGroupId }
    var securityGroupId: String { prefix + "SecurityGroup" }

    var awsvpcConfiguration: JSON {
        ["Subnets": network.privateSubnets, "SecurityGroups": [Fn.getAtt(securityGroupId, "GroupId")], "AssignPublicIp": "DISABLED"]
    }

    /// The on-demand state machine, in JSONata: ValidateArgs → MissingArgs | RunEcsTask.
    /// `${ClusterArn}`, `${TaskDefinitionArn}`, `${SecurityGroupId}` and `${Subnets}` come from DefinitionSubstitutions.
    public var stateMachineDefinition: JSON {
        let condition =
            requiredArguments.isEmpty
            ? "true"
            : requiredArguments.map { "$exists($states.input.\(jsonataField($0)))" }.joined(separator: " and ")
        let args =
            command.map { "'\($0.replacingOccurrences(of: "'", with: "\\'"))'" }
            + requiredArguments.map { "$string($states.input.\(jsonataField($0)))" }
        return [
            "Comment": .string("Runs \(name) on demand with its required arguments: \(requiredArguments.joined(separator: ", "))"),
            "QueryLanguage": "JSONata",
            "StartAt": "ValidateArgs",
            "States": [
                "ValidateArgs": [
                    "Type": "Choice",
                    "Choices": [["Condition": .string("{% \(condition) %}"), "Next": "RunEcsTask"]],
                    "Default": "MissingArgs",
                ],
                "MissingArgs": [
                    "Type": "Fail", "Error": "MissingArgs",
                    "Cause": .string("Required arguments: \(requiredArguments.joined(separator: ", "))"),
                ],
                "RunEcsTask": [
                    "Type": "Task",
                    "Resource": "arn:aws:states:::ecs:runTask.sync",
                    "Arguments": [
                        "Cluster": "${ClusterArn}",
                        "TaskDefinition": "${TaskDefinitionArn}",
                        "LaunchType": "FARGATE",
                        "NetworkConfiguration": [
                            "AwsvpcConfiguration": [
                                "Subnets": "{% $split('${Subnets}', ',') %}",
                                "SecurityGroups": ["${SecurityGroupId}"],
                                "AssignPublicIp": "DISABLED",
                            ]
                        ],
                        "Overrides": [
                            "ContainerOverrides": [
                                [
                                    "Name": .string(name),
                                    "Command": .string("{% [\(args.joined(separator: ", "))] %}"),
                                ]
                            ]
                        ],
                    ],
                    "End": true,
                ],
            ],
        ]
    }

    func jsonataField(_ name: String) -> String {
        name.allSatisfy { $0.isLetter || $0.isNumber || $0 == "_" } ? name : "`\(name)`"
    }

    public var parts: StackParts {
        var p = StackParts()
        p.resources += task.resources()
        p.resources.append(
            Resource(
                securityGroupId, type: "AWS::EC2::SecurityGroup",
                properties: [
                    "GroupDescription": .string("\(name) tasks: no inbound traffic"),
                    "VpcId": network.vpcId,
                    "SecurityGroupEgress": [
                        ["IpProtocol": "-1", "CidrIp": "0.0.0.0/0", "Description": "Outbound to AWS APIs and dependencies"]
                    ],
                ]))
        let t = task
        let passRoles = PolicyStatement(
            sid: "PassTaskRoles", actions: ["iam:PassRole"],
            resources: [Fn.getAtt(t.executionRoleId, "Arn"), Fn.getAtt(t.taskRoleId, "Arn")],
            condition: ["StringEquals": ["iam:PassedToService": "ecs-tasks.amazonaws.com"]])
        let runTask = PolicyStatement(
            sid: "RunTask", actions: ["ecs:RunTask"], resources: [Fn.ref(t.taskDefinitionId)],
            condition: ["ArnEquals": ["ecs:cluster": Fn.getAtt(t.clusterId, "Arn")]])
        if let schedule {
            p.resources.append(
                role(
                    prefix + "SchedulerRole", service: "scheduler.amazonaws.com",
                    policies: [("run-task", PolicyDocument([runTask, passRoles]))], sourceAccountCondition: true))
            p.resources.append(
                Resource(
                    prefix + "Schedule", type: "AWS::Scheduler::Schedule",
                    properties: [
                        "Description": .string("Runs \(name) on \(schedule.expression)"),
                        "ScheduleExpression": .string(schedule.expression),
                        "ScheduleExpressionTimezone": .string(schedule.timeZone),
                        "FlexibleTimeWindow": ["Mode": "OFF"],
                        "State": "ENABLED",
                        "Target": [
                            "Arn": Fn.getAtt(t.clusterId, "Arn"),
                            "RoleArn": Fn.getAtt(prefix + "SchedulerRole", "Arn"),
                            "RetryPolicy": ["MaximumRetryAttempts": 0],
                            "EcsParameters": [
                                "TaskDefinitionArn": Fn.ref(t.taskDefinitionId), "LaunchType": "FARGATE", "TaskCount": 1,
                                "NetworkConfiguration": ["AwsvpcConfiguration": awsvpcConfiguration],
                            ],
                        ],
                    ]))
        }
        let sync = [
            runTask,
            PolicyStatement(
                sid: "TrackTask", actions: ["ecs:StopTask", "ecs:DescribeTasks"], resources: [ARN.ecsTasks(clusterLogicalId: t.clusterId)]),
            passRoles,
            PolicyStatement(
                sid: "SyncRule", actions: ["events:PutTargets", "events:PutRule", "events:DescribeRule"],
                resources: [
                    Fn.sub("arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:rule/StepFunctionsGetEventsForECSTaskRule")
                ]),
        ]
        p.resources.append(
            role(
                prefix + "StateMachineRole", service: "states.amazonaws.com",
                policies: [("run-task-sync", PolicyDocument(sync))], sourceAccountCondition: true))
        p.resources.append(
            Resource(
                stateMachineId, type: "AWS::StepFunctions::StateMachine",
                properties: [
                    "StateMachineName": Fn.sub("${AWS::StackName}-\(name)"),
                    "StateMachineType": "STANDARD",
                    "RoleArn": Fn.getAtt(prefix + "StateMachineRole", "Arn"),
                    "Definition": stateMachineDefinition,
                    "DefinitionSubstitutions": [
                        "ClusterArn": Fn.getAtt(t.clusterId, "Arn"),
                        "TaskDefinitionArn": Fn.ref(t.taskDefinitionId),
                        "SecurityGroupId": Fn.getAtt(securityGroupId, "GroupId"),
                        "Subnets": ["Fn::Join": [",", network.privateSubnets]],
                    ],
                ]))
        p.outputs.append(
            Output(prefix + "StateMachineArn", value: Fn.ref(stateMachineId), description: "Start on-demand runs of \(name) here"))
        return p
    }
}
