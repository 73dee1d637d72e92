import Testing
import JSONCore
import Platform
import PlatformExample

@Suite struct TemplateDiffTests {
    static let service: JSON = [
        "Type": "AWS::ECS::Service",
        "Properties": ["DesiredCount": 2, "Subnets": ["subnet-a", "subnet-b"], "Tags": [["Key": "team", "Value": "ops"]]],
    ]
    static let template: JSON = [
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "web",
        "Parameters": ["ImageTag": ["Type": "String", "Default": "1.0.0"]],
        "Resources": ["Service": service, "Topic": ["Type": "AWS::SNS::Topic"]],
        "Outputs": ["TopicArn": ["Value": ["Ref": "Topic"]]],
    ]

    /// `template` with `change` applied to it.
    static func edited(_ change: (inout JSONObject) -> Void) -> JSON {
        var object = template.objectValue!
        change(&object)
        return .object(object)
    }

    static func setProperty(_ name: String, _ value: JSON?, in object: inout JSONObject) {
        var resources = object["Resources"]!.objectValue!
        var service = resources["Service"]!.objectValue!
        var properties = service["Properties"]!.objectValue!
        properties[name] = value
        service["Properties"] = .object(properties)
        resources["Service"] = .object(service)
        object["Resources"] = .object(resources)
    }

    @Test func equalTemplatesHaveNoDifferences() {
        #expect(TemplateDiff(old: Self.template, new: Self.template).isEmpty)
        #expect(TemplateDiff(old: Self.template, new: Self.template).rendered() == "")
    }

    @Test func changedPropertiesAreNamedByPath() {
        let new = Self.edited {
            Self.setProperty("DesiredCount", 3, in: &$0)
            Self.setProperty("Subnets", ["subnet-a", "subnet-c"], in: &$0)
        }
        let diff = TemplateDiff(old: Self.template, new: new)
        #expect(diff.entries.count == 1)
        let entry = diff.entries[0]
        #expect(entry.section == "Resources" && entry.name == "Service" && entry.kind == .changed)
        #expect(entry.resourceType == "AWS::ECS::Service")
        #expect(
            entry.changes == [
                .init(path: "Properties.DesiredCount", old: 2, new: 3),
                .init(path: "Properties.Subnets[1]", old: "subnet-b", new: "subnet-c"),
            ])
        #expect(
            diff.rendered() == """
                Resources
                [~] AWS::ECS::Service Service
                 ├─ [~] Properties.DesiredCount: 2 → 3
                 └─ [~] Properties.Subnets[1]: "subnet-b" → "subnet-c"
                """)
    }

    @Test func elementsAddedToAListAreMatchedAroundTheKeptOnes() {
        let new = Self.edited { Self.setProperty("Subnets", ["subnet-0", "subnet-a", "subnet-b", "subnet-z"], in: &$0) }
        #expect(
            TemplateDiff(old: Self.template, new: new).entries[0].changes == [
                .init(path: "Properties.Subnets[0]", old: nil, new: "subnet-0"),
                .init(path: "Properties.Subnets[3]", old: nil, new: "subnet-z"),
            ])
        let fewer = Self.edited { Self.setProperty("Subnets", ["subnet-b"], in: &$0) }
        #expect(
            TemplateDiff(old: Self.template, new: fewer).entries[0].changes == [
                .init(path: "Properties.Subnets[0]", old: "subnet-a", new: nil)
            ])
    }

    @Test func propertiesAddedAndRemoved() {
        let new = Self.edited {
            Self.setProperty("Tags", nil, in: &$0)
            Self.setProperty("Labels", ["a.b": "c"], in: &$0)
        }
        let diff = TemplateDiff(old: Self.template, new: new)
        #expect(
            diff.rendered() == """
                Resources
                [~] AWS::ECS::Service Service
                 ├─ [-] Properties.Tags: [{"Key":"team","Value":"ops"}]
                 └─ [+] Properties.Labels: {"a.b":"c"}
                """)
        let dotted = TemplateDiff.changes(["Labels": ["a.b": "c"]], ["Labels": ["a.b": "d"]])
        #expect(dotted.map(\.path) == [#"Labels["a.b"]"#])
    }

    @Test func entriesAddedRemovedAndChangedInEverySection() {
        let new = Self.edited {
            $0["Description"] = "web service"
            var resources = $0["Resources"]!.objectValue!
            resources["Topic"] = nil
            resources["Queue"] = ["Type": "AWS::SQS::Queue"]
            $0["Resources"] = .object(resources)
            $0["Parameters"] = ["ImageTag": ["Type": "String", "Default": "1.0.1"], "Env": ["Type": "String"]]
            $0["Outputs"] = nil
        }
        let diff = TemplateDiff(old: Self.template, new: new)
        #expect(
            diff.entries.map { "\($0.kind.rawValue) \($0.section) \($0.name)" } == [
                "~ Template Description", "~ Parameters ImageTag", "+ Parameters Env", "- Resources Topic", "+ Resources Queue",
                "- Outputs TopicArn",
            ])
        #expect(
            diff.rendered() == """
                Template
                [~] Description: "web" → "web service"
                Parameters
                [~] Parameter ImageTag
                 └─ [~] Default: "1.0.0" → "1.0.1"
                [+] Parameter Env: {"Type":"String"}
                Resources
                [-] AWS::SNS::Topic Topic
                [+] AWS::SQS::Queue Queue
                Outputs
                [-] Output TopicArn: {"Value":{"Ref":"Topic"}}
                """)
    }

    @Test func aChangedTypeIsAReplacement() {
        let new = Self.edited {
            var resources = $0["Resources"]!.objectValue!
            resources["Topic"] = ["Type": "AWS::SQS::Queue"]
            $0["Resources"] = .object(resources)
        }
        #expect(
            TemplateDiff(old: Self.template, new: new).rendered() == """
                Resources
                [~] AWS::SQS::Queue Topic (replaces AWS::SNS::Topic)
                 └─ [~] Type: "AWS::SNS::Topic" → "AWS::SQS::Queue"
                """)
    }

    @Test func aNewStackIsAllAdditions() throws {
        let prod = try #require(try exampleTemplates()["Prod"])
        let diff = TemplateDiff(old: [:], new: prod)
        let resources = prod["Resources"]?.objectValue?.count ?? 0
        #expect(diff.entries.filter { $0.section == "Resources" }.count == resources)
        #expect(diff.entries.allSatisfy { $0.kind == .added })
        #expect(TemplateDiff(old: prod, new: [:]).entries.allSatisfy { $0.kind == .removed })
    }

    @Test func longValuesAreShortened() {
        let long = String(repeating: "x", count: 500)
        let rendered = TemplateDiff(old: ["Description": "a"], new: ["Description": .string(long)]).rendered(valueLength: 20)
        #expect(rendered == "Template\n[~] Description: \"a\" → \"xxxxxxxxxxxxxxxxxxx…")
    }

    @Test func stgDiffersFromProdInSizesAndNames() throws {
        let templates = try exampleTemplates()
        let diff = TemplateDiff(old: try #require(templates["Prod"]), new: try #require(templates["Stg"]))
        let service = try #require(diff.entries.first { $0.name == "WebService" })
        #expect(service.changes.contains(.init(path: "Properties.DesiredCount", old: 2, new: 1)))
        #expect(diff.entries.first?.section == TemplateDiff.templateSection && diff.entries.first?.name == "Description")
        // The EKS cluster is named after its environment: its resources' logical IDs differ, so they are replaced.
        #expect(diff.entries.contains { $0.kind == .removed && $0.name.hasPrefix("ProdEks") })
        #expect(diff.entries.contains { $0.kind == .added && $0.name.hasPrefix("StgEks") })
    }
}

