import ArgumentParser
import Foundation
import Platform

/// `skiff synth`: synthesize a platform to CloudFormation, as `cdk synth` does: the platform package of this folder
/// (built with SwiftPM, its program run), or the built-in example with `--example`.
struct SynthCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "synth",
        abstract: "Synthesize a platform to CloudFormation templates.",
        discussion: """
            In a platform package (skiff init platform writes one), builds it with swift build and runs its program, \
            which writes the cloud assembly: one <Stack>.template.json per stack, <Stack>.template.yaml with --yaml, \
            and manifest.json (each stack's environment aws://ACCOUNT/REGION and its template files), in the \
            package's cdk.out. SwiftPM's output goes to standard error; the files written to standard output.
            Examples:
              skiff init platform my-platform && cd my-platform && skiff synth
              skiff synth --example --out cdk.out --yaml && cfn-lint cdk.out/*.template.json
            """
    )

    @OptionGroup var platform: PlatformOptions
    @Flag(help: "Also write each template as CloudFormation YAML.") var yaml = false

    func run() throws {
        let source = try platform.source()
        let folder = platform.outputFolder(for: source)
        let result = try source.synthesize(into: folder, includeYAML: yaml, programOutput: .inherit)
        for path in result.written { print(path) }
        let timing =
            result.buildTime.map { "built in \($0.readable), synthesized in \(result.synthTime.readable)" }
            ?? "in \(result.synthTime.readable)"
        print("synthesized \(result.stacks.count) stacks to \(folder) \(timing)")
    }
}
