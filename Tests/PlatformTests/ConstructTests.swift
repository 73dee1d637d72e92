import Testing
import JSONCore
import Platform
import PlatformExample

@Suite struct OrganizationTests {
    let org = Organization(units: ["Workloads", "Sandbox"], accounts: [.init("prod", email: "p@example.com", unit: "Workloads")])

    @Test func denyRootSCPIsAttachedToEveryUnitByDefault() throws {
        let t = try templateOf { org }
        let scp = try #require(t["Resources"]?["ScpDenyMemberRoot"]?["Properties"])
        #expect(scp["Type"] == "SERVICE_CONTROL_POLICY")
        #expect(scp["TargetIds"] == [["Ref": "OUWorkloads"], ["Ref": "OUSandbox"]])
        let statement = try #require(scp["Content"]?["Statement"]?[0])
        #expect(statement["Effect"] == "Deny")
        #expect(statement["Condition"] == ["ArnLike": ["aws:PrincipalArn": "arn:aws:iam::*:root"]])
        #expect(t["Resources"]?["AccountProd"]?["Properties"]?["ParentIds"] == [["Ref": "OUWorkloads"]])
        #expect(t["Resources"]?["AccountProd"]?["DeletionPolicy"] == "Retain")
        #expect(t["Resources"]?["Organization"]?["Properties"]?["FeatureSet"] == "ALL")
    }

    @Test func rootAccessManagementIsNotedNotInvented() throws {
        let t = try templateOf { org }
        let notes = try #require(t["Metadata"]?["Skiff::Notes"]?.arrayValue)
        #expect(notes.contains { $0.stringValue?.contains("enable-organizations-root-credentials-management") == true })
        // Only real resource types.
        let types = Set((t["Resources"]?.objectValue ?? [:]).values.compactMap { $0["Type"]?.stringValue })
        #expect(
            types == [
                "AWS::Organizations::Organization", "AWS::Organizations::OrganizationalUnit",
                "AWS::Organizations::Account", "AWS::Organizations::Policy",
            ])
    }

    @Test func rootSCPCanBeTurnedOff() throws {
        let t = try templateOf { Organization(units: ["W"], accounts: [], denyMemberRootActions: false) }
        #expect(resources(t, type: "AWS::Organizations::Policy").isEmpty)
    }

    @Test func rootSignInAlertMatchesRootConsoleSignInsOnly() throws {
        let t = try templateOf { RootSignInAlert(destination: .webhook(url: "https://hooks.example.com/x")) }
        let pattern = try #require(t["Resources"]?["RootSignInRule"]?["Properties"]?["EventPattern"])
        #expect(pattern["detail-type"] == ["AWS Console Sign In via CloudTrail"])
        #expect(pattern["detail"]?["userIdentity"]?["type"] == ["Root"])
        #expect(t["Resources"]?["RootSignInRule"]?["Properties"]?["Targets"]?[0]?["Arn"] == ["Ref": "RootSignInTopic"])
        let publish = try #require(t["Resources"]?["RootSignInTopicPolicy"]?["Properties"]?["PolicyDocument"]?["Statement"]?[0])
        #expect(publish["Principal"] == ["Service": "events.amazonaws.com"])
        #expect(publish["Condition"] == ["ArnEquals": ["aws:SourceArn": ["Fn::GetAtt": ["RootSignInRule", "Arn"]]]])
        #expect(t["Resources"]?["RootSignInWebhook"]?["Properties"]?["Protocol"] == "https")
    }

    @Test func rootSignInAlertToSlackUsesChatbot() throws {
        let t = try templateOf { RootSignInAlert(destination: .slack(workspaceId: "T0", channelId: "C0")) }
        let slack = try #require(t["Resources"]?["RootSignInSlackChannel"])
        #expect(slack["Type"] == "AWS::Chatbot::SlackChannelConfiguration")
        #expect(slack["Properties"]?["SnsTopicArns"] == [["Ref": "RootSignInTopic"]])
        #expect(t["Resources"]?["RootSignInWebhook"] == nil)
    }
}

@Suite struct BatchJobTests {
    let job = BatchJob(
        "report", image: "php-app:1", entryPoint: ["php"], command: ["artisan", "report"],
        environment: ["A": "1"], schedule: .init("cron(0 3 * * ? *)", timeZone: "Asia/Tokyo"),
        requiredArguments: ["date", "target"], network: testNetwork)

