import SluiceRedis

/// What every store works with: the Redis client, the key schema and the storage limits.
public struct Storage: Sendable {
    public let redis: RedisClient
    public let keys: KeySchema
    public let streamMaxLength: Int
    public let retentionMilliseconds: Int
    public let taskLeaseMilliseconds: Int
    /// Checkpoints kept per instance; saving one more drops the oldest.
    public let checkpointCap: Int
    /// Size limits of what the stores write.
    public let limits: Limits
    /// Entries kept per partition on the approvals stream (`/approvals/stream` history).
    public var approvalStreamMaxLength: Int { max(streamMaxLength, 10_000) }
    /// What the process learned of keys named by data (`DeclaredKeys`); shared by default.
    public let declaredKeys: DeclaredKeys

    public init(redis: RedisClient, keys: KeySchema, streamMaxLength: Int = 10_000, retentionSeconds: Int = 604_800, taskLeaseMilliseconds: Int = 30_000,
                checkpointCap: Int = 100, limits: Limits = Limits(), declaredKeys: DeclaredKeys = .shared) {
        self.redis = redis
        self.keys = keys
        self.streamMaxLength = streamMaxLength
        self.retentionMilliseconds = retentionSeconds * 1000
        self.taskLeaseMilliseconds = taskLeaseMilliseconds
        self.checkpointCap = checkpointCap
        self.limits = limits
        self.declaredKeys = declaredKeys
    }

    public init(redis: RedisClient, configuration: SluiceConfiguration) {
        self.init(
            redis: redis, keys: configuration.keys, streamMaxLength: configuration.streamMaxLength,
            retentionSeconds: configuration.retentionSeconds, taskLeaseMilliseconds: configuration.taskLeaseMilliseconds,
            checkpointCap: configuration.checkpointCap, limits: Limits(configuration))
    }
}

/// A store built on `Storage`; its fields read through.
public protocol StorageBacked: Sendable {
    var storage: Storage { get }
}

extension StorageBacked {
    public var redis: RedisClient { storage.redis }
    public var keys: KeySchema { storage.keys }
    var streamMaxLength: Int { storage.streamMaxLength }
    var retentionMilliseconds: Int { storage.retentionMilliseconds }
}
