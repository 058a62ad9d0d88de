import SluiceRedis

/// Everything a `sluice` process is configured with. Read once at start from the environment
/// (`SLUICE_*`) with command-line flags taking precedence; a bad value stops start-up with a
/// message naming the variable.
public struct SluiceConfiguration: Sendable, Equatable {
    public enum LogFormat: String, Sendable, CaseIterable { case text, json }

    /// nil: start an embedded redis-server under `dataDirectory`.
    public var redisURL: String?
    /// Redis Cluster seeds (`SLUICE_REDIS_CLUSTER`); set instead of `redisURL`.
    public var redisCluster: String?
    /// Whether a Redis of the user's is configured (else `serve` starts an embedded one).
    public var hasExternalRedis: Bool { redisURL != nil || redisCluster != nil }
    public var host = "127.0.0.1"
    public var port = 8080
    public var keyPrefix = "sluice"
    public var partitions = 64
    public var apiKeysFile: String?
    /// Refuse to start without API keys (production).
    public var requireAuth = false
    /// `/metrics` without a key (for a scraper on a private network).
    public var metricsOpen = false
    public var retentionSeconds = 7 * 24 * 3600
    public var streamMaxLength = 10_000
    public var checkpointCap = 100
    public var checkpointMaxBytes = 1024 * 1024
    public var contextMaxBytes = 256 * 1024
    public var sseKeepaliveSeconds = 15
    public var sseMaxStreams = 20_000
    /// Installed by the executable before parsing (`ExecutorChoice.fromEnvironmentAndArguments`);
    /// kept here so the value is validated and documented with the others.
    public var executor = ExecutorChoice.swift
    /// How often an idle stream reads anyway while the wake-up subscription is live: every event
    /// written wakes its streams, and every (re)subscription wakes all, so this is only a safety
    /// net. While the subscription is down, streams read every `poll_ms` instead.
    public var sseSafetyPollMilliseconds = 10_000
    public var taskLeaseMilliseconds = 30_000
    public var sweepIntervalMilliseconds = 250
    public var redisTimeoutMilliseconds = 2_000
    /// How long a stopping process (SIGTERM, SIGINT) waits for in-flight requests and for its
    /// runner and sweeper to hand back what they hold before it cancels them and exits.
    public var shutdownGraceMilliseconds = 10_000
    /// Before the grace: serving on, with `Connection: close`, while a load balancer moves away.
    public var shutdownDrainMilliseconds = 0
    /// Where `http_request` may connect beyond public addresses (`SLUICE_HTTP_ALLOW`).
    public var httpAllow = EgressPolicy()
    public var logFormat = LogFormat.text
    public var logLevel = "info"
    /// Where the embedded Redis keeps its socket, AOF and log.
    public var dataDirectory = ".sluice"

    public init() {}

    public var keys: KeySchema { KeySchema(prefix: keyPrefix, partitions: partitions) }

    /// The Redis client configuration: from `redisURL`, or the embedded server's socket.
    public func redisConfiguration(embeddedSocket: String? = nil) throws(ConfigurationError) -> RedisConfiguration {
        var configuration: RedisConfiguration
        if let redisCluster {
            guard redisURL == nil else {
                throw ConfigurationError(variable: "SLUICE_REDIS_CLUSTER", message: "and SLUICE_REDIS_URL are both set: use one")
            }
            do {
                configuration = try RedisConfiguration(clusterURLs: redisCluster)
            } catch {
                throw ConfigurationError(variable: "SLUICE_REDIS_CLUSTER", message: error.description)
            }
        } else if let redisURL {
            do {
                configuration = try RedisConfiguration(url: redisURL)
            } catch {
                throw ConfigurationError(variable: "SLUICE_REDIS_URL", message: error.description)
            }
        } else if let embeddedSocket {
            configuration = RedisConfiguration(address: .unix(path: embeddedSocket))
        } else {
            throw ConfigurationError(variable: "SLUICE_REDIS_URL", message: "(or SLUICE_REDIS_CLUSTER) is required for this command")
        }
        configuration.commandTimeout = .milliseconds(Int64(redisTimeoutMilliseconds))
        configuration.connectTimeout = .milliseconds(Int64(redisTimeoutMilliseconds))
        return configuration
    }
}

/// A configuration value that cannot be used; the message names the variable.
public struct ConfigurationError: Error, Sendable, Equatable, CustomStringConvertible {
    public var variable: String
    public var message: String

    public init(variable: String, message: String) {
        self.variable = variable
        self.message = message
    }

    public var description: String { "\(variable) \(message)" }
}
