import SluiceRedis

/// Reads an instance's event stream incrementally for SSE: the events after an id, the
/// instance's state, and whether events after that id were trimmed away (a gap).
public struct EventStreamReader: Sendable {
    public let redis: RedisClient
    public let keys: KeySchema

    public init(redis: RedisClient, keys: KeySchema) {
        self.redis = redis
        self.keys = keys
    }

    public struct Event: Sendable, Equatable {
        /// The stream entry id (`1700000000000-0`), sent as the SSE `id:`.
        public var id: String
        /// `state`, `output`, `escalation`.
        public var type: String
        /// JSON text, sent as the SSE `data:` as stored.
        public var data: String
    }

    public struct Batch: Sendable {
        public var events: [Event]
        /// The instance's state, when asked for (`withState`).
        public var state: StateCheck
        /// Events after `after` were trimmed before they could be read.
        public var gap: Bool
    }

    public enum StateCheck: Sendable, Equatable {
        case notChecked
        /// The instance does not exist (never did, deleted or expired).
        case missing
        case state(InstanceState)
    }

    /// Up to `count` events strictly after `after` ("0-0" for the start), and the instance's
    /// state when `withState` (an idle stream need not ask on every poll). One round trip.
    ///
    /// The read starts *at* `after` (inclusive): when that entry comes back first, nothing
    /// between it and the next one was lost; when it does not, trimming removed it and every
    /// older entry, and the client missed whatever lay between — a gap. So every read checks for
    /// gaps at no extra cost, however long the client was away.
    /// A caller bound to a tenant sees another tenant's instance as `missing`.
    public func read(_ id: String, after: String, count: Int, withState: Bool, for caller: Caller = .anonymous) async throws -> Batch {
        let replies = try await redis.pipeline(commands(id, after: after, count: count, withState: withState))
        return try batch(from: replies, after: after, count: count, withState: withState, for: caller)
    }

    /// `read`'s commands, for a caller that sends them itself (an SSE stream's loop, so that no
    /// frame of this reader's stays in its task: `SSEStream`).
    public func commands(_ id: String, after: String, count: Int, withState: Bool) -> [RedisCommand] {
        let fromStart = after == "0-0"
        var commands = [RedisCommand("XRANGE", keys.events(id), fromStart ? "-" : after, "+", "COUNT", String(fromStart ? count : count + 1))]
        if withState { commands.append(RedisCommand("HMGET", keys.instance(id), "state", "tenant_id")) }
        return commands
    }

    /// `read`'s batch from the replies to `commands` with the same arguments.
    public func batch(from replies: [RedisReply], after: String, count: Int, withState: Bool, for caller: Caller = .anonymous) throws -> Batch {
        let fromStart = after == "0-0"
        guard replies.count == (withState ? 2 : 1) else { throw RedisClientError(.protocolError, "expected \(withState ? 2 : 1) replies, got \(replies.count)") }
        var events = try replies[0].throwingServerError().streamEntries.map { entry in
            Event(id: entry.id, type: entry.fields["type"] ?? "", data: entry.fields["data"] ?? "")
        }
        var gap = false
        if !fromStart, let first = events.first {
            if first.id == after {
                events.removeFirst()
            } else {
                gap = true
                if events.count > count { events.removeLast() }
            }
        }
        var state = StateCheck.notChecked
        if withState {
            let fields = try replies[1].throwingServerError().array ?? []
            let tenant = fields.count == 2 ? fields[1].string.flatMap { $0.isEmpty ? nil : $0 } : nil
            state = fields.first?.string.flatMap(InstanceState.init(rawValue:)).map(StateCheck.state) ?? .missing
            if !caller.sees(tenant: tenant) {
                state = .missing
                events = []
            }
        }
        return Batch(events: events, state: state, gap: gap)
    }

    /// Orders stream ids `ms-seq`.
    static func compare(_ a: String, _ b: String) -> Int {
        func parts(_ id: String) -> (UInt64, UInt64) {
            let split = id.split(separator: "-")
            return (UInt64(split.first ?? "0") ?? 0, UInt64(split.count > 1 ? split[1] : "0") ?? 0)
        }
        let (x, y) = (parts(a), parts(b))
        return x == y ? 0 : (x < y ? -1 : 1)
    }

    /// A valid stream id (`<ms>-<seq>` or `<ms>`), as clients send in Last-Event-ID.
    public static func isValidID(_ text: String) -> Bool {
        let split = text.split(separator: "-", omittingEmptySubsequences: false)
        guard (1...2).contains(split.count) else { return false }
        return split.allSatisfy { !$0.isEmpty && $0.count <= 20 && $0.allSatisfy(\.isNumber) && UInt64($0) != nil }
    }
}
