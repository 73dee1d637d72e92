import ArgumentParser
import Foundation
import Platform

/// `skiff deploy`: synthesize the platform, then create or update each stack with CloudFormation through a change
/// set, as `cdk deploy` does.
struct DeployCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "deploy",
        abstract: "Synthesize the platform and deploy its stacks with CloudFormation.",
        discussion: """
            Synthesizes the platform into its cloud assembly folder (as skiff synth does), then deploys each stack \
            named (default: all, in the platform's order) to its account and region with aws cloudformation deploy \
            (a change set; CAPABILITY_NAMED_IAM; a stack without changes is left as it is). The credentials must be \
            those of each stack's account: deploy the stacks of one account at a time (--profile). Parameters \
            without a default are given with --parameters Key=Value (every stack declaring Key) or \
            --parameters Stack:Key=Value; a stack already deployed keeps the values it has.
            Example: skiff deploy Prod --profile prod --parameters VpcId=vpc-0abc --parameters Prod:ImageTag=1.2.0
            """
    )

    @Argument(help: "The stacks to deploy (default: all).") var stacks: [String] = []
    @OptionGroup var platform: PlatformOptions
    @Option(
        name: .customLong("parameters"), help: ArgumentHelp("A stack parameter's value, [Stack:]Key=Value; repeatable.", valueName: "value")
    )
    var parameters: [String] = []
    @Option(
        help: ArgumentHelp("The S3 bucket aws cloudformation deploy uploads templates larger than 51,200 bytes to.", valueName: "bucket"))
    var s3Bucket: String?
    @OptionGroup var aws: AWSOptions

    func validate() throws {
        for parameter in parameters where Self.parameter(parameter) == nil {
            throw ValidationError("--parameters \(parameter) is not Key=Value or Stack:Key=Value")
        }
    }

    /// `Stack:Key=Value` as its parts (no stack: every stack).
    static func parameter(_ text: String) -> (stack: String?, key: String, value: String)? {
        guard let equals = text.firstIndex(of: "=") else { return nil }
        let name = text[..<equals], value = String(text[text.index(after: equals)...])
        let parts = name.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        if parts.contains(where: \.isEmpty) { return nil }
        return parts.count == 2 ? (parts[0], parts[1], value) : (nil, parts[0], value)
    }

    func run() throws {
        let cli = try AWSCLI(aws)  // before building: a missing aws is known at once
        let source = try platform.source()
        let folder = platform.outputFolder(for: source)
        let all = try source.synthesize(into: folder, includeYAML: false, programOutput: .standardError).stacks
        for name in stacks where !all.contains(where: { $0.name == name }) {
            throw CommandFailure("no stack \(name) in the platform (its stacks: \(all.map(\.name).joined(separator: ", ")))")
        }
        let selected = all.filter { stacks.isEmpty || stacks.contains($0.name) }
        for parameter in parameters.compactMap(Self.parameter) {
            if let stack = parameter.stack, !all.contains(where: { $0.name == stack }) {
                throw CommandFailure("--parameters \(stack):\(parameter.key): no stack \(stack) in the platform")
            }
        }

        // Deploying a stack with another account's credentials would build that account's platform in the wrong one.
        let account = try cli.callerAccount(region: selected.first?.environment?.region)
        let elsewhere = selected.filter { $0.environment.map { $0.account != account } ?? false }
        if !elsewhere.isEmpty {
            let list = elsewhere.map { "\($0.name) (account \($0.environment!.account))" }.joined(separator: ", ")
            throw CommandFailure(
                "the credentials are for account \(account), not for \(list): deploy each account's stacks with its credentials (--profile), naming them (skiff deploy STACK...)"
            )
        }

        for stack in selected {
            let declared = Set(stack.template["Parameters"]?.objectValue?.keys.map { $0 } ?? [])
            let values = parameters.compactMap(Self.parameter)
                .filter { ($0.stack == nil || $0.stack == stack.name) && declared.contains($0.key) }
                .map { "\($0.key)=\($0.value)" }
            let environment = stack.environment.map { "aws://\($0.account)/\($0.region)" } ?? "the default region"
            print("\(stack.name): deploying to \(environment)")
            let start = ContinuousClock.now
            try cli.deploy(stack: stack, parameters: values, s3Bucket: s3Bucket)
            print("\(stack.name): deployed in \((ContinuousClock.now - start).readable)")
        }
    }
}
