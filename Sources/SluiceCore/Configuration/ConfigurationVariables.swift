import SluiceRedis

/// The configuration variables, their flags, defaults and meaning: the single table from which
/// the environment is read, the CLI maps its flags, and the README's table is checked.
public struct ConfigurationVariable: Sendable {
    public let name: String
    public let flag: String
    public let defaultValue: String
    public let summary: String
    let apply: @Sendable (inout SluiceConfiguration, String) throws(ConfigurationError) -> Void
}

extension SluiceConfiguration {
    public static let variables: [ConfigurationVariable] = [
        .init(name: "SLUICE_REDIS_URL", flag: "redis-url", defaultValue: "(embedded)",
              summary: "redis://[user:password@]host:port/db or unix:///path?db=N&password=P; unset: embedded redis-server") { c, v throws(ConfigurationError) in
            do { _ = try RedisConfiguration(url: v) } catch {
                throw ConfigurationError(variable: "SLUICE_REDIS_URL", message: "\(error)")
            }
            c.redisURL = v
        },
        .init(name: "SLUICE_REDIS_CLUSTER", flag: "redis-cluster", defaultValue: "(none)",
              summary: "Redis Cluster seed nodes: redis://h1:p1,redis://h2:p2,... or redis+cluster://[user:password@]h1:p1,h2:p2; instead of SLUICE_REDIS_URL") { c, v throws(ConfigurationError) in
            do { _ = try RedisConfiguration(clusterURLs: v) } catch {
                throw ConfigurationError(variable: "SLUICE_REDIS_CLUSTER", message: "\(error)")
            }
            c.redisCluster = v
        },
        .init(name: "SLUICE_HOST", flag: "host", defaultValue: "127.0.0.1", summary: "address the HTTP API listens on") { c, v throws(ConfigurationError) in
            guard !v.isEmpty else { throw ConfigurationError(variable: "SLUICE_HOST", message: "must not be empty") }
            c.host = v
        },
        .init(name: "SLUICE_PORT", flag: "port", defaultValue: "8080", summary: "HTTP port (0 picks a free one)") { c, v throws(ConfigurationError) in
            c.port = try integer(v, "SLUICE_PORT", in: 0...65535)
        },
        .init(name: "SLUICE_KEY_PREFIX", flag: "key-prefix", defaultValue: "sluice", summary: "prefix of every Redis key") { c, v throws(ConfigurationError) in
            guard !v.isEmpty, v.count <= 64, v.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_.".contains($0)) }) else {
                throw ConfigurationError(variable: "SLUICE_KEY_PREFIX", message: "must be 1-64 characters of A-Z a-z 0-9 - _ . (got '\(v)')")
            }
            c.keyPrefix = v
        },
        .init(name: "SLUICE_PARTITIONS", flag: "partitions", defaultValue: "64",
              summary: "partition count; fixed for the life of a deployment (recorded in Redis)") { c, v throws(ConfigurationError) in
            c.partitions = try integer(v, "SLUICE_PARTITIONS", in: 1...16384)
        },
        .init(name: "SLUICE_API_KEYS_FILE", flag: "api-keys-file", defaultValue: "(open API)",
              summary: "JSON list of {name, key, role, tenant?}; unset: no authentication (development)") { c, v throws(ConfigurationError) in
            guard !v.isEmpty else { throw ConfigurationError(variable: "SLUICE_API_KEYS_FILE", message: "must be a file path") }
            c.apiKeysFile = v
        },
        .init(name: "SLUICE_REQUIRE_AUTH", flag: "require-auth", defaultValue: "false",
              summary: "true: refuse to start without SLUICE_API_KEYS_FILE (production)") { c, v throws(ConfigurationError) in
            c.requireAuth = try boolean(v, "SLUICE_REQUIRE_AUTH")
        },
        .init(name: "SLUICE_METRICS_OPEN", flag: "metrics-open", defaultValue: "false",
              summary: "true: /metrics answers without a key (for a scraper)") { c, v throws(ConfigurationError) in
            c.metricsOpen = try boolean(v, "SLUICE_METRICS_OPEN")
        },
        .init(name: "SLUICE_RETENTION_SECONDS", flag: "retention-seconds", defaultValue: "604800",
              summary: "how long a finished instance's keys live") { c, v throws(ConfigurationError) in
            c.retentionSeconds = try integer(v, "SLUICE_RETENTION_SECONDS", in: 1...(10 * 365 * 86400))
        },
        .init(name: "SLUICE_STREAM_MAXLEN", flag: "stream-maxlen", defaultValue: "10000", summary: "events kept per instance stream") { c, v throws(ConfigurationError) in
            c.streamMaxLength = try integer(v, "SLUICE_STREAM_MAXLEN", in: 1...10_000_000)
        },
        .init(name: "SLUICE_CHECKPOINT_CAP", flag: "checkpoint-cap", defaultValue: "100", summary: "checkpoints kept per instance") { c, v throws(ConfigurationError) in
            c.checkpointCap = try integer(v, "SLUICE_CHECKPOINT_CAP", in: 1...100_000)
        },
        .init(name: "SLUICE_CHECKPOINT_MAX_BYTES", flag: "checkpoint-max-bytes", defaultValue: "1048576", summary: "largest checkpoint_data accepted") { c, v throws(ConfigurationError) in
            c.checkpointMaxBytes = try integer(v, "SLUICE_CHECKPOINT_MAX_BYTES", in: 1...(64 * 1024 * 1024))
        },
        .init(name: "SLUICE_CONTEXT_MAX_BYTES", flag: "context-max-bytes", defaultValue: "262144", summary: "largest instance context accepted") { c, v throws(ConfigurationError) in
            c.contextMaxBytes = try integer(v, "SLUICE_CONTEXT_MAX_BYTES", in: 1...(64 * 1024 * 1024))
        },
        .init(name: "SLUICE_SSE_KEEPALIVE_SECONDS", flag: "sse-keepalive-seconds", defaultValue: "15", summary: "idle SSE keepalive comment interval") { c, v throws(ConfigurationError) in
            c.sseKeepaliveSeconds = try integer(v, "SLUICE_SSE_KEEPALIVE_SECONDS", in: 1...3600)
        },
        .init(name: "SLUICE_EXECUTOR", flag: "executor", defaultValue: "swift",
              summary: "where Swift concurrency runs: swift (the cooperative pool) or nio (NIO's event loops, no thread hop per await)") { c, v throws(ConfigurationError) in
            guard let choice = ExecutorChoice(rawValue: v) else {
                throw ConfigurationError(variable: "SLUICE_EXECUTOR", message: "must be nio or swift (got '\(v)')")
            }
            c.executor = choice
        },
        .init(name: "SLUICE_SSE_SAFETY_POLL_MS", flag: "sse-safety-poll-ms", defaultValue: "10000",
              summary: "how often an idle SSE stream reads while wake-ups are live (poll_ms applies while they are not)") { c, v throws(ConfigurationError) in
            c.sseSafetyPollMilliseconds = try integer(v, "SLUICE_SSE_SAFETY_POLL_MS", in: 100...3_600_000)
        },
        .init(name: "SLUICE_SSE_MAX_STREAMS", flag: "sse-max-streams", defaultValue: "20000", summary: "open SSE streams per process; beyond it 503") { c, v throws(ConfigurationError) in
            c.sseMaxStreams = try integer(v, "SLUICE_SSE_MAX_STREAMS", in: 0...1_000_000)
        },
        .init(name: "SLUICE_TASK_LEASE_MS", flag: "task-lease-ms", defaultValue: "30000", summary: "worker task lease; re-queued when it expires") { c, v throws(ConfigurationError) in
            c.taskLeaseMilliseconds = try integer(v, "SLUICE_TASK_LEASE_MS", in: 100...86_400_000)
        },
        .init(name: "SLUICE_SWEEP_INTERVAL_MS", flag: "sweep-interval-ms", defaultValue: "250", summary: "how often the sweeper looks for passed deadlines") { c, v throws(ConfigurationError) in
            c.sweepIntervalMilliseconds = try integer(v, "SLUICE_SWEEP_INTERVAL_MS", in: 10...3_600_000)
        },
        .init(name: "SLUICE_REDIS_TIMEOUT_MS", flag: "redis-timeout-ms", defaultValue: "2000",
              summary: "a request waiting on Redis longer gets 503") { c, v throws(ConfigurationError) in
            c.redisTimeoutMilliseconds = try integer(v, "SLUICE_REDIS_TIMEOUT_MS", in: 10...600_000)
        },
        .init(name: "SLUICE_SHUTDOWN_GRACE_MS", flag: "shutdown-grace-ms", defaultValue: "10000",
              summary: "on SIGTERM/SIGINT, how long in-flight requests may take before the process cancels them and exits") { c, v throws(ConfigurationError) in
            c.shutdownGraceMilliseconds = try integer(v, "SLUICE_SHUTDOWN_GRACE_MS", in: 0...600_000)
        },
        .init(name: "SLUICE_SHUTDOWN_DRAIN_MS", flag: "shutdown-drain-ms", defaultValue: "0",
              summary: "on SIGTERM/SIGINT, how long the API keeps serving first, every answer with Connection: close and /readyz 503, so a load balancer's pooled connections leave before the server closes them; above the balancer's upstream keepalive timeout") { c, v throws(ConfigurationError) in
            c.shutdownDrainMilliseconds = try integer(v, "SLUICE_SHUTDOWN_DRAIN_MS", in: 0...600_000)
        },
        .init(name: "SLUICE_HTTP_ALLOW", flag: "http-allow", defaultValue: "(public addresses only)",
              summary: "hosts, addresses and CIDR networks http_request may reach besides public addresses, comma-separated; * for any") { c, v throws(ConfigurationError) in
            c.httpAllow = try EgressPolicy(parsing: v)
        },
        .init(name: "SLUICE_LOG_FORMAT", flag: "log-format", defaultValue: "text", summary: "text or json (one object per line)") { c, v throws(ConfigurationError) in
            guard let format = LogFormat(rawValue: v) else {
                throw ConfigurationError(variable: "SLUICE_LOG_FORMAT", message: "must be text or json (got '\(v)')")
            }
            c.logFormat = format
        },
        .init(name: "SLUICE_LOG_LEVEL", flag: "log-level", defaultValue: "info", summary: "trace, debug, info, notice, warning, error or critical") { c, v throws(ConfigurationError) in
            let levels = ["trace", "debug", "info", "notice", "warning", "error", "critical"]
            guard levels.contains(v) else {
                throw ConfigurationError(variable: "SLUICE_LOG_LEVEL", message: "must be one of \(levels.joined(separator: ", ")) (got '\(v)')")
            }
            c.logLevel = v
        },
        .init(name: "SLUICE_DATA_DIR", flag: "data-dir", defaultValue: ".sluice", summary: "directory of the embedded redis-server (socket, AOF, log)") { c, v throws(ConfigurationError) in
            guard !v.isEmpty else { throw ConfigurationError(variable: "SLUICE_DATA_DIR", message: "must not be empty") }
            c.dataDirectory = v
        },
    ]

    /// Reads the configuration from `environment` (variable name → value); `overrides` (same
    /// names, from flags) win. Unknown `SLUICE_*` variables are rejected: a typo must not be
    /// silently ignored.
    public static func load(environment: [String: String], overrides: [String: String] = [:]) throws(ConfigurationError) -> SluiceConfiguration {
        var configuration = SluiceConfiguration()
        let known = Set(variables.map(\.name) + ["SLUICE_REDIS_SERVER", "SLUICE_SERVER", "SLUICE_API_KEY"])
        for name in environment.keys.sorted() where name.hasPrefix("SLUICE_") && !known.contains(name) {
            throw ConfigurationError(variable: name, message: "is not a known setting (see the README's configuration table)")
        }
        for variable in variables {
            // An empty value counts as unset (compose files often pass `VAR=`).
            guard let value = (overrides[variable.name] ?? environment[variable.name])?.trimmingWhitespace,
                  !value.isEmpty else { continue }
            try variable.apply(&configuration, value)
        }
        return configuration
    }

    private static func boolean(_ value: String, _ name: String) throws(ConfigurationError) -> Bool {
        switch value.lowercased() {
        case "true", "1", "yes": return true
        case "false", "0", "no": return false
        default: throw ConfigurationError(variable: name, message: "must be true or false (got '\(value)')")
        }
    }

    private static func integer(_ value: String, _ name: String, in range: ClosedRange<Int>) throws(ConfigurationError) -> Int {
        guard let number = Int(value) else {
            throw ConfigurationError(variable: name, message: "must be an integer (got '\(value)')")
        }
        guard range.contains(number) else {
            throw ConfigurationError(variable: name, message: "must be between \(range.lowerBound) and \(range.upperBound) (got \(number))")
        }
        return number
    }
}

extension String {
    var trimmingWhitespace: String {
        String(drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed())
    }
}
