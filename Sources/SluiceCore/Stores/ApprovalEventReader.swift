import SluiceRedis

/// Reads the approvals streams (`{p}:apprev`, one per partition) for `/approvals/stream`:
/// `added`, `removed` and `escalated` events merged in id order, filtered by tenant/namespace.
///
/// A position is one stream id per partition, so the SSE `id:` of an event is the whole vector
/// (compactly encoded, see `Position`): a client resuming with it misses nothing and sees
/// nothing twice, on any server, whatever order the partitions' events were written in.
public struct ApprovalEventReader: Sendable {
    public let redis: RedisClient
    public let keys: KeySchema

    public init(redis: RedisClient, keys: KeySchema) {
        self.redis = redis
        self.keys = keys
    }

    public struct Event: Sendable, Equatable {
        public var partition: Int
        public var id: String
        public var type: String
        public var tenant: String
        public var namespace: String
        public var data: String
        /// The encoded position just after this event: its SSE `id:`.
        public var resumeID = ""
    }

    /// Where a client is in every partition's stream.
    public struct Position: Sendable, Equatable {
        /// `ms-seq` per partition; `0-0` before the first entry.
        public var ids: [String]

        public init(partitions: Int) { ids = Array(repeating: "0-0", count: partitions) }

        /// `<base ms>:<entry>,<entry>,...`: each entry is empty for `0-0`, else the base-36
        /// distance below `base`, with `-<seq>` when the sequence is not 0.
        public var text: String {
            let parsed = ids.map(Self.split)
            let base = parsed.map(\.ms).max() ?? 0
            let entries = parsed.map { ms, seq -> String in
                if ms == 0 && seq == 0 { return "" }
                return String(base - ms, radix: 36) + (seq == 0 ? "" : "-\(seq)")
            }
            return "\(base):" + entries.joined(separator: ",")
        }

        public init?(_ text: String, partitions: Int) {
            guard let colon = text.firstIndex(of: ":"), let base = UInt64(text[..<colon]) else { return nil }
            let entries = text[text.index(after: colon)...].split(separator: ",", omittingEmptySubsequences: false)
            guard entries.count == partitions else { return nil }
            var ids: [String] = []
            for entry in entries {
                if entry.isEmpty {
                    ids.append("0-0")
                    continue
                }
                let parts = entry.split(separator: "-", omittingEmptySubsequences: false)
                guard parts.count <= 2, let distance = UInt64(parts[0], radix: 36), distance <= base,
                      let seq = parts.count == 2 ? UInt64(parts[1]) : 0 else { return nil }
                ids.append("\(base - distance)-\(seq)")
            }
            self.ids = ids
        }

        static func split(_ id: String) -> (ms: UInt64, seq: UInt64) {
            let parts = id.split(separator: "-")
            return (UInt64(parts.first ?? "0") ?? 0, UInt64(parts.count > 1 ? parts[1] : "0") ?? 0)
        }
    }

    public struct Batch: Sendable {
        /// Events in order, up to the asked count (before filtering).
        public var events: [Event]
        /// The position after this batch (filtered-out events count as read).
        public var position: Position
        public var gap: Bool
        /// As many were read as asked: read again before waiting.
        public var full: Bool
    }

    /// Up to `count` events after `position` in (id, partition) order, and whether some were
    /// trimmed away before they could be read. As for instance streams, each partition is read
    /// from its position inclusive: if that entry is gone, what followed it was trimmed.
    public func read(after position: Position, count: Int, tenant: String?, namespace: String?) async throws -> Batch {
        let replies = try await redis.pipeline(commands(after: position, count: count))
        return try batch(from: replies, after: position, count: count, tenant: tenant, namespace: namespace)
    }

    /// `read`'s commands, for a caller that sends them itself (an SSE stream's loop: `SSEStream`).
    public func commands(after position: Position, count: Int) -> [RedisCommand] {
        keys.allPartitions.map { p in
            let start = position.ids[p]
            return start == "0-0"
                ? RedisCommand("XRANGE", keys.approvalEvents(p), "-", "+", "COUNT", String(count))
                : RedisCommand("XRANGE", keys.approvalEvents(p), start, "+", "COUNT", String(count + 1))
        }
    }

    /// `read`'s batch from the replies to `commands` with the same position and count.
    public func batch(from replies: [RedisReply], after position: Position, count: Int, tenant: String?, namespace: String?) throws -> Batch {
        guard replies.count == keys.partitions else {
            throw RedisClientError(.protocolError, "expected \(keys.partitions) replies, got \(replies.count)")
        }
        var all: [Event] = []
        var gap = false
        for p in keys.allPartitions {
            var entries = try replies[p].throwingServerError().streamEntries
            if position.ids[p] != "0-0", let first = entries.first?.id {
                if first == position.ids[p] { entries.removeFirst() } else { gap = true }
            }
            for entry in entries {
                let fields = entry.fields
                all.append(Event(partition: p, id: entry.id, type: fields["type"] ?? "", tenant: fields["tenant"] ?? "",
                                 namespace: fields["namespace"] ?? "", data: fields["data"] ?? "", resumeID: ""))
            }
        }
        all.sort { a, b in
            let (x, y) = (Position.split(a.id), Position.split(b.id))
            return x != y ? (x.ms, x.seq) < (y.ms, y.seq) : a.partition < b.partition
        }
        // Every partition returned its first `count`; beyond the first `count` merged events a
        // partition may have unread ones that sort earlier than another's, so stop there.
        var taken = Array(all.prefix(count))
        var next = position
        for index in taken.indices {
            next.ids[taken[index].partition] = taken[index].id
            taken[index].resumeID = next.text
        }
        let events = taken.filter { event in
            (tenant == nil || event.tenant == tenant) && (namespace == nil || event.namespace == namespace)
        }
        return Batch(events: events, position: next, gap: gap, full: taken.count == count)
    }
}
