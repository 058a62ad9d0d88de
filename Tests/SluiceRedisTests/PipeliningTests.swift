import NIOCore
import SluiceRedis
import SluiceTestSupport
import Testing

@Suite struct PipeliningTests {
    @Test func tenThousandPipelinedCommandsAnswerInOrder() async throws {
        let server = try await TestRedis.shared()
        var configuration = server.clientConfiguration
        configuration.commandTimeout = .seconds(30)
        let connection = try await RedisConnection.connect(configuration)
        defer { connection.close() }
        let key = TestRedis.uniquePrefix()
        let replies = try await connection.pipeline((0..<10_000).map { _ in RedisCommand("INCR", key) })
        #expect(replies.count == 10_000)
        #expect(replies == (1...10_000).map { RedisReply.integer(Int64($0)) })
    }

    @Test func tenThousandConcurrentSendsOnOneConnectionGetTheirOwnReplies() async throws {
        let server = try await TestRedis.shared()
        var configuration = server.clientConfiguration
        configuration.commandTimeout = .seconds(30)  // 10,000 tasks on 2 busy cores: order matters here, not speed
        let connection = try await RedisConnection.connect(configuration)
        defer { connection.close() }
        let mismatches = try await withThrowingTaskGroup(of: Int.self) { group in
            for i in 0..<10_000 {
                group.addTask {
                    let reply = try await connection.send(RedisCommand("ECHO", "value-\(i)"))
                    return reply.string == "value-\(i)" ? 0 : 1
                }
            }
            return try await group.reduce(0, +)
        }
        #expect(mismatches == 0)
    }

    @Test func pipelineKeepsErrorRepliesInPlace() async throws {
        let server = try await TestRedis.shared()
        let client = RedisClient(configuration: server.clientConfiguration)
        defer { client.shutdown() }
        let key = TestRedis.uniquePrefix()
        let replies = try await client.pipeline([
            RedisCommand("SET", key, "1"), RedisCommand("NOSUCHCOMMAND"), RedisCommand("INCR", key),
        ])
        #expect(replies.count == 3)
        #expect(replies[0] == .status("OK"))
        guard case .error(let message) = replies[1] else {
            Issue.record("expected an error reply, got \(replies[1])")
            return
        }
        #expect(message.hasPrefix("ERR unknown command"))
        #expect(replies[2] == .integer(2))
    }
}
