import JSONCore

/// A request as a service operation sees it, whatever the wire protocol.
public struct OperationRequest: Sendable {
    public var method: String
    /// The path, percent-decoded, without the query.
    public var path: String
    public var query: [String: [String]]
    /// Header names are lower-cased.
    public var headers: [String: String]
    public var body: [UInt8]
    /// Values of `{Label}` segments of a rest-json route, filled in by the router.
    public var pathParameters: [String: String] = [:]

    public init(method: String, path: String, query: [String: [String]] = [:], headers: [String: String] = [:], body: [UInt8] = []) {
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.body = body
    }

    /// The wire protocol the request speaks by its look, before it is routed, so that an error met before routing
    /// (a body too large, a bad signature, an unknown target) is written in a shape its client can read.
    public var apparentProtocol: WireProtocol {
        let contentType = headers["content-type"] ?? ""
        if headers["x-amz-target"] != nil {
            return contentType.containsBytes("json-1.0") ? .awsJson1_0 : .awsJson1_1
        }
        if query["Action"] != nil || contentType.hasPrefix("application/x-www-form-urlencoded") { return .query }
        return .restJson
    }

    /// The body as a JSON object; an empty body is an empty object, as AWS's JSON services treat it.
    public func jsonBody() throws(AWSError) -> JSON {
        if body.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) { return .object([:]) }
        do {
            return try JSON(parsing: body)
        } catch {
            throw .serialization("Request body is not valid JSON: \(error.description).")
        }
    }
}

/// What an operation answers.
public struct OperationResponse: Sendable {
    public var status: Int
    public var headers: [(String, String)]
    public var body: [UInt8]

    public init(status: Int = 200, headers: [(String, String)] = [], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    public static func json(_ value: JSON, status: Int = 200, contentType: String) -> OperationResponse {
        OperationResponse(status: status, headers: [("Content-Type", contentType)], body: value.serializedBytes())
    }
}

/// Who is calling and where: resolved from the SigV4 credential before an operation runs.
public struct RequestContext: Sendable {
    public var accountId: String
    public var region: String
    public var requestId: String
    public var accessKeyId: String

    public init(accountId: String, region: String, requestId: String, accessKeyId: String = "") {
        self.accountId = accountId
        self.region = region
        self.requestId = requestId
        self.accessKeyId = accessKeyId
    }

    /// An ARN in this context's partition, region and account.
    public func arn(service: String, resource: String, global: Bool = false) -> String {
        ARN(service: service, region: global ? "" : region, account: accountId, resource: resource).description
    }
}
