import OrderedCollections
import JSONCore

/// A web service on Fargate: ECR repository, ECS service behind an internal ALB, and an internet-facing
/// NLB with static addresses (one Elastic IP per public subnet) forwarding to the ALB.
public struct WebService: Construct {
    public var name: String
    /// The image tag to run from the service's own ECR repository (tags are immutable).
    public var imageTag: String
    public var containerPort: Int
    public var healthCheckPath: String
    public var desiredCount: Int
    public var cpu: Int
    public var memory: Int
    public var environment: OrderedDictionary<String, String>
    public var network: Network
    /// Who may reach the service: the NLB's security group admits this range; the ALB admits only the NLB.
    public var allowedCidr: String
    public var logRetentionDays: Int

    public init(
        _ name: String, imageTag: String, containerPort: Int = 8080, healthCheckPath: String = "/health",
        desiredCount: Int = 2, cpu: Int = 512, memory: Int = 1024, environment: OrderedDictionary<String, String> = [:],
        network: Network, allowedCidr: String = "0.0.0.0/0", logRetentionDays: Int = 90
    ) {
        self.name = name
        self.imageTag = imageTag
        self.containerPort = containerPort
        self.healthCheckPath = healthCheckPath
        self.desiredCount = desiredCount
        self.cpu = cpu
        self.memory = memory
        self.environment = environment
        self.network = network
        self.allowedCidr = allowedCidr
        self.logRetentionDays = logRetentionDays
    }

    public func validate() throws(SynthesisError) {
        if !(1...65535).contains(containerPort) {
            throw SynthesisError("web service \(name): container port \(containerPort) is out of range")
        }
        if network.publicSubnetIds.isEmpty {
            throw SynthesisError("web service \(name): the NLB needs at least one public subnet for its static address")
        }
        if !healthCheckPath.hasPrefix("/") { throw SynthesisError("web service \(name): health check path must start with /") }
    }

    public var prefix: String { logicalIdPart(name) }
    public var repositoryId: String { prefix + "Repository" }
    public var serviceId: String { prefix + "Service" }
    public var clusterId: String { task.clusterId }
    public var logGroupId: String { task.logGroupId }

    /// ECS Exec: the SSM agent in the task opens its channels with these actions, which support no
    /// resource-level permissions, so AWS requires `"*"` as their resource.
    public static let execStatement = PolicyStatement(
        sid: "EcsExec",
        actions: [
            "ssmmessages:CreateControlChannel", "ssmmessages:CreateDataChannel",
            "ssmmessages:OpenControlChannel", "ssmmessages:OpenDataChannel",
        ],
        resources: ["*"], wildcardReason: "ssmmessages actions (ECS Exec) support no resource-level permissions")

    var task: FargateTask {
        FargateTask(
            prefix: prefix, containerName: name,
            image: Fn.sub("${\(repositoryId).RepositoryUri}:\(imageTag)"),
            entryPoint: [], command: [], environment: environment, cpu: cpu, memory: memory,
            logRetentionDays: logRetentionDays, portMappings: [containerPort],
            taskRoleStatements: [Self.execStatement], ecrRepositoryArn: Fn.getAtt(repositoryId, "Arn"))
    }

