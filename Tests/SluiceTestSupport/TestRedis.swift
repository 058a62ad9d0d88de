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
    private static let installExitHandler: Void = {
        atexit { TestRedis.running.withLockedValue { servers in servers.forEach { $0.killImmediately() } } }
    }()

    private static let shared_ = SharedServer()

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
