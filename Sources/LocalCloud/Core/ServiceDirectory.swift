import AWSProtocol
import JSONCore
import Synchronization

/// How services reach each other inside the local cloud, as AWS services do: Step Functions runs an ECS task
/// by calling ECS's RunTask, a schedule starts an execution by calling StartExecution, services publish their
/// events to EventBridge's default bus.
///
/// Calls go through the same decoding, validation and dispatch as a client's, so an integration sees exactly
/// the errors a client would.
public final class ServiceDirectory: Sendable {
    private let state = Mutex<State>(State())

    struct State {
        var services: [String: any LocalService] = [:]
        var eventSink: (any EventSink)?
    }

    public init() {}

    /// Makes `services` reachable by their endpoint prefix (`ecs`, `states`, `logs`, ...).
    public func register(_ services: [any LocalService]) {
        state.withLock { state in
            for service in services { state.services[service.descriptor.endpointPrefix] = service }
            if state.eventSink == nil {
                state.eventSink = services.lazy.compactMap(\.eventSink).first
            }
        }
    }

    public func service(_ endpointPrefix: String) -> (any LocalService)? {
        state.withLock { $0.services[endpointPrefix] }
    }

    /// Calls `operation` of an awsJson service with `input`, in the caller's account and region, and returns its
    /// output. Errors are the operation's own ``AWSError``s.
    public func invoke(_ endpointPrefix: String, operation: String, input: JSON, context: RequestContext) async throws -> JSON {
        guard let service = service(endpointPrefix) else {
            throw AWSError("ServiceUnavailable", "Service \(endpointPrefix) is not served by this local cloud.", status: 503)
        }
        let descriptor = service.descriptor
        guard descriptor.wireProtocol.isAWSJson, let prefix = descriptor.targetPrefix else {
            throw AWSError.internalFailure("Service \(endpointPrefix) cannot be invoked internally: it does not speak awsJson.")
        }
        let request = OperationRequest(
            method: "POST", path: "/",
            headers: ["x-amz-target": "\(prefix).\(operation)", "content-type": descriptor.wireProtocol.contentType],
            body: input.serializedBytes())
        let response = try await service.handle(operation: operation, request: request, context: context)
        return try JSON(parsing: response.body)
    }

    /// Puts an event on the account's default event bus, as AWS services emit theirs (source `aws.states`,
    /// detail type `Step Functions Execution Status Change`, ...). Does nothing when no bus is served.
    ///
    /// The event is built only when some rule could receive it: most events reach no rule, and building one (its
    /// detail, often with a read) costs more than the rest of publishing.
    public func publish(context: RequestContext, _ event: () async -> ServiceEvent) async {
        guard let sink = state.withLock({ $0.eventSink }), await sink.hasRules(context: context) else { return }
        await sink.receive(await event(), context: context)
    }

    /// Whether the default bus of the context's account and region has a rule that could receive an event: a
    /// publisher that would start a task only to publish can skip both.
    public func hasEventRules(context: RequestContext) async -> Bool {
        guard let sink = state.withLock({ $0.eventSink }) else { return false }
        return await sink.hasRules(context: context)
    }
}

/// An event a service emits.
public struct ServiceEvent: Sendable {
    public var source: String
    public var detailType: String
    public var detail: JSON
    public var resources: [String]

    public init(source: String, detailType: String, detail: JSON, resources: [String] = []) {
        self.source = source
        self.detailType = detailType
        self.detail = detail
        self.resources = resources
    }
}

/// A service that receives the events other services emit (EventBridge).
public protocol EventSink: Sendable {
    /// Whether the default bus of the context's account and region has a rule that could match an event: when
    /// not, publishers skip building their events.
    func hasRules(context: RequestContext) async -> Bool
    func receive(_ event: ServiceEvent, context: RequestContext) async
}
