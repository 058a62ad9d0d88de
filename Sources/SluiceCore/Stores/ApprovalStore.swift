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

        func precedes(_ other: Cursor) -> Bool { score != other.score ? score < other.score : Array(id.utf8).lexicographicallyPrecedes(Array(other.id.utf8)) }
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

    /// A page in queue order over every partition, at most two pipelined round trips.
    ///
    /// Every partition could hold the whole page, but asking each for `offset + limit` entries
    /// makes a page cost P × limit entries whatever the queue's size. Instead each partition is
    /// asked for a few (about twice its fair share) with their items. The `offset + limit`-th
    /// smallest of those bounds the page: only a partition whose share was full *and* below that
    /// bound can hold more of the page, and only those are asked again (up to the bound). Deep
    /// offsets (more than `shallowDepth`) read positions first and the page's items second.
    public func list(_ query: Query) async throws -> Page {
        let need = query.offset + query.limit
        let partitions = keys.partitions
        let shallow = need <= Self.shallowDepth
        let share = shallow ? min(need, (2 * need + partitions - 1) / partitions + 2) : need
        let first = try await pages(query, keys.allPartitions.map { ($0, query.cursor) }, count: share, withItems: shallow, upTo: nil)
        var total = 0
        var candidates: [Entry] = []
        var full: [Int: Cursor] = [:]  // partitions that may hold more, with their last entry
        for (p, part) in zip(keys.allPartitions, first) {
            total += part.total
            candidates += part.entries
            if part.entries.count == share, let last = part.entries.last?.position { full[p] = last }
        }
        candidates.sort { $0.position.precedes($1.position) }
        if shallow && !full.isEmpty {
            let bound = candidates.count >= need ? candidates[need - 1].position : nil
            // Entries after the bound cannot be on the page; a partition whose share ended at or
            // after it has nothing more for this page.
            let again = full.filter { bound == nil || $0.value.precedes(bound!) }.sorted { $0.key < $1.key }
            if !again.isEmpty {
                // Each asked partition continues after its own last entry, up to the bound.
                let more = try await pages(query, again.map { ($0.key, $0.value) }, count: need, withItems: true, upTo: bound?.score)
                candidates += more.flatMap(\.entries)
                candidates.sort { $0.position.precedes($1.position) }
            }
        }
        let page = Array(candidates.dropFirst(query.offset).prefix(query.limit))
        guard !page.isEmpty else { return Page(items: [], total: total, next: nil) }
        var items: [String: String] = [:]
        for entry in page { if let item = entry.item { items[entry.position.id] = item } }
        let missing = page.filter { $0.item == nil }
        if !missing.isEmpty {
            let byPartition = Dictionary(grouping: missing, by: { keys.partition(of: $0.position.id) })
            let order = byPartition.keys.sorted()
            let replies = try await redis.pipeline(order.map { p in
                RedisCommand("HMGET", [RedisArgument(keys.approvalItems(p))] + byPartition[p]!.map { RedisArgument($0.position.id) })
            })
            for (p, reply) in zip(order, replies) {
                for (entry, item) in zip(byPartition[p]!, try reply.throwingServerError().array ?? []) {
                    if let text = item.string { items[entry.position.id] = text }
                }
            }
        }
        // An item decided between the reads is left out: the page is strongly consistent with
        // decisions that returned before it was read.
        let texts = page.compactMap { items[$0.position.id] }
        let more = query.cursor == nil ? total > need : (candidates.count > query.offset + page.count || !full.isEmpty)
        return Page(items: texts, total: total, next: more && page.count == query.limit ? page.last?.position : nil)
    }

    /// Pages up to this deep fetch items with the positions.
    static let shallowDepth = 200

    struct Entry {
        var position: Cursor
        var item: String?
    }

    struct PartitionPage {
        var total: Int
        var entries: [Entry]
    }

    /// One `approval_page` script per partition, pipelined.
    func pages(_ query: Query, _ partitions: [(Int, Cursor?)], count: Int, withItems: Bool, upTo: Int64?) async throws -> [PartitionPage] {
        let replies = try await redis.runAll(LuaScripts.approvalPage, partitions.map { p, start in
            (keys: [keys.approvals(p, tenant: query.tenantId, namespace: query.namespace), keys.approvalItems(p)],
             arguments: [RedisArgument(start.map { String($0.score) } ?? ""), RedisArgument(start?.id ?? ""), RedisArgument(count),
                         RedisArgument(withItems ? "1" : "0"), RedisArgument(upTo.map { String($0) } ?? "")])
        })
        let stride = withItems ? 3 : 2
        return try replies.map { reply in
            guard case .array(let parts) = try reply.throwingServerError(), let size = parts.first?.int else {
                throw RedisClientError(.unexpectedReply, "approval_page returned \(reply)")
            }
            var entries: [Entry] = []
            var index = 1
            while index + stride - 1 < parts.count {
                if let id = parts[index].string, let score = RedisScore.int64(parts[index + 1].string) {
                    entries.append(Entry(position: Cursor(score: score, id: id), item: withItems ? parts[index + 2].string : nil))
                }
                index += stride
            }
            return PartitionPage(total: size, entries: entries)
        }
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
