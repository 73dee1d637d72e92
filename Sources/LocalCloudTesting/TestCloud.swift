import Foundation
import LocalCloud
import Logging

extension ServiceEnvironment {
    /// An environment for a test's services: state in memory, or under `stateDirectory` to outlive the cloud, and a
    /// logger that reports only critical errors, so that a test's output shows its failures rather than the services' logs.
    public static func testing(
        stateDirectory: String? = nil, configure: (inout CloudConfiguration) -> Void = { _ in }
    ) throws
        -> ServiceEnvironment
    {
        try testing(database: CloudDatabase(stateDirectory: stateDirectory), stateDirectory: stateDirectory, configure: configure)
    }

    /// An environment as ``testing(stateDirectory:configure:)`` makes one, on a database the test opened itself.
    public static func testing(
        database: CloudDatabase, stateDirectory: String? = nil, configure: (inout CloudConfiguration) -> Void = { _ in }
    )
        -> ServiceEnvironment
    {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        var configuration = CloudConfiguration(stateDirectory: stateDirectory)
        configure(&configuration)
        return ServiceEnvironment(database: database, logger: logger, configuration: configuration)
    }
}

extension Cloud {
    /// A local cloud for a test, answering requests without a socket (``withServer(_:)`` puts it on one), with the
    /// services `services` makes in its environment (see ``ServiceEnvironment/testing(stateDirectory:configure:)``).
    public static func testing(
        stateDirectory: String? = nil, configure: (inout CloudConfiguration) -> Void = { _ in },
        services: (ServiceEnvironment) throws -> [any LocalService]
    ) throws -> Cloud {
        let environment = try ServiceEnvironment.testing(stateDirectory: stateDirectory, configure: configure)
        return try Cloud(services: try services(environment), environment: environment)
    }

    /// A local cloud for a test with `services`, which need nothing of its environment.
    public static func testing(
        _ services: [any LocalService], stateDirectory: String? = nil, configure: (inout CloudConfiguration) -> Void = { _ in }
    ) throws -> Cloud {
        try testing(stateDirectory: stateDirectory, configure: configure) { _ in services }
    }
}

/// A path under the temporary directory that nothing uses yet, named `prefix-<UUID>`, so that a test's state or
/// files are apart from every other test's; the test creates and removes what it puts there.
public func temporaryPath(_ prefix: String) -> String {
    FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString)").path
}
