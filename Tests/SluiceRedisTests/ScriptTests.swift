import SluiceRedis
import SluiceTestSupport
import Testing

@Suite struct ScriptTests {
    @Test func digestMatchesTheServersAndEvalshaFallsBackAfterFlush() async throws {
        let server = try await TestRedis.start()
        let client = RedisClient(configuration: server.clientConfiguration)
        defer { client.shutdown() }
        let script = RedisScript(name: "add", source: "return tonumber(ARGV[1]) + redis.call('INCR', KEYS[1])")
        #expect(try await client.execute("SCRIPT", "LOAD", script.source).string == script.sha1)
        try await client.execute("SCRIPT", "FLUSH")
        let key = TestRedis.uniquePrefix()
        // Not cached: EVALSHA answers NOSCRIPT and the client retries with EVAL.
        #expect(try await client.run(script, keys: [key], arguments: ["10"]) == .integer(11))
        // Now cached: EVALSHA works directly.
        #expect(try await client.execute("SCRIPT", "EXISTS", script.sha1) == .array([.integer(1)]))
        #expect(try await client.run(script, keys: [key], arguments: ["10"]) == .integer(12))
    }

    @Test func digestOfKnownVectors() {
        #expect(RedisScript(name: "e", source: "").sha1 == "da39a3ee5e6b4b0d3255bfef95601890afd80709")
        #expect(RedisScript(name: "abc", source: "abc").sha1 == "a9993e364706816aba3e25717850c26c9cd0d89d")
        let long = String(repeating: "a", count: 1000)
        #expect(RedisScript(name: "long", source: long).sha1 == "291e9a6c66994949b57ba5e650361e98fc36b1ba")
    }
}
