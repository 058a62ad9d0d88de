import CoreMetrics

/// What the command client reports to the process's metrics (`/metrics`): the latency of every
/// round trip that got its replies, and every one that failed, by what went wrong.
enum RedisMetrics {
    static let roundTrip = Timer(label: "sluice_redis_round_trip_seconds")

    static func failed(_ code: RedisClientError.Code) {
        Counter(label: "sluice_redis_errors", dimensions: [("code", code.metricLabel)]).increment()
    }

    /// Runs one round trip, recording its latency or its failure. Error *replies* are answers:
    /// they count as round trips, not as errors.
    static func measure<Result>(_ roundTrip: () async throws -> Result) async throws -> Result {
        let started = ContinuousClock.now
        do {
            let result = try await roundTrip()
            let elapsed = (ContinuousClock.now - started).components
            Self.roundTrip.recordNanoseconds(elapsed.seconds * 1_000_000_000 + elapsed.attoseconds / 1_000_000_000)
            return result
        } catch let error as RedisClientError {
            failed(error.code)
            throw error
        }
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