    @Test func stateMachineIsValidateMissingRun() throws {
        let d = job.stateMachineDefinition
        #expect(d["QueryLanguage"] == "JSONata")
        #expect(d["StartAt"] == "ValidateArgs")
        #expect(d["States"]?["ValidateArgs"]?["Type"] == "Choice")
        #expect(
            d["States"]?["ValidateArgs"]?["Choices"]?[0]?["Condition"]
                == "{% $exists($states.input.date) and $exists($states.input.target) %}")
        #expect(d["States"]?["ValidateArgs"]?["Default"] == "MissingArgs")
        #expect(d["States"]?["MissingArgs"]?["Type"] == "Fail")
        let run = try #require(d["States"]?["RunEcsTask"])
        #expect(run["Resource"] == "arn:aws:states:::ecs:runTask.sync")
        #expect(
            run["Arguments"]?["Overrides"]?["ContainerOverrides"]?[0]?["Command"]
                == "{% ['artisan', 'report', $string($states.input.date), $string($states.input.target)] %}")
        #expect(run["Arguments"]?["Overrides"]?["ContainerOverrides"]?[0]?["Name"] == "report")
        #expect(run["End"] == true)
    }

    @Test func argumentNamesThatAreNotIdentifiersAreQuoted() {
        let j = BatchJob("x", image: "i", requiredArguments: ["run-date"], network: testNetwork)
        #expect(
            j.stateMachineDefinition["States"]?["ValidateArgs"]?["Choices"]?[0]?["Condition"] == "{% $exists($states.input.`run-date`) %}")
    }

    @Test func taskDefinitionCarriesImageEntryPointCommandEnvAndLogs() throws {
        let t = try templateOf { job }
        let c = try #require(t["Resources"]?["ReportTaskDefinition"]?["Properties"]?["ContainerDefinitions"]?[0])
        #expect(c["Image"] == "php-app:1")
        #expect(c["EntryPoint"] == ["php"])
        #expect(c["Command"] == ["artisan", "report"])
        #expect(c["Environment"] == [["Name": "A", "Value": "1"]])
        #expect(c["LogConfiguration"]?["LogDriver"] == "awslogs")
        #expect(t["Resources"]?["ReportTaskDefinition"]?["Properties"]?["RequiresCompatibilities"] == ["FARGATE"])
    }

    @Test func scheduleUsesSchedulerWithTimeZone() throws {
        let t = try templateOf { job }
        let s = try #require(t["Resources"]?["ReportSchedule"]?["Properties"])
        #expect(s["ScheduleExpression"] == "cron(0 3 * * ? *)")
        #expect(s["ScheduleExpressionTimezone"] == "Asia/Tokyo")
        #expect(s["Target"]?["EcsParameters"]?["NetworkConfiguration"]?["AwsvpcConfiguration"]?["AssignPublicIp"] == "DISABLED")
        let noSchedule = try templateOf { BatchJob("x", image: "i", network: testNetwork) }
        #expect(resources(noSchedule, type: "AWS::Scheduler::Schedule").isEmpty)
        #expect(resources(noSchedule, type: "AWS::IAM::Role").count == 3)  // execution, task, state machine
    }

    @Test func rolesGrantOnlyWhatRunningTheTaskNeeds() throws {
        let t = try templateOf { job }
        let sm = try #require(
            t["Resources"]?["ReportStateMachineRole"]?["Properties"]?["Policies"]?[0]?["PolicyDocument"]?["Statement"]?.arrayValue)
        let actions = Set(sm.flatMap { asList($0["Action"]).compactMap(\.stringValue) })
        #expect(
            actions == [
                "ecs:RunTask", "ecs:StopTask", "ecs:DescribeTasks", "iam:PassRole",
                "events:PutTargets", "events:PutRule", "events:DescribeRule",
            ])
        for s in sm { #expect(!asList(s["Resource"]).contains("*")) }
        // The task role has no permissions; the execution role may only write its own log group.
        #expect(t["Resources"]?["ReportTaskRole"]?["Properties"]?["Policies"] == nil)
        let exec = try #require(
            t["Resources"]?["ReportExecutionRole"]?["Properties"]?["Policies"]?[0]?["PolicyDocument"]?["Statement"]?.arrayValue)
        #expect(exec.count == 1)
        #expect(exec[0]["Action"] == ["logs:CreateLogStream", "logs:PutLogEvents"])
        // PassRole only to ECS tasks.
        let pass = try #require(sm.first { $0["Action"] == "iam:PassRole" })
        #expect(pass["Condition"] == ["StringEquals": ["iam:PassedToService": "ecs-tasks.amazonaws.com"]])
    }

    @Test func imageRepositoryAddsPullPermissionsForThatRepositoryOnly() throws {
        let j = BatchJob("x", image: "i", imageRepositoryArn: "arn:aws:ecr:us-east-1:123456789012:repository/php-app", network: testNetwork)
        let t = try templateOf { j }
        let exec = try #require(
            t["Resources"]?["XExecutionRole"]?["Properties"]?["Policies"]?[0]?["PolicyDocument"]?["Statement"]?.arrayValue)
        #expect(exec.contains { $0["Sid"] == "PullImage" && $0["Resource"] == "arn:aws:ecr:us-east-1:123456789012:repository/php-app" })
    }
}

