/// The wire protocols AWS services speak, as botocore's models name them in `metadata.protocol`.
public enum WireProtocol: String, Sendable, CaseIterable {
    /// JSON bodies, operation in `X-Amz-Target`, content type `application/x-amz-json-1.0`.
    case awsJson1_0 = "json1.0"
    /// As awsJson1_0 with content type `application/x-amz-json-1.1`.
    case awsJson1_1 = "json1.1"
    /// Form-encoded requests with an `Action`, XML responses.
    case query
    /// Operations chosen by HTTP method and path, JSON bodies.
    case restJson = "rest-json"

    public var isAWSJson: Bool { self == .awsJson1_0 || self == .awsJson1_1 }

    public var contentType: String {
        switch self {
        case .awsJson1_0: "application/x-amz-json-1.0"
        case .awsJson1_1: "application/x-amz-json-1.1"
        case .query: "text/xml"
        case .restJson: "application/json"
        }
    }
}
