import AWSProtocol
import Foundation

/// Requests from the command line to a running local cloud, signed with SigV4 as the AWS CLI signs them, so that
/// they land in the region asked for and in the account the access key maps to (`skiff up --account KEY=ID`).
///
/// Credentials come from `--access-key-id` or the environment (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
/// `AWS_SESSION_TOKEN`), else the local cloud's conventional `test`/`test`.
struct LocalCloudClient {
    let endpoint: String
    let region: String
    let accessKeyId: String
    let secretAccessKey: String
    let sessionToken: String?

    init(endpoint: String, region: String, accessKeyId: String?, environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.endpoint = endpoint
        self.region = region
        let fromEnvironment = environment["AWS_ACCESS_KEY_ID"].flatMap { $0.isEmpty ? nil : $0 }
        self.accessKeyId = accessKeyId ?? fromEnvironment ?? "test"
        // A secret belongs to the environment's key only; another key given on the command line signs with `test`.
        let ownSecret = accessKeyId == nil || accessKeyId == fromEnvironment
        self.secretAccessKey = ownSecret ? environment["AWS_SECRET_ACCESS_KEY"] ?? "test" : "test"
        self.sessionToken = ownSecret ? environment["AWS_SESSION_TOKEN"].flatMap { $0.isEmpty ? nil : $0 } : nil
    }

    /// The endpoint of commands not given one: `SKIFF_ENDPOINT`, else the SDKs' `AWS_ENDPOINT_URL`, else the
    /// local cloud's default address.
    static func defaultEndpoint(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        for name in ["SKIFF_ENDPOINT", "AWS_ENDPOINT_URL"] {
            if let value = environment[name], !value.isEmpty { return value }
        }
        return "http://127.0.0.1:4566"
    }

    func signer(for service: String) -> SigV4Signer {
        SigV4Signer(
            accessKeyId: accessKeyId, secretAccessKey: secretAccessKey, sessionToken: sessionToken, region: region, service: service)
    }

    /// A signed POST to `path` for `service`.
    func post(service: String, path: String, body: [UInt8], contentType: String = "application/json") throws -> (status: Int, body: String)
    {
        try send(service: service, method: "POST", path: path, body: body, contentType: contentType)
    }

    /// A signed request to `path` with `query` for `service` (rest-json operations: GET, PUT, DELETE...).
    func send(
        service: String, method: String, path: String, query: [(String, String)] = [], body: [UInt8],
        contentType: String = "application/json"
    ) throws -> (status: Int, body: String) {
        let target =
            query.isEmpty
            ? path
            : path + "?"
                + query.map {
                    "\($0.0)=\($0.1.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? $0.1)"
                }.joined(separator: "&")
        let headers = signer(for: service).signatureHeaders(
            method: method, path: path, query: query, headers: ["Host": LocalHTTP.authority(endpoint)], body: body, date: Date())
        return try LocalHTTP.exchange(endpoint, method: method, target: target, body: body, contentType: contentType, headers: headers)
    }

    /// The account the credentials belong to (STS GetCallerIdentity).
    func callerAccount() throws -> String {
        let answer: (status: Int, body: String)
        do {
            answer = try post(
                service: "sts", path: "/", body: Array("Action=GetCallerIdentity&Version=2011-06-15".utf8),
                contentType: "application/x-www-form-urlencoded; charset=utf-8")
        } catch {
            throw CommandFailure("cannot reach the local cloud at \(endpoint): \(error)")
        }
        guard answer.status == 200, let start = answer.body.range(of: "<Account>"),
            let end = answer.body.range(of: "</Account>", range: start.upperBound..<answer.body.endIndex)
        else {
            throw CommandFailure("GetCallerIdentity at \(endpoint) failed (HTTP \(answer.status)): \(answer.body)")
        }
        return String(answer.body[start.upperBound..<end.lowerBound])
    }
}
