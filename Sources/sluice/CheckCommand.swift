import ArgumentParser
import Logging
import SluiceCore
import SluiceRedis

/// `sluice check`: walks the deployment's keys and prints one line per inconsistency, then a
/// summary; exit status 1 when anything was found. Read-only; run it after an incident (or after
/// `make fuzz`). Needs SLUICE_REDIS_URL and the deployment's SLUICE_KEY_PREFIX / SLUICE_PARTITIONS.
struct CheckCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check", abstract: "Report inconsistencies in a deployment's Redis data (needs SLUICE_REDIS_URL).")

    @OptionGroup var options: ConfigurationOptions

    func run() async throws {
        let (configuration, redisConfiguration) = try options.loadWithRedis()
        let redis = RedisClient(configuration: redisConfiguration, logger: Logger(label: "sluice.redis"))
        defer { redis.shutdown() }
        let report = try await ConsistencyCheck(redis: redis, keys: configuration.keys).run()
        for finding in report.findings { printLine(finding.description) }
        printLine(report.summary)
        if !report.findings.isEmpty { throw ExitCode(1) }
    }
}
