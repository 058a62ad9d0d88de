import Dispatch
import NIOCore
import NIOEmbedded
import NIOPosix
@testable import SluiceRedis
import SluiceProcess
import SluiceTestSupport
import Testing

/// Commands sent from many tasks at once leave together (`RedisConnection`'s outbox): one
/// hand-over to the event loop, one write, one read for Redis.
@Suite struct OutboxTests {
    @Test func commandsSubmittedWhileTheLoopIsBusyLeaveInOneWrite() async throws {
        let server = try await TestRedis.start()
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        do {
            try await sendFiftyWhileTheLoopIsBusy(server, group)
        } catch {
            try? await group.shutdownGracefully()
            throw error
        }
        try await group.shutdownGracefully()
    }

    private func sendFiftyWhileTheLoopIsBusy(_ server: RedisServerProcess, _ group: MultiThreadedEventLoopGroup) async throws {
        let connection = try await RedisConnection.connect(server.clientConfiguration, on: group)
        defer { connection.close() }
        let observer = try await RedisConnection.connect(server.clientConfiguration)
        defer { observer.close() }
        let readsBefore = try await Self.readsProcessed(observer)

        // The connection's only event loop is kept busy while 50 tasks send.
        let busy = DispatchSemaphore(value: 0)
        group.next().execute { busy.wait() }
        let count = 50
        async let replies = withThrowingTaskGroup(of: RedisReply.self) { tasks in
            for i in 0..<count { tasks.addTask { try await connection.send(RedisCommand("ECHO", "m\(i)")) } }
            return try await tasks.reduce(into: [RedisReply]()) { $0.append($1) }
        }
        let queued = await eventually(timeout: .seconds(10)) { connection.queuedRequests == count }
        busy.signal()
        #expect(queued, "all 50 commands wait in the outbox while the loop is busy")
        let echoed = try await replies.compactMap(\.string).sorted()
        #expect(echoed == (0..<count).map { "m\($0)" }.sorted())
        #expect(connection.queuedRequests == 0)

        // One read for the 50 commands, one for this INFO. (Written one by one, as before the
        // outbox, they reached Redis in 32 reads in one trial and in 2 in another: this bound
        // alone would not catch the outbox gone, the queue count above does.)
        let reads = try await Self.readsProcessed(observer) - readsBefore
        #expect(reads <= 3, "Redis read the 50 commands in \(reads - 1) reads")
    }

    @Test(.timeLimit(.minutes(1))) func aClosedConnectionFailsNewCommandsAtOnce() async throws {
        let server = try await TestRedis.shared()
        let connection = try await RedisConnection.connect(server.clientConfiguration)
        connection.close()
        try await connection.closeFuture.get()
        let started = ContinuousClock.now
        await #expect(throws: RedisClientError.self) { try await connection.send(RedisCommand("PING")) }
        await #expect(throws: RedisClientError.self) { try await connection.pipeline([RedisCommand("PING"), RedisCommand("PING")]) }
        #expect(ContinuousClock.now - started < .seconds(1))
    }

    @Test func theHandlerWritesABatchInOrderAndMatchesItsReplies() throws {
        let loop = EmbeddedEventLoop()
        let channel = EmbeddedChannel(handler: RedisChannelHandler(), loop: loop)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 6379)).wait()
        let single = loop.makePromise(of: RedisReply.self)
        let pair = loop.makePromise(of: [RedisReply].self)
        var ping = channel.allocator.buffer(capacity: 16)
        RedisCommand("PING").encode(into: &ping)
        var gets = channel.allocator.buffer(capacity: 32)
        RedisCommand("GET", "a").encode(into: &gets)
        RedisCommand("GET", "b").encode(into: &gets)
        try channel.writeOutbound([
            RedisRequest(payload: ping, reply: .single(single), timeout: .seconds(2)),
            RedisRequest(payload: gets, reply: .batch(count: 2, pair), timeout: .seconds(2)),
        ])
        #expect(try channel.readOutbound(as: ByteBuffer.self) == ping)
        #expect(try channel.readOutbound(as: ByteBuffer.self) == gets)
        try channel.writeInbound(ByteBuffer(string: "+PONG\r\n$1\r\nx\r\n$-1\r\n"))
        #expect(try single.futureResult.wait() == .status("PONG"))
        #expect(try pair.futureResult.wait() == [.string(ByteBuffer(string: "x")), .null])
        #expect(try channel.finish().isClean)
    }

    private static func readsProcessed(_ connection: RedisConnection) async throws -> Int {
        let info = try await connection.send(RedisCommand("INFO", "stats")).string ?? ""
        for line in info.split(whereSeparator: \.isNewline) where line.hasPrefix("total_reads_processed:") {
            if let value = Int(line.dropFirst("total_reads_processed:".count)) { return value }
        }
        throw RedisClientError(.unexpectedReply, "INFO stats without total_reads_processed")
    }
}
