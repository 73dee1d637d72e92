import ArgumentParser
import Foundation
import JSONCore
import Platform

/// The options of commands that talk to CloudFormation through the AWS CLI.
struct AWSOptions: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            """
            The endpoint of AWS calls (default: $SKIFF_ENDPOINT, else $AWS_ENDPOINT_URL, else AWS). \
            The local cloud, http://127.0.0.1:4566, does not serve CloudFormation yet.
            """, valueName: "url"))
    var endpointUrl: String?

    @Option(help: ArgumentHelp("The AWS CLI profile whose credentials are used (default: the AWS CLI's).", valueName: "name"))
    var profile: String?
}

/// CloudFormation through the AWS CLI (`aws`), which brings the credentials chain, the profiles, the retries and the
/// change-set waiting users already rely on.
struct AWSCLI {
    let executable: String
    let endpoint: String?
    let profile: String?
    let environment: [String: String]

    init(_ options: AWSOptions, environment base: [String: String] = ProcessInfo.processInfo.environment) throws {
        guard let executable = ChildProcess.find("aws", environment: base) else {
            throw CommandFailure("the AWS CLI (aws) is not on PATH: install it (pip install awscli, or https://aws.amazon.com/cli/)")
        }
        self.executable = executable
        endpoint = options.endpointUrl ?? ["SKIFF_ENDPOINT", "AWS_ENDPOINT_URL"].lazy.compactMap { base[$0] }.first { !$0.isEmpty }
        profile = options.profile
        var environment = base
        environment["AWS_PAGER"] = ""
        // The local cloud takes any secret; give the AWS CLI the conventional `test` credentials where none are
        // configured, as skiff's own clients do (a key alone selects its account: skiff up --account KEY=ID). Only
        // for an endpoint on this machine: elsewhere they would hide the credentials of the AWS CLI's configuration.
        if let endpoint, Self.isLocal(endpoint), profile == nil, (base["AWS_PROFILE"] ?? "").isEmpty {
            if (base["AWS_ACCESS_KEY_ID"] ?? "").isEmpty { environment["AWS_ACCESS_KEY_ID"] = "test" }
            if (base["AWS_SECRET_ACCESS_KEY"] ?? "").isEmpty { environment["AWS_SECRET_ACCESS_KEY"] = "test" }
        }
        self.environment = environment
    }

    /// Where calls go, for messages.
    var target: String { endpoint ?? "AWS" }

    /// Whether an endpoint is on this machine (a loopback address or `localhost`), as the local cloud is.
    static func isLocal(_ endpoint: String) -> Bool {
        guard let host = URLComponents(string: endpoint)?.host?.lowercased() else { return false }
        return host == "localhost" || host.hasSuffix(".localhost") || host.hasPrefix("127.") || host == "::1" || host == "[::1]"
    }

    /// Runs `aws ARGUMENTS` with the endpoint, profile and region.
    func run(_ arguments: [String], region: String?, standardOutput: ChildProcess.Output = .capture) throws -> ChildProcess.Result {
        var all = arguments
        if let region { all += ["--region", region] }
        if let endpoint { all += ["--endpoint-url", endpoint] }
        if let profile { all += ["--profile", profile] }
        return try ChildProcess.run(executable, all, environment: environment, standardOutput: standardOutput, standardError: .capture)
    }

    /// The account of the credentials (STS GetCallerIdentity).
    func callerAccount(region: String?) throws -> String {
        let result = try run(["sts", "get-caller-identity", "--output", "json"], region: region)
        guard result.succeeded else {
            throw CommandFailure(
                "cannot tell which account the credentials are for (aws sts get-caller-identity at \(target)): \(result.lastErrorLine ?? result.statusDescription)"
            )
        }
        guard let account = (try? JSON(parsing: result.standardOutput))?["Account"]?.stringValue else {
            throw CommandFailure("aws sts get-caller-identity answered no Account: \(result.standardOutputText)")
        }
        return account
    }

    /// A deployed stack's template as it was deployed (GetTemplate, stage Original), or nil when no such stack exists.
    func deployedTemplate(stack: String, region: String?) throws -> JSON? {
        let result = try run(
            [
                "cloudformation", "get-template", "--stack-name", stack, "--template-stage", "Original",
                "--output", "json",
            ], region: region)
        guard result.succeeded else {
            let line = result.lastErrorLine ?? result.statusDescription
            if line.contains("ValidationError"), line.contains("does not exist") { return nil }
            throw CommandFailure("cannot get the deployed template of \(stack) (aws cloudformation get-template at \(target)): \(line)")
        }
        do {
            let answer = try JSON(parsing: result.standardOutput)
            // The AWS CLI decodes a JSON template body into an object; a YAML one stays text.
            switch answer["TemplateBody"] {
            case .object(let template)?: return .object(template)
            case .string(let text)?: return try TemplateText.parse(text)
            default: throw SynthesisError("the answer has no TemplateBody")
            }
        } catch {
            throw CommandFailure("cannot read the deployed template of \(stack): \(error)")
        }
    }

    /// Creates or updates `stack` from its template through a change set (`aws cloudformation deploy`), its progress
    /// on standard output. A template without changes is no failure.
    func deploy(stack: AssemblyStack, parameters: [String], s3Bucket: String?) throws {
        var arguments = [
            "cloudformation", "deploy", "--template-file", stack.templatePath, "--stack-name", stack.name,
            "--capabilities", "CAPABILITY_NAMED_IAM", "--no-fail-on-empty-changeset",
        ]
        if !parameters.isEmpty { arguments += ["--parameter-overrides"] + parameters }
        if let s3Bucket { arguments += ["--s3-bucket", s3Bucket] }
        let result = try run(arguments, region: stack.environment?.region, standardOutput: .inherit)
        guard result.succeeded else {
            throw CommandFailure(
                "stack \(stack.name) was not deployed (aws cloudformation deploy at \(target)): \(result.lastErrorLine ?? result.statusDescription)"
            )
        }
    }
}
