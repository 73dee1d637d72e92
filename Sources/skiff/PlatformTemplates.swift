import Foundation

/// The files of a new platform package (`skiff init platform`): a SwiftPM package whose executable declares the
/// platform with Skiff's `Platform` library and writes its cloud assembly with `app.synth()`.
struct PlatformTemplates {
    /// The package's name (the folder's name).
    var packageName: String
    /// The executable target's name: a Swift identifier.
    var targetName: String
    /// Skiff's source tree, which the package depends on by path.
    var skiffPath: String
    /// The tools version of Skiff's own manifest.
    var toolsVersion: String

    /// Skiff's source tree as this binary was built from it (nil when it is no longer there).
    static var builtFromSourceTree: String? {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
        return isSkiffSourceTree(root) ? root : nil
    }

    /// Whether `path` holds Skiff's package: a manifest declaring the Platform library, and its sources.
    static func isSkiffSourceTree(_ path: String) -> Bool {
        let manifest = (path as NSString).appendingPathComponent("Package.swift")
        guard let text = try? String(contentsOfFile: manifest, encoding: .utf8) else { return false }
        return text.contains(#".library(name: "Platform""#)
            && FileManager.default.fileExists(atPath: (path as NSString).appendingPathComponent("Sources/Platform"))
    }

    /// The `swift-tools-version` a manifest declares.
    static func toolsVersion(ofManifestIn path: String) -> String? {
        let manifest = (path as NSString).appendingPathComponent("Package.swift")
        guard let text = try? String(contentsOfFile: manifest, encoding: .utf8),
            let first = text.split(whereSeparator: \.isNewline).first,
            let match = first.firstMatch(of: /swift-tools-version:\s*([0-9]+(\.[0-9]+)*)/)
        else { return nil }
        return String(match.1)
    }

    /// A Swift identifier from a folder name: `my-platform` → `MyPlatform`. Names of the modules the Platform
    /// library brings are avoided (a target of the same name would hide them).
    static func targetName(from folderName: String) -> String {
        var name = ""
        for word in folderName.split(whereSeparator: { !($0.isASCII && ($0.isLetter || $0.isNumber)) }) {
            name += word.prefix(1).uppercased() + word.dropFirst()
        }
        if name.isEmpty || name.first!.isNumber { name = "Platform" + name }
        return reservedNames.contains(name) ? name + "App" : name
    }

    static let reservedNames: Set<String> = [
        "Platform", "JSONCore", "Schedules", "Yams", "CYaml", "OrderedCollections", "InternalCollectionsUtilities", "Foundation", "Swift",
    ]

    /// The files to write, by path relative to the package's folder.
    var files: [(path: String, contents: String)] {
        [
            ("Package.swift", packageManifest),
            ("Sources/\(targetName)/main.swift", mainSwift),
            (".gitignore", ".build/\ncdk.out/\n.swiftpm/\n"),
            ("README.md", readme),
        ]
    }

    /// A Swift string literal of `text`.
    static func literal(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    var packageManifest: String {
        """
        // swift-tools-version: \(toolsVersion)
        import PackageDescription

        // The platform, declared in Swift with Skiff's Platform library. `skiff synth` builds this package and runs it
        // to write the CloudFormation templates to cdk.out; `skiff diff` and `skiff deploy` do the same first.
        let package = Package(
            name: \(Self.literal(packageName)),
            platforms: [.macOS(.v15)],
            dependencies: [
                // Skiff's source tree; `skiff init platform --skiff-path DIR` names another.
                .package(name: "Skiff", path: \(Self.literal(skiffPath))),
            ],
            targets: [
                .executableTarget(name: \(Self.literal(targetName)), dependencies: [
                    .product(name: "Platform", package: "Skiff"),
                ]),
            ]
        )

        """
    }

    var mainSwift: String {
        #"""
        import Platform

        // The accounts: the management account holds the organization; each environment has a member account.
        let management = Environment(account: "111111111111", region: "us-east-1")
        let environments = [
            (name: "prod", environment: Environment(account: "222222222222", region: "ap-northeast-1")),
            (name: "stg", environment: Environment(account: "333333333333", region: "ap-northeast-1")),
        ]

        let app = App {
            Stack("Management", environment: management, description: "Organization, member accounts and root-user protection") {
                // Member accounts' root users are denied every action (an SCP); root sign-ins are notified.
                Organization(units: ["Workloads"], accounts: environments.map {
                    .init($0.name, email: "aws-\($0.name)@example.com", unit: "Workloads")
                })
                RootSignInAlert(destination: .webhook(url: "https://hooks.example.com/aws-root-sign-in"))
            }
            for (name, environment) in environments {
                workloads(name, environment)
            }
        }
        app.synth()

        /// One environment's workloads: a batch job (on a schedule and on demand) and a web service.
        func workloads(_ name: String, _ environment: Environment) -> Stack {
            let vpc = Parameter("VpcId", type: "AWS::EC2::VPC::Id", description: "The environment's VPC")
            let privateSubnets = Parameter("PrivateSubnetIds", type: "List<AWS::EC2::Subnet::Id>", description: "Subnets of the tasks and the ALB")
            let publicA = Parameter("PublicSubnetA", type: "AWS::EC2::Subnet::Id", description: "Public subnet of the NLB, zone A")
            let publicC = Parameter("PublicSubnetC", type: "AWS::EC2::Subnet::Id", description: "Public subnet of the NLB, zone C")
            let network = Network(vpcId: vpc.ref, privateSubnets: privateSubnets.ref, publicSubnetIds: [publicA.ref, publicC.ref])

            // Any CloudFormation resource can be declared raw: here the batch job's image repository.
            let repository = Resource("BatchRepository", type: "AWS::ECR::Repository", properties: [
                "ImageScanningConfiguration": ["ScanOnPush": true],
                "ImageTagMutability": "IMMUTABLE",
            ], deletionPolicy: "Retain", updateReplacePolicy: "Retain")
            return Stack(name.prefix(1).uppercased() + name.dropFirst(), environment: environment,
                         description: "Workloads of the \(name) account") {
                vpc
                privateSubnets
                publicA
                publicC
                repository
                // Runs at 03:00 Tokyo time, and on demand through its state machine with the arguments date and target.
                BatchJob("sample-batch", image: Fn.sub("${BatchRepository.RepositoryUri}:1.0.0"),
                         imageRepositoryArn: repository.getAtt("Arn"),
                         entryPoint: ["php"], command: ["artisan", "batch:sample"], environment: ["APP_ENV": name],
                         schedule: .init("cron(0 3 * * ? *)", timeZone: "Asia/Tokyo"),
                         requiredArguments: ["date", "target"], network: network)
                WebService("web", imageTag: "1.0.0", containerPort: 8080, healthCheckPath: "/health",
                           desiredCount: name == "prod" ? 2 : 1, environment: ["APP_ENV": name], network: network)
            }
        }

        """#
    }

    var readme: String {
        """
        # \(packageName)

        The platform as code: AWS accounts and workloads declared in Swift (`Sources/\(targetName)/main.swift`) with
        [Skiff](\(skiffPath))'s `Platform` library, synthesized to CloudFormation.

        ```sh
        skiff synth                 # builds this package, writes cdk.out/<Stack>.template.json and manifest.json
        skiff diff                  # what changed since the last synth (--deployed: against CloudFormation)
        skiff deploy Prod --profile prod --parameters VpcId=vpc-... # deploys a stack with its account's credentials
        ```

        The first build compiles Skiff's Platform library and takes a few minutes; later ones take seconds.
        `swift run \(targetName) --out DIR --yaml` writes the templates without skiff.

        """
    }
}
