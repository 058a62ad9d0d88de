import SluiceRedis

/// The approvals queue: gates opened by runners, decisions by people (or the sweeper on
/// timeout), and the listing across partitions. Every change is one gate script
/// (`lua/enter_gate.lua`, `decide_gate.lua`, `timeout_gate.lua`).
public struct ApprovalStore: StorageBacked {
    public let storage: Storage

    public init(_ storage: Storage) { self.storage = storage }

    /// Items without a deadline sort after every dated one: their score is this plus
    /// `waiting_since` (ms). 1e13 ms is in the year 2286; scores stay exact doubles.
    static let undatedBase: Int64 = 10_000_000_000_000

    var approvalStreamMaxLength: Int { storage.approvalStreamMaxLength }

    // MARK: entering a gate (runner)

    /// Opens gate `blockId` for the instance the runner holds with `epoch`. Returns the state
    /// afterwards: `waiting`, or `scheduled`/`paused` when an early decision was applied.
    /// `SluiceError.tooLarge` when the prompt or escalation params render over the context limit.
    public func enter(
        _ instance: Instance, epoch: Int, blockId: String, gate: HumanInputBlock, scope: JSONValue, nowMilliseconds now: Int64
    ) async throws -> InstanceState {
        let id = instance.id
        let p = keys.partition(of: id)
        let deadline = gate.timeoutSeconds.map { now + Int64($0) * 1000 }
        let item = Self.item(instance, blockId: blockId, gate: gate, prompt: try Template.renderText(gate.prompt, scope: scope, limit: storage.limits.contextBytes),
                             waitingSince: now, deadline: deadline)
        var indexes = [keys.approvals(p)]
        if let tenant = instance.tenantId { indexes.append(keys.approvals(p, tenant: tenant)) }
        if let namespace = instance.namespace { indexes.append(keys.approvals(p, namespace: namespace)) }
        if let tenant = instance.tenantId, let namespace = instance.namespace {
            indexes.append(keys.approvals(p, tenant: tenant, namespace: namespace))
        }
        let onTimeout: (kind: String, value: String)
        switch gate.onTimeout {
        case .escalate: onTimeout = ("escalate", "")
        case .fail: onTimeout = ("fail", "")
        case .choose(let value): onTimeout = ("choose", value)
        }
        let handler = gate.escalationHandler ?? ""
        let builtin = Builtins.handlers.contains(handler)
        // Built-in handlers run with the rendered escalation_params; workers get the item.
        let escalationParams = builtin
            ? try Template.render(gate.escalationParams ?? .object([:]), scope: scope, limit: storage.limits.contextBytes).encoded() : []
        // Whoever decides or times out the gate must declare the indexes and the escalation queue.
        let escalationQueue = handler.isEmpty ? "" : builtin ? keys.builtinEscalations(p) : keys.tasks(p, handler: handler)
        storage.learnDeclaredKeys(indexes + (escalationQueue.isEmpty ? [] : [escalationQueue]), instance: id)
        let reply = try await redis.run(
            LuaScripts.enterGate,
            keys: [keys.instance(id), keys.context(id), keys.outputs(id), keys.events(id), keys.gate(id), keys.inbox(id),
                   keys.ready(p), keys.leases(p), keys.approvalItems(p), keys.deadlines(p), keys.approvalEvents(p), keys.wakeChannel(p)]
                + indexes,
            arguments: [
                .init(id), .init(epoch), .init(String(now)), .init(Clock.rfc3339(milliseconds: now)), .init(streamMaxLength),
                .init(approvalStreamMaxLength), .init(blockId), .init(String(deadline ?? Self.undatedBase + now)),
                .init(deadline.map { String($0) } ?? ""), .init(bytes: item), .init(instance.tenantId ?? ""), .init(instance.namespace ?? ""),
                .init(onTimeout.kind), .init(onTimeout.value), .init(handler),
                .init(escalationQueue),
                .init(bytes: escalationParams),
            ])
        guard let state = try ScriptReply.checked(reply).string.flatMap(InstanceState.init(rawValue:)) else {
            throw RedisClientError(.unexpectedReply, "enter_gate returned \(reply)")
        }
        return state
    }

