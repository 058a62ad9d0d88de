import SluiceCore
import SluiceRedis
import SluiceTestSupport
import Testing

@Suite struct DeploymentMetaTests {
    @Test func firstStartRecordsPartitionsAndADifferentCountIsRefused() async throws {
        let server = try await TestRedis.shared()
        let redis = RedisClient(configuration: server.clientConfiguration)
        defer { redis.shutdown() }
        let prefix = TestRedis.uniquePrefix("meta")

        let first = try await DeploymentMeta.ensure(keys: KeySchema(prefix: prefix, partitions: 64), redis: redis, nowMilliseconds: 1)
        #expect(first.partitions == 64 && first.schemaVersion == DeploymentMeta.schemaVersion && first.created)
        let again = try await DeploymentMeta.ensure(keys: KeySchema(prefix: prefix, partitions: 64), redis: redis, nowMilliseconds: 2)
        #expect(again.created == false)
        #expect(try await redis.execute("HGET", "\(prefix):meta", "partitions").string == "64")

        do {
            _ = try await DeploymentMeta.ensure(keys: KeySchema(prefix: prefix, partitions: 32), redis: redis, nowMilliseconds: 3)
            Issue.record("a different partition count must be refused")
        } catch let error as ConfigurationError {
            #expect(error.variable == "SLUICE_PARTITIONS")
            #expect(error.message.contains("initialised with 64"))
        }
        // Nothing was overwritten by the refused process.
        #expect(try await redis.execute("HGET", "\(prefix):meta", "partitions").string == "64")
    }

    @Test func dataOfANewerSchemaIsRefused() async throws {
        let server = try await TestRedis.shared()
        let redis = RedisClient(configuration: server.clientConfiguration)
        defer { redis.shutdown() }
        let prefix = TestRedis.uniquePrefix("meta")
        try await redis.execute("HSET", "\(prefix):meta", "partitions", "64", "schema_version", "99")
        await #expect(throws: ConfigurationError.self) {
            try await DeploymentMeta.ensure(keys: KeySchema(prefix: prefix, partitions: 64), redis: redis, nowMilliseconds: 1)
        }
    }

    /// Schema 1 keyed instance data as `{p}:i:<id>:<kind>`; this binary would not see it.
    @Test func dataOfAnOlderSchemaIsRefused() async throws {
        let server = try await TestRedis.shared()
        let redis = RedisClient(configuration: server.clientConfiguration)
        defer { redis.shutdown() }
        let prefix = TestRedis.uniquePrefix("meta")
        try await redis.execute("HSET", "\(prefix):meta", "partitions", "64", "schema_version", "1")
        do {
            _ = try await DeploymentMeta.ensure(keys: KeySchema(prefix: prefix, partitions: 64), redis: redis, nowMilliseconds: 1)
            Issue.record("a schema 1 deployment must be refused")
        } catch let error as ConfigurationError {
            #expect(error.message.contains("schema version 1"), "\(error.message)")
        }
    }
}