    public var parts: StackParts {
        var p = StackParts()
        let t = task
        let lifecycle: JSON = [
            "rules": [
                [
                    "rulePriority": 1, "description": "Keep the 50 most recent images",
                    "selection": ["tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 50],
                    "action": ["type": "expire"],
                ]
            ]
        ]
        p.resources.append(
            Resource(
                repositoryId, type: "AWS::ECR::Repository",
                properties: [
                    "ImageScanningConfiguration": ["ScanOnPush": true],
                    "ImageTagMutability": "IMMUTABLE",
                    "EncryptionConfiguration": ["EncryptionType": "AES256"],
                    "LifecyclePolicy": ["LifecyclePolicyText": .string(lifecycle.serialized())],
                ], deletionPolicy: "Retain", updateReplacePolicy: "Retain"))
        p.resources += t.resources()

        // Security groups: clients reach the NLB from allowedCidr, the ALB only from the NLB, tasks only from the ALB.
        p.resources.append(
            Resource(
                prefix + "NlbSecurityGroup", type: "AWS::EC2::SecurityGroup",
                properties: [
                    "GroupDescription": .string("\(name) NLB"), "VpcId": network.vpcId,
                    "SecurityGroupIngress": [
                        [
                            "IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "CidrIp": .string(allowedCidr),
                            "Description": "HTTP from clients",
                        ]
                    ],
                ]))
        p.resources.append(
            Resource(
                prefix + "NlbEgress", type: "AWS::EC2::SecurityGroupEgress",
                properties: [
                    "GroupId": Fn.getAtt(prefix + "NlbSecurityGroup", "GroupId"), "IpProtocol": "tcp", "FromPort": 80, "ToPort": 80,
                    "DestinationSecurityGroupId": Fn.getAtt(prefix + "AlbSecurityGroup", "GroupId"),
                    "Description": "To the ALB",
                ]))
        p.resources.append(
            Resource(
                prefix + "AlbSecurityGroup", type: "AWS::EC2::SecurityGroup",
                properties: [
                    "GroupDescription": .string("\(name) ALB"), "VpcId": network.vpcId,
                    "SecurityGroupIngress": [
                        [
                            "IpProtocol": "tcp", "FromPort": 80, "ToPort": 80,
                            "SourceSecurityGroupId": Fn.getAtt(prefix + "NlbSecurityGroup", "GroupId"),
                            "Description": "HTTP from the NLB",
                        ]
                    ],
                ]))
        p.resources.append(
            Resource(
                prefix + "AlbEgress", type: "AWS::EC2::SecurityGroupEgress",
                properties: [
                    "GroupId": Fn.getAtt(prefix + "AlbSecurityGroup", "GroupId"), "IpProtocol": "tcp",
                    "FromPort": .number(Double(containerPort)), "ToPort": .number(Double(containerPort)),
                    "DestinationSecurityGroupId": Fn.getAtt(prefix + "TaskSecurityGroup", "GroupId"),
                    "Description": "To the service's tasks",
                ]))
        p.resources.append(
            Resource(
                prefix + "TaskSecurityGroup", type: "AWS::EC2::SecurityGroup",
                properties: [
                    "GroupDescription": .string("\(name) tasks"), "VpcId": network.vpcId,
                    "SecurityGroupIngress": [
                        [
                            "IpProtocol": "tcp", "FromPort": .number(Double(containerPort)), "ToPort": .number(Double(containerPort)),
                            "SourceSecurityGroupId": Fn.getAtt(prefix + "AlbSecurityGroup", "GroupId"),
                            "Description": "From the ALB",
                        ]
                    ],
                    "SecurityGroupEgress": [
                        ["IpProtocol": "-1", "CidrIp": "0.0.0.0/0", "Description": "Outbound to AWS APIs and dependencies"]
                    ],
                ]))

        p.resources.append(
            Resource(
                prefix + "Alb", type: "AWS::ElasticLoadBalancingV2::LoadBalancer",
                properties: [
                    "Type": "application", "Scheme": "internal",
                    "Subnets": network.privateSubnets,
                    "SecurityGroups": [Fn.getAtt(prefix + "AlbSecurityGroup", "GroupId")],
                    "LoadBalancerAttributes": [["Key": "routing.http.drop_invalid_header_fields.enabled", "Value": "true"]],
                ]))
        p.resources.append(
            Resource(
                prefix + "TargetGroup", type: "AWS::ElasticLoadBalancingV2::TargetGroup",
                properties: [
                    "TargetType": "ip", "Protocol": "HTTP", "Port": .number(Double(containerPort)), "VpcId": network.vpcId,
                    "HealthCheckPath": .string(healthCheckPath), "HealthCheckIntervalSeconds": 15,
                    "HealthyThresholdCount": 2, "UnhealthyThresholdCount": 3, "Matcher": ["HttpCode": "200-399"],
                    "TargetGroupAttributes": [["Key": "deregistration_delay.timeout_seconds", "Value": "30"]],
                ]))
        p.resources.append(
            Resource(
                prefix + "AlbListener", type: "AWS::ElasticLoadBalancingV2::Listener",
                properties: [
                    "LoadBalancerArn": Fn.ref(prefix + "Alb"), "Port": 80, "Protocol": "HTTP",
                    "DefaultActions": [["Type": "forward", "TargetGroupArn": Fn.ref(prefix + "TargetGroup")]],
                ]))

        var mappings: [JSON] = []
        for (i, subnet) in network.publicSubnetIds.enumerated() {
            let eip = "\(prefix)NlbAddress\(i + 1)"
            p.resources.append(Resource(eip, type: "AWS::EC2::EIP", properties: ["Domain": "vpc"]))
            mappings.append(["SubnetId": subnet, "AllocationId": Fn.getAtt(eip, "AllocationId")])
            p.outputs.append(Output("\(eip)Ip", value: Fn.ref(eip), description: "Static address \(i + 1) of \(name)"))
        }
        p.resources.append(
            Resource(
                prefix + "Nlb", type: "AWS::ElasticLoadBalancingV2::LoadBalancer",
                properties: [
                    "Type": "network", "Scheme": "internet-facing", "SubnetMappings": .array(mappings),
                    "SecurityGroups": [Fn.getAtt(prefix + "NlbSecurityGroup", "GroupId")],
                ]))
        p.resources.append(
            Resource(
                prefix + "NlbTargetGroup", type: "AWS::ElasticLoadBalancingV2::TargetGroup",
                properties: [
                    "TargetType": "alb", "Protocol": "TCP", "Port": 80, "VpcId": network.vpcId,
                    "HealthCheckProtocol": "HTTP", "HealthCheckPath": .string(healthCheckPath),
                    "Targets": [["Id": Fn.ref(prefix + "Alb"), "Port": 80]],
                ], dependsOn: [prefix + "AlbListener"]))
        p.resources.append(
            Resource(
                prefix + "NlbListener", type: "AWS::ElasticLoadBalancingV2::Listener",
                properties: [
                    "LoadBalancerArn": Fn.ref(prefix + "Nlb"), "Port": 80, "Protocol": "TCP",
                    "DefaultActions": [["Type": "forward", "TargetGroupArn": Fn.ref(prefix + "NlbTargetGroup")]],
                ]))

        p.resources.append(
            Resource(
                serviceId, type: "AWS::ECS::Service",
                properties: [
                    "Cluster": Fn.ref(t.clusterId),
                    "TaskDefinition": Fn.ref(t.taskDefinitionId),
                    "LaunchType": "FARGATE",
                    "DesiredCount": .number(Double(desiredCount)),
                    "EnableExecuteCommand": true,
                    "PropagateTags": "SERVICE",
                    "HealthCheckGracePeriodSeconds": 60,
                    "DeploymentConfiguration": [
                        "DeploymentCircuitBreaker": ["Enable": true, "Rollback": true],
                        "MaximumPercent": 200, "MinimumHealthyPercent": 100,
                    ],
                    "LoadBalancers": [
                        [
                            "ContainerName": .string(name), "ContainerPort": .number(Double(containerPort)),
                            "TargetGroupArn": Fn.ref(prefix + "TargetGroup"),
                        ]
                    ],
                    "NetworkConfiguration": [
                        "AwsvpcConfiguration": [
                            "Subnets": network.privateSubnets, "AssignPublicIp": "DISABLED",
                            "SecurityGroups": [Fn.getAtt(prefix + "TaskSecurityGroup", "GroupId")],
                        ]
                    ],
                ], dependsOn: [prefix + "AlbListener"]))
        p.outputs.append(
            Output(prefix + "RepositoryUri", value: Fn.getAtt(repositoryId, "RepositoryUri"), description: "Push \(name) images here"))
        p.outputs.append(Output(prefix + "NlbDnsName", value: Fn.getAtt(prefix + "Nlb", "DNSName")))
        return p
    }
}
