import AWSProtocol
import LocalCloud

/// AWS Security Token Service: who the caller is (`aws sts get-caller-identity`), the simplest check that a
/// client reaches the local cloud with the account it expects.
public struct STSService: LocalService, STSAPIHandler {
    public init() {}

    public var descriptor: ServiceDescriptor { STSAPI.descriptor }

    public func handle(operation: String, request: OperationRequest, context: RequestContext) async throws -> OperationResponse {
        try await STSAPI.dispatch(self, operation: operation, request: request, context: context)
    }

    /// Until IAM users exist in the local cloud, every access key signs as its account's root user, whose
    /// identity AWS reports with the account id as user id.
    public func getCallerIdentity(
        _ input: STSAPI.GetCallerIdentityRequest, context: RequestContext
    ) async throws -> STSAPI.GetCallerIdentityResponse {
        .init(userId: context.accountId, account: context.accountId, arn: context.arn(service: "iam", resource: "root", global: true))
    }
}
