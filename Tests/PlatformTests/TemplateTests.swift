import Foundation
import Testing
import Yams
import JSONCore
import Platform
import PlatformExample

@Suite struct TemplateTests {
    @Test func intrinsicsHaveCloudFormationShapes() {
        #expect(Fn.ref("A") == ["Ref": "A"])
        #expect(Fn.getAtt("A", "Arn") == ["Fn::GetAtt": ["A", "Arn"]])
        #expect(Fn.sub("x-${A}") == ["Fn::Sub": "x-${A}"])
        #expect(Fn.join(",", ["a", Fn.ref("B")]) == ["Fn::Join": [",", ["a", ["Ref": "B"]]]])
        #expect(Fn.accountId == ["Ref": "AWS::AccountId"])
    }

    @Test func rawResourceIsTheEscapeHatch() throws {
        let t = try templateOf {
            Resource("Bucket", type: "AWS::S3::Bucket", properties: ["BucketName": "b"], deletionPolicy: "Retain")
        }
        #expect(t["Resources"]?["Bucket"] == ["Type": "AWS::S3::Bucket", "Properties": ["BucketName": "b"], "DeletionPolicy": "Retain"])
        #expect(t["AWSTemplateFormatVersion"] == "2010-09-09")
    }

    @Test func duplicateLogicalIdsAreRejected() {
        #expect(throws: SynthesisError.self) {
            try templateOf {
                Resource("A", type: "AWS::SNS::Topic")
                Resource("A", type: "AWS::SQS::Queue")
            }
        }
    }

    @Test func danglingReferencesAreRejected() {
        #expect(throws: SynthesisError("stack Test: reference (Ref, Fn::GetAtt or Fn::Sub) to undeclared Missing")) {
            try templateOf { Resource("A", type: "AWS::SNS::Subscription", properties: ["TopicArn": Fn.ref("Missing")]) }
        }
        #expect(throws: SynthesisError.self) {
            try templateOf { Resource("A", type: "AWS::SNS::Topic", dependsOn: ["Nope"]) }
        }
        // Fn::Sub references are checked too; ${!Literal} and the Sub's own variables are not references.
        #expect(throws: SynthesisError("stack Test: reference (Ref, Fn::GetAtt or Fn::Sub) to undeclared Repo")) {
            try templateOf { Resource("A", type: "AWS::SNS::Topic", properties: ["DisplayName": Fn.sub("${Repo.RepositoryUri}:1")]) }
        }
        #expect(throws: Never.self) {
            try templateOf {
                Resource(
                    "A", type: "AWS::SNS::Topic",
                    properties: [
                        "DisplayName": Fn.sub("${!Literal}-${AWS::Region}-${X}", ["X": "x"])
                    ])
            }
        }
        // Pseudo parameters and declared parameters are fine.
        #expect(throws: Never.self) {
            try templateOf {
                Parameter("P", type: "String")
                Resource("A", type: "AWS::SNS::Topic", properties: ["DisplayName": Fn.ref("P"), "TopicName": Fn.ref("AWS::StackName")])
            }
        }
    }

    @Test func duplicateStackNamesAreRejected() {
        let env = Environment(account: "1", region: "us-east-1")
        let app = PlatformApp("x") {
            Stack("S", environment: env, description: "a") { Resource("A", type: "AWS::SNS::Topic") }
            Stack("S", environment: env, description: "b") { Resource("A", type: "AWS::SNS::Topic") }
        }
        #expect(throws: SynthesisError("duplicate stack name S")) { try app.synthesize() }
    }

    @Test func yamlLoadsBackToTheSameTemplate() throws {
        for (name, template) in try exampleTemplates() {
            let yaml = try CloudFormationYAML.render(template)
            let loaded = try #require(try Yams.load(yaml: yaml))
            let asJSON = try JSONSerialization.data(withJSONObject: loaded, options: [.sortedKeys])
            let original = try JSONSerialization.data(
                withJSONObject: try JSONSerialization.jsonObject(with: Data(template.serialized().utf8)), options: [.sortedKeys])
            #expect(asJSON == original, "YAML of \(name) does not load back to its JSON")
        }
    }

    @Test func yamlQuotesStringsThatLookLikeOtherTypes() throws {
        let yaml = try CloudFormationYAML.render(["a": "2010-09-09", "b": "true", "c": "512", "d": "*", "e": "", "f": 3, "g": true])
        #expect(yaml == "a: \"2010-09-09\"\nb: \"true\"\nc: \"512\"\nd: \"*\"\ne: \"\"\nf: 3\ng: true\n")
    }

    @Test func manifestListsEveryStackWithItsEnvironment() throws {
        let assembly = try ExamplePlatform.app.synthesize()
        let m = assembly.manifest(includeYAML: true)
        #expect(m["artifacts"]?.objectValue?.keys.elementsEqual(["Management", "Prod", "Stg"]) == true)
        #expect(m["artifacts"]?["Prod"]?["environment"] == "aws://222222222222/ap-northeast-1")
        #expect(m["artifacts"]?["Prod"]?["properties"]?["yamlTemplateFile"] == "Prod.template.yaml")
        #expect(assembly.manifest(includeYAML: false)["artifacts"]?["Prod"]?["properties"]?["yamlTemplateFile"] == nil)
    }

    @Test func writerWritesTheAssemblyFolder() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("skiff-synth-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let assembly = try ExamplePlatform.app.synthesize()
        let written = try AssemblyWriter.write(assembly, to: dir, includeYAML: false)
        #expect(
            written.map { ($0 as NSString).lastPathComponent } == [
                "Management.template.json", "Prod.template.json", "Stg.template.json", "manifest.json",
            ])
        let text = try String(contentsOfFile: dir + "/Prod.template.json", encoding: .utf8)
        #expect(try JSON(parsing: text) == assembly.stacks[1].template)
    }
}
