import NIOConcurrencyHelpers
import SluiceRedis

/// Sequence versions in `<prefix>:seq:<id>` (put_sequence.lua / get_sequence.lua).
/// Versions never change once written, so they are cached in the process.
public final class SequenceStore: Sendable {
    public struct Stored: Sendable, Equatable {
        public var version: Int
        /// The definition as posted, canonical JSON (sorted keys).
        public var json: JSONValue
        public var definition: SequenceDefinition
    }

    let redis: RedisClient
    let keys: KeySchema
    private let cache = NIOLockedValueBox<[String: Stored]>([:])
    /// The latest version seen per sequence id (only a hint: Redis says which is latest).
    private let latestSeen = NIOLockedValueBox<[String: Int]>([:])

    public init(redis: RedisClient, keys: KeySchema) {
        self.redis = redis
        self.keys = keys
    }

    /// Stores a new version, or returns the latest when identical. One script call.
    public func put(
        _ body: JSONValue, definition: SequenceDefinition, by caller: Caller = .anonymous, nowMilliseconds: Int64
    ) async throws -> (version: Int, created: Bool) {
        let reply = try await redis.run(
            LuaScripts.putSequence, keys: [keys.sequence(definition.id)],
            arguments: [RedisArgument(bytes: body.encoded()), .init(definition.tenantId ?? ""), .init(String(nowMilliseconds)), .init(caller.scope)])
        guard case .array(let values) = try ScriptReply.checked(reply), values.count == 2,
              let version = values[0].int, let created = values[1].int else {
            throw RedisClientError(.unexpectedReply, "put_sequence returned \(reply)")
        }
        remember(Stored(version: version, json: body, definition: definition), id: definition.id)
        return (version, created == 1)
    }

    /// One version (latest when nil), or nil when absent.
    public func get(_ id: String, version: Int? = nil) async throws -> Stored? {
        if let version, let cached = cache.withLockedValue({ $0["\(id)\u{0}\(version)"] }) { return cached }
        let hint = version == nil ? latestSeen.withLockedValue { $0[id] } : nil
        let reply = try await redis.run(
            LuaScripts.getSequence, keys: [keys.sequence(id)],
            arguments: [.init(version.map(String.init) ?? ""), .init(hint.map(String.init) ?? "")])
        switch try reply.throwingServerError() {
        case .null:
            return nil
        case .array(let values) where values.count == 1:
            // Still the version we hold: no need to read or parse it again.
            if let number = values[0].int, let cached = cache.withLockedValue({ $0["\(id)\u{0}\(number)"] }) { return cached }
        case .array(let values) where values.count == 2:
            guard let number = values[0].int, case .string(let buffer) = values[1] else { break }
            let json = try JSONValue.parse(buffer.readableBytesView)
            // Stored definitions were valid when written; a parse failure means corrupted data.
            let definition: SequenceDefinition
            do { definition = try SequenceParser.parse(json) } catch {
                throw RedisClientError(.unexpectedReply, "stored sequence \(id) v\(number) is invalid: \(error)")
            }
            let stored = Stored(version: number, json: json, definition: definition)
            remember(stored, id: id)
            return stored
        default:
            break
        }
        throw RedisClientError(.unexpectedReply, "get_sequence returned \(reply)")
    }

    private func remember(_ stored: Stored, id: String) {
        cache.withLockedValue { $0["\(id)\u{0}\(stored.version)"] = stored }
        latestSeen.withLockedValue { $0[id] = max($0[id] ?? 0, stored.version) }
    }
}
