import SluiceRedis

/// The runner's side of the storage: what is due, claiming, committing block results.
public struct EngineStore: StorageBacked {
    public let storage: Storage

    public init(_ storage: Storage) { self.storage = storage }

    /// What a runner got by claiming an instance.
    public struct Claim: Sendable {
        public var epoch: Int
        public var instance: Instance
        /// block id → output, for `{{outputs.<block>.…}}`.
        public var outputs: [String: JSONValue]
    }

    public struct Scan: Sendable {
        /// Due now, over every partition.
        public var ids: [String]
        /// The earliest due time or lease expiry left after them (ms), nil when none.
        public var nextDue: Int64?
    }

    /// Due instance ids of every partition and instances whose runner lease expired (their
    /// runner died), which are due again at once; with the earliest due time still ahead. One
    /// pipelined round trip (two when expired leases are re-queued).
    public func due(nowMilliseconds: Int64, limit: Int) async throws -> Scan {
        let now = String(nowMilliseconds)
        // One command per queue: the head of each zset in due order, one more than the batch, so
        // that the first entry not due yet (if within it) gives the next due time. A queue with
        // more due than that fills the batch, and the caller scans again at once.
        let commands = keys.allPartitions.flatMap { p in
            [RedisCommand("ZRANGEBYSCORE", [.init(keys.ready(p)), "-inf", "+inf", "WITHSCORES", "LIMIT", "0", .init(limit + 1)]),
             RedisCommand("ZRANGEBYSCORE", [.init(keys.leases(p)), "-inf", "+inf", "WITHSCORES", "LIMIT", "0", .init(limit + 1)])]
        }
        let replies = try await redis.pipeline(commands)
        var ready: [String] = []
        var expired: [(Int, String)] = []
        var next: Int64?
        for (index, reply) in replies.enumerated() {
            let values = try reply.throwingServerError().array ?? []
            var taken = 0
            for pair in stride(from: 0, to: values.count - 1, by: 2) {
                guard let id = values[pair].string, let score = RedisScore.int64(values[pair + 1]) else { continue }
                if score > nowMilliseconds {
                    next = min(next ?? score, score)
                    break
                }
                guard taken < limit else { break }
                taken += 1
                if index % 2 == 0 { ready.append(id) } else { expired.append((index / 2, id)) }
            }
        }
        if !expired.isEmpty {
            // Back to the ready queue (only if the lease is still expired: compare-and-move).
            _ = try await redis.runAll(LuaScripts.requeueExpired, expired.map { p, id in
                (keys: [keys.leases(p), keys.ready(p), keys.instance(id)], arguments: [RedisArgument(id), RedisArgument(now)])
            })
            ready += expired.map(\.1)
        }
        return Scan(ids: ready, nextDue: next)
    }

    public func claim(_ id: String, nowMilliseconds: Int64, leaseMilliseconds: Int) async throws -> Claim? {
        let p = keys.partition(of: id)
        let reply = try await redis.run(
            LuaScripts.claimInstance,
            keys: [keys.instance(id), keys.context(id), keys.outputs(id), keys.events(id), keys.ready(p), keys.leases(p), keys.wakeChannel(p)],
            arguments: [.init(id), .init(String(nowMilliseconds)), .init(leaseMilliseconds), .init(streamMaxLength)])
        switch try reply.throwingServerError() {
        case .null:
            return nil
        case .array(let parts) where parts.count == 4:
            guard let epoch = parts[0].int, let fields = parts[1].fields,
                  let instance = Instance(fields: fields, context: parts[2].fields ?? [:]) else { break }
            var outputs: [String: JSONValue] = [:]
            for (block, record) in parts[3].fields ?? [:] {
                outputs[block] = (try? JSONValue.parse(Array(record.utf8)))?["output"]
            }
            return Claim(epoch: epoch, instance: instance, outputs: outputs)
        default:
            break
        }
        throw RedisClientError(.unexpectedReply, "claim_instance returned \(reply)")
    }

    /// Extends the runner's lease while it still holds the instance (a long step); false once
    /// it does not (fenced: a restore, a cancel, or the lease already expired).
    public func renewLease(_ id: String, epoch: Int, nowMilliseconds: Int64, leaseMilliseconds: Int) async throws -> Bool {
        let p = keys.partition(of: id)
        let reply = try await redis.run(
            LuaScripts.renewLease, keys: [keys.instance(id), keys.leases(p)],
            arguments: [.init(id), .init(epoch), .init(String(nowMilliseconds + Int64(leaseMilliseconds)))])
        return try reply.throwingServerError().int == 1
    }

