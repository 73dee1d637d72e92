import JSONCore
import Yams

/// A CloudFormation template's text read as a JSON value: JSON as it is, YAML with its short-form intrinsics
/// (`!Ref Name`, `!GetAtt Name.Attribute`, `!Sub ...`) in their long form (`{"Ref": ...}`, `{"Fn::GetAtt": [...]}`),
/// so that a template deployed as YAML compares with a synthesized JSON one.
public enum TemplateText {
    public static func parse(_ text: String) throws(SynthesisError) -> JSON {
        let trimmed = text.drop(while: { $0.isWhitespace })
        if trimmed.first == "{" {
            do { return try JSON(parsing: text) } catch { throw SynthesisError("the template is not JSON: \(error.description)") }
        }
        let node: Node?
        do { node = try Yams.compose(yaml: text) } catch { throw SynthesisError("the template is neither JSON nor YAML: \(error)") }
        guard let node else { throw SynthesisError("the template is empty") }
        return try json(node)
    }

    static func json(_ node: Node) throws(SynthesisError) -> JSON {
        let tag = node.tag.description
        if tag.hasPrefix("!"), tag.count > 1 {
            let function = String(tag.dropFirst())
            let key = function == "Ref" || function == "Condition" ? function : "Fn::" + function
            if function == "GetAtt", let text = node.scalar?.string {
                // `!GetAtt Name.Attribute`; the attribute may itself hold dots (`Endpoint.Address`).
                let parts = text.split(separator: ".", maxSplits: 1).map { JSON.string(String($0)) }
                return [key: .array(parts)]
            }
            var plain = node
            switch plain {
            case .scalar(var s): s.tag = Tag(.str); plain = .scalar(s)
            case .mapping(var m): m.tag = Tag(.map); plain = .mapping(m)
            case .sequence(var s): s.tag = Tag(.seq); plain = .sequence(s)
            }
            return [key: try json(plain)]
        }
        switch node {
        case .scalar(let scalar):
            switch Tag.Name(rawValue: scalar.tag.description) {
            case .null: return .null
            case .bool: return .bool(["true", "yes", "on", "y"].contains(scalar.string.lowercased()))
            case .int, .float:
                if let number = Double(scalar.string.replacingOccurrences(of: "_", with: "")) { return .number(number) }
                return .string(scalar.string)
            default: return .string(scalar.string)
            }
        case .sequence(let sequence):
            var items: [JSON] = []
            for item in sequence { items.append(try json(item)) }
            return .array(items)
        case .mapping(let mapping):
            var object = JSONObject()
            for (key, value) in mapping {
                guard let name = key.scalar?.string else { throw SynthesisError("a YAML mapping key is not a plain value") }
                object[name] = try json(value)
            }
            return .object(object)
        }
    }
}
