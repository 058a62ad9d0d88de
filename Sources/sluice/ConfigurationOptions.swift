import ArgumentParser
import Foundation
import SluiceCore
import SluiceRedis

/// The configuration flags shared by every long-running command. Each flag overrides the
/// environment variable of the same setting (see `SluiceConfiguration.variables`).
struct ConfigurationOptions: ParsableArguments {
    @Option(help: "SLUICE_REDIS_URL: redis://host:port/db or unix:///path (default: embedded redis-server)") var redisURL: String?
    @Option(help: "SLUICE_REDIS_CLUSTER: Redis Cluster seeds, redis://h1:p1,redis://h2:p2 (instead of --redis-url)") var redisCluster: String?
    @Option(help: "SLUICE_HOST: address to listen on (default 127.0.0.1)") var host: String?
    @Option(help: "SLUICE_PORT: HTTP port (default 8080)") var port: String?
    @Option(help: "SLUICE_KEY_PREFIX (default sluice)") var keyPrefix: String?
    @Option(help: "SLUICE_PARTITIONS (default 64, fixed for a deployment)") var partitions: String?
    @Option(help: "SLUICE_API_KEYS_FILE: JSON list of API keys (default: open API)") var apiKeysFile: String?
    @Option(help: "SLUICE_REQUIRE_AUTH: true refuses to start without API keys") var requireAuth: String?
    @Option(help: "SLUICE_METRICS_OPEN: true serves /metrics without a key") var metricsOpen: String?
    @Option(help: "SLUICE_RETENTION_SECONDS (default 604800)") var retentionSeconds: String?
    @Option(help: "SLUICE_STREAM_MAXLEN (default 10000)") var streamMaxlen: String?
    @Option(help: "SLUICE_CHECKPOINT_CAP (default 100)") var checkpointCap: String?
    @Option(help: "SLUICE_CHECKPOINT_MAX_BYTES (default 1048576)") var checkpointMaxBytes: String?
    @Option(help: "SLUICE_CONTEXT_MAX_BYTES (default 262144)") var contextMaxBytes: String?
    @Option(help: "SLUICE_SSE_KEEPALIVE_SECONDS (default 15)") var sseKeepaliveSeconds: String?
    @Option(help: "SLUICE_SSE_MAX_STREAMS (default 20000)") var sseMaxStreams: String?
    @Option(help: "SLUICE_SSE_SAFETY_POLL_MS: idle stream reads while wake-ups are live (default 10000)") var sseSafetyPollMs: String?
    @Option(help: "SLUICE_EXECUTOR: swift (the cooperative pool) or nio (NIO's event loops) (default swift)") var executor: String?
    @Option(help: "SLUICE_TASK_LEASE_MS (default 30000)") var taskLeaseMs: String?
    @Option(help: "SLUICE_SWEEP_INTERVAL_MS (default 250)") var sweepIntervalMs: String?
    @Option(help: "SLUICE_REDIS_TIMEOUT_MS (default 2000)") var redisTimeoutMs: String?
    @Option(help: "SLUICE_SHUTDOWN_GRACE_MS: on SIGTERM, how long in-flight requests may take (default 10000)") var shutdownGraceMs: String?
    @Option(help: "SLUICE_SHUTDOWN_DRAIN_MS: on SIGTERM, how long the API serves on with Connection: close first (default 0)") var shutdownDrainMs: String?
    @Option(help: "SLUICE_HTTP_ALLOW: hosts, addresses, CIDRs http_request may reach besides public addresses (* for any)") var httpAllow: String?
    @Option(help: "SLUICE_LOG_FORMAT: text or json") var logFormat: String?
    @Option(help: "SLUICE_LOG_LEVEL (default info)") var logLevel: String?
    @Option(help: "SLUICE_DATA_DIR: embedded Redis directory (default .sluice)") var dataDir: String?

    /// Flag values keyed by their variable names.
    var overrides: [String: String] {
        let pairs: [(String, String?)] = [
            ("SLUICE_REDIS_URL", redisURL), ("SLUICE_REDIS_CLUSTER", redisCluster), ("SLUICE_HOST", host), ("SLUICE_PORT", port),
            ("SLUICE_KEY_PREFIX", keyPrefix), ("SLUICE_PARTITIONS", partitions), ("SLUICE_API_KEYS_FILE", apiKeysFile),
            ("SLUICE_REQUIRE_AUTH", requireAuth), ("SLUICE_METRICS_OPEN", metricsOpen),
            ("SLUICE_RETENTION_SECONDS", retentionSeconds), ("SLUICE_STREAM_MAXLEN", streamMaxlen),
            ("SLUICE_CHECKPOINT_CAP", checkpointCap), ("SLUICE_CHECKPOINT_MAX_BYTES", checkpointMaxBytes),
            ("SLUICE_CONTEXT_MAX_BYTES", contextMaxBytes), ("SLUICE_SSE_KEEPALIVE_SECONDS", sseKeepaliveSeconds),
            ("SLUICE_SSE_MAX_STREAMS", sseMaxStreams), ("SLUICE_SSE_SAFETY_POLL_MS", sseSafetyPollMs), ("SLUICE_EXECUTOR", executor),
            ("SLUICE_TASK_LEASE_MS", taskLeaseMs),
            ("SLUICE_SWEEP_INTERVAL_MS", sweepIntervalMs), ("SLUICE_REDIS_TIMEOUT_MS", redisTimeoutMs),
            ("SLUICE_SHUTDOWN_GRACE_MS", shutdownGraceMs), ("SLUICE_SHUTDOWN_DRAIN_MS", shutdownDrainMs), ("SLUICE_HTTP_ALLOW", httpAllow),
            ("SLUICE_LOG_FORMAT", logFormat), ("SLUICE_LOG_LEVEL", logLevel), ("SLUICE_DATA_DIR", dataDir),
        ]
        return Dictionary(uniqueKeysWithValues: pairs.compactMap { name, value in value.map { (name, $0) } })
    }

    /// For commands that need an explicit Redis (`run`, `sweep`, `check`): the configuration
    /// and its Redis client configuration, or exit 2 with one line naming the bad variable.
    func loadWithRedis() throws -> (SluiceConfiguration, RedisConfiguration) {
        do {
            let configuration = try load()
            return (configuration, try configuration.redisConfiguration())
        } catch { throw StartupFailure.exit(error) }
    }

    /// The effective configuration, or exit 2 with one line naming the bad variable.
    func load() throws -> SluiceConfiguration {
        do {
            return try SluiceConfiguration.load(environment: ProcessInfo.processInfo.environment, overrides: overrides)
        } catch {
            throw StartupFailure("\(error)")
        }
    }
}

/// A start-up problem the user can fix: printed as one line, exit status 2, no stack trace.
struct StartupFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

extension StartupFailure {
    static func exit(_ error: any Error) -> ExitCode {
        FileHandle.standardError.write(Data("sluice: \(error)\n".utf8))
        return ExitCode(2)
    }
}
