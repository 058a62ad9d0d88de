import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import SluiceProcess
import SluiceRedis

/// Real `redis-server` processes for tests, each on a unix socket in its own temp directory.
/// Most tests share one server per test process (`TestRedis.shared()`) and isolate themselves
/// with a unique key prefix (`TestRedis.uniquePrefix()`); tests that stop or kill Redis start
/// their own with `TestRedis.start()`.
public enum TestRedis {
    /// One start, however many tests ask at once (an actor alone would re-enter and start several).
    private actor SharedServer {
        var starting: Task<RedisServerProcess, any Error>?
        func get() async throws -> RedisServerProcess {
            if let starting { return try await starting.value }
            let task = Task { try await TestRedis.start() }
            starting = task
            return try await task.value
        }
    }

    /// Servers still running when the test process exits are stopped then.
    private static let running = NIOLockedValueBox<[RedisServerProcess]>([])
    /// Directories removed at exit (the shared cluster's lives as long as the process).
    private static let directories = NIOLockedValueBox<[String]>([])
    private static let installExitHandler: Void = {
        atexit {
            TestRedis.running.withLockedValue { servers in servers.forEach { $0.killImmediately() } }
            TestRedis.directories.withLockedValue { $0.forEach { try? FileManager.default.removeItem(atPath: $0) } }
        }
    }()

    private static let shared_ = SharedServer()

    /// One cluster start, however many tests ask at once.
    private actor SharedCluster {
        var starting: Task<TestRedisCluster, any Error>?
        func get() async throws -> TestRedisCluster {
            if let starting { return try await starting.value }
            let task = Task { try await TestRedisCluster.start() }
            starting = task
            return try await task.value
        }
    }

    private static let sharedCluster_ = SharedCluster()

    /// `SLUICE_TEST_REDIS=cluster`: the suite's applications use a shared Redis Cluster (3
    /// primaries, 3 replicas) instead of the shared single server (`make test` runs both).
    public static let usesCluster = ProcessInfo.processInfo.environment["SLUICE_TEST_REDIS"] == "cluster"

    /// The test process's shared cluster, started on first use.
    public static func sharedCluster() async throws -> TestRedisCluster {
        try await sharedCluster_.get()
    }

    /// The client configuration of the shared Redis the suite runs against: the cluster with
    /// `SLUICE_TEST_REDIS=cluster`, else the single server.
    public static func sharedConfiguration() async throws -> RedisConfiguration {
        usesCluster ? try await sharedCluster().clientConfiguration : try await shared().clientConfiguration
    }

    /// The environment that points a `sluice` process at the suite's shared Redis:
    /// `SLUICE_REDIS_CLUSTER` with `SLUICE_TEST_REDIS=cluster`, else `SLUICE_REDIS_URL`.
    public static func sharedEnvironment() async throws -> [String: String] {
        if usesCluster { return ["SLUICE_REDIS_CLUSTER": try await sharedCluster().seedsURL] }
        return ["SLUICE_REDIS_URL": "unix://\(try await shared().socketPath)"]
    }

    /// A server started elsewhere (the cluster's nodes) that must also stop when the test process exits.
    static func track(_ server: RedisServerProcess) {
        _ = installExitHandler
        running.withLockedValue { $0.append(server) }
    }

    /// A directory to remove when the test process exits, if nobody removed it before.
    static func track(directory: String) {
        _ = installExitHandler
        directories.withLockedValue { $0.append(directory) }
    }

    /// The test process's shared server, started on first use.
    public static func shared() async throws -> RedisServerProcess {
        try await shared_.get()
    }

    /// A new server of the test's own (stopped when the returned object goes away).
    public static func start(appendOnly: Bool = false, tcpPort: Int? = nil, extraArguments: [String] = []) async throws -> RedisServerProcess {
        let directory = NSTemporaryDirectory() + "sluice-test-" + UUID().uuidString.prefix(8)
        let server = try RedisServerProcess(
            options: .init(directory: directory, appendOnly: appendOnly, tcpPort: tcpPort, extraArguments: extraArguments))
        _ = installExitHandler
        running.withLockedValue { $0.append(server) }
        try await server.start()
        return server
    }

    /// A key prefix no other test uses.
    public static func uniquePrefix(_ label: String = "t") -> String {
        "\(label)-\(UUID().uuidString.prefix(12).lowercased())"
    }

    /// A TCP port that was free a moment ago on 127.0.0.1.
    public static func freePort() throws -> Int {
        let channel = try ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .bind(host: "127.0.0.1", port: 0).wait()
        defer { try? channel.close().wait() }
        return channel.localAddress?.port ?? 0
    }
}

/// Polls `condition` until it holds or `timeout` passes; returns whether it held.
public func eventually(timeout: Duration = .seconds(5), every interval: Duration = .milliseconds(20), _ condition: () async throws -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if (try? await condition()) == true { return true }
        try? await Task.sleep(for: interval)
    }
    return (try? await condition()) == true
}

/// A TCP server on 127.0.0.1 that accepts connections and never answers: a step that calls it
/// stays running until its own timeout.
public final class SilentServer: Sendable {
    let channel: any Channel
    public var port: Int { channel.localAddress?.port ?? 0 }

    public init() throws {
        channel = try ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .bind(host: "127.0.0.1", port: 0).wait()
    }

    deinit { channel.close(promise: nil) }
}