@Suite struct TemplateTextTests {
    @Test func yamlShortFormsReadAsLongForms() throws {
        let yaml = """
            AWSTemplateFormatVersion: "2010-09-09"
            Parameters:
              Port: {Type: Number, Default: 8080}
            Resources:
              Topic:
                Type: AWS::SNS::Topic
                Properties:
                  DisplayName: !Sub "${AWS::StackName}-alerts"
                  Enabled: true
                  Count: 3
                  Ratio: 0.5
                  Nothing: null
                  Quoted: "10"
                  Arn: !GetAtt Queue.Arn
                  Endpoint: !GetAtt Db.Endpoint.Address
                  Ref: !Ref Port
                  Joined: !Join [",", [!Ref Port, b]]
                  When: !If [IsProd, 2, 1]
            """
        let template = try TemplateText.parse(yaml)
        let expected: JSON = [
            "AWSTemplateFormatVersion": "2010-09-09",
            "Parameters": ["Port": ["Type": "Number", "Default": 8080]],
            "Resources": [
                "Topic": [
                    "Type": "AWS::SNS::Topic",
                    "Properties": [
                        "DisplayName": ["Fn::Sub": "${AWS::StackName}-alerts"], "Enabled": true, "Count": 3, "Ratio": 0.5,
                        "Nothing": nil, "Quoted": "10", "Arn": ["Fn::GetAtt": ["Queue", "Arn"]],
                        "Endpoint": ["Fn::GetAtt": ["Db", "Endpoint.Address"]], "Ref": ["Ref": "Port"],
                        "Joined": ["Fn::Join": [",", [["Ref": "Port"], "b"]]], "When": ["Fn::If": ["IsProd", 2, 1]],
                    ],
                ]
            ],
        ]
        #expect(template == expected)
    }

    @Test func jsonIsReadAsItIs() throws {
        #expect(
            try TemplateText.parse(#"  {"Resources": {"A": {"Type": "AWS::SNS::Topic"}}}"#) == [
                "Resources": ["A": ["Type": "AWS::SNS::Topic"]]
            ])
        #expect(throws: SynthesisError.self) { try TemplateText.parse("{") }
    }

    @Test func theExampleYAMLReadsAsItsJSON() throws {
        for stack in try ExamplePlatform.app.synthesize().stacks {
            #expect(try TemplateText.parse(try CloudFormationYAML.render(stack.template)) == stack.template, "\(stack.stack)")
        }
    }
}
