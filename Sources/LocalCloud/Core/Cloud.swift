import AWSProtocol
import Foundation
import JSONCore
import Logging
import Synchronization

/// The local cloud without its HTTP front: routes a request to its service, resolves the account and region,
/// and turns every failure into the AWS error shape of the service's protocol.
///
/// ``CloudServer`` puts it on a port; tests call ``respond(to:)`` directly.
public final class Cloud: Sendable {
    public let services: [any LocalService]
    public let environment: ServiceEnvironment
    public let router: RequestRouter
    public let authenticator: any RequestAuthenticator
    public let startedAt: Date
    public let healthBoard = HealthBoard()
    /// Requests under way and the time of the last one, by which the server knows it has fallen quiet.
    public let activity = RequestActivity()
    public static let version = "0.1.0"

    /// Migrates the database for `services` (from `freshSchema` when the database is new and the schema is theirs).
    public init(
        services: [any LocalService], environment: ServiceEnvironment,
        authenticator: any RequestAuthenticator = SignedRequestAuthenticator(),
        freshSchema: SchemaSnapshot? = nil
    ) throws {
        self.services = services
        self.environment = environment
        self.router = RequestRouter(services: services)
        self.authenticator = authenticator
        self.startedAt = Date()
        try environment.database.migrate(services, freshSchema: freshSchema)
        environment.directory.register(services)
    }

    /// Answers one request. Never throws: errors become AWS error responses.
    public func respond(to request: OperationRequest) async -> OperationResponse {
        activity.begin()
        defer { activity.end() }
        var exchange = Exchange(request: request)
        do {
            if request.body.count > environment.configuration.maximumRequestBytes {
                throw AWSError.requestTooLarge(limit: environment.configuration.maximumRequestBytes)
            }
            let credential = try Self.credential(of: request)
            if let unserved = router.unserved(request, signingService: credential?.service) {
                exchange.unserved = unserved
                throw unserved.error(method: request.method, path: request.path)
            }
            let route = try router.route(request, signingService: credential?.service)
            exchange.routed(to: route)
            exchange.request.pathParameters = route.pathParameters
            let context = try await authenticate(
                exchange.request, credential: credential,
                operation: OperationIdentity(service: route.service.descriptor.signingName, operation: route.operation),
                requestId: exchange.requestId)
            let response = try await route.service.handle(operation: route.operation, request: exchange.request, context: context)
            return finish(exchange, response)
        } catch let error as AWSError {
            return finish(exchange, failingWith: error)
        } catch {
            environment.logger.error("unexpected failure", metadata: ["error": "\(error)", "request-id": "\(exchange.requestId)"])
            return finish(exchange, failingWith: .internalFailure())
        }
    }

    /// The SigV4 credential of `request`: its `Authorization` header, or its presigned query; nil when unsigned.
    static func credential(of request: OperationRequest) throws(AWSError) -> SigV4Credential? {
        if let signed = try SigV4Credential.parse(authorization: request.headers["authorization"], headers: request.headers) {
            return signed
        }
        return try SigV4Credential.parse(presignedQuery: request.query.compactMapValues(\.first))
    }

    /// Who is calling and where, for API calls and Skiff's own endpoints alike: the authenticator's account, the
    /// signature's region.
    func authenticate(
        _ request: OperationRequest, credential: SigV4Credential?, operation: OperationIdentity, requestId: String
    ) async throws(AWSError) -> RequestContext {
        let principal = try await authenticator.authenticate(
            request, credential: credential, operation: operation, configuration: environment.configuration)
        return RequestContext(
            accountId: principal.accountId, region: credential?.region ?? environment.configuration.defaultRegion,
            requestId: requestId, accessKeyId: principal.accessKeyId ?? "")
    }

    /// Answers a request that failed before it could be read in full (too large, or cut off), in the error shape
    /// of the protocol it appears to speak, and logs it like any other.
    public func respond(to request: OperationRequest, failingWith error: AWSError) -> OperationResponse {
        finish(Exchange(request: request), failingWith: error)
    }

    /// One request on its way through the cloud: what is known of it so far, for its answer and its log line.
    struct Exchange {
        var request: OperationRequest
        let requestId = RandomUUID.make()
        let started = ContinuousClock.now
        /// Until routed, errors are written in the protocol the request's headers suggest.
        var errorProtocol: WireProtocol
        var xmlNamespace: String?
        var service: (any LocalService)?
        var operation: String?
        /// The request is for a service Skiff does not serve: the log names it.
        var unserved: RequestRouter.Unserved?

