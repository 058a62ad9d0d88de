import NIOCore
import SluiceRedis

/// Instances in Redis: create, read, list, outputs, delete. Each write is one script call.
public struct InstanceStore: StorageBacked {
    public let storage: Storage

    public init(_ storage: Storage) { self.storage = storage }

    public struct NewInstance: Sendable {
        public var id: String
        public var tenantId: String?
        public var namespace: String?
        public var sequence: SequenceStore.Stored
        public var context: JSONValue
        public var metadata: JSONValue

        public init(id: String, tenantId: String?, namespace: String?, sequence: SequenceStore.Stored, context: JSONValue, metadata: JSONValue) {
            self.id = id
            self.tenantId = tenantId
            self.namespace = namespace
            self.sequence = sequence
            self.context = context
            self.metadata = metadata
        }

        /// What makes two create requests "identical".
        var fingerprint: [UInt8] {
            JSONValue.object([
                "sequence_id": .string(sequence.definition.id), "tenant_id": tenantId.map(JSONValue.string) ?? .null,
                "namespace": namespace.map(JSONValue.string) ?? .null, "context": context, "metadata": metadata,
            ]).encoded()
        }
    }

    /// Whether `create` can check the sequence's latest version in its own script: not on Redis
    /// Cluster, where a script may only touch keys of one hash slot.
    public var checksLatest: Bool { !redis.isCluster }

    /// What `create` did.
    public enum Created: Sendable, Equatable {
        /// Created (`true`), or an identical request's instance already in `state` (`false`).
        case done(created: Bool, state: InstanceState)
        /// `checkLatest` was asked and the sequence has a newer version: nothing was written.
        case staleSequence(latest: Int)
    }

    /// Creates the instance, or reports the existing one for an identical request.
    /// Throws `SluiceError.conflict` when the id exists with a different request.
    ///
    /// `checkLatest`: the same script checks that `new.sequence` is still the sequence's latest
    /// version, so a caller may take it from its cache instead of reading it first (one round
    /// trip instead of two). Only where `checksLatest` (a single Redis): on Redis Cluster the
    /// sequence lives in another hash slot, and the caller must read it first.
    public func create(_ new: NewInstance, checkLatest: Bool = false, by caller: Caller = .anonymous, nowMilliseconds: Int64) async throws -> Created {
        let p = keys.partition(of: new.id)
        let definition = new.sequence.definition
        let fields: [RedisArgument] = [
            "id", .init(new.id), "tenant_id", .init(new.tenantId ?? ""), "namespace", .init(new.namespace ?? ""),
            "sequence_id", .init(definition.id), "sequence_version", .init(new.sequence.version),
            "sequence_name", .init(definition.name), "block_index", 0, "current_block", .init(definition.blocks.first?.id ?? ""),
            "metadata", .init(bytes: new.metadata.encoded()), "error", "", "gates", .init(bytes: Self.gates(of: definition)),
            // The context limit the merging scripts check patches against (the whole context, not
            // only each patch, stays within it).
            "ctx_max", .init(storage.limits.contextBytes),
        ]
        let contextPairs = RedisArgument.fieldPairs(new.context.objectValue ?? [:])
        var scriptKeys = [keys.instance(new.id), keys.events(new.id), keys.ready(p), keys.instanceIndex(p), keys.wakeChannel(p), keys.context(new.id)]
        if checkLatest {
            guard checksLatest else { throw RedisClientError(.unexpectedReply, "create_instance cannot check a sequence version on Redis Cluster") }
            scriptKeys.append(keys.sequence(definition.id))
        }
        let reply = try await redis.run(
            LuaScripts.createInstance, keys: scriptKeys,
            arguments: [.init(new.id), .init(bytes: new.fingerprint), .init(String(nowMilliseconds)), .init(streamMaxLength),
                        .init(contextPairs.count / 2), .init(caller.name), .init(new.sequence.version)] + fields + contextPairs)
        let checked = try ScriptReply.checked(reply, conflict: "instance \(new.id) already exists with a different request")
        if case .array(let values) = checked, values.count == 2, let created = values[0].int {
            if created == -1, let latest = values[1].int { return .staleSequence(latest: latest) }
            if let state = values[1].string.flatMap(InstanceState.init(rawValue:)) { return .done(created: created == 1, state: state) }
        }
        throw RedisClientError(.unexpectedReply, "create_instance returned \(reply)")
    }

