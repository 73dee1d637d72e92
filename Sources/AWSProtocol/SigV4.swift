/// What a Signature Version 4 signature says about a request: who signed it, for which region and service.
///
/// The local cloud reads the credential scope to pick the account and region (and the service where a path is
/// shared by several). Verifying the signature itself is the job of a ``RequestAuthenticator``.
public struct SigV4Credential: Sendable, Equatable {
    public var accessKeyId: String
    public var date: String
    public var region: String
    public var service: String
    public var signedHeaders: [String]
    public var signature: String

    public init(accessKeyId: String, date: String, region: String, service: String, signedHeaders: [String] = [], signature: String = "") {
        self.accessKeyId = accessKeyId
        self.date = date
        self.region = region
        self.service = service
        self.signedHeaders = signedHeaders
        self.signature = signature
    }

    /// Reads an `Authorization` header. Returns nil when the header is absent; throws AWS's
    /// `IncompleteSignatureException` when it is present but malformed, or when the request (given by `headers`,
    /// lower-cased) carries neither `X-Amz-Date` nor `Date`.
    public static func parse(authorization header: String?, headers: [String: String]? = nil) throws(AWSError) -> SigV4Credential? {
        guard let header, !header.isEmpty else { return nil }
        let algorithm = "AWS4-HMAC-SHA256"
        // Every request carries this header, so it is read from one array of its bytes: splitting String views
        // (or, before that, Characters) cost 2-6% of the server's time under load.
        let bytes = Array(header.utf8)
        guard bytes.starts(with: (algorithm + " ").utf8) else {
            let given = header.prefix { $0 != " " }
            throw AWSError(
                "IncompleteSignatureException",
                "Unsupported AWS 'algorithm': '\(given.prefix(40))'. Only \(algorithm) is supported.")
        }
        var parameters: [String: String] = [:]
        var start = algorithm.utf8.count + 1
        while start < bytes.count {
            let end = bytes[start...].firstIndex(of: UInt8(ascii: ",")) ?? bytes.count
            let part = Self.trimmingSpaces(bytes[start..<end])
            if let equals = part.firstIndex(of: UInt8(ascii: "=")) {
                parameters[String(decoding: part[..<equals], as: UTF8.self)] = String(decoding: part[(equals + 1)...], as: UTF8.self)
            }
            start = end + 1
        }
        // AWS names every problem of the header at once, then the header itself.
        var problems: [String] = []
        for required in ["Credential", "Signature", "SignedHeaders"] where parameters[required] == nil {
            problems.append("Authorization header requires '\(required)' parameter.")
        }
        if let headers, headers["x-amz-date"] == nil, headers["date"] == nil {
            problems.append("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")
        }
        if !problems.isEmpty {
            throw AWSError("IncompleteSignatureException", problems.joined(separator: " ") + " Authorization=\(header)")
        }
        var credential = try parse(credentialScope: parameters["Credential"]!)
        credential.signedHeaders = Array(parameters["SignedHeaders"]!.utf8).split(separator: UInt8(ascii: ";")).map {
            String(decoding: $0, as: UTF8.self)
        }
        credential.signature = parameters["Signature"]!
        return credential
    }

    /// Reads `AKID/20240101/us-east-1/states/aws4_request`, as found in the header or in `X-Amz-Credential`.
    public static func parse(credentialScope: String) throws(AWSError) -> SigV4Credential {
        let parts = Array(credentialScope.utf8).split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false)
        guard parts.count == 5, parts[4].elementsEqual("aws4_request".utf8), !parts[0].isEmpty, parts[1].count == 8,
            parts[1].allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }), !parts[2].isEmpty, !parts[3].isEmpty
        else {
            throw AWSError(
                "IncompleteSignatureException",
                "Credential should be scoped to a valid region, a service and 'aws4_request'. Credential=\(credentialScope)")
        }
        let text = parts.map { String(decoding: $0, as: UTF8.self) }
        return SigV4Credential(accessKeyId: text[0], date: text[1], region: text[2], service: text[3])
    }

    /// Reads a presigned URL's query (`X-Amz-Algorithm`, `X-Amz-Credential`, ...). Nil when not presigned.
    public static func parse(presignedQuery query: [String: String]) throws(AWSError) -> SigV4Credential? {
        guard let scope = query["X-Amz-Credential"] else { return nil }
        guard query["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256" else {
            throw AWSError("IncompleteSignatureException", "X-Amz-Algorithm must be AWS4-HMAC-SHA256.")
        }
        var credential = try parse(credentialScope: scope)
        credential.signedHeaders = (query["X-Amz-SignedHeaders"] ?? "").split(separator: ";").map(String.init)
        credential.signature = query["X-Amz-Signature"] ?? ""
        return credential
    }
}

extension SigV4Credential {
    /// `bytes` without the spaces at either end.
    static func trimmingSpaces(_ bytes: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        var s = bytes
        while s.first == UInt8(ascii: " ") { s.removeFirst() }
        while s.last == UInt8(ascii: " ") { s.removeLast() }
        return s
    }
}
