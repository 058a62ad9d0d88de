import ArgumentParser
import Foundation
import Hummingbird
import Logging
import ServiceLifecycle
import SluiceCore
import SluiceEngine
import SluiceProcess
import SluiceRedis
import SluiceServer

/// `sluice serve`: the HTTP API, plus (unless disabled) the runner and sweeper loops.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve the HTTP API (with an embedded redis-server when SLUICE_REDIS_URL is unset).")

    @OptionGroup var options: ConfigurationOptions
    @Flag(help: "Do not run the runner loop in this process (pure API node).") var noRunner = false
    @Flag(help: "Do not run the deadline sweeper loop in this process.") var noSweeper = false
    @Flag(help: "Add GET /bench/noop, the HTTP floor used by the benchmarks.") var benchRoutes = false

    func run() async throws {
        let configuration: SluiceConfiguration
        do { configuration = try options.load() } catch { throw StartupFailure.exit(error) }
        let logger = LogSetup.bootstrap(configuration)
        // Before anything touches Redis: the client's metrics (a static Timer) bind to whatever
        // metrics system exists when first used, and the deployment check below is a first use.
        let registry = SluiceMetrics.registry()
        let apiKeys: APIKeyRing
        do { apiKeys = try APIKeys.load(configuration, logger: logger) } catch { throw StartupFailure.exit(error) }

        var services: [any Service] = []
        let redisConfiguration: RedisConfiguration
        do {
            if !configuration.hasExternalRedis {
                let embedded = try await EmbeddedRedis.start(dataDirectory: configuration.dataDirectory, logger: logger)
                services.append(embedded)
                redisConfiguration = try configuration.redisConfiguration(embeddedSocket: embedded.process.socketPath)
            } else {
                redisConfiguration = try configuration.redisConfiguration()
            }
        } catch {
            throw StartupFailure.exit(error)
        }

        let redis = RedisClient(configuration: redisConfiguration, logger: Logger(label: "sluice.redis"))
        do {
            let meta = try await Startup.ensureDeployment(configuration: configuration, redis: redis, logger: logger)
            logger.info("deployment ready", metadata: [
                "redis": "\(redisConfiguration.address)", "prefix": "\(configuration.keyPrefix)",
                "partitions": "\(meta.partitions)", "new": "\(meta.created)",
            ])
        } catch {
            for service in services.reversed() { await (service as? EmbeddedRedis)?.process.stop() }
            throw StartupFailure.exit(error)
        }

        APIKeys.warnIfOpen(apiKeys, logger: logger)
        let wakes = WakeRegistry()
        let drain = ShutdownDrain(milliseconds: configuration.shutdownDrainMilliseconds)
        let engine = EngineServices.make(
            configuration: configuration, redisConfiguration: redisConfiguration, redis: redis, runner: !noRunner, sweeper: !noSweeper,
            wakes: wakes, logger: logger)
        let app = buildApplication(
            ServerDependencies(
                configuration: configuration, redis: redis, registry: registry, benchRoutes: benchRoutes, wakes: wakes, apiKeys: apiKeys,
                console: true, drain: drain),
            services: apiKeys.isOpen ? [] : [APIKeyReloader(ring: apiKeys, logger: logger)], logger: logger)
        // Stopped in reverse: the runner and sweeper first (they hand back what they hold, in
        // milliseconds), then the drain (the server serves on with Connection: close), then the
        // HTTP server (stops accepting, ends streams and long-polls, finishes requests in flight),
        // then the subscription, the Redis client's connections, the embedded Redis last.
        services += [redis, engine.subscription, app, drain] + engine.loops
        try await ProcessLifecycle.group(services, configuration: configuration, logger: logger).run()
    }
}

enum Startup {
    /// Records or checks the partition count. Redis may still be starting (compose brings
    /// services up together), so connectivity failures are retried for a while.
    static func ensureDeployment(configuration: SluiceConfiguration, redis: RedisClient, logger: Logger) async throws -> DeploymentMeta {
        let deadline = ContinuousClock.now + .seconds(30)
        while true {
            do {
                let now = Int64(Date().timeIntervalSince1970 * 1000)
                return try await DeploymentMeta.ensure(keys: configuration.keys, redis: redis, nowMilliseconds: now)
            } catch let error as RedisClientError where error.isConnectivity && ContinuousClock.now < deadline {
                logger.warning("waiting for redis", metadata: ["error": "\(error.message)"])
                try await Task.sleep(for: .milliseconds(500))
            }
        }
    }
}
