import AWSProtocol
import GRDB
import Logging

/// One AWS service of the local cloud: its generated descriptor, its operations, its tables and any background
/// work it needs (timers that fire schedules, executions that resume after a restart).
public protocol LocalService: Sendable {
    var descriptor: ServiceDescriptor { get }

    /// Runs `operation` (already routed to this service) and answers it.
    func handle(operation: String, request: OperationRequest, context: RequestContext) async throws -> OperationResponse

    /// Registers the service's tables. Migrations are named after the service and never edited once released.
    func registerMigrations(_ migrator: inout DatabaseMigrator)

    /// Background work of the service, started after the database is migrated and cancelled at shutdown.
    func run() async throws

    /// The code this service gives model-constraint violations, where it is not `ValidationException`
    /// (CloudWatch Logs answers `InvalidParameterException`).
    var validationErrorCode: String { get }

    /// Skiff's own endpoints of the service, `/_skiff/<endpointPrefix>/<path>`, for the `skiff` command line
    /// (not AWS APIs: `skiff exec` uses `/_skiff/ecs/exec` and `/_skiff/ecs/sessions`, the stream of an ECS Exec
    /// session `/_skiff/ecs/sessions/<id>`). Nil when the service has no such path. Requests are
    /// signed like API calls; `context` is the caller's account and region.
    func control(_ request: OperationRequest, path: String, context: RequestContext) async throws -> OperationResponse?

    /// The service as the receiver of the events other services publish (EventBridge), else nil. A requirement
    /// rather than an `as? EventSink` cast: a dynamic cast to a protocol scans every conformance record of the
    /// binary (tens of thousands) the first time for each type, which is start-up time and touched pages.
    var eventSink: (any EventSink)? { get }
}

extension LocalService {
    public func registerMigrations(_ migrator: inout DatabaseMigrator) {}
    public func run() async throws {}
    public var validationErrorCode: String { "ValidationException" }
    public func control(_ request: OperationRequest, path: String, context: RequestContext) async throws -> OperationResponse? { nil }
    public var eventSink: (any EventSink)? { nil }
}

/// What every service is built from: the database, a logger and the server's settings.
public struct ServiceEnvironment: Sendable {
    public var database: CloudDatabase
    public var logger: Logger
    public var configuration: CloudConfiguration
    /// The other services, for integrations and events.
    public var directory: ServiceDirectory

    public init(
        database: CloudDatabase, logger: Logger, configuration: CloudConfiguration, directory: ServiceDirectory = ServiceDirectory()
    ) {
        self.database = database
        self.logger = logger
        self.configuration = configuration
        self.directory = directory
    }
}
