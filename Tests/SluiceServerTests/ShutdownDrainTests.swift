import Hummingbird
import HummingbirdTesting
import Logging
import NIOConcurrencyHelpers
import ServiceLifecycle
import SluiceCore
import SluiceRedis
import SluiceServer
import SluiceTestSupport
import Testing

/// The drain that precedes an API node's shutdown behind a load balancer (SLUICE_SHUTDOWN_DRAIN_MS):
/// found by `make faults` (rolling restart), where nginx sent a POST on a pooled connection just as
/// a stopping node closed it and answered the client 502.
@Suite struct ShutdownDrainTests {
    /// The application on the shared Redis, with a drain the test begins (and the console when
    /// asked for).
    static func withDrainableApplication(
        _ label: String, console: Bool = false,
        _ body: @escaping @Sendable (any TestClientProtocol, ShutdownDrain, SluiceConfiguration) async throws -> Void
    ) async throws {
        let server = try await TestRedis.shared()
        let redis = RedisClient(configuration: server.clientConfiguration)
        defer { redis.shutdown() }
        let drain = ShutdownDrain(milliseconds: 1000)
        var configuration = SluiceConfiguration()
        configuration.keyPrefix = TestRedis.uniquePrefix(label)
        let dependencies = ServerDependencies(configuration: configuration, redis: redis, console: console, drain: drain)
        try await buildApplication(dependencies, logger: Logger(label: "test")).test(.router) { client in
            try await body(client, drain, dependencies.configuration)
        }
    }

    @Test func whileDrainingEveryAnswerClosesItsConnectionAndReadinessIs503() async throws {
        try await Self.withDrainableApplication("drain") { client, drain, _ in
            try await client.execute(uri: "/readyz", method: .get) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.connection] == nil)
            }
            drain.begin()
            try await client.execute(uri: "/readyz", method: .get) { response in
                #expect(response.status == .serviceUnavailable)
                #expect(response.headers[.connection] == "close")
            }
            // Still serving: the process is alive and answers, only asking the client to go.
            try await client.execute(uri: "/healthz", method: .get) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.connection] == "close")
            }
            try await client.execute(uri: "/no-such-route", method: .get) { response in
                #expect(response.status == .notFound)
                #expect(response.headers[.connection] == "close")
            }
        }
    }

    /// Records when its graceful shutdown arrived (the stand-in for the HTTP server).
    final class ShutdownRecorder: Service, Sendable {
        let arrived = NIOLockedValueBox<ContinuousClock.Instant?>(nil)
        let drain: ShutdownDrain
        let drainingWhenSignalled = NIOLockedValueBox<Bool?>(nil)
        let running = NIOLockedValueBox(false)
        init(drain: ShutdownDrain) { self.drain = drain }
        func run() async throws {
            running.withLockedValue { $0 = true }
            try? await gracefulShutdown()
            arrived.withLockedValue { $0 = .now }
            drainingWhenSignalled.withLockedValue { $0 = drain.isDraining }
        }
    }

    @Test func theServerIsToldToStopOnlyAfterTheDrain() async throws {
        let drain = ShutdownDrain(milliseconds: 300)
        let server = ShutdownRecorder(drain: drain)
        // As `sluice serve` lists them: the drain after the server, so it is stopped first.
        let group = ServiceGroup(configuration: .init(services: [.init(service: server), .init(service: drain)], logger: Logger(label: "test")))
        var started = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            #expect(await eventually(timeout: .seconds(30)) { server.running.withLockedValue { $0 } })
            #expect(!drain.isDraining)
            started = .now
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
        let arrived = try #require(server.arrived.withLockedValue { $0 })
        #expect(arrived - started >= .milliseconds(300))
        #expect(server.drainingWhenSignalled.withLockedValue { $0 } == true)
    }

    @Test func withoutADrainTheServerIsToldAtOnce() async throws {
        let drain = ShutdownDrain(milliseconds: 0)
        let server = ShutdownRecorder(drain: drain)
        let group = ServiceGroup(configuration: .init(services: [.init(service: server), .init(service: drain)], logger: Logger(label: "test")))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            #expect(await eventually(timeout: .seconds(30)) { server.running.withLockedValue { $0 } })
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
        #expect(server.drainingWhenSignalled.withLockedValue { $0 } == false)
    }
}
