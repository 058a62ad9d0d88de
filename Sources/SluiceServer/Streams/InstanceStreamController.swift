import HTTPTypes
import Hummingbird
import Metrics
import NIOConcurrencyHelpers
import NIOCore
import SluiceCore
import SluiceEngine
import SluiceRedis

/// `GET /instances/{id}/stream`: the instance's events as Server-Sent Events.
///
/// Each connection reads the durable stream itself, at most 32 events at a time, and writes
/// them before reading more, so a slow client holds at most one batch in server memory. It
/// waits between reads on a wake-up for its instance (from the process's one pub/sub
/// subscription) or `poll_ms`, whichever comes first.
struct InstanceStreamController {
    let reader: EventStreamReader
    let wakes: WakeRegistry
    let limiter: StreamLimiter
    /// The HTTP metrics, which count a stream when it ends (`RequestMetrics.Ongoing`).
    let metrics: RequestMetrics
    let keepaliveSeconds: Int
    /// `SLUICE_SSE_SAFETY_POLL_MS`: the read interval of an idle stream while wake-ups are live.
    let safetyPollMilliseconds: Int64

    static let batchSize = 32

    func addRoutes(to routes: APIRoutes) {
        // A closure rather than `use: stream`: a method reference puts two thunks' async frames
        // between the pipeline and the route, and an idle stream's connection task keeps the
        // deepest chain of frames it ever had allocated for the stream's life (bench/README.md → S5).
        routes.get("/instances/{id}/stream") { request, context in try stream(request, context: context) }
    }

    /// Not async, and never inlined into the route's closure, for the same reason: its locals are
    /// on the thread's stack while it runs, not in an async frame.
    @inline(never)
    func stream(_ request: Request, context: SluiceRequestContext) throws -> Response {
        let id = try context.parameters.require("id")
        let pollMilliseconds = try Self.pollInterval(request)
        var lastEventID = request.headers[SSEHeaders.lastEventID] ?? request.uri.queryParameters["last_event_id"].map(String.init)
        if let given = lastEventID, !EventStreamReader.isValidID(given) {
            throw APIError.badRequest("Last-Event-ID must be a stream id such as 1700000000000-0 (got '\(given)')", field: "last_event_id")
        }
        if lastEventID?.contains("-") == false { lastEventID = lastEventID.map { $0 + "-0" } }
        return try SSEStream.response(
            request, channel: context.channel, limiter: limiter, wakes: wakes, wakeKey: id, pollMilliseconds: pollMilliseconds,
            safetyPollMilliseconds: safetyPollMilliseconds, keepaliveSeconds: keepaliveSeconds, redis: reader.redis,
            initial: StreamSession(after: lastEventID ?? "0-0"),
            source: Source(reader: reader, instanceId: id, caller: context.principal.caller),
            measured: metrics.ongoing(request, route: context.endpointPath))
    }

    /// What an instance stream reads: its events after the last one sent, and its state after
    /// a wake-up.
    struct Source: SSESource {
        let reader: EventStreamReader
        let instanceId: String
        let caller: Caller

        func commands(_ session: StreamSession, woken: Bool) -> [RedisCommand] {
            reader.commands(streamKey, after: session.after, count: InstanceStreamController.batchSize, withState: session.shouldCheckState(woken: woken))
        }

        func step(_ session: inout StreamSession, replies: [RedisReply], woken: Bool) throws -> SSEStep {
            let batch = try reader.batch(
                from: replies, after: session.after, count: InstanceStreamController.batchSize, withState: session.shouldCheckState(woken: woken), for: caller)
            StreamMetrics.buffered(batch.events.count)
            let (text, finished) = session.render(batch, instanceId: instanceId)
            return SSEStep(text: text, finished: finished, lagging: batch.events.count == InstanceStreamController.batchSize)
        }

        /// An id that is not valid reads a key no instance has (the stream then reports it missing).
        private var streamKey: String { Identifier.isValid(instanceId) ? instanceId : "-" }
    }

    /// `poll_ms`: default 500, clamped to [100, 5000]; not an integer → 400.
    static func pollInterval(_ request: Request) throws -> Int64 {
        guard let text = request.uri.queryParameters["poll_ms"] else { return 500 }
        guard let value = Int64(text) else {
            throw APIError.badRequest("query parameter poll_ms must be an integer (got '\(text)')", field: "poll_ms")
        }
        return min(max(value, 100), 5000)
    }
}

/// The per-connection state of an instance stream: where it is, and what to send next.
struct StreamSession {
    var after: String
    var reads = 0

