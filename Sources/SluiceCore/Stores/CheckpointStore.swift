import NIOCore
import SluiceRedis

/// Checkpoints of instances (api.md → Checkpoints): a capped list of ids `{p}:cp:<id>` and a
/// hash of records `{p}:cpd:<id>`. Each write is one script; each read one command.
public struct CheckpointStore: StorageBacked {
    public let storage: Storage

    public init(_ storage: Storage) { self.storage = storage }

    /// Saves `data` (JSON text, as `JSONValue.encoded()` writes it: the caller has it already for
    /// the size check) with a snapshot of the instance; returns the new checkpoint's id (a UUIDv7,
    /// later ids sort after earlier ones). `SluiceError.notFound` for an unknown instance.
    public func save(_ id: String, data: [UInt8], by caller: Caller = .anonymous, nowMilliseconds: Int64) async throws -> String {
        let reply = try await redis.run(
            LuaScripts.saveCheckpoint,
            keys: [keys.instance(id), keys.context(id), keys.checkpoints(id), keys.checkpointData(id)],
            arguments: [
                .init(id), .init(String(nowMilliseconds)), .init(Clock.rfc3339(milliseconds: nowMilliseconds)), .init(Self.randomTail()),
                .init(storage.checkpointCap), .init(bytes: data), .init(caller.scope),
            ])
        guard let checkpointId = try ScriptReply.checked(reply).string else {
            throw RedisClientError(.unexpectedReply, "save_checkpoint returned \(reply)")
        }
        return checkpointId
    }

    /// All checkpoints, oldest first, as the API's JSON array (records spliced as stored, see
    /// `CheckpointRecord`); nil when the instance does not exist or the caller may not see it.
    public func listJSON(_ id: String, for caller: Caller = .anonymous) async throws -> ByteBuffer? {
        try await records(id, for: caller).map(CheckpointRecord.apiJSONArray(of:))
    }

    /// All checkpoints, oldest first, decoded (the console looks inside them); nil when the
    /// instance does not exist or the caller may not see it.
    public func list(_ id: String, for caller: Caller = .anonymous) async throws -> [Checkpoint]? {
        try await records(id, for: caller).map { $0.compactMap { Checkpoint(record: String(buffer: $0)) } }
    }

    /// The stored records in save order. One pipelined round trip.
    private func records(_ id: String, for caller: Caller) async throws -> [ByteBuffer]? {
        let replies = try await redis.pipeline([
            RedisCommand("HMGET", keys.instance(id), "state", "tenant_id"), RedisCommand("HGETALL", keys.checkpointData(id)),
        ])
        guard let found = try replies[0].throwingServerError().array, found.count == 2, found[0].string != nil,
              caller.sees(tenant: found[1].string.flatMap { $0.isEmpty ? nil : $0 }) else { return nil }
        guard case .array(let pairs) = try replies[1].throwingServerError(), pairs.count % 2 == 0 else {
            throw RedisClientError(.unexpectedReply, "HGETALL of checkpoints returned \(replies[1])")
        }
        var records: [(id: ByteBuffer, record: ByteBuffer)] = []
        records.reserveCapacity(pairs.count / 2)
        var index = 0
        while index < pairs.count {
            if case .string(let id) = pairs[index], case .string(let record) = pairs[index + 1] { records.append((id, record)) }
            index += 2
        }
        // Ids sort in save order (save_checkpoint makes them so), which spares reading the list.
        records.sort { CheckpointRecord.precedes($0.id, $1.id) }
        return records.map(\.record)
    }

    /// One checkpoint as API JSON, or the newest when `checkpointId` is nil; nil when there is
    /// none. `SluiceError.notFound` for an unknown instance.
    public func getJSON(_ id: String, checkpointId: String? = nil, for caller: Caller = .anonymous) async throws -> ByteBuffer? {
        try await record(id, checkpointId: checkpointId, for: caller).flatMap(CheckpointRecord.apiJSON(of:))
    }

    /// One checkpoint, decoded, or the newest when `checkpointId` is nil; nil when there is none.
    public func get(_ id: String, checkpointId: String? = nil, for caller: Caller = .anonymous) async throws -> Checkpoint? {
        try await record(id, checkpointId: checkpointId, for: caller).flatMap { Checkpoint(record: String(buffer: $0)) }
    }

    private func record(_ id: String, checkpointId: String?, for caller: Caller) async throws -> ByteBuffer? {
        let reply = try await redis.run(
            LuaScripts.getCheckpoint, keys: [keys.instance(id), keys.checkpoints(id), keys.checkpointData(id)],
            arguments: [.init(checkpointId ?? ""), .init(caller.scope)])
        guard case .string(let record) = try ScriptReply.checked(reply) else { return nil }
        return record
    }

    /// Keeps the `keep` newest checkpoints; returns how many were deleted.
    public func prune(_ id: String, keep: Int, by caller: Caller = .anonymous) async throws -> Int {
        precondition(keep >= 0, "keep is validated at the edge")
        let reply = try await redis.run(
            LuaScripts.pruneCheckpoints, keys: [keys.instance(id), keys.checkpoints(id), keys.checkpointData(id)], arguments: [.init(keep), .init(caller.scope)])
        guard let deleted = try ScriptReply.checked(reply).int else {
            throw RedisClientError(.unexpectedReply, "prune_checkpoints returned \(reply)")
        }
        return deleted
    }

    /// Puts the instance back to the checkpoint's snapshot, `scheduled` at that block; fences
    /// every runner and worker task that held it. Returns the state and the block it resumes at.
    public func restore(
        _ id: String, checkpointId: String, by caller: Caller = .anonymous, nowMilliseconds: Int64
    ) async throws -> (state: InstanceState, currentBlock: String?) {
        let p = keys.partition(of: id)
        let reply = try await storage.runDeclaring(
            LuaScripts.restoreCheckpoint, instance: id,
            keys: [keys.instance(id), keys.context(id), keys.outputs(id), keys.events(id), keys.checkpoints(id), keys.checkpointData(id),
                   keys.gate(id), keys.inbox(id), keys.taskLeases(p), keys.ready(p), keys.leases(p), keys.approvalItems(p), keys.deadlines(p),
                   keys.approvalEvents(p), keys.wakeChannel(p), keys.expiries(p)],
            arguments: [.init(id), .init(checkpointId), .init(String(nowMilliseconds)), .init(Clock.rfc3339(milliseconds: nowMilliseconds)),
                        .init(streamMaxLength), .init(storage.approvalStreamMaxLength), .init(caller.scope), .init(caller.name)])
        guard case .array(let parts) = try ScriptReply.checked(reply), parts.count == 2,
              let state = parts[0].string.flatMap(InstanceState.init(rawValue:)), let block = parts[1].string else {
            throw RedisClientError(.unexpectedReply, "restore_checkpoint returned \(reply)")
        }
        return (state, block.isEmpty ? nil : block)
    }

    /// The random end of a UUIDv7 (`vrrr-rrrrrrrrrrrr`, RFC 4122 variant); the script puts the
    /// time and counter in front.
    static func randomTail() -> String {
        // One draw (one getrandom call), the top two bits set to the variant 0b10.
        let bits = UInt64.random(in: .min ... .max) & 0x3FFF_FFFF_FFFF_FFFF | 0x8000_0000_0000_0000
        let hex = String(bits, radix: 16)
        return String(hex.prefix(4)) + "-" + String(hex.dropFirst(4))
    }
}
