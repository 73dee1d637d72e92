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
            decoder = ShapeDecoder()
            tree = try request.jsonBody()
            guard case .object(var object) = tree else { throw .serialization("Request body must be a JSON object.") }
            tree = .null
            for binding in Input.httpBindings {
                let value: String?
                switch binding.location {
                case .uri: value = request.pathParameters[binding.name]
                case .querystring:
                    // A repeated query parameter (`?TagKeys=a&TagKeys=b`) is a list member.
                    if let values = request.query[binding.name], values.count > 1 {
                        object[binding.member] = .array(values.map(JSON.string))
                        continue
                    }
                    value = request.query[binding.name]?.first
                case .header: value = request.headers[binding.name.lowercased()]
                case .headers, .statusCode: value = nil
                }
                if let value { object[binding.member] = try Self.typed(value, like: binding) }
            }
            tree = .object(object)
            decoder.lenientScalars = !Input.httpBindings.isEmpty
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

    static func typed(_ value: String, like binding: HTTPBinding) throws(AWSError) -> JSON { .string(value) }

    public static func encode<Output: JSONShapeEncodable & XMLShapeEncodable>(
        _ output: Output, operation: String, resultWrapper: String?, descriptor: ServiceDescriptor, context: RequestContext
    ) -> OperationResponse {
        var headers: [(String, String)] = [("x-amzn-RequestId", context.requestId)]
        switch descriptor.wireProtocol {
        case .awsJson1_0, .awsJson1_1:
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
        case .query:
            var xml = XMLWriter()
            xml.open("\(operation)Response", attributes: descriptor.xmlNamespace.map { [("xmlns", $0)] } ?? [])
            xml.element(resultWrapper ?? "\(operation)Result") { w in output.xml(into: &w) }
            xml.element("ResponseMetadata") { w in w.element("RequestId", context.requestId) }
            xml.close("\(operation)Response")
            headers.append(("Content-Type", "text/xml"))
            return OperationResponse(status: 200, headers: headers, body: Array(xml.text.utf8))
        }
    }
}
