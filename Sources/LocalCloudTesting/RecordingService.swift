import AWSProtocol
import JSONCore
import LocalCloud
import Synchronization

/// A stand-in for the services a schedule or a rule calls (ECS, Step Functions): answers RunTask and StartExecution,
/// records each call's operation and input, and fails the next `failuresLeft` calls as a 5xx would.
public final class RecordingService: LocalService {
    public let descriptor: ServiceDescriptor
    public let calls = Mutex<[(String, JSON)]>([])
    public let failuresLeft = Mutex(0)

    public init(prefix: String, targetPrefix: String) {
        descriptor = ServiceDescriptor(
            endpointPrefix: prefix, signingName: prefix, targetPrefix: targetPrefix,
            wireProtocol: .awsJson1_1, apiVersion: "1", xmlNamespace: nil,
            operations: ["RunTask", "StartExecution"], routes: [])
    }

    public func handle(operation: String, request: OperationRequest, context: RequestContext) async throws -> OperationResponse {
        if failuresLeft.withLock({ n in
            defer { n = max(0, n - 1) }; return n > 0
        }) {
            throw AWSError("ServiceException", "try again", status: 500)
        }
        calls.withLock { $0.append((operation, try! JSON(parsing: request.body))) }
        return .json(["ok": true], contentType: "application/x-amz-json-1.1")
    }

    public var count: Int { calls.withLock { $0.count } }

    /// Waits (briefly) for `count` calls: targets are invoked in the background.
    public func waitFor(_ count: Int) async -> [(String, JSON)] {
        for _ in 0..<200 {
            let calls = calls.withLock { $0 }
            if calls.count >= count { return calls }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return calls.withLock { $0 }
    }
}
