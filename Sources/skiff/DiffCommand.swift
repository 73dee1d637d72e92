import ArgumentParser
import Foundation
import JSONCore
import Platform

/// `skiff diff`: what the platform would change, as `cdk diff` shows it: each stack synthesized now compared with the
/// cloud assembly synthesized last (cdk.out) or, with `--deployed`, with the template CloudFormation holds.
struct DiffCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "diff",
        abstract: "Compare the platform with its last synthesis or with the deployed stacks.",
        discussion: """
            Synthesizes the platform (as skiff synth does, into a temporary folder: cdk.out keeps the last \
            skiff synth or skiff deploy) and lists, per stack, the resources, parameters and outputs added [+], \
            removed [-] and changed [~], with the path and the old → new value of each change. \
            --deployed compares with each stack's deployed template (aws cloudformation get-template). \
            Exit status 0, or 1 with --fail when anything differs.
            """
    )

    @Argument(help: "The stacks to compare (default: all).") var stacks: [String] = []
    @OptionGroup var platform: PlatformOptions
    @Flag(help: "Compare with the templates deployed to CloudFormation instead of the cloud assembly folder.") var deployed = false
    @Flag(help: "Exit with status 1 when there are differences.") var fail = false
    @OptionGroup var aws: AWSOptions

    func run() throws {
        let cli = deployed ? try AWSCLI(aws) : nil
        let source = try platform.source()
        let folder = platform.outputFolder(for: source)
        let previous: [AssemblyStack]?
        do { previous = try AssemblyReader.read(folder) } catch { throw CommandFailure(error.description) }

        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("skiff-diff-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        // The program lists the files it wrote: in a scratch folder, news to nobody.
        let current = try source.synthesize(into: scratch, includeYAML: false, programOutput: .capture).stacks

        let removed = deployed ? [] : (previous ?? []).filter { old in !current.contains { $0.name == old.name } }
        let known = current.map(\.name) + removed.map(\.name)
        for name in stacks where !known.contains(name) {
            throw CommandFailure("no stack \(name) in the platform (its stacks: \(current.map(\.name).joined(separator: ", ")))")
        }
        if previous == nil && !deployed {
            FileManager.default.writeToStandardError(
                "no cloud assembly in \(folder) yet: every stack is new (skiff synth writes one; --deployed compares with CloudFormation)\n"
            )
        }

        var differing = 0
        for stack in current where stacks.isEmpty || stacks.contains(stack.name) {
            let base: JSON
            if let cli {
                base = try cli.deployedTemplate(stack: stack.name, region: stack.environment?.region) ?? [:]
            } else {
                base = previous?.first { $0.name == stack.name }?.template ?? [:]
            }
            let diff = TemplateDiff(old: base, new: stack.template)
            let environment = stack.environment.map { " (aws://\($0.account)/\($0.region))" } ?? ""
            print("Stack \(stack.name)\(environment)")
            if base == [:] { print(deployed ? "[+] not deployed yet: every resource is new" : "[+] new stack") }
            print(diff.isEmpty ? "There were no differences" : diff.rendered())
            print("")
            if !diff.isEmpty { differing += 1 }
        }
        for stack in removed where stacks.isEmpty || stacks.contains(stack.name) {
            print("Stack \(stack.name)")
            print(
                "[-] no longer in the platform: CloudFormation keeps it until it is deleted (aws cloudformation delete-stack --stack-name \(stack.name))"
            )
            print("")
            differing += 1
        }
        print("Number of stacks with differences: \(differing)")
        if fail && differing > 0 { throw ExitCode(1) }
    }
}

extension FileManager {
    func writeToStandardError(_ text: String) {
        FileHandle.standardError.write(Data(text.utf8))
    }
}