@Suite struct WebServiceTests {
    let web = WebService("web", imageTag: "1.2.3", network: testNetwork)

    @Test func secureDefaults() throws {
        let t = try templateOf { web }
        let repo = try #require(t["Resources"]?["WebRepository"]?["Properties"])
        #expect(repo["ImageScanningConfiguration"] == ["ScanOnPush": true])
        #expect(repo["ImageTagMutability"] == "IMMUTABLE")
        let svc = try #require(t["Resources"]?["WebService"]?["Properties"])
        #expect(svc["EnableExecuteCommand"] == true)
        #expect(svc["DeploymentConfiguration"]?["DeploymentCircuitBreaker"] == ["Enable": true, "Rollback": true])
        #expect(svc["NetworkConfiguration"]?["AwsvpcConfiguration"]?["AssignPublicIp"] == "DISABLED")
        #expect(t["Resources"]?["WebAlb"]?["Properties"]?["Scheme"] == "internal")
        let task = try #require(t["Resources"]?["WebTaskRole"]?["Properties"]?["Policies"]?[0]?["PolicyDocument"]?["Statement"]?[0])
        #expect(
            task["Action"] == [
                "ssmmessages:CreateControlChannel", "ssmmessages:CreateDataChannel",
                "ssmmessages:OpenControlChannel", "ssmmessages:OpenDataChannel",
            ])
        // Tasks accept traffic only from the ALB's security group.
        let ingress = try #require(t["Resources"]?["WebTaskSecurityGroup"]?["Properties"]?["SecurityGroupIngress"]?[0])
        #expect(ingress["SourceSecurityGroupId"] == ["Fn::GetAtt": ["WebAlbSecurityGroup", "GroupId"]])
        #expect(ingress["CidrIp"] == nil)
        // The ALB accepts only the NLB; clients are filtered by the NLB's security group.
        let albIngress = try #require(t["Resources"]?["WebAlbSecurityGroup"]?["Properties"]?["SecurityGroupIngress"]?[0])
        #expect(albIngress["SourceSecurityGroupId"] == ["Fn::GetAtt": ["WebNlbSecurityGroup", "GroupId"]])
        #expect(t["Resources"]?["WebNlb"]?["Properties"]?["SecurityGroups"] == [["Fn::GetAtt": ["WebNlbSecurityGroup", "GroupId"]]])
    }

    @Test func nlbWithStaticAddressesForwardsToTheAlb() throws {
        let t = try templateOf { web }
        #expect(resources(t, type: "AWS::EC2::EIP").count == 2)
        let nlb = try #require(t["Resources"]?["WebNlb"]?["Properties"])
        #expect(nlb["Type"] == "network")
        #expect(
            nlb["SubnetMappings"] == [
                ["SubnetId": "subnet-pa", "AllocationId": ["Fn::GetAtt": ["WebNlbAddress1", "AllocationId"]]],
                ["SubnetId": "subnet-pc", "AllocationId": ["Fn::GetAtt": ["WebNlbAddress2", "AllocationId"]]],
            ])
        let tg = try #require(t["Resources"]?["WebNlbTargetGroup"])
        #expect(tg["Properties"]?["TargetType"] == "alb")
        #expect(tg["Properties"]?["Targets"] == [["Id": ["Ref": "WebAlb"], "Port": 80]])
        #expect(tg["DependsOn"] == ["WebAlbListener"])
        #expect(t["Resources"]?["WebTargetGroup"]?["Properties"]?["HealthCheckPath"] == "/health")
        #expect(
            t["Resources"]?["WebTaskDefinition"]?["Properties"]?["ContainerDefinitions"]?[0]?["Image"] == [
                "Fn::Sub": "${WebRepository.RepositoryUri}:1.2.3"
            ])
    }
}