    /// What the gate scripts need of the sequence's human_input blocks, so that a decision is
    /// checked in the same script that applies it: block id → {i: index, store_as, values,
    /// next: the following block id or ""}.
    static func gates(of definition: SequenceDefinition) -> [UInt8] {
        var gates: [String: JSONValue] = [:]
        for (index, block) in definition.blocks.enumerated() {
            guard case .humanInput(let gate) = block.kind else { continue }
            gates[block.id] = .object([
                "i": .number(Double(index)), "store_as": .string(gate.storeAs),
                "values": .array(gate.choices.map { .string($0.value) }),
                "next": .string(index + 1 < definition.blocks.count ? definition.blocks[index + 1].id : ""),
            ])
        }
        return JSONValue.object(gates).encoded()
    }

    /// The instance, or nil.
    public func get(_ id: String) async throws -> Instance? {
        let replies = try await redis.pipeline([RedisCommand("HGETALL", keys.instance(id)), RedisCommand("HGETALL", keys.context(id))])
        guard let fields = try replies[0].throwingServerError().fields, !fields.isEmpty else { return nil }
        return Instance(fields: fields, context: try replies[1].throwingServerError().fields ?? [:])
    }

    /// The instance as the API's JSON (`InstanceRecord`: stored JSON spliced, not parsed); nil
    /// when it does not exist or the caller may not see it. One pipelined round trip.
    public func getJSON(_ id: String, for caller: Caller = .anonymous) async throws -> ByteBuffer? {
        let replies = try await redis.pipeline([RedisCommand("HGETALL", keys.instance(id)), RedisCommand("HGETALL", keys.context(id))])
        guard let record = InstanceRecord(instance: try replies[0].throwingServerError(), context: try replies[1].throwingServerError()),
              caller.sees(tenant: record.tenantId) else { return nil }
        var out = ByteBuffer()
        record.write(to: &out)
        return out
    }

    /// Step outputs in completion order: `[{block_id, output, created_at}]`; nil when the
    /// instance does not exist or the caller may not see it.
    public func outputs(_ id: String, for caller: Caller = .anonymous) async throws -> [JSONValue]? {
        let replies = try await redis.pipeline([RedisCommand("HMGET", keys.instance(id), "state", "tenant_id"), RedisCommand("HGETALL", keys.outputs(id))])
        guard replies.count == 2, let found = try replies[0].throwingServerError().array, found.count == 2, found[0].string != nil,
              caller.sees(tenant: found[1].string.flatMap { $0.isEmpty ? nil : $0 }) else { return nil }
        let records = (replies[1].fields ?? [:]).values.compactMap { try? JSONValue.parse(Array($0.utf8)) }
        return records
            .sorted { ($0["n"].flatMap(\.numberValue) ?? 0) < ($1["n"].flatMap(\.numberValue) ?? 0) }
            .map { record in
                var object = record.objectValue ?? [:]
                object["n"] = nil
                return .object(object)
            }
    }

    /// Deletes every key of the instance; false when there was none (or the caller may not see it).
    public func delete(_ id: String, by caller: Caller = .anonymous) async throws -> Bool {
        let p = keys.partition(of: id)
        let own = keys.instanceKeys(id).filter { $0 != keys.gate(id) }
        let indexes = [keys.ready(p), keys.instanceIndex(p), keys.leases(p), keys.expiries(p)]
        let reply = try await storage.runDeclaring(
            LuaScripts.deleteInstance, instance: id,
            keys: [keys.instance(id), keys.gate(id), keys.approvalItems(p), keys.deadlines(p), keys.approvalEvents(p), keys.wakeChannel(p),
                   keys.taskLeases(p)] + own + indexes,
            arguments: [.init(id), .init(own.count), .init(storage.approvalStreamMaxLength), .init(caller.scope), .init(caller.name)])
        guard let deleted = try reply.throwingServerError().int else {
            throw RedisClientError(.unexpectedReply, "delete_instance returned \(reply)")
        }
        return deleted == 1
    }

    /// Sweeper side: removes the listing entries of finished instances whose keys have expired,
    /// up to `limit` per partition; returns how many. The finishing scripts record each
    /// instance's expiry time in `{p}:expiry`, so this reads only what is due (one pipelined
    /// read, then one script per due instance) instead of walking the listing index: an index
    /// entry cannot expire with its instance, and listing alone would only ever meet the newest.
    public func trimExpired(nowMilliseconds: Int64, limit: Int = 100) async throws -> Int {
        let now = String(nowMilliseconds)
        let due = try await redis.pipeline(keys.allPartitions.map { p in
            RedisCommand("ZRANGEBYSCORE", [.init(keys.expiries(p)), "-inf", .init(now), "LIMIT", "0", .init(limit)])
        })
        var work: [(p: Int, id: String)] = []
        for (p, reply) in due.enumerated() {
            for id in try reply.throwingServerError().array?.compactMap(\.string) ?? [] { work.append((p, id)) }
        }
        guard !work.isEmpty else { return 0 }
        let replies = try await redis.runAll(LuaScripts.trimExpired, work.map { p, id in
            (keys: [keys.instance(id), keys.instanceIndex(p), keys.expiries(p)], arguments: [RedisArgument(id), RedisArgument(now)])
        })
        return try replies.filter { try $0.throwingServerError() == .integer(1) }.count
    }

