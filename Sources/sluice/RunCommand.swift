import ArgumentParser
import Logging
import ServiceLifecycle
import SluiceCore
import SluiceRedis
import SluiceEngine

/// `sluice run`: the runner loop only (no HTTP). Needs SLUICE_REDIS_URL.
struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "run", abstract: "Run the runner loop only (needs SLUICE_REDIS_URL).")

    @OptionGroup var options: ConfigurationOptions

    func run() async throws {
        try await BackgroundProcess.run(options: options, runner: true, sweeper: false)
    }
}

/// `sluice sweep`: the sweeper loop only (no HTTP). Needs SLUICE_REDIS_URL.
struct SweepCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "sweep", abstract: "Run the sweeper loop only (needs SLUICE_REDIS_URL).")

    @OptionGroup var options: ConfigurationOptions

    func run() async throws {
        try await BackgroundProcess.run(options: options, runner: false, sweeper: true)
    }
}

/// A process without HTTP: the wake-up subscription plus the runner and/or the sweeper.
enum BackgroundProcess {
    static func run(options: ConfigurationOptions, runner: Bool, sweeper: Bool) async throws {
        let (configuration, redisConfiguration) = try options.loadWithRedis()
        let logger = LogSetup.bootstrap(configuration)
        let redis = RedisClient(configuration: redisConfiguration, logger: Logger(label: "sluice.redis"))
        do {
            _ = try await Startup.ensureDeployment(configuration: configuration, redis: redis, logger: logger)
        } catch { throw StartupFailure.exit(error) }
        let engine = EngineServices.make(
            configuration: configuration, redisConfiguration: redisConfiguration, redis: redis, runner: runner, sweeper: sweeper, logger: logger)
        // The client first: stopped last, after the loops have handed back what they hold.
        let group = ProcessLifecycle.group([redis] + engine.services, configuration: configuration, logger: logger)
        logger.info("started", metadata: ["redis": "\(redisConfiguration.address)", "runner": "\(runner)", "sweeper": "\(sweeper)"])
        try await group.run()
    }
}
