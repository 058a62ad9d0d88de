import NIOCore
import SluiceRedis
import SluiceTestSupport
import Testing

/// Reply shapes as parsed by the hiredis reader, from a real server.
@Suite struct RedisReplyTests {
    @Test func statusIntegerNilAndBulk() async throws {
        let server = try await TestRedis.shared()
        let client = RedisClient(configuration: server.clientConfiguration)
        defer { client.shutdown() }
        let key = TestRedis.uniquePrefix()
        #expect(try await client.send(RedisCommand("SET", key, "héllo")) == .status("OK"))
        #expect(try await client.send(RedisCommand("GET", key)).string == "héllo")
        #expect(try await client.send(RedisCommand("GET", key + ":missing")) == .null)
        #expect(try await client.send(RedisCommand("INCRBY", key + ":n", "-42")) == .integer(-42))
        #expect(try await client.send(RedisCommand("GET", key + ":n")).int == -42)
    }

    @Test func nestedArraysAndNilInsideArrays() async throws {
        let server = try await TestRedis.shared()
        let client = RedisClient(configuration: server.clientConfiguration)
        defer { client.shutdown() }
        let reply = try await client.execute("EVAL", "return {1, {2, 'x', {'deep'}}, false, 'end'}", "0")
        #expect(reply == .array([
            .integer(1),
            .array([.integer(2), .string(ByteBuffer(string: "x")), .array([.string(ByteBuffer(string: "deep"))])]),
            .null,
            .string(ByteBuffer(string: "end")),
        ]))
        #expect(try await client.execute("EVAL", "return {}", "0") == .array([]))
    }

    @Test func errorRepliesAreValuesAndThrowOnExecute() async throws {
        let server = try await TestRedis.shared()
        let client = RedisClient(configuration: server.clientConfiguration)
        defer { client.shutdown() }
        let reply = try await client.send(RedisCommand("EVAL", "return redis.error_reply('CONFLICT gate decided')", "0"))
        #expect(reply == .error("CONFLICT gate decided"))
        let key = TestRedis.uniquePrefix()
        try await client.execute("SET", key, "text")
        do {
            try await client.execute("LPUSH", key, "x")
            Issue.record("expected WRONGTYPE")
        } catch let error as RedisClientError {
            #expect(error.code == .server)
            #expect(error.serverPrefix == "WRONGTYPE")
        }
        // The connection stays usable after an error reply.
        #expect(try await client.send(RedisCommand("PING")) == .status("PONG"))
    }

    @Test func tenMebibyteBulkStringRoundTrips() async throws {
        let server = try await TestRedis.shared()
        var configuration = server.clientConfiguration
        configuration.commandTimeout = .seconds(20)  // correctness, not speed: CI machines are small
        let client = RedisClient(configuration: configuration)
        defer { client.shutdown() }
        let key = TestRedis.uniquePrefix()
        var bytes = [UInt8](repeating: 0, count: 10 * 1024 * 1024)
        for i in bytes.indices { bytes[i] = UInt8(truncatingIfNeeded: i &* 31 &+ i >> 11) }
        try await client.execute(RedisCommand("SET", [.init(key), .init(bytes: bytes)]))
        let reply = try await client.execute(RedisCommand("GET", key))
        guard case .string(let buffer) = reply else {
            Issue.record("expected a bulk string, got \(reply)")
            return
        }
        #expect(buffer.readableBytes == bytes.count)
        #expect(Array(buffer.readableBytesView) == bytes)
    }

    @Test func binarySafeArguments() async throws {
        let server = try await TestRedis.shared()
        let client = RedisClient(configuration: server.clientConfiguration)
        defer { client.shutdown() }
        let key = TestRedis.uniquePrefix()
        let value: [UInt8] = [0, 13, 10, 36, 42, 255, 0]
        try await client.execute(RedisCommand("SET", [.init(key), .init(bytes: value)]))
        guard case .string(let buffer) = try await client.execute(RedisCommand("GET", key)) else {
            Issue.record("expected a bulk string")
            return
        }
        #expect(Array(buffer.readableBytesView) == value)
    }

    @Test func longArgumentListsRoundTrip() async throws {
        let server = try await TestRedis.shared()
        let client = RedisClient(configuration: server.clientConfiguration)
        defer { client.shutdown() }
        let key = TestRedis.uniquePrefix()
        let members = (0..<50_000).map { RedisArgument("m\($0)") } + [""]
        #expect(try await client.execute(RedisCommand("SADD", [.init(key)] + members)) == .integer(50_001))
        #expect(try await client.execute(RedisCommand("SISMEMBER", key, "")) == .integer(1))
    }

    @Test func commandsAreEncodedAsRESP() {
        var buffer = ByteBuffer()
        RedisCommand("SET", "k", "").encode(into: &buffer)
        #expect(String(buffer: buffer) == "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n")
    }
}
