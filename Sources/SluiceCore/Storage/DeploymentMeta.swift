import SluiceRedis

/// The deployment-wide record in `<prefix>:meta`: partition count and schema version.
public struct DeploymentMeta: Sendable, Equatable {
    /// Bumped when the Redis layout changes incompatibly. 2: instance keys are `{p}:<kind>:<id>`
    /// (1 had `{p}:i:<id>:<kind>`, which ids containing `:` could collide with).
    public static let schemaVersion = 2

    public var partitions: Int
    public var schemaVersion: Int
    /// True when this call created the record (first process of a new deployment).
    public var created: Bool

    /// Records the configured partition count on first start; on later starts checks that it
    /// matches. Throws `ConfigurationError` naming `SLUICE_PARTITIONS` on a mismatch.
    public static func ensure(keys: KeySchema, redis: RedisClient, nowMilliseconds: Int64) async throws -> DeploymentMeta {
        let reply = try await redis.run(
            LuaScripts.initMeta, keys: [keys.meta],
            arguments: [.init(keys.partitions), .init(schemaVersion), .init(String(nowMilliseconds))])
        switch reply {
        case .array(let values) where values.count == 3:
            guard let partitions = values[0].int, let version = values[1].int, let created = values[2].int else { break }
            return DeploymentMeta(partitions: partitions, schemaVersion: version, created: created == 1)
        case .error(let message):
            let words = message.split(separator: " ")
            if words.first == "PARTITIONS", words.count == 3 {
                throw ConfigurationError(
                    variable: "SLUICE_PARTITIONS",
                    message: "is \(words[2]) but this Redis (key prefix '\(keys.prefix)') was initialised with \(words[1]) partitions; the count is fixed for the life of a deployment")
            }
            if words.first == "SCHEMA", words.count == 3 {
                let newer = (Int(words[1]) ?? 0) > schemaVersion
                throw ConfigurationError(
                    variable: "SLUICE_KEY_PREFIX",
                    message: newer
                        ? "'\(keys.prefix)' holds data of schema version \(words[1]), newer than this binary supports (\(words[2])); upgrade sluice"
                        : "'\(keys.prefix)' holds data of schema version \(words[1]), whose key layout this binary (\(words[2])) does not read; use a new key prefix or a sluice of that version")
            }
            throw RedisClientError.server(message)
        default:
            break
        }
        throw RedisClientError(.unexpectedReply, "init_meta returned \(reply)")
    }
}
