import Crypto
import Foundation
import JSONCore

/// Signs a request with AWS Signature Version 4, as the SDKs do, so that Skiff's own clients (`skiff crontab
/// import --create`, ...) reach the account and region their credentials name, and pass a local cloud that
/// verifies signatures.
///
/// Follows the signing steps of the AWS documentation: canonical request, string to sign, the derived key
/// (date → region → service → `aws4_request`), and the `Authorization` header.
public struct SigV4Signer: Sendable {
    public var accessKeyId: String
    public var secretAccessKey: String
    public var sessionToken: String?
    public var region: String
    public var service: String

    public init(accessKeyId: String, secretAccessKey: String, sessionToken: String? = nil, region: String, service: String) {
        self.accessKeyId = accessKeyId
        self.secretAccessKey = secretAccessKey
        self.sessionToken = sessionToken
        self.region = region
        self.service = service
    }

    /// The headers to add to a request: `X-Amz-Date`, `X-Amz-Security-Token` with a session token, and
    /// `Authorization`. `path` is the request's path as sent (percent-encoded); `headers` are the request's own
    /// headers (at least `Host`), all of which are signed.
    public func signatureHeaders(
        method: String, path: String, query: [(String, String)] = [], headers: [String: String],
        body: [UInt8], date: Date
    ) -> [String: String] {
        let timestamp = Self.timestamp(date)
        let day = String(timestamp.prefix(8))
        var signed: [String: String] = [:]
        for (name, value) in headers { signed[name.lowercased()] = value }
        signed["x-amz-date"] = timestamp
        if let sessionToken { signed["x-amz-security-token"] = sessionToken }
        let names = signed.keys.sorted()
        let canonicalHeaders = names.map { "\($0):\(Self.trimmed(signed[$0]!))\n" }.joined()
        let signedHeaders = names.joined(separator: ";")
        let encodedQuery: [(name: String, value: String)] = query.map { (Self.encode($0.0), Self.encode($0.1)) }
        let sortedQuery = encodedQuery.sorted { a, b in a.name == b.name ? a.value < b.value : a.name < b.name }
        let canonicalQuery = sortedQuery.map { "\($0.name)=\($0.value)" }.joined(separator: "&")
        let canonicalRequest = [
            method, Self.canonicalPath(path, service: service), canonicalQuery, canonicalHeaders, signedHeaders,
            Self.hex(SHA256.hash(data: body)),
        ].joined(separator: "\n")
        let scope = "\(day)/\(region)/\(service)/aws4_request"
        let stringToSign = ["AWS4-HMAC-SHA256", timestamp, scope, Self.hex(SHA256.hash(data: Array(canonicalRequest.utf8)))]
            .joined(separator: "\n")
        var key = SymmetricKey(data: Array("AWS4\(secretAccessKey)".utf8))
        for part in [day, region, service, "aws4_request"] {
            key = SymmetricKey(data: Data(HMAC<SHA256>.authenticationCode(for: Array(part.utf8), using: key)))
        }
        let signature = Self.hex(HMAC<SHA256>.authenticationCode(for: Array(stringToSign.utf8), using: key))
        var added = [
            "X-Amz-Date": timestamp,
            "Authorization": "AWS4-HMAC-SHA256 Credential=\(accessKeyId)/\(scope), SignedHeaders=\(signedHeaders), Signature=\(signature)",
        ]
        if let sessionToken { added["X-Amz-Security-Token"] = sessionToken }
        return added
    }

    /// `20150830T123600Z`: the ISO 8601 basic form of the UTC time.
    static func timestamp(_ date: Date) -> String {
        UTCTimestamp.iso8601(secondsSince1970: date.timeIntervalSince1970).filter { $0 != "-" && $0 != ":" }
    }

    /// The path as the SDKs canonicalize it: each segment URI-encoded once more (the sent path is already encoded),
    /// except for S3, whose paths are signed as sent.
    static func canonicalPath(_ path: String, service: String) -> String {
        let path = path.isEmpty ? "/" : path
        if service == "s3" { return path }
        return path.split(separator: "/", omittingEmptySubsequences: false).map { encode(String($0)) }.joined(separator: "/")
    }

    /// RFC 3986 encoding of everything but the unreserved characters, as SigV4 requires.
    static func encode(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                let digits = Array("0123456789ABCDEF".unicodeScalars)
                out += "%"
                out.unicodeScalars.append(digits[Int(byte >> 4)])
                out.unicodeScalars.append(digits[Int(byte & 0xF)])
            }
        }
        return out
    }

    /// A header value with its surrounding spaces removed and inner runs of spaces collapsed to one.
    static func trimmed(_ value: String) -> String {
        value.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")
    }

    static func hex<D: Sequence>(_ digest: D) -> String where D.Element == UInt8 {
        digest.map { $0 < 16 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined()
    }
}
