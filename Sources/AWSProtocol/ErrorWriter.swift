import JSONCore

/// Writes an ``AWSError`` in the exact shape each protocol's SDKs parse.
public enum ErrorWriter {
    public static func response(
        for error: AWSError, protocol wireProtocol: WireProtocol, requestId: String, xmlNamespace: String? = nil
    ) -> OperationResponse {
        var headers: [(String, String)] = [("x-amzn-RequestId", requestId), ("x-amzn-ErrorType", error.code)]
        switch wireProtocol {
        case .awsJson1_0, .awsJson1_1, .restJson:
            var body = error.fields
            body["__type"] = .string(error.code)
            // rest-json SDKs read "message", awsJson SDKs "message" or "Message"; AWS writes "message".
            body["message"] = .string(error.message)
            headers.append(("Content-Type", wireProtocol.contentType))
            return OperationResponse(status: error.status, headers: headers, body: JSON.object(body).serializedBytes())
        case .query:
            var error = error
            // The query services' front end words a missing signature its own way.
            if error.code == "MissingAuthenticationTokenException" {
                error.code = "MissingAuthenticationToken"
                error.message = "Request is missing Authentication Token"
                headers[1].1 = error.code
            }
            var xml = XMLWriter()
            xml.open("ErrorResponse", attributes: xmlNamespace.map { [("xmlns", $0)] } ?? [])
            xml.element("Error") { w in
                w.element("Type", error.isSenderFault ? "Sender" : "Receiver")
                w.element("Code", error.code)
                w.element("Message", error.message)
            }
            xml.element("RequestId", requestId)
            xml.close("ErrorResponse")
            headers.append(("Content-Type", "text/xml"))
            return OperationResponse(status: error.status, headers: headers, body: Array(xml.text.utf8))
        }
    }
}
