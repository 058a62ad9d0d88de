import HTTPTypes
import Hummingbird
import NIOCore
import ServiceLifecycle
import SluiceEngine
import SluiceRedis

/// What a stream reads, as two functions that are not async around one Redis pipeline:
/// `commands` for the stream's state (`woken` true after a wake-up, and for the first read), and
/// `step`, what their replies produce. The stream's loop sends the pipeline itself: an async
/// `step` that read Redis put its frame, and its reader's, between the loop and the Redis client,
/// and an idle stream's connection task keeps that depth in its allocator for the stream's life
/// (bench/README.md → S5). A value, not two closures: their contexts were two heap objects per
/// stream.
protocol SSESource: Sendable {
    associatedtype State: Sendable
    func commands(_ state: State, woken: Bool) -> [RedisCommand]
    func step(_ state: inout State, replies: [RedisReply], woken: Bool) throws -> SSEStep
}

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
    static let contentType = "text/event-stream"
    static let headers: HTTPFields = [
        .contentType: contentType, .cacheControl: "no-cache", SSEHeaders.accelBuffering: "no", .connection: "close",
    ]
    /// The reconnection delay a stream ended by a shutdown asks its client for (SSE `retry:`).
    static let shutdownRetryMilliseconds = 1000
    static let shutdownText = ": server shutting down, reconnect\nretry: \(shutdownRetryMilliseconds)\n\n"

    /// `source` reads once from the stream's state through `redis` (`SSESource`); 503 when the
    /// process has no stream slot left. `measured` is the request's HTTP metrics, counted when
    /// the stream ends (nil in tests without the pipeline). `channel` is the request's
    /// connection, watched for the client leaving (`StreamWatch`); nil only where there is none
    /// (tests that never run the body). An idle stream reads every
    /// `pollMilliseconds` while wake-ups may be missed (`wakes.isLive` false), and only every
    /// `safetyPollMilliseconds` while they are live: then every event written rings it at once,
    /// so polling would only cost Redis commands.
    static func response<Source: SSESource>(
        _ request: Request, channel: (any Channel)?, limiter: StreamLimiter, wakes: WakeRegistry, wakeKey: String, pollMilliseconds: Int64,
        safetyPollMilliseconds: Int64, keepaliveSeconds: Int, redis: RedisClient, initial: Source.State, source: Source,
        measured: RequestMetrics.Ongoing? = nil
    ) throws -> Response {
        guard let slot = limiter.acquire(for: measured) else {
            throw APIError(.unavailable, "too many open streams on this process (SLUICE_SSE_MAX_STREAMS); retry on another")
        }
        let keepalive = Duration.seconds(keepaliveSeconds)
        let livePoll = Duration.milliseconds(max(pollMilliseconds, safetyPollMilliseconds))
        let deadPoll = Duration.milliseconds(pollMilliseconds)
        // The body owns the slot: released when it ends, or when the response is dropped unsent.
        return Response(status: .ok, headers: headers, body: ResponseBody { writer in
            defer { slot.release() }
            let watch = StreamWatch(doorbell: Doorbell())
            let doorbell = watch.doorbell
            wakes.register(wakeKey, doorbell)
            defer { wakes.unregister(wakeKey, doorbell) }
            // A client that goes away is noticed at once (not at the next keepalive write).
            // Not awaited: it takes effect on the connection's event loop in a moment, and an
            // await here would add a frame that stays for the stream's life. It cannot be added
            // to a connection that has closed already.
            channel?.pipeline.addHandler(watch, position: .first).whenFailure { _ in watch.clientLeft() }
            defer { channel?.pipeline.removeHandler(watch).whenFailure { _ in } }
            try await withGracefulShutdownHandler {
                var state = initial
                // Something to flush at once: the response head goes out with it, so clients (and
                // proxies) see the stream open even when no event is due yet.
                try await writer.write(ByteBuffer(string: ": stream open\n\n"))
                var lastWrite = ContinuousClock.now
                var lastRead = lastWrite
                var woken = true
                var behind = false
                while !watch.clientGone {
                    if watch.shuttingDown {
                        try await writer.write(ByteBuffer(string: shutdownText))
                        break
                    }
                    // Read when rung, or when the poll interval of the moment has passed (the
                    // wait below also ends for keepalives, which need no read).
                    let poll = wakes.isLive ? livePoll : deadPoll
                    if woken || behind || ContinuousClock.now - lastRead >= poll {
                        let result: SSEStep
                        do {
                            let replies = try await redis.pipeline(source.commands(state, woken: woken))
                            result = try source.step(&state, replies: replies, woken: woken)
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
                watch.shutDown()
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
