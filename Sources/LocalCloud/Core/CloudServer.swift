import AWSProtocol
import Foundation
import HummingbirdCore
import Logging
import NIOCore
import NIOEmbedded
import NIOPosix
import ServiceLifecycle
import Synchronization

/// The local cloud on one HTTP port, with the services' background work, until SIGINT or SIGTERM.
public struct CloudServer: Sendable {
    public let cloud: Cloud

    public init(cloud: Cloud) { self.cloud = cloud }

    /// The HTTP server answering every request of every service: Hummingbird's server accepting HTTP/1.1
    /// connections, each read and answered by a ``CloudHTTPChannel`` on its event loop.
    ///
    /// Built from HummingbirdCore's server rather than Hummingbird's `Application`: the application would run a
    /// service group of its own inside the server's, and a date cache whose calendar opens ICU's time-zone data and
    /// whose timer wakes the idle server every second: about 2 MiB of idle memory, and wake-ups, for nothing.
    func httpServer(onServerRunning: @escaping @Sendable (Int) async -> Void) throws -> any Service {
        let cloud = self.cloud
        let configuration = cloud.environment.configuration
        let group = MultiThreadedEventLoopGroup.singleton
        let policy = RequestOriginPolicy(configuration: configuration)
        return CloudHTTPChannel(group: group, limits: ConnectionLimits(configuration: configuration)) { request in
            await Self.respond(to: request, cloud: cloud, policy: policy)
        }.server(
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: Self.serverName),
            onServerRunning: { channel in
                StartupCode.releaseWhenQuiet(cloud.activity)
                await onServerRunning(channel.localAddress?.port ?? configuration.port)
            },
            eventLoopGroup: group, logger: cloud.environment.logger)
    }

    static let serverName = "Skiff"

    /// Starts the event loops' threads and sets up an HTTP/1.1 connection's channel pipeline once, on a channel of no
    /// socket, in the background.
    ///
    /// Why: the first setup costs more than all later ones together. Each channel handler added is cast to the
    /// inbound and outbound handler protocols, and each cast the runtime has not seen scans every protocol
    /// conformance in the binary (10,476 of them): a tenth of start-up's instructions, under callgrind, went into
    /// the first connection's setup. Called while the stores migrate, the scans run on another core and the first
    /// request finds the answers cached (the first request after listening took 2.05 ms before, 0.83 ms after). The
    /// threads started meanwhile bring listening about a millisecond sooner.
    public static func prepareConnectionHandling(logger: Logger) {
        Task.detached {
            _ = MultiThreadedEventLoopGroup.singleton
            let channel = EmbeddedChannel()
            _ = try? await CloudHTTPChannel(group: channel.eventLoop, limits: ConnectionLimits(configuration: CloudConfiguration())) { _ in
                OperationResponse()
            }
            .setup(channel: channel, logger: logger).get()
            _ = try? await channel.close()
        }
    }

    /// Runs until a shutdown signal, then stops accepting requests, lets those under way finish, and returns.
    public func run(onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }) async throws {
        // Each member is named here: a service group otherwise names a service with `"\(service)"`, which
        // reflects the whole value, and each dynamic cast it makes scans the binary's protocol conformances:
        // milliseconds of start-up and megabytes of touched pages.
        let background = cloud.services.map { service in
            ServiceGroupConfiguration.ServiceConfiguration(
                service: BackgroundWork(service: service, logger: cloud.environment.logger, health: cloud.healthBoard),
                serviceName: "skiff-" + service.descriptor.endpointPrefix)
        }
        var configuration = ServiceGroupConfiguration(
            // Listed after the background work, the server is the first to stop (a group stops in reverse order).
            services: background + [.init(service: try httpServer(onServerRunning: onServerRunning), serviceName: "skiff-http")],
            gracefulShutdownSignals: [.sigterm, .sigint], logger: cloud.environment.logger)
        // Requests under way may finish, but a long poll (GetActivityTask waits a minute) must not hold the
        // shutdown: past this the group is cancelled, which closes the connections.
        configuration.maximumGracefulShutdownDuration = .seconds(10)
        let forcedStop = ForcedStop(logger: cloud.environment.logger)
        defer { forcedStop.cancel() }
        try await ServiceGroup(configuration: configuration).run()
        try cloud.environment.database.close()
    }

    static func respond(to received: ReceivedRequest, cloud: Cloud, policy: RequestOriginPolicy) async -> OperationResponse {
        let request = received.operationRequest
        let crossOrigin: String?
        switch policy.verdict(method: request.method, headers: request.headers) {
        case .refused(let reason):
            return cloud.respond(to: request, failingWith: AWSError("AccessDeniedException", reason, status: 403))
        case .allowedCrossOrigin(let origin): crossOrigin = origin
        case .allowed: crossOrigin = nil
        }
        if let preflight = policy.preflightAnswer(method: request.method, headers: request.headers) { return preflight }
        var response = await answer(request, received: received, cloud: cloud)
        if let crossOrigin { response.headers += RequestOriginPolicy.crossOriginHeaders(origin: crossOrigin) }
        return response
    }

    private static func answer(_ request: OperationRequest, received: ReceivedRequest, cloud: Cloud) async -> OperationResponse {
        if request.path == "/_skiff/health" && (request.method == "GET" || request.method == "HEAD") {
            return cloud.health()
        }
        if let refusal = received.refusal {
            return cloud.respond(to: request, failingWith: refusal)
        }
        if request.path.hasPrefix("/_skiff/"), let answer = await cloud.control(request) {
            return answer
        }
        return await cloud.respond(to: request)
    }
}

/// A service's background work as a member of the server's service group.
struct BackgroundWork: Service, CustomStringConvertible {
    var description: String { "BackgroundWork(\(service.descriptor.endpointPrefix))" }

    let service: any LocalService
    let logger: Logger
    let health: HealthBoard

    func run() async throws {
        do {
            try await cancelWhenGracefulShutdown { try await service.run() }
        } catch is CancellationError {
        } catch {
            // One service's failed background work must not take the others down: it is logged and reported by
            // the health endpoint, and the service's operations keep answering.
            logger.error("background work of \(service.descriptor.endpointPrefix) failed", metadata: ["error": "\(error)"])
            health.recordFailure(of: service.descriptor.endpointPrefix, error)
        }
        // Keep the member alive until shutdown so that a service without background work does not end the group.
        try? await gracefulShutdown()
    }
}

/// A second SIGINT or SIGTERM during a graceful shutdown stops the process at once, as users expect of a second
/// Ctrl-C. Nothing is lost: every acknowledged write is already committed to SQLite's log.
final class ForcedStop {
    private final class Count: Sendable {
        let value = Mutex(0)
    }
    private let sources: [any DispatchSourceSignal]

    init(logger: Logger) {
        let seen = Count()
        sources = [SIGINT, SIGTERM].map { number in
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler {
                let count = seen.value.withLock {
                    $0 += 1; return $0
                }
                if count == 1 {
                    logger.notice("stopping: requests under way may finish; a second stop signal stops at once")
                } else {
                    logger.warning("second stop signal: stopping now, without waiting for requests under way")
                    exit(130)
                }
            }
            source.resume()
            return source
        }
    }

    func cancel() {
        for source in sources { source.cancel() }
    }
}
