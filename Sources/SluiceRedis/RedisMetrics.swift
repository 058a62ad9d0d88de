import CoreMetrics

/// What the command client reports to the process's metrics (`/metrics`): the latency of every
/// round trip that got its replies, and every one that failed, by what went wrong.
enum RedisMetrics {
    static let roundTrip = Timer(label: "sluice_redis_round_trip_seconds")

    static func failed(_ code: RedisClientError.Code) {
        Counter(label: "sluice_redis_errors", dimensions: [("code", code.metricLabel)]).increment()
    }

    /// A round trip that got its replies (error *replies* are answers: they count as round
    /// trips, not as errors). `RedisClient` times its round trips inline rather than through a
    /// generic wrapper taking a closure: that wrapper and its closure were two async frames more
    /// on every Redis call, and an idle SSE stream's connection task keeps the deepest chain of
    /// frames it ever had, its reads' included, for the stream's life (bench/README.md → S5).
    static func roundTrip(since started: ContinuousClock.Instant) {
        let elapsed = (ContinuousClock.now - started).components
        roundTrip.recordNanoseconds(elapsed.seconds * 1_000_000_000 + elapsed.attoseconds / 1_000_000_000)
    }
}

extension RedisClientError.Code {
    /// The `code` label of `sluice_redis_errors_total`.
    var metricLabel: String {
        switch self {
        case .connectionFailed: return "connection_failed"
        case .connectionClosed: return "connection_closed"
        case .timeout: return "timeout"
        case .unavailable: return "unavailable"
        case .server: return "server"
        case .protocolError: return "protocol_error"
        case .shutdown: return "shutdown"
        case .unexpectedReply: return "unexpected_reply"
        }
    }
}
