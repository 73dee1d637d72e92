import AWSProtocol

/// Who made a request, once authenticated.
public struct Principal: Sendable, Equatable {
    public var accountId: String
    public var accessKeyId: String?
    public init(accountId: String, accessKeyId: String?) {
        self.accountId = accountId
        self.accessKeyId = accessKeyId
    }
}

/// The operation a request was routed to, as IAM names actions: `states:StartExecution`.
public struct OperationIdentity: Sendable, Equatable, CustomStringConvertible {
    /// The service's signing name (the IAM service prefix for every service Skiff serves).
    public var service: String
    public var operation: String
    public init(service: String, operation: String) {
        self.service = service
        self.operation = operation
    }
    public var description: String { "\(service):\(operation)" }
}

/// The seam where signatures are verified and callers authorized. It runs after routing, so it knows the
/// operation asked for. The default accepts every signed caller and maps its access key to an account; enforcing
/// IAM replaces it.
public protocol RequestAuthenticator: Sendable {
    func authenticate(
        _ request: OperationRequest, credential: SigV4Credential?, operation: OperationIdentity, configuration: CloudConfiguration
    ) async throws(AWSError) -> Principal
}

/// Accepts every signed request (SigV4 in an `Authorization` header or a presigned query): a known access key maps
/// to its account, any other to the default account. The signature itself is not checked (any secret works, as
/// the SDKs' local-endpoint conventions expect), but an unsigned request is refused as AWS refuses it.
///
/// Why refuse unsigned requests at all: a web page can send a request without headers of its choosing to any
/// server, but not one with an `Authorization` header (that needs a CORS preflight, which only allowed origins
/// pass; see ``RequestOriginPolicy``). Requiring a signature keeps pages from driving the local cloud.
public struct SignedRequestAuthenticator: RequestAuthenticator {
    public init() {}
    public func authenticate(
        _ request: OperationRequest, credential: SigV4Credential?, operation: OperationIdentity, configuration: CloudConfiguration
    ) async throws(AWSError) -> Principal {
        guard let key = credential?.accessKeyId else { throw .missingAuthenticationToken() }
        return Principal(accountId: configuration.accounts[key] ?? configuration.defaultAccountId, accessKeyId: key)
    }
}
