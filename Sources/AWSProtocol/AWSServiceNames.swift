/// The AWS services a request can be addressed to, whether or not the local cloud serves them, by the names the
/// request carries: the service of its SigV4 credential scope, its `X-Amz-Target` prefix, its query `Version`.
///
/// Why: a client pointed at the local cloud sends requests for services it does not serve yet (IAM, EKS, ...).
/// Recognised, they are answered with one sentence naming the service and the operation, rather than with
/// another service's error, or with a service that happens to share a path answering them.
public enum AWSServiceNames {
    public struct Service: Sendable, Equatable {
        /// The name AWS's documentation abbreviates the service to: `IAM`, `Amazon EKS`.
        public let name: String
        /// The service of a SigV4 credential scope (`iam`, `eks`, `elasticloadbalancing`).
        public let signingName: String
        /// The `X-Amz-Target` prefix of an awsJson service.
        public let targetPrefix: String?
        public let apiVersion: String
    }

    static let bySigningName: [String: [Service]] = Dictionary(grouping: all, by: \.signingName)
    static let byTargetPrefix: [String: Service] = Dictionary(
        all.compactMap { service in service.targetPrefix.map { ($0, service) } }, uniquingKeysWith: { first, _ in first })

    /// The service whose `X-Amz-Target` prefix is `prefix`.
    public static func service(targetPrefix prefix: String) -> Service? { byTargetPrefix[prefix] }

    /// The service a request was signed for; where several share the signing name (the two Elastic Load
    /// Balancing APIs), the one whose API version is `version`, else the first.
    public static func service(signingName: String, version: String? = nil) -> Service? {
        guard let services = bySigningName[signingName] else { return nil }
        return services.first { $0.apiVersion == version } ?? services.first
    }
}