    /// The approval item as listed, streamed and given to external escalation handlers.
    /// `escalated_at` comes last so that scripts can set it without decoding user JSON.
    static func item(_ instance: Instance, blockId: String, gate: HumanInputBlock, prompt: String, waitingSince: Int64, deadline: Int64?) -> [UInt8] {
        func optional(_ value: String?) -> JSONValue { value.map(JSONValue.string) ?? .null }
        let object = JSONValue.object([
            "instance_id": .string(instance.id), "tenant_id": optional(instance.tenantId), "namespace": optional(instance.namespace),
            "sequence_id": .string(instance.sequenceId), "sequence_name": .string(instance.sequenceName), "block_id": .string(blockId),
            "prompt": .string(prompt),
            "choices": .array(gate.choices.map { .object(["label": .string($0.label), "value": .string($0.value)]) }),
            "store_as": .string(gate.storeAs), "timeout_seconds": gate.timeoutSeconds.map { .number(Double($0)) } ?? .null,
            "escalation_handler": optional(gate.escalationHandler),
            "waiting_since": .string(Clock.rfc3339(milliseconds: waitingSince)),
            "deadline": deadline.map { .string(Clock.rfc3339(milliseconds: $0)) } ?? .null,
            "metadata": instance.metadata,
        ])
        var bytes = object.encoded()
        bytes.removeLast()  // the closing brace
        return bytes + Array(#","escalated_at":null}"#.utf8)
    }

    // MARK: deciding (signals)

    public enum Decision: Sendable, Equatable {
        case applied(signalId: String)
        /// The gate is not reached yet: kept and applied when it is.
        case queued(signalId: String)
        /// Someone decided first: their decision.
        case alreadyDecided(JSONValue)
        /// An early decision for this gate is already waiting.
        case alreadyQueued(signalId: String)
    }

    /// Decides gate `blockId` with `payload` (one script). Throws `SluiceError` for an unknown
    /// instance (404), a terminal one (409), an unknown gate or a value outside the choices (422).
    public func decide(
        _ id: String, blockId: String, payload: [String: JSONValue], by caller: Caller, idempotencyKey: String?,
        nowMilliseconds now: Int64
    ) async throws -> Decision {
        try storage.limits.checkContextSized(.object(payload), "payload")
        let p = keys.partition(of: id)
        let reply = try await storage.runDeclaring(
            LuaScripts.decideGate, instance: id,
            keys: [keys.instance(id), keys.context(id), keys.outputs(id), keys.events(id), keys.gate(id), keys.inbox(id),
                   keys.ready(p), keys.approvalItems(p), keys.deadlines(p), keys.approvalEvents(p), keys.wakeChannel(p)],
            arguments: [
                .init(id), .init(blockId), .init(bytes: JSONValue.object(payload).encoded()), .init(InstanceID.generate(nowMilliseconds: now)),
                .init(caller.name), .init(String(now)), .init(Clock.rfc3339(milliseconds: now)), .init(streamMaxLength),
                .init(approvalStreamMaxLength), .init(idempotencyKey ?? ""), .init(caller.scope),
            ])
        guard case .array(let parts) = try ScriptReply.checked(reply), parts.count == 2,
              let status = parts[0].string, let value = parts[1].string else {
            throw RedisClientError(.unexpectedReply, "decide_gate returned \(reply)")
        }
        switch status {
        case "applied": return .applied(signalId: value)
        case "queued": return .queued(signalId: value)
        case "pending": return .alreadyQueued(signalId: value)
        case "decided": return .alreadyDecided((try? JSONValue.parse(Array(value.utf8))) ?? .string(value))
        default: throw RedisClientError(.unexpectedReply, "decide_gate returned \(reply)")
        }
    }

    // MARK: listing

    /// Keyset position in queue order: the index score, then the instance id.
    public struct Cursor: Sendable, Equatable {
        public var score: Int64
        public var id: String

        public init(score: Int64, id: String) {
            self.score = score
            self.id = id
        }

        public init?(_ text: String) {
            guard let separator = text.firstIndex(of: "_"), let score = Int64(text[..<separator]), score >= 0 else { return nil }
            self.score = score
            self.id = String(text[text.index(after: separator)...])
            guard Identifier.isValid(id) else { return nil }
        }

        public var text: String { "\(score)_\(id)" }

        func precedes(_ other: Cursor) -> Bool { score != other.score ? score < other.score : id.utf8.lexicographicallyPrecedes(other.id.utf8) }
    }

    public struct Query: Sendable {
        public var tenantId: String?
        public var namespace: String?
        public var offset: Int
        public var limit: Int
        public var cursor: Cursor?

        public init(tenantId: String? = nil, namespace: String? = nil, offset: Int = 0, limit: Int = 100, cursor: Cursor? = nil) {
            self.tenantId = tenantId
            self.namespace = namespace
            self.offset = offset
            self.limit = limit
            self.cursor = cursor
        }
    }

    public struct Page: Sendable {
        /// The items' JSON texts, in queue order, as stored.
        public var items: [String]
        /// Items matching the filter in the whole queue.
        public var total: Int
        public var next: Cursor?
    }

    /// A page in queue order over every partition, in two pipelined round trips: positions
    /// first, then the page's items.
    ///
    /// Every partition could hold the whole page, but asking each for `offset + limit` entries
    /// makes a page cost P × limit entries whatever the queue's size. Instead each partition is
    /// asked for a few positions (about twice its fair share, plus a margin). The
    /// `offset + limit`-th smallest of those bounds the page: only a partition whose share was
    /// full *and* below that bound can hold more of it. The second round trip reads the items of
    /// the page's candidates and, from such a partition (rare: the margin makes it so), the rest
    /// up to the bound with their items. Deep offsets (more than `shallowDepth`) ask every
    /// partition for the whole depth, so no partition can hold more.
    ///
    /// Items travel once: the first round trip moves ids and scores only (a page of 50 over 64
    /// partitions used to read 256 items of ~600 bytes to return 50; profile in issue 12's note).
    /// A first page reads its positions with plain commands (ZCARD, ZRANGE), which cost Redis a
    /// fraction of a script call; a page after a cursor needs `approval_page` for the ties.
    public func list(_ query: Query) async throws -> Page {
        let need = query.offset + query.limit
        let partitions = keys.partitions
        let shallow = need <= Self.shallowDepth
        let share = shallow ? min(need, (2 * need + partitions - 1) / partitions + Self.shareMargin) : need
        let first = try await positions(query, count: share)
        let total = first.reduce(0) { $0 + $1.total }
        let candidates = first.reduce(0) { $0 + $1.entries.count }
        var top = Self.merged(first.map(\.entries), first: need)
        let bound = need > 0 && top.count == need ? top[need - 1].position : nil
        // Entries after the bound cannot be on the page; a partition whose share ended at or after
        // it has nothing more for this page. With `share == need` none can have more.
        var again: [(partition: Int, last: Cursor)] = []
        if share < need {
            for (p, part) in zip(keys.allPartitions, first) where part.entries.count == share {
                if let last = part.entries.last?.position, bound.map(last.precedes) ?? true { again.append((p, last)) }
            }
        }
        // Without a second look the page is known; with one, earlier candidates may move onto it.
        let wanted = again.isEmpty ? min(query.offset, top.count)..<top.count : top.indices
        guard !wanted.isEmpty || !again.isEmpty else { return Page(items: [], total: total, next: nil) }

        var byPartition: [Int: [Int]] = [:]  // partition -> indices into `top`
        for index in wanted { byPartition[keys.partition(of: top[index].position.id), default: []].append(index) }
        let groups = byPartition.sorted { $0.key < $1.key }
        var calls = groups.map { p, indices in
            RedisCall.command(RedisCommand("HMGET", [RedisArgument(keys.approvalItems(p))] + indices.map { RedisArgument(top[$0].position.id) }))
        }
        // Each partition looked at again continues after its own last entry, up to the bound.
        calls += again.map { pageCall(query, partition: $0.partition, after: $0.last, count: need, withItems: true, upTo: bound?.score) }
        let replies = try await redis.pipeline(calls)
        for (group, reply) in zip(groups, replies) {
            for (index, item) in zip(group.value, try reply.throwingServerError().array ?? []) { top[index].item = item.string }
        }
        var merged = top
        if !again.isEmpty {
            let more = try replies.dropFirst(groups.count).map { try Self.partitionPage($0, withItems: true).entries }
            merged = Self.merged([top] + more, first: need)
        }
        let page = merged.dropFirst(query.offset).prefix(query.limit)
        // An item decided between the reads is left out: the page is strongly consistent with
        // decisions that returned before it was read.
        let texts = page.compactMap(\.item)
        // After a cursor `total` counts the whole index, so whether more follow comes from the
        // reads: more candidates than the page, or a partition that gave all it was asked for.
        let full = share > 0 && first.contains { $0.entries.count == share }
        let more = query.cursor == nil ? total > need : (candidates > need || merged.count > query.offset + page.count || full)
        return Page(items: texts, total: total, next: more && page.count == query.limit ? page.last?.position : nil)
    }

    /// The first `count` entries of `lists`, each already in queue order (as every partition's
    /// ZRANGE is), merged in queue order. Scores decide; ids only break ties.
    static func merged(_ lists: [[Entry]], first count: Int) -> [Entry] {
        var heads = [Int](repeating: 0, count: lists.count)
        let counts = lists.map(\.count)
        var scores = lists.map { $0.first?.position.score ?? 0 }
        var result: [Entry] = []
        result.reserveCapacity(min(count, lists.reduce(0) { $0 + $1.count }))
        while result.count < count {
            var best = -1
            for l in lists.indices where heads[l] < counts[l] {
                if best < 0 || scores[l] < scores[best]
                    || (scores[l] == scores[best] && lists[l][heads[l]].position.id.utf8.lexicographicallyPrecedes(lists[best][heads[best]].position.id.utf8)) {
                    best = l
                }
            }
            guard best >= 0 else { break }
            result.append(lists[best][heads[best]])
            heads[best] += 1
            if heads[best] < counts[best] { scores[best] = lists[best][heads[best]].position.score }
        }
        return result
    }

    /// Pages up to this deep ask each partition for a share of the positions, not the whole depth.
    static let shallowDepth = 200
    /// Positions asked of each partition beyond twice its fair share of a shallow page. Redis
    /// spends most of a position on printing its score (ZRANGE … WITHSCORES: 0.5–0.8 µs a score
    /// against ~0.1 µs a member, measured with INFO commandstats), so a small share and an
    /// occasional second look (one partition's script, ~30 µs) cost less than a large share:
    /// for a page of 50 over 64 partitions, 4 positions each (256 scores) and a second look in
    /// about a third of the pages, against 8 each (512 scores) and almost none.
    static let shareMargin = 2

    struct Entry {
        var position: Cursor
        var item: String?
    }

    struct PartitionPage {
        var total: Int
        var entries: [Entry]
    }

    /// The first `count` positions of every partition and the index sizes, one pipelined round
    /// trip: plain ZCARD + ZRANGE from the start, `approval_page` after a cursor.
    func positions(_ query: Query, count: Int) async throws -> [PartitionPage] {
        guard let cursor = query.cursor else {
            let commands = keys.allPartitions.flatMap { p -> [RedisCommand] in
                let index = RedisArgument(keys.approvals(p, tenant: query.tenantId, namespace: query.namespace))
                let size = RedisCommand("ZCARD", [index])
                return count > 0 ? [size, RedisCommand("ZRANGE", [index, RedisArgument(0), RedisArgument(count - 1), "WITHSCORES"])] : [size]
            }
            let replies = try await redis.pipeline(commands)
            let stride = count > 0 ? 2 : 1
            return try keys.allPartitions.map { p in
                guard let size = try replies[p * stride].throwingServerError().int else {
                    throw RedisClientError(.unexpectedReply, "ZCARD returned \(replies[p * stride])")
                }
                let entries = count > 0 ? try Self.entries(replies[p * stride + 1].throwingServerError().array ?? [], from: 0, withItems: false) : []
                return PartitionPage(total: size, entries: entries)
            }
        }
        let replies = try await redis.pipeline(keys.allPartitions.map {
            pageCall(query, partition: $0, after: cursor, count: count, withItems: false, upTo: nil)
        })
        return try replies.map { try Self.partitionPage($0, withItems: false) }
    }

    /// One partition's `approval_page` call.
    func pageCall(_ query: Query, partition p: Int, after start: Cursor, count: Int, withItems: Bool, upTo: Int64?) -> RedisCall {
        .script(LuaScripts.approvalPage, keys: [keys.approvals(p, tenant: query.tenantId, namespace: query.namespace), keys.approvalItems(p)],
                arguments: [RedisArgument(String(start.score)), RedisArgument(start.id), RedisArgument(count),
                            RedisArgument(withItems ? "1" : "0"), RedisArgument(upTo.map { String($0) } ?? "")])
    }

    /// An `approval_page` reply: `{total, id, score, [item,] ...}`.
    static func partitionPage(_ reply: RedisReply, withItems: Bool) throws -> PartitionPage {
        guard case .array(let parts) = try reply.throwingServerError(), let size = parts.first?.int else {
            throw RedisClientError(.unexpectedReply, "approval_page returned \(reply)")
        }
        return PartitionPage(total: size, entries: entries(parts, from: 1, withItems: withItems))
    }

    /// Entries of a flat `id, score, [item,] ...` array from `start`; an entry whose score is not
    /// an integer is skipped (bad stored data never traps).
    static func entries(_ parts: [RedisReply], from start: Int, withItems: Bool) -> [Entry] {
        let stride = withItems ? 3 : 2
        var entries: [Entry] = []
        entries.reserveCapacity((parts.count - start) / stride)
        var index = start
        while index + stride - 1 < parts.count {
            if let id = parts[index].string, let score = RedisScore.int64(parts[index + 1]) {
                entries.append(Entry(position: Cursor(score: score, id: id), item: withItems ? parts[index + 2].string : nil))
            }
            index += stride
        }
        return entries
    }

    // MARK: deadlines (sweeper)

    public enum TimeoutOutcome: Sendable, Equatable {
        case escalated(task: String)
        case decided(value: String)
        case failed
    }

    /// Acts on passed deadlines of every partition, up to `limit` per partition: one pipelined
    /// read, then one script per deadline (the claim; other sweepers get nothing for it).
    public func sweepDeadlines(nowMilliseconds now: Int64, limit: Int = 200) async throws -> [TimeoutOutcome] {
        let due = try await redis.pipeline(keys.allPartitions.map { p in
            RedisCommand("ZRANGEBYSCORE", [.init(keys.deadlines(p)), "-inf", .init(String(now)), "LIMIT", "0", .init(limit)])
        })
        var work: [(p: Int, id: String)] = []
        for (p, reply) in due.enumerated() {
            for id in try reply.throwingServerError().array?.compactMap(\.string) ?? [] { work.append((p, id)) }
        }
        guard !work.isEmpty else { return [] }
        let iso = Clock.rfc3339(milliseconds: now)
        let replies = try await storage.runAllDeclaring(LuaScripts.timeoutGate, work.map { p, id in
            (instance: id, keys: [keys.instance(id), keys.context(id), keys.outputs(id), keys.events(id), keys.gate(id), keys.ready(p),
                    keys.approvalItems(p), keys.deadlines(p), keys.approvalEvents(p), keys.wakeChannel(p), keys.taskLeases(p), keys.expiries(p),
                    keys.inbox(id), keys.checkpoints(id), keys.checkpointData(id)],
             arguments: [RedisArgument(id), RedisArgument(String(now)), RedisArgument(iso), RedisArgument(streamMaxLength),
                         RedisArgument(approvalStreamMaxLength), RedisArgument(retentionMilliseconds)])
        })
        return try replies.compactMap { reply -> TimeoutOutcome? in
            guard case .array(let parts) = try reply.throwingServerError(), parts.count == 2, let kind = parts[0].string else { return nil }
            switch kind {
            case "escalated": return .escalated(task: parts[1].string ?? "")
            case "decided": return .decided(value: parts[1].string ?? "")
            default: return .failed
            }
        }
    }
}