    public struct ListQuery: Sendable {
        public var tenantId: String?
        public var namespace: String?
        public var state: InstanceState?
        public var limit: Int
        public var cursor: ListCursor?

        public init(tenantId: String? = nil, namespace: String? = nil, state: InstanceState? = nil, limit: Int = 50, cursor: ListCursor? = nil) {
            self.tenantId = tenantId
            self.namespace = namespace
            self.state = state
            self.limit = limit
            self.cursor = cursor
        }
    }

    /// Keyset position in the newest-first listing: creation time, then id.
    public struct ListCursor: Sendable, Equatable {
        public var createdAt: Int64
        public var id: String

        public init(createdAt: Int64, id: String) {
            self.createdAt = createdAt
            self.id = id
        }

        public init?(_ text: String) {
            guard let separator = text.firstIndex(of: "_"), let ms = Int64(text[..<separator]) else { return nil }
            self.createdAt = ms
            self.id = String(text[text.index(after: separator)...])
            guard Identifier.isValid(id) else { return nil }
        }

        public var text: String { "\(createdAt)_\(id)" }

        /// True when (createdAt, id) comes after this cursor in newest-first order.
        func isAfter(_ createdAt: Int64, _ id: String) -> Bool {
            createdAt < self.createdAt || (createdAt == self.createdAt && id < self.id)
        }
    }

    /// Newest first across all partitions: one pipelined round trip for the index, one for the
    /// instances. Filters apply to the instances read, so a page may be shorter than `limit`
    /// while `next` still points further.
    public func list(_ query: ListQuery) async throws -> (items: [Instance], next: ListCursor?) {
        let max = query.cursor.map { String($0.createdAt) } ?? "+inf"
        // Items sharing the cursor's millisecond are filtered below, so fetch a little more.
        let fetch = query.limit + 16
        let indexReplies = try await redis.pipeline(keys.allPartitions.map { p in
            RedisCommand("ZREVRANGEBYSCORE", [.init(keys.instanceIndex(p)), .init(max), "-inf", "WITHSCORES", "LIMIT", "0", .init(fetch)])
        })
        var candidates: [(createdAt: Int64, id: String)] = []
        for reply in indexReplies {
            guard let pairs = try reply.throwingServerError().array else { continue }
            var index = 0
            while index + 1 < pairs.count {
                if let id = pairs[index].string, let createdAt = RedisScore.int64(pairs[index + 1]) {
                    if query.cursor?.isAfter(createdAt, id) ?? true { candidates.append((createdAt, id)) }
                }
                index += 2
            }
        }
        candidates.sort { $0.createdAt != $1.createdAt ? $0.createdAt > $1.createdAt : $0.id > $1.id }
        let page = Array(candidates.prefix(query.limit))
        guard !page.isEmpty else { return ([], nil) }
        let hashes = try await redis.pipeline(page.flatMap { [RedisCommand("HGETALL", keys.instance($0.id)), RedisCommand("HGETALL", keys.context($0.id))] })
        var items: [Instance] = []
        for index in stride(from: 0, to: hashes.count, by: 2) {
            guard let fields = hashes[index].fields, let instance = Instance(fields: fields, context: hashes[index + 1].fields ?? [:])
            else { continue }  // expired meanwhile
            if let tenant = query.tenantId, instance.tenantId != tenant { continue }
            if let namespace = query.namespace, instance.namespace != namespace { continue }
            if let state = query.state, instance.state != state { continue }
            items.append(instance)
        }
        let last = page[page.count - 1]
        let more = candidates.count > page.count || indexReplies.contains { ($0.array?.count ?? 0) / 2 >= fetch }
        return (items, more ? ListCursor(createdAt: last.createdAt, id: last.id) : nil)
    }
}

extension JSONValue {
    public var numberValue: Double? {
        switch self {
        case .number(let value): return value
        case .integer(let value): return Double(value)
        default: return nil
        }
    }

    public var arrayValue: [JSONValue]? {
        if case .array(let values) = self { return values }
        return nil
    }
}
