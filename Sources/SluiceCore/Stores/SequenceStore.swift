import NIOConcurrencyHelpers
import SluiceRedis

/// Sequence versions in `<prefix>:seq:<id>` (put_sequence.lua / get_sequence.lua).
/// Versions never change once written, so they are cached in the process, up to
/// `cacheCapacity` of them (the least recently used go first: runners of many sequences and
/// versions must not hold every one ever read).
///
/// An id has at most `maxVersions` versions (put_sequence refuses more, 409). Older versions are
/// never deleted: a running instance reads the definition of its version whenever a runner
/// claims it, however old, and which versions instances still use is not known in the
/// sequence's slot.
public final class SequenceStore: Sendable {
    public static let maxVersions = 1000

    public struct Stored: Sendable, Equatable {
        public var version: Int
        /// The definition as posted, canonical JSON (sorted keys).
        public var json: JSONValue
        public var definition: SequenceDefinition
    }

    let redis: RedisClient
    let keys: KeySchema
    private let cache: NIOLockedValueBox<BoundedCache<String, Stored>>
    /// The latest version seen per sequence id (only a hint: Redis says which is latest).
    private let latestSeen: NIOLockedValueBox<BoundedCache<String, Int>>

    public init(redis: RedisClient, keys: KeySchema, cacheCapacity: Int = 1024) {
        self.redis = redis
        self.keys = keys
        self.cache = NIOLockedValueBox(BoundedCache(capacity: cacheCapacity))
        self.latestSeen = NIOLockedValueBox(BoundedCache(capacity: cacheCapacity))
    }

    /// How many versions this process holds (at most `cacheCapacity`).
    public var cachedVersions: Int { cache.withLockedValue { $0.count } }

    /// Stores a new version, or returns the latest when identical. One script call.
    public func put(
        _ body: JSONValue, definition: SequenceDefinition, by caller: Caller = .anonymous, nowMilliseconds: Int64
    ) async throws -> (version: Int, created: Bool) {
        let reply = try await redis.run(
            LuaScripts.putSequence, keys: [keys.sequence(definition.id)],
            arguments: [RedisArgument(bytes: body.encoded()), .init(definition.tenantId ?? ""), .init(String(nowMilliseconds)), .init(caller.scope),
                        .init(Self.maxVersions)])
        guard case .array(let values) = try ScriptReply.checked(reply), values.count == 2,
              let version = values[0].int, let created = values[1].int else {
            throw RedisClientError(.unexpectedReply, "put_sequence returned \(reply)")
        }
        remember(Stored(version: version, json: body, definition: definition), id: definition.id)
        return (version, created == 1)
    }

    /// One version (latest when nil), or nil when absent.
    public func get(_ id: String, version: Int? = nil) async throws -> Stored? {
        if let version, let cached = cache.withLockedValue({ $0.value(for: "\(id)\u{0}\(version)") }) { return cached }
        let hint = version == nil ? latestSeen.withLockedValue { $0.value(for: id) } : nil
        let reply = try await redis.run(
            LuaScripts.getSequence, keys: [keys.sequence(id)],
            arguments: [.init(version.map(String.init) ?? ""), .init(hint.map(String.init) ?? "")])
        switch try reply.throwingServerError() {
        case .null:
            return nil
        case .array(let values) where values.count == 1:
            // Still the version we hold: no need to read or parse it again.
            if let number = values[0].int, let cached = cache.withLockedValue({ $0.value(for: "\(id)\u{0}\(number)") }) { return cached }
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

    /// The latest version this process has seen of `id`, from its cache: a creation that uses it
    /// has Redis check that it is still the latest in the same script (`create_instance`).
    public func cachedLatest(_ id: String) -> Stored? {
        guard let version = latestSeen.withLockedValue({ $0.value(for: id) }) else { return nil }
        return cache.withLockedValue { $0.value(for: "\(id)\u{0}\(version)") }
    }

    private func remember(_ stored: Stored, id: String) {
        cache.withLockedValue { $0.insert(stored, for: "\(id)\u{0}\(stored.version)") }
        latestSeen.withLockedValue { $0.insert(max($0.value(for: id) ?? 0, stored.version), for: id) }
    }
}