@Suite struct EksClusterTests {
    func cluster(_ version: String, addon: String, release: String) -> EksCluster {
        EksCluster(
            "main", version: version, addons: [.init("vpc-cni", version: addon), .init("coredns", version: "v1.11.4-eksbuild.2")],
            nodeGroups: [.init("general", instanceTypes: ["m6i.large"], releaseVersion: release)], network: testNetwork)
    }

    @Test func versionsAreDeclaredValues() throws {
        let t = try templateOf { cluster("1.31", addon: "v1.19.2-eksbuild.1", release: "1.31.3-20250103") }
        #expect(t["Resources"]?["MainCluster"]?["Properties"]?["Version"] == "1.31")
        #expect(t["Resources"]?["MainAddonVpcCni"]?["Properties"]?["AddonVersion"] == "v1.19.2-eksbuild.1")
        #expect(t["Resources"]?["MainAddonVpcCni"]?["DependsOn"] == ["MainNodeGroupGeneral"])
        let ng = try #require(t["Resources"]?["MainNodeGroupGeneral"]?["Properties"])
        #expect(ng["ReleaseVersion"] == "1.31.3-20250103")
        #expect(ng["Version"] == "1.31")
        #expect(t["Resources"]?["MainCluster"]?["Properties"]?["ResourcesVpcConfig"]?["EndpointPublicAccess"] == false)
    }

    @Test func anUpgradeChangesOnlyVersionValues() throws {
        let before = try templateOf { cluster("1.31", addon: "v1.19.2-eksbuild.1", release: "1.31.3-20250103") }
        let after = try templateOf { cluster("1.32", addon: "v1.19.3-eksbuild.1", release: "1.32.0-20250203") }
        var changed: [String] = []
        func diff(_ a: JSON, _ b: JSON, _ path: String) {
            switch (a, b) {
            case (.object(let x), .object(let y)):
                #expect(Array(x.keys) == Array(y.keys))
                for (k, v) in x { if let w = y[k] { diff(v, w, path + "/" + k) } }
            case (.array(let x), .array(let y)) where x.count == y.count:
                for (i, (v, w)) in zip(x, y).enumerated() { diff(v, w, path + "/\(i)") }
            default: if a != b { changed.append(path) }
            }
        }
        diff(before, after, "")
        #expect(
            changed.sorted() == [
                "/Outputs/MainClusterVersion/Value",
                "/Resources/MainAddonVpcCni/Properties/AddonVersion",
                "/Resources/MainCluster/Properties/Version",
                "/Resources/MainNodeGroupGeneral/Properties/ReleaseVersion",
                "/Resources/MainNodeGroupGeneral/Properties/Version",
            ])
    }
}

@Suite struct OperatorGroupTests {
    @Test func policyIsDerivedFromPermissions() throws {
        let job = BatchJob("report", image: "i", requiredArguments: ["date"], network: testNetwork)
        let web = WebService("web", imageTag: "1", network: testNetwork)
        let group = OperatorGroup("ops", users: ["alice"], permissions: [.startJob(job), .readJobLogs(job), .execInto(web)])
        let t = try templateOf {
            job
            web
            group
        }
        let statements = try #require(
            t["Resources"]?["OpsGroup"]?["Properties"]?["Policies"]?[0]?["PolicyDocument"]?["Statement"]?.arrayValue)
        let actions = Set(statements.flatMap { asList($0["Action"]).compactMap(\.stringValue) })
        #expect(
            actions == [
                "states:StartExecution", "states:ListExecutions", "states:DescribeStateMachine",
                "states:DescribeExecution", "states:GetExecutionHistory", "states:StopExecution",
                "logs:DescribeLogStreams", "logs:FilterLogEvents", "logs:GetLogEvents",
                "ecs:ExecuteCommand", "ecs:DescribeTasks", "ecs:ListTasks", "ecs:DescribeServices",
            ])
        for s in statements {
            #expect(s["Effect"] == "Allow")
            #expect(!asList(s["Resource"]).contains("*"))
        }
        #expect(statements.first { $0["Action"] == "states:StartExecution" }?["Resource"] == ["Ref": "ReportStateMachine"])
        #expect(t["Resources"]?["OpsUserAlice"]?["Properties"]?["Groups"] == [["Ref": "OpsGroup"]])
        // The container-name condition applies to ExecuteCommand alone (DescribeTasks has no such key).
        let exec = try #require(statements.first { $0["Action"] == "ecs:ExecuteCommand" })
        #expect(exec["Condition"] == ["StringEquals": ["ecs:container-name": "web"]])
        #expect(statements.first { $0["Action"] == "ecs:DescribeTasks" }?["Condition"] == nil)
        // Nothing about the web service's logs was granted.
        #expect(!statements.contains { $0["Sid"] == "ReadWebLogGroup" })
    }
}

