import ArgumentParser
import Foundation
import Platform
import PlatformExample

/// `skiff synth`: synthesize the example platform (the seeds' platform in Swift) to CloudFormation.
struct SynthCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "synth",
        abstract: "Synthesize the example platform to CloudFormation templates.",
        discussion: """
            Writes a cdk.out-like folder: one <Stack>.template.json per stack, <Stack>.template.yaml with --yaml,
            and manifest.json (each stack's environment aws://ACCOUNT/REGION and its template files).
            Example: skiff synth --out cdk.out --yaml && cfn-lint cdk.out/*.template.json
            """
    )

    @Option(name: .shortAndLong, help: "The folder to write.") var out = "cdk.out"
    @Flag(help: "Also write each template as CloudFormation YAML.") var yaml = false

    func run() throws {
        let start = ContinuousClock.now
        let assembly: CloudAssembly
        do {
            assembly = try ExamplePlatform.app.synthesize()
        } catch let error as SynthesisError {
            throw CommandFailure("the platform does not synthesize: \(error)")
        }
        let written: [String]
        do {
            written = try AssemblyWriter.write(assembly, to: out, includeYAML: yaml)
        } catch {
            throw CommandFailure("cannot write \(out): \(error.localizedDescription)")
        }
        for path in written { print(path) }
        print("synthesized \(assembly.stacks.count) stacks in \(ContinuousClock.now - start)")
    }
}
