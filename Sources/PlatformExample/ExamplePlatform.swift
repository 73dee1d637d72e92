import JSONCore
import Platform

/// The seeds' platform declared in Swift: a management account with the organization and root-user
/// protection, and one member account per environment (prod, stg) running the sample batch job,
/// the web service, the EKS cluster, and the group of outside operators.
public enum ExamplePlatform {
    public static let management = Environment(account: "111111111111", region: "us-east-1")
    public static let environments: [(name: String, env: Environment)] = [
        ("prod", Environment(account: "222222222222", region: "ap-northeast-1")),
        ("stg", Environment(account: "333333333333", region: "ap-northeast-1")),
    ]

    public static var app: PlatformApp {
        PlatformApp("skiff-example") {
            Stack(
                "Management", environment: management,
                description: "Organization, member accounts and root-user protection"
            ) {
                Organization(
                    units: ["Workloads"],
                    accounts: [
                        .init("prod", email: "aws-prod@example.com", unit: "Workloads"),
                        .init("stg", email: "aws-stg@example.com", unit: "Workloads"),
                    ],
                    policies: [
                        .init(
                            "deny-leave-organization", description: "Member accounts cannot leave the organization",
                            document: PolicyDocument([
                                PolicyStatement(
                                    sid: "DenyLeave", effect: .deny,
                                    actions: ["organizations:LeaveOrganization"], resources: ["*"],
                                    wildcardReason: "organizations:LeaveOrganization has no resource type")
                            ]),
                            units: ["Workloads"])
                    ])
                RootSignInAlert(destination: .webhook(url: "https://hooks.example.com/aws-root-sign-in"))
            }
            for (name, env) in environments {
                workloads(name, env)
            }
        }
    }

    /// One environment's workloads; prod and stg differ only in sizes.
    static func workloads(_ name: String, _ env: Environment) -> Stack {
        let vpc = Parameter("VpcId", type: "AWS::EC2::VPC::Id", description: "The environment's VPC")
        let privateSubnets = Parameter(
            "PrivateSubnetIds", type: "List<AWS::EC2::Subnet::Id>", description: "Private subnets for tasks, ALB and nodes")
        let publicA = Parameter("PublicSubnetA", type: "AWS::EC2::Subnet::Id", description: "Public subnet for the NLB, zone A")
        let publicC = Parameter("PublicSubnetC", type: "AWS::EC2::Subnet::Id", description: "Public subnet for the NLB, zone C")
        let network = Network(vpcId: vpc.ref, privateSubnets: privateSubnets.ref, publicSubnetIds: [publicA.ref, publicC.ref])
        let isProd = name == "prod"

        // L1 escape hatch: a raw resource for the batch image repository.
        let phpRepository = Resource(
            "PhpAppRepository", type: "AWS::ECR::Repository",
            properties: [
                "RepositoryName": .string("php-app"),
                "ImageScanningConfiguration": ["ScanOnPush": true],
                "ImageTagMutability": "IMMUTABLE",
            ], deletionPolicy: "Retain", updateReplacePolicy: "Retain")
        let sampleJob = BatchJob(
            "sample-batch", image: Fn.sub("${PhpAppRepository.RepositoryUri}:${ImageTag}"),
            imageRepositoryArn: phpRepository.getAtt("Arn"),
            entryPoint: ["php"], command: ["artisan", "batch:sample"],
            environment: ["APP_ENV": name],
            schedule: .init("cron(0 3 * * ? *)", timeZone: "Asia/Tokyo"),
            requiredArguments: ["date", "target"], network: network)
        let web = WebService(
            "web", imageTag: "1.0.0", containerPort: 8080, healthCheckPath: "/health",
            desiredCount: isProd ? 2 : 1, environment: ["APP_ENV": name], network: network)
        let eks = EksCluster(
            "\(name)-eks", version: "1.31",
            addons: [
                .init("vpc-cni", version: "v1.19.2-eksbuild.1"),
                .init("kube-proxy", version: "v1.31.3-eksbuild.2"),
                .init("coredns", version: "v1.11.4-eksbuild.2"),
                .init("eks-pod-identity-agent", version: "v1.3.4-eksbuild.1"),
            ],
            nodeGroups: [
                .init(
                    "general", instanceTypes: ["m6i.large"], releaseVersion: "1.31.3-20250103",
                    minSize: isProd ? 2 : 1, desiredSize: isProd ? 3 : 1, maxSize: isProd ? 6 : 2)
            ],
            network: network)

        return Stack(
            name.prefix(1).uppercased() + name.dropFirst(), environment: env,
            description: "Workloads of the \(name) account: batch job, web service, EKS cluster, operators"
        ) {
            vpc
            privateSubnets
            publicA
            publicC
            Parameter("ImageTag", type: "String", description: "Tag of the php-app image the batch job runs", default: "1.0.0")
            phpRepository
            sampleJob
            web
            eks
            OperatorGroup(
                "outside-operators", users: ["ops-alice", "ops-bob"],
                permissions: [
                    .startJob(sampleJob), .readJobLogs(sampleJob), .readServiceLogs(web), .execInto(web),
                ])
        }
    }
}
