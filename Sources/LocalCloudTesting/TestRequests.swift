import AWSProtocol
import JSONCore
import LocalCloud

/// The Authorization header of a request signed as the SDKs sign them, with `key` for `service` in `region`: the
/// local cloud refuses unsigned requests, takes the account from the key and the region from the credential scope,
/// and does not check the signature itself.
public func signed(_ service: String, key: String = "AKIDTEST", region: String = "us-east-1") -> String {
    "AWS4-HMAC-SHA256 Credential=\(key)/20240101/\(region)/\(service)/aws4_request, SignedHeaders=host, Signature=0"
}

/// The headers a signed request carries: its date and ``signed(_:key:region:)``'s Authorization.
public func signedHeaders(_ service: String, key: String = "AKIDTEST", region: String = "us-east-1") -> [String: String] {
    ["x-amz-date": "20240101T000000Z", "authorization": signed(service, key: key, region: region)]
}

/// Operations called as a client calls them, through the router, the signature check, decoding and validation, in
/// each wire protocol the services speak; no socket is involved.
extension Cloud {
    /// Calls an awsJson operation: a POST of `body` to `/` with X-Amz-Target `target` (`<prefix>.<operation>`),
    /// signed for `service`. Returns the status and the body as JSON (null when it is not JSON).
    public func awsJson(
        _ target: String, body: [UInt8], signedFor service: String, contentType: String = "application/x-amz-json-1.1",
        key: String = "AKIDTEST", region: String = "us-east-1"
    ) async -> (status: Int, body: JSON) {
        let headers = ["x-amz-target": target, "content-type": contentType].merging(signedHeaders(service, key: key, region: region)) { $1 }
        let response = await respond(to: OperationRequest(method: "POST", path: "/", headers: headers, body: body))
        return (response.status, (try? JSON(parsing: response.body)) ?? .null)
    }

    /// Calls an awsJson operation with the JSON `input`, as ``awsJson(_:body:signedFor:contentType:key:region:)``.
    public func awsJson(
        _ target: String, _ input: JSON, signedFor service: String, contentType: String = "application/x-amz-json-1.1",
        key: String = "AKIDTEST", region: String = "us-east-1"
    ) async -> (status: Int, body: JSON) {
        await awsJson(target, body: input.serializedBytes(), signedFor: service, contentType: contentType, key: key, region: region)
    }

    /// Calls a rest-json operation: `method` on `path` with `query`, and `input` as the JSON body, signed for
    /// `service`. Returns the status and the body as JSON (null when it is not JSON).
    public func restJson(
        _ method: String, _ path: String, query: [String: [String]] = [:], _ input: JSON? = nil, signedFor service: String,
        key: String = "AKIDTEST", region: String = "us-east-1"
    ) async -> (status: Int, body: JSON) {
        let headers = ["content-type": "application/json"].merging(signedHeaders(service, key: key, region: region)) { $1 }
        let response = await respond(
            to: OperationRequest(
                method: method, path: path, query: query, headers: headers, body: input?.serializedBytes() ?? []))
        return (response.status, (try? JSON(parsing: response.body)) ?? .null)
    }

    /// Calls a query-protocol operation: a POST of the form `form` (`Action=...&Version=...`) to `/`, signed for
    /// `service`. Returns the status and the XML body's text.
    public func query(
        _ form: String, signedFor service: String, key: String = "AKIDTEST", region: String = "us-east-1"
    ) async
        -> (status: Int, body: String)
    {
        let headers = ["content-type": "application/x-www-form-urlencoded"].merging(signedHeaders(service, key: key, region: region)) { $1 }
        let response = await respond(to: OperationRequest(method: "POST", path: "/", headers: headers, body: Array(form.utf8)))
        return (response.status, String(decoding: response.body, as: UTF8.self))
    }
}
