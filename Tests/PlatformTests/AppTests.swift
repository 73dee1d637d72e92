import Foundation
import Testing
import JSONCore
import Platform
import PlatformExample

/// The entry point a platform program calls (`app.synth()`): its options, the cloud assembly it writes, and reading
/// that assembly back.
@Suite struct AppTests {
    /// A new empty folder under the system's temporary folder, removed by the caller.
    static func scratchFolder() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("skiff-app-tests-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    static let environment = Environment(account: "123456789012", region: "eu-west-1")

    static func app(_ names: [String]) -> App {
        App {
            for name in names {
                Stack(name, environment: environment, description: "stack \(name)") {
                    Resource("Topic", type: "AWS::SNS::Topic")
                }
            }
        }
    }

    @Test func optionsDefaultToCdkOut() throws {
        #expect(try SynthOptions(arguments: [], environment: [:]) == SynthOptions(outputDirectory: "cdk.out", includeYAML: false))
    }

    @Test func optionsComeFromSkiffThenCdkVariables() throws {
        #expect(try SynthOptions(arguments: [], environment: ["CDK_OUTDIR": "/tmp/cdk"]).outputDirectory == "/tmp/cdk")
        let both = try SynthOptions(
            arguments: [], environment: ["CDK_OUTDIR": "/tmp/cdk", "SKIFF_OUTDIR": "/tmp/skiff", "SKIFF_YAML": "1"])
        #expect(both == SynthOptions(outputDirectory: "/tmp/skiff", includeYAML: true))
        #expect(try SynthOptions(arguments: [], environment: ["SKIFF_OUTDIR": "", "CDK_OUTDIR": "c"]).outputDirectory == "c")
        #expect(try SynthOptions(arguments: [], environment: ["SKIFF_YAML": "0"]).includeYAML == false)
    }

    @Test func argumentsOverrideTheEnvironment() throws {
        let options = try SynthOptions(arguments: ["--out", "here", "--yaml"], environment: ["SKIFF_OUTDIR": "there"])
        #expect(options == SynthOptions(outputDirectory: "here", includeYAML: true))
        #expect(try SynthOptions(arguments: ["--out=x"], environment: [:]).outputDirectory == "x")
        #expect(try SynthOptions(arguments: ["-o", "y"], environment: [:]).outputDirectory == "y")
    }

    @Test func badOptionsAreOneClearError() {
        #expect(throws: SynthesisError("unknown argument \"--verbose\" (a platform program takes --out DIR and --yaml)")) {
            try SynthOptions(arguments: ["--verbose"], environment: [:])
        }
        #expect(throws: SynthesisError("--out needs a folder")) { try SynthOptions(arguments: ["--out"], environment: [:]) }
        #expect(throws: SynthesisError("SKIFF_YAML must be 1 or 0, not \"maybe\"")) {
            try SynthOptions(arguments: [], environment: ["SKIFF_YAML": "maybe"])
        }
    }

    @Test func appWithoutANameIsNamedAfterItsProgram() {
        let app = App { Stack("A", environment: Self.environment, description: "a") { Resource("T", type: "AWS::SNS::Topic") } }
        #expect(!app.name.isEmpty)
        #expect(app.name == (CommandLine.arguments[0] as NSString).lastPathComponent)
        #expect(app.stacks.map(\.name) == ["A"])
    }

    @Test func synthWritesTheCloudAssemblyAndReadsBack() throws {
        let folder = try Self.scratchFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let out = (folder as NSString).appendingPathComponent("nested/cdk.out")
        let written = try ExamplePlatform.app.synth(SynthOptions(outputDirectory: out, includeYAML: true))
        #expect(
            written.map { ($0 as NSString).lastPathComponent } == [
                "Management.template.json", "Management.template.yaml", "Prod.template.json", "Prod.template.yaml",
                "Stg.template.json", "Stg.template.yaml", "manifest.json",
            ])
        let stacks = try #require(try AssemblyReader.read(out))
        let expected = try ExamplePlatform.app.synthesize()
        #expect(stacks.map(\.name) == expected.stacks.map(\.stack))
        #expect(stacks.map(\.template) == expected.stacks.map(\.template))
        #expect(stacks.map(\.environment) == expected.stacks.map(\.environment))
        #expect(stacks[0].templatePath == (out as NSString).appendingPathComponent("Management.template.json"))
    }

    @Test func synthReplacesThePreviousAssemblyOnly() throws {
        let folder = try Self.scratchFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try Self.app(["A", "B"]).synth(SynthOptions(outputDirectory: folder, includeYAML: true))
        let mine = (folder as NSString).appendingPathComponent("notes.txt")
        try Data("kept".utf8).write(to: URL(fileURLWithPath: mine))

        // B is gone from the platform and YAML is no longer asked for: their files go, the folder's other files stay.
        try Self.app(["A"]).synth(SynthOptions(outputDirectory: folder))
        let files = try FileManager.default.contentsOfDirectory(atPath: folder).sorted()
        #expect(files == ["A.template.json", "manifest.json", "notes.txt"])
        #expect(try AssemblyReader.read(folder)?.map(\.name) == ["A"])
    }

    @Test func synthesisErrorsSayWhy() throws {
        let folder = try Self.scratchFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        #expect(throws: SynthesisError("the platform does not synthesize: duplicate stack name A")) {
            try Self.app(["A", "A"]).synth(SynthOptions(outputDirectory: folder))
        }
        #expect(try AssemblyReader.read(folder) == nil, "nothing is written when the platform does not synthesize")

        let file = (folder as NSString).appendingPathComponent("a-file")
        try Data().write(to: URL(fileURLWithPath: file))
        let error = #expect(throws: SynthesisError.self) {
            try Self.app(["A"]).synth(SynthOptions(outputDirectory: (file as NSString).appendingPathComponent("out")))
        }
        #expect(error?.description.hasPrefix("cannot write the cloud assembly to \(file)/out: ") == true)
    }

    @Test func readerTakesCdkManifests() throws {
        let folder = try Self.scratchFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let manifest: JSON = [
            "version": "36.0.0",
            "artifacts": [
                "Tree": ["type": "cdk:tree", "properties": ["file": "tree.json"]],
                "MyStackA1B2": [
                    "type": "aws:cloudformation:stack", "environment": "aws://unknown-account/unknown-region",
                    "properties": ["templateFile": "MyStack.template.json", "stackName": "MyStack"],
                ],
            ],
        ]
        try Data(manifest.serialized().utf8).write(to: URL(fileURLWithPath: folder + "/manifest.json"))
        try Data(#"{"Resources": {"Q": {"Type": "AWS::SQS::Queue"}}}"#.utf8).write(
            to: URL(fileURLWithPath: folder + "/MyStack.template.json"))
        let stacks = try #require(try AssemblyReader.read(folder))
        #expect(
            stacks == [
                AssemblyStack(
                    name: "MyStack", environment: nil, templatePath: folder + "/MyStack.template.json",
                    template: ["Resources": ["Q": ["Type": "AWS::SQS::Queue"]]])
            ])
        #expect(
            AssemblyReader.environment(uri: "aws://111111111111/us-east-1") == Environment(account: "111111111111", region: "us-east-1"))
    }

    @Test func readerRejectsABrokenAssembly() throws {
        let folder = try Self.scratchFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try Data("{".utf8).write(to: URL(fileURLWithPath: folder + "/manifest.json"))
        let error = #expect(throws: SynthesisError.self) { try AssemblyReader.read(folder) }
        #expect(error?.description.hasPrefix("\(folder)/manifest.json is not JSON") == true)

        try Data(#"{"artifacts": {"S": {"type": "aws:cloudformation:stack", "properties": {"templateFile": "S.template.json"}}}}"#.utf8)
            .write(to: URL(fileURLWithPath: folder + "/manifest.json"))
        let missing = #expect(throws: SynthesisError.self) { try AssemblyReader.read(folder) }
        #expect(missing?.description.hasPrefix("cannot read \(folder)/S.template.json") == true)
    }
}
