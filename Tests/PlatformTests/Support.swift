import Foundation
import JSONCore
import Platform
import PlatformExample

/// The example platform's templates by stack name.
func exampleTemplates() throws -> [String: JSON] {
    let assembly = try ExamplePlatform.app.synthesize()
    return Dictionary(uniqueKeysWithValues: assembly.stacks.map { ($0.stack, $0.template) })
}

/// The resources of a template of the given type, as (logical ID, resource).
func resources(_ template: JSON, type: String) -> [(String, JSON)] {
    (template["Resources"]?.objectValue ?? [:]).filter { $0.value["Type"]?.stringValue == type }.map { ($0.key, $0.value) }
}

func templateOf(@ConstructBuilder _ constructs: () -> [any Construct]) throws -> JSON {
    try Stack(
        "Test", environment: Environment(account: "123456789012", region: "us-east-1"), description: "test",
        constructs
    ).template()
}

let testNetwork = Network(vpcId: "vpc-1", privateSubnets: ["subnet-a", "subnet-b"], publicSubnetIds: ["subnet-pa", "subnet-pc"])

/// Every IAM policy document in a template with the logical ID of the resource that holds it.
func policyDocuments(_ template: JSON) -> [(String, JSON)] {
    var out: [(String, JSON)] = []
    for (id, r) in template["Resources"]?.objectValue ?? [:] {
        let props = r["Properties"]
        for p in props?["Policies"]?.arrayValue ?? [] { if let d = p["PolicyDocument"] { out.append((id, d)) } }
        if let d = props?["PolicyDocument"] { out.append((id, d)) }
        if r["Type"]?.stringValue == "AWS::Organizations::Policy", let d = props?["Content"] { out.append((id, d)) }
    }
    return out
}

func asList(_ v: JSON?) -> [JSON] {
    guard let v else { return [] }
    if case .array(let a) = v { return a }
    return [v]
}
