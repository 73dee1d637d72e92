import Foundation
import JSONCore

/// An EventBridge `InputTransformer`: variables taken from the event by JSON path, and a template they fill.
///
/// As the EventBridge user guide describes it:
/// - A template that is JSON (it starts with `{`, `[` or `"`) gets each placeholder as JSON where it stands as a
///   value (`"id": <instance>` → `"id": "i-1"`), and as the value's text, escaped for JSON, inside a string
///   literal (`"<instance> is in state \"<status>\""` → `"i-1 is in state \"running\""`). The result is minified.
/// - Any other template is text, and a placeholder becomes the value's text (a string without its quotes, other
///   values as JSON).
/// - A variable whose path is not in the event is not created: it leaves nothing in text, and `null` where JSON
///   needs a value (the guide: the variable "will not appear in the output").
/// - Predefined variables: `aws.events.rule-name`, `aws.events.rule-arn`, `aws.events.event.ingestion-time`,
///   `aws.events.event` (the event without `detail`) and `aws.events.event.json` (the whole event).
struct InputTemplate {
    /// What fills the predefined variables.
    struct Context {
        var ruleName: String
        var ruleArn: String
        var ingestionTime: Date
    }

    static let predefined = [
        "aws.events.rule-name", "aws.events.rule-arn", "aws.events.event.ingestion-time",
        "aws.events.event", "aws.events.event.json",
    ]

    let template: String
    let paths: [String: String]

    /// The template filled from `event`.
    func render(event: JSON, context: Context) -> String {
        var values: [String: JSON] = [:]
        for (name, path) in paths {
            if let value = EventPath.resolve(path, in: event) { values[name] = value }
        }
        values["aws.events.rule-name"] = .string(context.ruleName)
        values["aws.events.rule-arn"] = .string(context.ruleArn)
        values["aws.events.event.ingestion-time"] = .string(
            UTCTimestamp.iso8601(secondsSince1970: context.ingestionTime.timeIntervalSince1970))
        values["aws.events.event.json"] = event
        if var withoutDetail = event.objectValue {
            withoutDetail.removeValue(forKey: "detail")
            values["aws.events.event"] = .object(withoutDetail)
        }
        let names = Set(paths.keys).union(Self.predefined)
        let trimmed = template.trimmingCharacters(in: .whitespacesAndNewlines)
        let isJSON = trimmed.hasPrefix("{") || trimmed.hasPrefix("[") || trimmed.hasPrefix("\"")
        let filled = fill(names: names, values: values, json: isJSON)
        if isJSON, let parsed = try? JSON(parsing: filled) { return parsed.serialized() }
        return filled
    }

    /// Walks the template once, knowing (in a JSON template) whether each placeholder stands inside a string literal.
    private func fill(names: Set<String>, values: [String: JSON], json: Bool) -> String {
        var out = ""
        var inString = false
        var escaped = false
        var index = template.startIndex
        while index < template.endIndex {
            let c = template[index]
            if c == "<", let close = template[index...].firstIndex(of: ">") {
                let name = String(template[template.index(after: index)..<close])
                if names.contains(name) {
                    out += text(for: values[name], json: json, inString: inString)
                    index = template.index(after: close)
                    escaped = false
                    continue
                }
            }
            if json {
                if escaped {
                    escaped = false
                } else if inString && c == "\\" {
                    escaped = true
                } else if c == "\"" {
                    inString.toggle()
                }
            }
            out.append(c)
            index = template.index(after: index)
        }
        return out
    }

    private func text(for value: JSON?, json: Bool, inString: Bool) -> String {
        guard let value else { return json && !inString ? "null" : "" }
        if json && !inString { return value.serialized() }
        let raw = value.stringValue ?? value.serialized()
        guard json else { return raw }
        // Inside a JSON string: the text, escaped so the string stays well-formed.
        let quoted = JSON.string(raw).serialized()
        return String(quoted.dropFirst().dropLast())
    }
}

/// The JSON paths of InputPath and InputPathsMap: dotted names with array indexes (`$.detail.status`,
/// `$.resources[0]`, `$.detail['instance-id']`).
enum EventPath {
    static func resolve(_ path: String, in json: JSON) -> JSON? {
        guard path.hasPrefix("$") else { return nil }
        var current: JSON? = json
        var rest = Substring(path.dropFirst())
        while !rest.isEmpty, current != nil {
            if rest.hasPrefix(".") {
                rest = rest.dropFirst()
                let end = rest.firstIndex(where: { $0 == "." || $0 == "[" }) ?? rest.endIndex
                let name = String(rest[..<end])
                current = current?[name]
                rest = rest[end...]
            } else if rest.hasPrefix("["), let close = rest.firstIndex(of: "]") {
                let inside = rest[rest.index(after: rest.startIndex)..<close]
                if let index = Int(inside) {
                    current = current?[index]
                } else if inside.count >= 2, let quote = inside.first, quote == "'" || quote == "\"", inside.last == quote {
                    current = current?[String(inside.dropFirst().dropLast())]
                } else {
                    return nil
                }
                rest = rest[rest.index(after: close)...]
            } else {
                return nil
            }
        }
        return current
    }
}