        init(request: OperationRequest) {
            self.request = request
            self.errorProtocol = request.apparentProtocol
        }

        mutating func routed(to route: RequestRouter.Route) {
            service = route.service
            operation = route.operation
            errorProtocol = route.service.descriptor.wireProtocol
            xmlNamespace = route.service.descriptor.xmlNamespace
        }
    }

    private func finish(_ exchange: Exchange, failingWith error: AWSError) -> OperationResponse {
        var error = error
        if error.code == "ValidationException", let code = exchange.service?.validationErrorCode { error.code = code }
        return finish(
            exchange,
            ErrorWriter.response(
                for: error, protocol: exchange.errorProtocol, requestId: exchange.requestId, xmlNamespace: exchange.xmlNamespace),
            error: error.code)
    }

    /// Logs the request (service, operation, status, duration; method and path when it was never routed).
    private func finish(_ exchange: Exchange, _ response: OperationResponse, error: String? = nil) -> OperationResponse {
        var logger = environment.logger
        // The line's metadata (a formatted duration, a copy of the logger) is built only when it will be written.
        guard logger.logLevel <= .info else { return response }
        logger[metadataKey: "request-id"] = "\(exchange.requestId)"
        let elapsed = ContinuousClock.now - exchange.started
        var metadata: Logger.Metadata = [
            "service": "\(exchange.service?.descriptor.endpointPrefix ?? exchange.unserved?.service ?? "-")",
            "operation": "\(exchange.operation ?? exchange.unserved?.operation ?? "-")",
            "status": "\(response.status)",
            "duration-ms":
                "\(String(format: "%.2f", Double(elapsed.components.attoseconds) / 1e15 + Double(elapsed.components.seconds) * 1000))",
        ]
        if exchange.service == nil {
            metadata["method"] = "\(exchange.request.method)"
            metadata["path"] = "\(exchange.request.path)"
            if let target = exchange.request.headers["x-amz-target"] { metadata["target"] = "\(target)" }
        }
        if let error { metadata["error"] = "\(error)" }
        logger.info("request", metadata: metadata)
        return response
    }

    /// Answers `/_skiff/<service>/<path>` from the service's ``LocalService/control(_:path:context:)``; nil when no
    /// service serves the path. The request must be signed as an API call is, and acts in the signer's account.
    public func control(_ request: OperationRequest) async -> OperationResponse? {
        let rest = request.path.dropFirst("/_skiff/".count)
        guard request.path.hasPrefix("/_skiff/"), let slash = rest.firstIndex(of: "/") else { return nil }
        let prefix = String(rest[..<slash])
        let path = String(rest[rest.index(after: slash)...])
        guard let service = services.first(where: { $0.descriptor.endpointPrefix == prefix }) else { return nil }
        do {
            let context = try await authenticate(
                request, credential: try Self.credential(of: request),
                operation: OperationIdentity(service: "skiff", operation: "\(prefix)/\(path)"), requestId: RandomUUID.make())
            return try await service.control(request, path: path, context: context)
        } catch let error as AWSError {
            return .json(
                ["__type": .string(error.code), "message": .string(error.message)], status: error.status, contentType: "application/json")
        } catch {
            return .json(["message": .string("\(error)")], status: 400, contentType: "application/json")
        }
    }

    /// The health report of `GET /_skiff/health`: each service is `running`, or `failed` with the error that
    /// ended its background work (its operations may still answer, but its timers or executions are stopped).
    public func health() -> OperationResponse {
        var services = JSONObject()
        let failures = healthBoard.failures
        for service in self.services {
            let prefix = service.descriptor.endpointPrefix
            services[prefix] = .string(failures[prefix].map { "failed: \($0)" } ?? "running")
        }
        let body: JSON = .object([
            "status": .string(failures.isEmpty ? "ok" : "degraded"),
            "version": .string(Self.version),
            "uptimeSeconds": .number((Date().timeIntervalSince(startedAt) * 1000).rounded() / 1000),
            "persistence": .string(environment.database.path ?? "memory"),
            "services": .object(services),
        ])
        return .json(body, contentType: "application/json")
    }
}

/// What the health report knows of the services' background work: which of them failed, and why.
public final class HealthBoard: Sendable {
    private let state = Mutex<[String: String]>([:])

    public init() {}

    public func recordFailure(of service: String, _ error: any Error) {
        state.withLock { $0[service] = "\(error)" }
    }

    public var failures: [String: String] { state.withLock { $0 } }
}
