import AWSProtocol
import Foundation
import JSONCore
import Logging

/// The local cloud without its HTTP front: routes a request to its service, resolves the account and region,
/// and turns every failure into the AWS error shape of the service's protocol.
///
/// ``CloudServer`` puts it on a port; tests call ``respond(to:)`` directly.
public final class LocalCloud: Sendable {
    public let services: [any LocalService]
    public let environment: ServiceEnvironment
    public let router: RequestRouter
    public let authenticator: any RequestAuthenticator
    public let startedAt: Date
    public static let version = "0.1.0"

    public init(services: [any LocalService], environment: ServiceEnvironment, authenticator: any RequestAuthenticator = AcceptingAuthenticator()) throws {
        self.services = services
        self.environment = environment
        self.router = RequestRouter(services: services)
        self.authenticator = authenticator
        self.startedAt = Date()
        try environment.database.migrate(services)
        environment.directory.register(services)
    }

    /// Answers one request. Never throws: errors become AWS error responses.
    public func respond(to request: OperationRequest) async -> OperationResponse {
        var request = request
        let requestId = UUID().uuidString.lowercased()
        let started = ContinuousClock.now
        var logger = environment.logger
        logger[metadataKey: "request-id"] = "\(requestId)"

        var errorProtocol: WireProtocol = request.headers["x-amz-target"] != nil ? .awsJson1_1 : .restJson
        var xmlNamespace: String? = nil
        var serviceName = "-"
        var operation = "-"
        let response: OperationResponse
        do {
            if request.body.count > environment.configuration.maximumRequestBytes {
                throw AWSError.requestTooLarge(limit: environment.configuration.maximumRequestBytes)
            }
            if RequestRouter.queryAction(request) != nil && request.headers["x-amz-target"] == nil { errorProtocol = .query }
            let credential = try SigV4Credential.parse(authorization: request.headers["authorization"])
                ?? SigV4Credential.parse(presignedQuery: request.query.compactMapValues(\.first))
            let route = try router.route(request, signingService: credential?.service)
            errorProtocol = route.service.descriptor.wireProtocol
            xmlNamespace = route.service.descriptor.xmlNamespace
            serviceName = route.service.descriptor.endpointPrefix
            operation = route.operation
            request.pathParameters = route.pathParameters
            let principal = try await authenticator.authenticate(request, credential: credential, configuration: environment.configuration)
            let context = RequestContext(
                accountId: principal.accountId, region: credential?.region ?? environment.configuration.defaultRegion,
                requestId: requestId, accessKeyId: credential?.accessKeyId ?? "")
            response = try await route.service.handle(operation: route.operation, request: request, context: context)
        } catch let error as AWSError {
            var error = error
            if serviceName != "-", let status = services.first(where: { $0.descriptor.endpointPrefix == serviceName })?.errorStatus[error.code] {
                error.status = status
            }
            response = ErrorWriter.response(for: error, protocol: errorProtocol, requestId: requestId, xmlNamespace: xmlNamespace)
        } catch {
            logger.error("unexpected failure", metadata: ["error": "\(error)"])
            response = ErrorWriter.response(
                for: .internalFailure(), protocol: errorProtocol, requestId: requestId, xmlNamespace: xmlNamespace)
        }
        let elapsed = ContinuousClock.now - started
        logger.info(
            "request",
            metadata: [
                "service": "\(serviceName)", "operation": "\(operation)", "status": "\(response.status)",
                "duration-ms": "\(String(format: "%.2f", Double(elapsed.components.attoseconds) / 1e15 + Double(elapsed.components.seconds) * 1000))",
            ])
        return response
    }

    /// Answers `/_skiff/<service>/<path>` from the service's ``LocalService/control(_:path:)``; nil when no
    /// service serves the path.
    public func control(_ request: OperationRequest) async -> OperationResponse? {
        let rest = request.path.dropFirst("/_skiff/".count)
        guard request.path.hasPrefix("/_skiff/"), let slash = rest.firstIndex(of: "/") else { return nil }
        let prefix = String(rest[..<slash])
        guard let service = services.first(where: { $0.descriptor.endpointPrefix == prefix }) else { return nil }
        do {
            return try await service.control(request, path: String(rest[rest.index(after: slash)...]))
        } catch {
            return .json(["message": .string("\(error)")], status: 400, contentType: "application/json")
        }
    }

    /// The health report of `GET /_skiff/health`.
    public func health() -> OperationResponse {
        var services = JSONObject()
        for service in self.services { services[service.descriptor.endpointPrefix] = "running" }
        let body: JSON = .object([
            "version": .string(Self.version),
            "uptimeSeconds": .number((Date().timeIntervalSince(startedAt) * 1000).rounded() / 1000),
            "persistence": .string(environment.database.path ?? "memory"),
            "services": .object(services),
        ])
        return .json(body, contentType: "application/json")
    }
}
