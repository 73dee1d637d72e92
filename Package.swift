// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "Skiff",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "JSONCore", targets: ["JSONCore"]),
        .library(name: "JSONata", targets: ["JSONata"]),
        .library(name: "States", targets: ["States"]),
        .library(name: "Schedules", targets: ["Schedules"]),
        .library(name: "EventPatterns", targets: ["EventPatterns"]),
        .library(name: "Platform", targets: ["Platform"]),
        .library(name: "PlatformExample", targets: ["PlatformExample"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-collections", from: "1.1.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.0"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.0.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.80.0"),
        .package(url: "https://github.com/apple/swift-crypto", "3.0.0"..<"5.0.0"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
    ],
    targets: [
        // Pure engines: no I/O.
        .target(name: "JSONCore", dependencies: [
            .product(name: "OrderedCollections", package: "swift-collections"),
        ]),
        .target(name: "JSONata", dependencies: ["JSONCore", .product(name: "Crypto", package: "swift-crypto")]),
        // The official JSONata suite runner (reads the suite's files; used by a test and a script).
        .target(name: "JSONataConformance", dependencies: ["JSONata", "JSONCore"]),
        .executableTarget(name: "jsonata-conformance", dependencies: ["JSONataConformance"]),
        .executableTarget(name: "states-bench", dependencies: ["States", "JSONCore"]),
        .executableTarget(name: "jsonata-bench", dependencies: ["JSONata", "JSONCore"]),
        .executableTarget(name: "jsoncore-bench", dependencies: ["JSONCore"]),
        .target(name: "States", dependencies: ["JSONCore", "JSONata", .product(name: "Crypto", package: "swift-crypto")]),
        .target(name: "Schedules", dependencies: ["JSONCore"]),
        .target(name: "EventPatterns", dependencies: ["JSONCore"]),
        .target(name: "Platform", dependencies: [
            "JSONCore", "Schedules",
            .product(name: "Yams", package: "Yams"),
            .product(name: "OrderedCollections", package: "swift-collections"),
        ]),
        // The seeds' platform declared with Platform; used by `skiff synth` and the snapshot tests.
        .target(name: "PlatformExample", dependencies: ["Platform", "JSONCore"]),

        // Wire protocols: routing keys, SigV4, AWS errors, shape decoding and validation.
        .target(name: "AWSProtocol", dependencies: ["JSONCore", .product(name: "Crypto", package: "swift-crypto")]),

        // The local cloud: a core (server, routing, persistence) and one target per AWS service,
        // each in its folder under Sources/LocalCloud.
        .target(
            name: "LocalCloud",
            dependencies: [
                "JSONCore", "AWSProtocol",
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Sources/LocalCloud/Core"
        ),
        .target(name: "STSService", dependencies: ["LocalCloud"], path: "Sources/LocalCloud/STSService"),
        .target(name: "StepFunctionsService", dependencies: [
            "LocalCloud", "States", .product(name: "GRDB", package: "GRDB.swift"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"), .product(name: "Logging", package: "swift-log"),
        ], path: "Sources/LocalCloud/StepFunctionsService"),
        .target(name: "TaskRunners", dependencies: ["LocalCloud", "JSONCore"], path: "Sources/LocalCloud/TaskRunners"),
        .target(name: "ECSService", dependencies: [
            "LocalCloud", "TaskRunners", .product(name: "Crypto", package: "swift-crypto"),
        ], path: "Sources/LocalCloud/ECSService"),
        .target(name: "LogsService", dependencies: ["LocalCloud"], path: "Sources/LocalCloud/LogsService"),
        // What Scheduler and EventBridge share to call targets when something is due: the fire queue, its clock,
        // the target calls and their retries.
        .target(name: "TargetDelivery", dependencies: [
            "LocalCloud", "Schedules", .product(name: "HeapModule", package: "swift-collections"),
        ], path: "Sources/LocalCloud/TargetDelivery"),
        .target(name: "SchedulerService", dependencies: [
            "LocalCloud", "Schedules", "TargetDelivery", .product(name: "GRDB", package: "GRDB.swift"),
            .product(name: "Logging", package: "swift-log"),
        ], path: "Sources/LocalCloud/SchedulerService"),
        .target(name: "EventsService", dependencies: [
            "LocalCloud", "Schedules", "EventPatterns", "TargetDelivery", .product(name: "GRDB", package: "GRDB.swift"),
            .product(name: "Logging", package: "swift-log"),
        ], path: "Sources/LocalCloud/EventsService"),

        .target(name: "CloudCatalog", dependencies: [
            "LocalCloud", "STSService", "StepFunctionsService", "ECSService", "LogsService", "TaskRunners", "SchedulerService", "EventsService",
        ], path: "Sources/LocalCloud/CloudCatalog"),

        // What tests of the local cloud share, as HummingbirdTesting is for Hummingbird's: a cloud made for a test,
        // calls in each wire protocol through the real router, and the real server on a loopback port.
        .target(name: "LocalCloudTesting", dependencies: [
            "LocalCloud", "AWSProtocol", "JSONCore", .product(name: "Logging", package: "swift-log"),
        ]),

        .executableTarget(
            name: "skiff",
            dependencies: [
                "LocalCloud", "CloudCatalog", "AWSProtocol", "STSService", "StepFunctionsService", "ECSService", "LogsService", "TaskRunners",
                "SchedulerService", "EventsService", "JSONata", "States", "Schedules", "Platform", "PlatformExample",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),

        .testTarget(name: "AWSProtocolTests", dependencies: ["AWSProtocol"]),
        .testTarget(name: "CloudCatalogTests", dependencies: ["CloudCatalog", "LocalCloud", "LocalCloudTesting", .product(name: "GRDB", package: "GRDB.swift")]),
        .testTarget(name: "LocalCloudTests", dependencies: [
            "LocalCloud", "LocalCloudTesting", "STSService", .product(name: "GRDB", package: "GRDB.swift"),
            .product(name: "HummingbirdTesting", package: "hummingbird"),
            .product(name: "HTTPTypes", package: "swift-http-types"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),
        .testTarget(name: "SchedulerServiceTests", dependencies: ["SchedulerService", "TargetDelivery", "LocalCloud", "LocalCloudTesting"]),
        .testTarget(name: "EventsServiceTests", dependencies: ["EventsService", "TargetDelivery", "LocalCloud", "LocalCloudTesting"]),
        .testTarget(name: "JSONCoreTests", dependencies: ["JSONCore"]),
        .testTarget(name: "TaskRunnersTests", dependencies: ["TaskRunners"]),
        .testTarget(name: "LogsServiceTests", dependencies: ["LogsService", "LocalCloud", "LocalCloudTesting"]),
        .testTarget(name: "ECSServiceTests", dependencies: ["ECSService", "LogsService", "TaskRunners", "LocalCloud", "LocalCloudTesting"]),
        .testTarget(name: "JSONataTests", dependencies: ["JSONata", "JSONataConformance"], exclude: ["known-failures.tsv"]),
        .testTarget(name: "StatesTests", dependencies: ["States"]),
        .testTarget(name: "StepFunctionsServiceTests", dependencies: [
            "StepFunctionsService", "LocalCloud", "LocalCloudTesting", .product(name: "GRDB", package: "GRDB.swift"),
        ]),
        .testTarget(name: "SchedulesTests", dependencies: ["Schedules"]),
        .testTarget(name: "EventPatternsTests", dependencies: ["EventPatterns", "JSONCore"]),
        .testTarget(name: "PlatformTests", dependencies: [
            "Platform", "PlatformExample", "JSONCore", "States",
            .product(name: "Yams", package: "Yams"),
            .product(name: "OrderedCollections", package: "swift-collections"),
        ], exclude: ["Snapshots"]),
    ]
)
