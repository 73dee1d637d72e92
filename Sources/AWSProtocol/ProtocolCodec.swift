import Foundation
import JSONCore

/// Reads operation inputs from, and writes outputs to, each wire protocol: one mechanism for every service,
/// driven by the generated shapes and their HTTP bindings.
public enum ProtocolCodec {
    public static func decode<Input: ShapeDecodable>(
        _ type: Input.Type, from request: OperationRequest, descriptor: ServiceDescriptor
    ) throws(AWSError) -> Input {
        var decoder: ShapeDecoder
        var tree: JSON
        switch descriptor.wireProtocol {
        case .awsJson1_0, .awsJson1_1:
            decoder = ShapeDecoder()
            tree = try request.jsonBody()
        case .restJson:
            // The body is strict JSON; only values carried in the path, query string and headers arrive as
            // text, and each is converted by its member's model type before the shape reads it.
            decoder = ShapeDecoder()
            tree = try request.jsonBody()
            guard case .object(var object) = tree else { throw .serialization("Start of list found where not expected.") }
            tree = .null
            for binding in Input.httpBindings {
                switch binding.location {
                case .uri:
                    if let value = request.pathParameters[binding.name] { object[binding.member] = try Self.typed(value, like: binding) }
                case .querystring:
                    guard let values = request.query[binding.name], let first = values.first else { continue }
                    if binding.kind == .list {
                        // A repeated query parameter (`?TagKeys=a&TagKeys=b`) is a list member; so is a single one.
                        object[binding.member] = .array(values.map(JSON.string))
                    } else {
                        object[binding.member] = try Self.typed(first, like: binding)
                    }
                case .header:
                    if let value = request.headers[binding.name.lowercased()] {
                        object[binding.member] = try Self.typed(value, like: binding)
                    }
                case .headers, .statusCode: continue
                }
            }
            tree = .object(object)
        case .query:
            decoder = ShapeDecoder(lenientScalars: true, timestampFormat: .iso8601)
            var pairs: [(String, String)] = []
            for (name, values) in request.query { for value in values { pairs.append((name, value)) } }
            if request.method == "POST" {
                pairs.append(contentsOf: QueryForm.parse(String(decoding: request.body, as: UTF8.self)))
            }
            tree = QueryForm.tree(pairs)
        }
        let input = try Input(json: tree, decoder: &decoder, path: "")
        if var error = decoder.report.error {
            // Query services (IAM, STS, SNS) name the same error ValidationError.
            if descriptor.wireProtocol == .query { error.code = "ValidationError" }
            throw error
        }
        return input
    }

    /// The typed value of a member's text in a path label, query parameter or header.
    static func typed(_ value: String, like binding: HTTPBinding) throws(AWSError) -> JSON {
        func refuse(_ type: String) -> AWSError {
            let place = binding.location == .header ? "header" : binding.location == .uri ? "path label" : "query parameter"
            return .serialization("Value '\(value.prefix(100))' of \(place) '\(binding.name)' can not be converted to \(type)")
        }
        switch binding.kind {
        case .string, .timestamp, .blob, .map: return .string(value)
        case .integer:
            guard let number = Int(value) else { throw refuse("an Integer") }
            return .number(Double(number))
        case .double:
            guard let number = Double(value), number.isFinite else { throw refuse("a Double") }
            return .number(number)
        case .boolean:
            switch value.lowercased() {
            case "true": return .bool(true)
            case "false": return .bool(false)
            default: throw refuse("a Boolean")
            }
        case .list:
            // A list in a header is comma-separated.
            return .array(value.split(separator: ",").map { .string(String($0).trimmingCharacters(in: .whitespaces)) })
        }
    }

    /// Writes an awsJson or rest-json response (for rest-json, the members bound to headers and the status go
    /// there). Query services answer in XML, through ``encodeXML(_:operation:resultWrapper:descriptor:context:)``.
    public static func encode<Output: JSONShapeEncodable>(
        _ output: Output, descriptor: ServiceDescriptor, context: RequestContext
    ) -> OperationResponse {
        var headers: [(String, String)] = [("x-amzn-RequestId", context.requestId)]
        switch descriptor.wireProtocol {
        case .awsJson1_0, .awsJson1_1, .query:
            headers.append(("Content-Type", descriptor.wireProtocol.contentType))
            return OperationResponse(status: 200, headers: headers, body: output.json().serializedBytes())
        case .restJson:
            var status = 200
            var body = output.json()
            for binding in Output.httpBindings {
                guard let value = body[binding.member] else { continue }
                switch binding.location {
                case .header:
                    headers.append((binding.name, value.stringValue ?? value.serialized()))
                case .statusCode:
                    status = value.intValue ?? 200
                default: break
                }
                if case .object(var o) = body { body = .null; o.removeValue(forKey: binding.member); body = .object(o) }
            }
            headers.append(("Content-Type", "application/json"))
            return OperationResponse(status: status, headers: headers, body: body.serializedBytes())
        }
    }

    /// Writes a query (XML) response: the output in `<Operation>Result` (or the model's result wrapper).
    public static func encodeXML<Output: XMLShapeEncodable>(
        _ output: Output, operation: String, resultWrapper: String?, descriptor: ServiceDescriptor, context: RequestContext
    ) -> OperationResponse {
        var headers: [(String, String)] = [("x-amzn-RequestId", context.requestId)]
        var xml = XMLWriter()
        xml.open("\(operation)Response", attributes: descriptor.xmlNamespace.map { [("xmlns", $0)] } ?? [])
        xml.element(resultWrapper ?? "\(operation)Result") { w in output.xml(into: &w) }
        xml.element("ResponseMetadata") { w in w.element("RequestId", context.requestId) }
        xml.close("\(operation)Response")
        headers.append(("Content-Type", "text/xml"))
        return OperationResponse(status: 200, headers: headers, body: Array(xml.text.utf8))
    }
}
