import HTTPTypes
import Hummingbird
import NIOConcurrencyHelpers
import NIOCore
import ServiceLifecycle
import SluiceEngine
import SluiceRedis

/// What one read of a stream produced: the SSE text to send, whether the stream is over, and
/// whether the reader is behind the durable stream (read again before waiting).
struct SSEStep: Sendable {
    var text: String
    var finished = false
    var lagging = false
}

/// The loop every SSE route shares: it holds one slot of the process-wide cap, writes what each
/// read produced before reading more (so a slow client holds one batch in memory at most),
/// waits between reads on a wake-up for `wakeKey` or `poll_ms`, sends keepalives when idle, and
/// notices a departed client at once. When the process shuts down gracefully it ends at once
/// with a `retry:` hint, so the client reconnects (to another process, with `Last-Event-ID`)
/// instead of holding the shutdown up.
enum SSEStream {
    /// `Connection: close`: the server closes the connection when a stream ends (it closes the
    /// connection's input, which ends Hummingbird's wait for a next request), so it must not be
    /// pooled. Without it nginx put the connection back in its upstream keepalive pool and sent
    /// the next request on it as it closed: 502 for a POST ("upstream prematurely closed
    /// connection").
    static let headers: HTTPFields = [
        .contentType: "text/event-stream", .cacheControl: "no-cache", SSEHeaders.accelBuffering: "no", .connection: "close",
    ]
    /// The reconnection delay a stream ended by a shutdown asks its client for (SSE `retry:`).
    static let shutdownRetryMilliseconds = 1000
    static let shutdownText = ": server shutting down, reconnect\nretry: \(shutdownRetryMilliseconds)\n\n"

    /// `step` reads once from `state` (true as its second argument after a wake-up, and for the
    /// first read); 503 when the process has no stream slot left. `channel` is the request's
    /// connection, watched for the client leaving (`ClientDepartureHandler`); nil only where
    /// there is none (tests that never run the body). An idle stream reads every
    /// `pollMilliseconds` while wake-ups may be missed (`wakes.isLive` false), and only every
    /// `safetyPollMilliseconds` while they are live: then every event written rings it at once,
    /// so polling would only cost Redis commands.
    static func response<State: Sendable>(
        _ request: Request, channel: (any Channel)?, limiter: StreamLimiter, wakes: WakeRegistry, wakeKey: String, pollMilliseconds: Int64,
        safetyPollMilliseconds: Int64, keepaliveSeconds: Int, initial: State,
        step: @escaping @Sendable (inout State, _ woken: Bool) async throws -> SSEStep
    ) throws -> Response {
        guard let slot = limiter.acquire() else {
            throw APIError(.unavailable, "too many open streams on this process (SLUICE_SSE_MAX_STREAMS); retry on another")
        }
        let keepalive = Duration.seconds(keepaliveSeconds)
        let livePoll = Duration.milliseconds(max(pollMilliseconds, safetyPollMilliseconds))
        let deadPoll = Duration.milliseconds(pollMilliseconds)
        // The body owns the slot: released when it ends, or when the response is dropped unsent.
        return Response(status: .ok, headers: headers, body: ResponseBody { writer in
            defer { slot.release() }
            let doorbell = Doorbell()
            let unregister = wakes.register(wakeKey, doorbell)
            defer { unregister() }
            // A client that goes away is noticed at once (not at the next keepalive write).
            let clientGone = NIOLockedValueBox(false)
            let shuttingDown = NIOLockedValueBox(false)
            let gone: @Sendable () -> Void = {
                clientGone.withLockedValue { $0 = true }
                doorbell.ring()
            }
            let departure = ClientDepartureHandler(gone: gone)
            // Not awaited: it takes effect on the connection's event loop in a moment, and an
            // await here would add a frame that stays for the stream's life. It cannot be added
            // to a connection that has closed already.
            channel?.pipeline.addHandler(departure, position: .first).whenFailure { _ in gone() }
            defer { channel?.pipeline.removeHandler(departure).whenFailure { _ in } }
            try await withGracefulShutdownHandler {
                var state = initial
                // Something to flush at once: the response head goes out with it, so clients (and
                // proxies) see the stream open even when no event is due yet.
                try await writer.write(ByteBuffer(string: ": stream open\n\n"))
                var lastWrite = ContinuousClock.now
                var lastRead = lastWrite
                var woken = true
                var behind = false
                while !clientGone.withLockedValue({ $0 }) {
                    if shuttingDown.withLockedValue({ $0 }) {
                        try await writer.write(ByteBuffer(string: shutdownText))
                        break
                    }
                    // Read when rung, or when the poll interval of the moment has passed (the
                    // wait below also ends for keepalives, which need no read).
                    let poll = wakes.isLive ? livePoll : deadPoll
                    if woken || behind || ContinuousClock.now - lastRead >= poll {
                        let result: SSEStep
                        do {
                            result = try await step(&state, woken)
                        } catch let error as RedisClientError where error.isConnectivity && error.code != .shutdown {
                            // Redis is briefly out of reach (a restart, a cluster failover): the
                            // stream stays open and reads again from where it was.
                            woken = await doorbell.wait(upTo: min(pollMilliseconds, 500))
                            behind = true
                            continue
                        }
                        lastRead = .now
                        behind = result.lagging
                        if !result.text.isEmpty {
                            try await writer.write(ByteBuffer(string: result.text))
                            lastWrite = .now
                        }
                        if result.finished { break }
                        if result.lagging { continue }  // drain before waiting
                    }
                    if ContinuousClock.now - lastWrite >= keepalive {
                        try await writer.write(ByteBuffer(string: ": keepalive\n\n"))
                        lastWrite = .now
                    }
                    let now = ContinuousClock.now
                    let wait = min(lastRead + poll, lastWrite + keepalive) - now
                    woken = await doorbell.wait(upTo: max(1, Self.milliseconds(wait)))
                }
            } onGracefulShutdown: {
                shuttingDown.withLockedValue { $0 = true }
                doorbell.ring()
            }
            try await writer.finish(nil)
            // The response said `Connection: close`; closing the input ends Hummingbird's wait
            // for a next request, and it closes the connection once the response is written.
            channel?.close(mode: .input, promise: nil)
        })
    }

    /// Whole milliseconds of a duration, rounded up (a wait never ends early and spins).
    static func milliseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return seconds * 1000 + (attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000
    }
}
