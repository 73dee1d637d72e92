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
        .library(name: "Platform", targets: ["Platform"]),
        .library(name: "PlatformExample", targets: ["PlatformExample"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-collections", from: "1.1.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.1"),
    ],
    targets: [
        // Pure engines: no I/O.
        .target(name: "JSONCore", dependencies: [
            .product(name: "OrderedCollections", package: "swift-collections"),
        ]),
        .target(name: "JSONata", dependencies: ["JSONCore"]),
        .target(name: "States", dependencies: ["JSONCore", "JSONata"]),
        .target(name: "Schedules"),
        .target(name: "Platform", dependencies: [
            "JSONCore", "Schedules",
            .product(name: "Yams", package: "Yams"),
            .product(name: "OrderedCollections", package: "swift-collections"),
        ]),
        // The seeds' platform declared with Platform; used by `skiff synth` and the snapshot tests.
        .target(name: "PlatformExample", dependencies: ["Platform", "JSONCore"]),
        // Synthesizes the example platform until `skiff synth` lands on this branch.
        .executableTarget(name: "platform-synth", dependencies: ["Platform", "PlatformExample"]),

        .testTarget(name: "JSONCoreTests", dependencies: ["JSONCore"]),
        .testTarget(name: "JSONataTests", dependencies: ["JSONata"]),
        .testTarget(name: "StatesTests", dependencies: ["States"]),
        .testTarget(name: "SchedulesTests", dependencies: ["Schedules"]),
        .testTarget(name: "PlatformTests", dependencies: [
            "Platform", "PlatformExample", "JSONCore",
            .product(name: "Yams", package: "Yams"),
            .product(name: "OrderedCollections", package: "swift-collections"),
        ]),
    ]
)
