import AWSProtocol
import LocalCloud

/// AWS Security Token Service: who the caller is (`aws sts get-caller-identity`), the simplest check that a
/// client reaches the local cloud with the account it expects.
public struct STSService: LocalService, STSAPIHandler {
    public init() {}

    public var descriptor: ServiceDescriptor { STSAPI.descriptor }
    public var errorStatus: [String: Int] { STSAPI.errorStatus }

    public func handle(operation: String, request: OperationRequest, context: RequestContext) async throws -> OperationResponse {
        try await STSAPI.dispatch(self, operation: operation, request: request, context: context)
    }

    public func getCallerIdentity(_ input: STSAPI.GetCallerIdentityRequest, context: RequestContext) async throws -> STSAPI.GetCallerIdentityResponse {
        let user = context.accessKeyId.isEmpty ? "root" : context.accessKeyId
        return .init(
            userId: context.accountId == context.accessKeyId ? user : user,
            account: context.accountId,
            arn: context.accessKeyId.isEmpty ? "arn:aws:iam::\(context.accountId):root" : "arn:aws:iam::\(context.accountId):user/\(user)")
    }
}
