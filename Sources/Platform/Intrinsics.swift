import OrderedCollections
import JSONCore

/// CloudFormation intrinsic functions and pseudo parameters as typed helpers that build template values.
public enum Fn {
    /// `{"Ref": name}`: a resource's primary value or a parameter's value.
    public static func ref(_ logicalId: String) -> JSON { ["Ref": .string(logicalId)] }
    /// `{"Fn::GetAtt": [resource, attribute]}`.
    public static func getAtt(_ logicalId: String, _ attribute: String) -> JSON {
        ["Fn::GetAtt": [.string(logicalId), .string(attribute)]]
    }
    /// `{"Fn::Sub": text}`, substituting `${Name}` references to parameters, resources and pseudo parameters.
    public static func sub(_ text: String) -> JSON { ["Fn::Sub": .string(text)] }
    /// `{"Fn::Sub": [text, variables]}`.
    public static func sub(_ text: String, _ variables: JSONObject) -> JSON {
        ["Fn::Sub": [.string(text), .object(variables)]]
    }
    /// `{"Fn::Join": [separator, values]}`.
    public static func join(_ separator: String, _ values: [JSON]) -> JSON {
        ["Fn::Join": [.string(separator), .array(values)]]
    }
    /// `{"Fn::Select": [index, list]}`.
    public static func select(_ index: Int, _ list: JSON) -> JSON { ["Fn::Select": [.number(Double(index)), list]] }

    public static let accountId: JSON = ref("AWS::AccountId")
    public static let region: JSON = ref("AWS::Region")
    public static let partition: JSON = ref("AWS::Partition")
    public static let stackName: JSON = ref("AWS::StackName")
}

/// Turns a construct name into a valid CloudFormation logical ID part (alphanumerics only).
func logicalIdPart(_ name: String) -> String {
    var out = ""
    var upperNext = true
    for ch in name {
        if ch.isASCII && (ch.isLetter || ch.isNumber) {
            out.append(upperNext ? Character(ch.uppercased()) : ch)
            upperNext = false
        } else {
            upperNext = true
        }
    }
    return out
}
