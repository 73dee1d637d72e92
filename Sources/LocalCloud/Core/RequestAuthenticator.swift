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
/// operation asked for. The default accepts every caller and maps its access key to an account; enforcing IAM
/// replaces it.
public protocol RequestAuthenticator: Sendable {
    func authenticate(
        _ request: OperationRequest, credential: SigV4Credential?, operation: OperationIdentity, configuration: CloudConfiguration
    ) async throws(AWSError) -> Principal
}

/// Accepts every request: a known access key maps to its account, any other to the default account.
public struct AcceptingAuthenticator: RequestAuthenticator {
    public init() {}
    public func authenticate(
        _ request: OperationRequest, credential: SigV4Credential?, operation: OperationIdentity, configuration: CloudConfiguration
    ) async throws(AWSError) -> Principal {
        let key = credential?.accessKeyId
        return Principal(accountId: key.flatMap { configuration.accounts[$0] } ?? configuration.defaultAccountId, accessKeyId: key)
    }
}
