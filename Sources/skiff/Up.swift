import ArgumentParser
import CloudCatalog
import Foundation
import LocalCloud
import Logging
import NIOCore
import TaskRunners

/// `skiff up`: the local cloud on one port, until interrupted.
struct Up: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "up",
        abstract: "Start the local cloud: every service on one port, speaking the AWS wire protocols.",
        discussion: """
            Point any AWS client at it:
              export AWS_ENDPOINT_URL=http://127.0.0.1:4566
              aws sts get-caller-identity

            State is kept in <state-dir>/skiff.sqlite and survives restarts, unless --in-memory is given.

            ECS tasks run as local processes. An image is a local directory: map it with --image-map NAME=DIR \
            (repeatable), the environment variable SKIFF_IMAGE_<NAME>=DIR (NAME upper-cased, other characters as _: \
            php-app -> SKIFF_IMAGE_PHP_APP), or while the server runs with skiff image map NAME DIR. The directory \
            is the task's file system: its working directory, and its PATH is inside it. Images with no directory \
            run in the container engine when one answers (docker info).

            Only requests addressed to this machine (Host: a loopback address, localhost, or --allowed-host) and \
            signed with SigV4 (any key) are served, and none from web pages of other origins (--allowed-origin): \
            see docs/security.md.

            The log (standard error) has a line per request, task start and stop, execution start and end, and \
            schedule or rule firing: a message, then key=value pairs, or one JSON object per line with \
            --log-format json.
            """
    )

    @Option(help: "Address to listen on.") var host = "127.0.0.1"
    @Option(help: "Port to listen on.") var port = 4566
    @Option(help: "Folder of the local cloud's database.") var stateDir = ".skiff"
    @Flag(help: "Keep all state in memory; nothing survives the process.") var inMemory = false
    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.") var logLevel = "info"
    @Option(help: "Log lines as text (a message, then key=value pairs) or json (one object per line), on standard error.")
    var logFormat = "text"
    @Option(
        name: .customLong("account"),
        help: ArgumentHelp(
            "Map an access key to an account, as KEY=ACCOUNT_ID (repeatable). Other keys use 000000000000.",
            valueName: "key=account-id"))
    var accountMappings: [String] = []

    /// The `--account` mappings, checked.
    func accounts() throws -> [String: String] {
        var accounts: [String: String] = [:]
        for mapping in accountMappings {
            let parts = mapping.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, !parts[0].isEmpty, parts[1].count == 12, parts[1].allSatisfy(\.isNumber) else {
                throw ValidationError("--account takes KEY=ACCOUNT_ID with a 12-digit account id; got '\(mapping)'.")
            }
            accounts[parts[0]] = parts[1]
        }
        return accounts
    }

    @Option(
        name: .customLong("allowed-host"),
        help: ArgumentHelp(
            "A host name requests may be addressed to besides loopback addresses and localhost (repeatable).",
            valueName: "name"))
    var allowedHosts: [String] = []
    @Option(
        name: .customLong("allowed-origin"),
        help: ArgumentHelp(
            "A web origin whose pages may call the API, as scheme://host:port (repeatable). Other pages may not.",
            valueName: "origin"))
    var allowedOrigins: [String] = []

    @Option(
        name: .customLong("image-map"), help: ArgumentHelp("Run image NAME from local directory DIR (repeatable).", valueName: "NAME=DIR"))
    var imageMaps: [String] = []
    @Option(help: "Container engine for images with no directory: docker, podman or none.") var containerEngine = "docker"

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be between 0 and 65535.") }
        _ = try accounts()
        let images: ImageMap
        do {
            images = try ImageMap(arguments: imageMaps, environment: ProcessInfo.processInfo.environment)
        } catch {
            throw ValidationError("--image-map: \(error)")
        }
        // A mistyped directory would otherwise surface only when a task fails to start, far from its cause.
        for (name, directory) in images.directories.sorted(by: { $0.key < $1.key }) {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
                let source = name.hasPrefix("env:") ? "SKIFF_IMAGE_\(name.dropFirst(4))" : "--image-map \(name)"
                throw ValidationError("\(source): \(directory) is not a directory.")
            }
        }
        for origin in allowedOrigins {
            guard let url = URL(string: origin), let scheme = url.scheme, ["http", "https"].contains(scheme), url.host != nil,
                url.path.isEmpty || url.path == "/", url.query == nil
            else {
                throw ValidationError("--allowed-origin takes an origin such as http://localhost:3000; got '\(origin)'.")
            }
        }
        for host in allowedHosts where host.isEmpty || host.contains(where: { $0 == "/" || $0 == " " || $0 == ":" && !host.hasPrefix("[") })
        {
            throw ValidationError("--allowed-host takes a host name such as skiff.internal, without a scheme or port; got '\(host)'.")
        }
        guard ["docker", "podman", "none"].contains(containerEngine) else {
            throw ValidationError("--container-engine must be docker, podman or none.")
        }
        guard ServerLogHandler.Format(rawValue: logFormat) != nil else {
            throw ValidationError("--log-format must be text or json.")
        }
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ValidationError("--log-level must be one of trace, debug, info, notice, warning, error, critical.")
        }
    }

    /// Raises the soft limit of open files to the hard limit where it is below what the server's connections and
    /// its database need, so that the connection limit, not the file limit, is what a flood of clients meets.
    static func raiseOpenFileLimit(toServe connections: Int) {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return }
        let wanted = rlim_t(connections + 256)
        guard limit.rlim_cur < wanted else { return }
        limit.rlim_cur = min(wanted, limit.rlim_max)
        _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
    }

    func run() async throws {
        let format = ServerLogHandler.Format(rawValue: logFormat) ?? .text
        LoggingSystem.bootstrap { _ in ServerLogHandler(format: format) }
        var logger = Logger(label: "skiff")
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .info
        var configuration = CloudConfiguration(
            host: host, port: port, stateDirectory: inMemory ? nil : stateDir, accounts: try accounts())
        configuration.imageDirectories = try ImageMap(arguments: imageMaps, environment: ProcessInfo.processInfo.environment).directories
        configuration.containerEngine = containerEngine == "none" ? nil : containerEngine
        configuration.allowedHosts = allowedHosts
        configuration.allowedOrigins = allowedOrigins
        Self.raiseOpenFileLimit(toServe: configuration.maximumConnections)
        CloudServer.prepareConnectionHandling(logger: logger)
        let database: CloudDatabase
        do {
            database = try CloudDatabase(stateDirectory: configuration.stateDirectory)
        } catch let error as StateDirectoryError {
            throw CommandFailure("cannot use the state directory: \(error)")
        } catch {
            throw CommandFailure("cannot open the state database in \(stateDir): \(error)")
        }
        let environment = ServiceEnvironment(database: database, logger: logger, configuration: configuration)
        let cloud = try Cloud(
            services: ServiceCatalog.services(environment: environment), environment: environment, freshSchema: ServiceCatalog.freshSchema)
        let server = CloudServer(cloud: cloud)
        let startupLogger = logger
        let listenHost = configuration.host
        do {
            try await server.run { port in
                startupLogger.notice(
                    "Skiff \(Cloud.version) listening on http://\(listenHost):\(port) (state: \(database.path ?? "in memory"))")
            }
            startupLogger.notice("Skiff stopped")
        } catch let error as IOError where error.errnoCode == EADDRINUSE {
            throw CommandFailure("cannot listen on \(host):\(port): the address is already in use (is another skiff up running?).")
        }
    }
}