/// No `"*"` in generated policies except the statements where AWS requires it, each with its reason.
@Suite struct WildcardTests {
    static let allowedWildcards: Set<String> = [
        "*",  // Deny-only SCP on member-account root users
        "organizations:LeaveOrganization",  // Deny-only SCP statement; the action has no resource type
        "ecr:GetAuthorizationToken",  // no resource-level permissions
        "ssmmessages:CreateControlChannel", "ssmmessages:CreateDataChannel",
        "ssmmessages:OpenControlChannel", "ssmmessages:OpenDataChannel",  // ECS Exec; no resource-level permissions
    ]

    @Test func everyWildcardIsRequiredAndExplained() throws {
        var wildcards = 0
        for (stack, template) in try exampleTemplates() {
            for (id, doc) in policyDocuments(template) {
                for s in asList(doc["Statement"]) {
                    let actions = asList(s["Action"]).compactMap(\.stringValue)
                    #expect(!actions.contains { $0.hasSuffix(":*") }, "\(stack)/\(id) uses a service-wide action wildcard")
                    if actions.contains("*") { #expect(s["Effect"] == "Deny", "\(stack)/\(id) allows every action") }
                    guard asList(s["Resource"]).contains("*") else { continue }
                    wildcards += 1
                    for a in actions { #expect(Self.allowedWildcards.contains(a), "\(stack)/\(id): \(a) on \"*\"") }
                    let reasons = template["Resources"]?[id]?["Metadata"]?["Skiff::WildcardReasons"]?.arrayValue ?? []
                    #expect(!reasons.isEmpty, "\(stack)/\(id) has a wildcard without a reason")
                }
            }
        }
        #expect(wildcards > 0)  // the check looked at real statements
    }
}

@Suite struct ValidationTests {
    @Test func badSchedulesAreRejected() {
        #expect(throws: SynthesisError("stack Test: batch job j: cron(...) takes 6 fields, \"cron(0 3 * * *)\" has 5")) {
            try templateOf { BatchJob("j", image: "i", schedule: .init("cron(0 3 * * *)"), network: testNetwork) }
        }
        #expect(throws: SynthesisError.self) {
            try templateOf { BatchJob("j", image: "i", schedule: .init("0 3 * * *"), network: testNetwork) }
        }
        #expect(throws: Never.self) {
            try templateOf { BatchJob("j", image: "i", schedule: .init("rate(5 minutes)"), network: testNetwork) }
        }
    }

    @Test func duplicateArgumentsAreRejected() {
        #expect(throws: SynthesisError("stack Test: batch job j: required argument a is listed twice")) {
            try templateOf { BatchJob("j", image: "i", requiredArguments: ["a", "a"], network: testNetwork) }
        }
    }

    @Test func nodeGroupsMustMatchTheControlPlaneVersion() {
        let stale = EksCluster(
            "c", version: "1.32", addons: [],
            nodeGroups: [.init("g", instanceTypes: ["m6i.large"], releaseVersion: "1.31.3-20250103")], network: testNetwork)
        #expect(throws: SynthesisError("stack Test: EKS cluster c: node group g release 1.31.3-20250103 is not for Kubernetes 1.32")) {
            try templateOf { stale }
        }
        #expect(throws: SynthesisError.self) {
            try templateOf { EksCluster("c", version: "1.32.1", addons: [], nodeGroups: [], network: testNetwork) }
        }
    }

    @Test func webServiceNeedsAPublicSubnetForItsStaticAddress() {
        #expect(throws: SynthesisError.self) {
            try templateOf { WebService("w", imageTag: "1", network: Network(vpcId: "v", privateSubnets: ["s"])) }
        }
    }
}
