// swift-tools-version:6.0
import PackageDescription

// Sluice: a durable workflow runtime whose whole state lives in Redis.
// Layering (each target depends only on the ones above it):
//   CHiredis      C bridge to hiredis (RESP encoding and reply parsing)
//   SluiceRedis   the Redis client: SwiftNIO I/O + hiredis, pipelining, pool, pub/sub
//   SluiceProcess child processes through swift-subprocess (redis-server, servers under test)
//   SluiceCore    domain types, configuration, key schema, Lua scripts, stores
//   SluiceEngine  runner and sweeper loops, built-in handlers, their wiring (EngineServices)
//   SluiceServer  HTTP API (Hummingbird), SSE, metrics, embedded Redis
//   sluice        the command-line executable
let package = Package(
    name: "sluice",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "sluice", targets: ["sluice"]),
        .library(name: "SluiceRedis", targets: ["SluiceRedis"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-collections.git", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-auth.git", from: "2.5.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
        // The console's server-rendered pages (Sources/SluiceServer/Console, templates in console/).
        .package(url: "https://github.com/hummingbird-project/swift-mustache.git", from: "2.1.1"),
        // Test-only: parse and validate openapi.yaml against the router (OpenAPIContractTests).
        .package(url: "https://github.com/mattpolzin/OpenAPIKit.git", from: "6.4.0"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.0.0"),
        .package(url: "https://github.com/swiftlang/swift-subprocess.git", from: "1.0.2"),
        .package(url: "https://github.com/apple/swift-system.git", from: "1.5.0"),
    ],
    targets: [
        .systemLibrary(
            name: "CHiredis",
            pkgConfig: "hiredis",
            providers: [.apt(["libhiredis-dev"])]
        ),
        .target(
            name: "SluiceRedis",
            dependencies: [
                "CHiredis",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .target(
            name: "SluiceProcess",
            dependencies: [
                "SluiceRedis",
                .product(name: "Subprocess", package: "swift-subprocess"),
                .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
        // Compiles lua/, openapi.yaml and console/ into the binary (Plugins/EmbedResources).
        .executableTarget(
            name: "ResourceEmbedder",
            path: "Plugins/ResourceEmbedder"
        ),
        .plugin(
            name: "EmbedResources",
            capability: .buildTool(),
            dependencies: ["ResourceEmbedder"]
        ),
        .target(
            name: "SluiceCore",
            dependencies: [
                "SluiceRedis",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            plugins: ["EmbedResources"]
        ),
        .target(
            name: "SluiceEngine",
            dependencies: [
                "SluiceCore",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        .target(
            name: "SluiceServer",
            dependencies: [
                "SluiceCore",
                "SluiceEngine",
                "SluiceProcess",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdAuth", package: "hummingbird-auth"),
                .product(name: "Mustache", package: "swift-mustache"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            plugins: ["EmbedResources"]
        ),
        .executableTarget(
            name: "sluice",
            dependencies: [
                "SluiceServer", "SluiceEngine", "SluiceProcess", "SluiceRedis",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ]
        ),
        // Benchmark load generators (bench/README.md); built in release by the bench/ scripts.
        .executableTarget(
            name: "sluice-bench",
            dependencies: [
                "SluiceRedis",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            path: "bench/SluiceBench"
        ),
        // Shared by the test targets: starts a real redis-server on a unix socket in a temp dir.
        .target(
            name: "SluiceTestSupport",
            dependencies: ["SluiceRedis", "SluiceProcess"],
            path: "Tests/SluiceTestSupport"
        ),
        .testTarget(name: "SluiceRedisTests", dependencies: [
            "SluiceRedis", "CHiredis", "SluiceProcess", "SluiceTestSupport", .product(name: "NIOEmbedded", package: "swift-nio"),
        ]),
        .testTarget(name: "SluiceCoreTests", dependencies: ["SluiceCore", "SluiceProcess", "SluiceTestSupport"]),
        .testTarget(
            name: "SluiceServerTests",
            dependencies: [
                "SluiceServer", "SluiceProcess", "SluiceTestSupport",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "OpenAPIKit", package: "OpenAPIKit"),
                .product(name: "Yams", package: "Yams"),
            ]
        ),
    ]
)