    /// The state is read on the first read and after every wake-up: every state change and a
    /// deletion wake the stream, and after a pub/sub reconnect every stream is woken. Nothing
    /// else can remove a live instance (only finished ones expire, and a stream ends with its
    /// terminal event), so a quiet poll costs exactly one command.
    func shouldCheckState(woken: Bool) -> Bool { reads == 0 || woken }

    /// The SSE text for a batch, and whether the stream is over (done or error sent).
    mutating func render(_ batch: EventStreamReader.Batch, instanceId: String) -> (String, Bool) {
        defer { reads += 1 }
        var text = ""
        if batch.state == .missing {
            return (text + "event: error\ndata: {\"error\":\"instance not found\"}\n\n", true)
        }
        if batch.gap {
            text += ": gap\n\n"
            StreamMetrics.gaps.increment()
        }
        for event in batch.events {
            text += "id: \(event.id)\nevent: \(event.type)\ndata: \(event.data)\n\n"
            after = event.id
            StreamMetrics.eventsSent.increment()
            if event.type == "state", let terminal = Self.terminalState(in: event.data) {
                return (text + "id: \(event.id)\nevent: done\ndata: {\"state\":\"\(terminal)\"}\n\n", true)
            }
        }
        if batch.events.isEmpty, case .state(let state) = batch.state, state.isTerminal {
            // Reconnected after the end (or the terminal event was trimmed): done again.
            return (text + "id: \(after)\nevent: done\ndata: {\"state\":\"\(state.rawValue)\"}\n\n", true)
        }
        return (text, false)
    }

    static func terminalState(in data: String) -> String? {
        for state in ["completed", "failed", "cancelled"] where data.contains("\"state\":\"\(state)\"") { return state }
        return nil
    }
}

/// The process-wide cap on open streams (`SLUICE_SSE_MAX_STREAMS`).
final class StreamLimiter: Sendable {
    let maximum: Int
    private let open = NIOLockedValueBox(0)

    init(maximum: Int) { self.maximum = maximum }

    /// One open stream. Released by the body when the stream ends, or, when the body never
    /// runs (the client left before the response head was written, so the response was
    /// dropped), when the last reference goes: the slot belongs to the response, not to code
    /// that may never run.
    /// The stream's request is counted in the HTTP metrics when its slot is released
    /// (`RequestMetrics.Ongoing`).
    final class Slot: Sendable {
        private let limiter: StreamLimiter
        private let request: RequestMetrics.Ongoing?
        private let released = NIOLockedValueBox(false)

        fileprivate init(limiter: StreamLimiter, request: RequestMetrics.Ongoing?) {
            self.limiter = limiter
            self.request = request
        }

        /// Idempotent.
        func release() {
            let first = released.withLockedValue { released -> Bool in
                defer { released = true }
                return !released
            }
            if first {
                limiter.release()
                request?.end()
            }
        }

        deinit { release() }
    }

    /// nil when every slot is taken; `request` is then not ended (the request fails with 503).
    func acquire(for request: RequestMetrics.Ongoing? = nil) -> Slot? {
        let granted = open.withLockedValue { count -> Bool in
            guard count < maximum else { return false }
            count += 1
            return true
        }
        guard granted else { return nil }
        StreamMetrics.open.increment()
        return Slot(limiter: self, request: request)
    }

    fileprivate func release() {
        open.withLockedValue { $0 -= 1 }
        StreamMetrics.open.decrement()
    }

    var count: Int { open.withLockedValue { $0 } }
}

enum SSEHeaders {
    static let lastEventID = HTTPField.Name("Last-Event-ID")!
    /// Tells nginx not to buffer the stream.
    static let accelBuffering = HTTPField.Name("X-Accel-Buffering")!
}

enum StreamMetrics {
    static let open = Meter(label: "sluice_sse_open_streams")
    static let eventsSent = Counter(label: "sluice_sse_events_sent")
    static let gaps = Counter(label: "sluice_sse_gaps")
    /// The most events any connection held between reading them from Redis and writing them
    /// out (the bound is `InstanceStreamController.batchSize`); tests read it.
    static let mostBuffered = NIOLockedValueBox(0)

    static func buffered(_ count: Int) {
        mostBuffered.withLockedValue { $0 = max($0, count) }
    }
}

/// What the process's streams did, for tests and diagnostics.
public enum StreamStatistics {
    /// The most events any stream connection held at once between Redis and its socket.
    public static var mostBufferedEvents: Int { StreamMetrics.mostBuffered.withLockedValue { $0 } }
}