    /// A stopping runner hands the instance back, due now (`release_instance.lua`); false when
    /// it no longer held it (a newer claim, a cancel, an expired lease): then nothing changes.
    @discardableResult
    public func release(_ id: String, epoch: Int, nowMilliseconds: Int64) async throws -> Bool {
        let p = keys.partition(of: id)
        let reply = try await redis.run(
            LuaScripts.releaseInstance, keys: [keys.instance(id), keys.leases(p), keys.ready(p), keys.wakeChannel(p)],
            arguments: [.init(id), .init(epoch), .init(String(nowMilliseconds))])
        return try reply.throwingServerError().int == 1
    }

    /// How a block's result is committed.
    public enum CommitMode: String, Sendable {
        /// Keep running: the same runner goes on with the next block (lease extended).
        case `continue`
        /// Release to the ready queue, due at `due` (sleep).
        case schedule
        case complete
        /// The block failed and will be tried again at `due`.
        case retry
        case fail
    }

    public struct Commit: Sendable {
        public var mode: CommitMode
        /// The outputs to record, in the order the blocks produced them: usually the block's
        /// own; several when built-in steps without side effects ran one after another
        /// (`contextPatch` is then their patches merged in order).
        public var outputs: [(block: String, value: JSONValue)]
        public var contextPatch: [String: JSONValue] = [:]
        public var nextIndex: Int
        public var nextBlock: String?
        public var due: Int64 = 0
        public var error: JSONValue?

        public init(mode: CommitMode, output: (block: String, value: JSONValue)? = nil, contextPatch: [String: JSONValue] = [:],
                    nextIndex: Int, nextBlock: String?, due: Int64 = 0, error: JSONValue? = nil) {
            self.init(mode: mode, outputs: output.map { [$0] } ?? [], contextPatch: contextPatch, nextIndex: nextIndex, nextBlock: nextBlock, due: due, error: error)
        }

        public init(mode: CommitMode, outputs: [(block: String, value: JSONValue)], contextPatch: [String: JSONValue] = [:],
                    nextIndex: Int, nextBlock: String?, due: Int64 = 0, error: JSONValue? = nil) {
            self.mode = mode
            self.outputs = outputs
            self.contextPatch = contextPatch
            self.nextIndex = nextIndex
            self.nextBlock = nextBlock
            self.due = due
            self.error = error
        }
    }

    /// Applies a block result; `SluiceError.conflict` (fenced) when the runner lost the instance.
    public func commit(_ id: String, epoch: Int, _ commit: Commit, nowMilliseconds: Int64, leaseMilliseconds: Int) async throws -> InstanceState {
        let p = keys.partition(of: id)
        let patch = RedisArgument.fieldPairs(commit.contextPatch)
        var arguments: [RedisArgument] = [
            .init(id), .init(epoch), .init(String(nowMilliseconds)), .init(streamMaxLength), .init(retentionMilliseconds),
            .init(leaseMilliseconds), .init(commit.mode.rawValue), .init(commit.outputs.count), .init(Clock.rfc3339(milliseconds: nowMilliseconds)),
            .init(commit.nextIndex), .init(commit.nextBlock ?? ""), .init(String(commit.due)), .init(bytes: commit.error?.encoded() ?? []),
        ]
        arguments.reserveCapacity(arguments.count + 2 * commit.outputs.count + 1 + patch.count)
        for output in commit.outputs {
            arguments.append(.init(output.block))
            arguments.append(.init(bytes: output.value.encoded()))
        }
        arguments.append(.init(patch.count / 2))
        arguments += patch
        let reply = try await storage.runDeclaring(
            LuaScripts.commitBlock, instance: id,
            keys: [keys.instance(id), keys.context(id), keys.outputs(id), keys.events(id), keys.ready(p), keys.leases(p),
                   keys.wakeChannel(p), keys.taskLeases(p), keys.expiries(p), keys.gate(id), keys.inbox(id), keys.checkpoints(id), keys.checkpointData(id)],
            arguments: arguments)
        guard let state = try ScriptReply.checked(reply).string.flatMap(InstanceState.init(rawValue:)) else {
            throw RedisClientError(.unexpectedReply, "commit_block returned \(reply)")
        }
        return state
    }
}
