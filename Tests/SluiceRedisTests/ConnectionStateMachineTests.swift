import NIOCore
import NIOEmbedded
@testable import SluiceRedis
import Testing

/// The connection's rules, driven directly (`RedisConnectionStateMachine`) and through the
/// handler on an `EmbeddedChannel` (bytes in, promises out, virtual time for timeouts).
@Suite struct ConnectionStateMachineTests {
    let loop = EmbeddedEventLoop()

    @Test func repliesCompleteCommandsInWriteOrderAndPipelinesTogether() throws {
        var machine = RedisConnectionStateMachine()
        let first = loop.makePromise(of: RedisReply.self)
        let batch = loop.makePromise(of: [RedisReply].self)
        guard case .write(armTimer: true) = machine.write(.single(first), deadline: .uptimeNanoseconds(10), timerArmed: false) else {
            Issue.record("first write")
            return
        }
        guard case .write(armTimer: false) = machine.write(.batch(count: 2, batch), deadline: .uptimeNanoseconds(20), timerArmed: true) else {
            Issue.record("second write")
            return
        }
        guard case .succeed(let promise, .integer(1)) = machine.received(.integer(1)) else { Issue.record("first reply"); return }
        #expect(promise.futureResult === first.futureResult)
        guard case .none = machine.received(.integer(2)) else { Issue.record("half a pipeline completes nothing"); return }
        guard case .succeedBatch(_, let replies) = machine.received(.integer(3)) else { Issue.record("pipeline"); return }
        #expect(replies == [.integer(2), .integer(3)])
        #expect(machine.pendingCount == 0)
        // A reply nobody asked for closes the connection.
        guard case .close(let error, let failing) = machine.received(.status("OK")) else { Issue.record("unasked reply"); return }
        #expect(error.code == .protocolError && failing.isEmpty)
        #expect(machine.state == .closed(error))
        // Closed: writes fail with the closing error; replies are ignored.
        let late = loop.makePromise(of: RedisReply.self)
        guard case .fail(let again) = machine.write(.single(late), deadline: nil, timerArmed: false) else { Issue.record("write"); return }
        #expect(again == error)
        late.fail(again)  // what the handler does with `.fail`
        guard case .none = machine.received(.null) else { Issue.record("reply after close"); return }
        first.succeed(.null)  // (completed by the test, not the machine: promises must not leak)
        batch.succeed([])
    }

    @Test func theOldestDeadlineDecidesTimeouts() {
        var machine = RedisConnectionStateMachine()
        let noDeadline = loop.makePromise(of: RedisReply.self)
        let timed = loop.makePromise(of: RedisReply.self)
        _ = machine.write(.single(noDeadline), deadline: nil, timerArmed: false)
        _ = machine.write(.single(timed), deadline: .uptimeNanoseconds(1_000), timerArmed: false)
        #expect(machine.nextDeadline == .uptimeNanoseconds(1_000))
        #expect(machine.timerFired(now: .uptimeNanoseconds(999)) == .arm(.uptimeNanoseconds(1_000)))
        #expect(machine.timerFired(now: .uptimeNanoseconds(1_000)) == .close(RedisClientError(.timeout, "no reply from redis in time")))
        guard case .close(_, let failing) = machine.close(RedisClientError(.timeout, "no reply from redis in time")) else { return }
        #expect(failing.count == 2)
        #expect(machine.timerFired(now: .uptimeNanoseconds(5_000)) == .none)
        noDeadline.succeed(.null)
        timed.succeed(.null)
    }

    // MARK: through the handler

    func channel() throws -> EmbeddedChannel {
        let channel = EmbeddedChannel(handler: RedisChannelHandler(), loop: loop)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 6379)).wait()
        return channel
    }

    func request(_ channel: EmbeddedChannel, _ command: RedisCommand, timeout: TimeAmount? = .seconds(2)) throws -> EventLoopFuture<RedisReply> {
        var payload = channel.allocator.buffer(capacity: 32)
        command.encode(into: &payload)
        let promise = loop.makePromise(of: RedisReply.self)
        do {
            try channel.writeOutbound([RedisRequest(payload: payload, reply: .single(promise), timeout: timeout)])
        } catch {
            // A closed channel refuses the write before the handler sees it (RedisConnection
            // fails the reply the same way).
            promise.fail(error)
        }
        return promise.futureResult
    }

    @Test func theHandlerWritesRESPAndMatchesRepliesAcrossReads() throws {
        let channel = try channel()
        let ping = try request(channel, RedisCommand("PING"))
        let get = try request(channel, RedisCommand("GET", "k"))
        #expect(try channel.readOutbound(as: ByteBuffer.self) == ByteBuffer(string: "*1\r\n$4\r\nPING\r\n"))
        #expect(try channel.readOutbound(as: ByteBuffer.self) == ByteBuffer(string: "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"))
        // One reply split over two reads, the next in the same read.
        try channel.writeInbound(ByteBuffer(string: "+PO"))
        try channel.writeInbound(ByteBuffer(string: "NG\r\n$5\r\nhello\r\n"))
        #expect(try ping.wait() == .status("PONG"))
        #expect(try get.wait().string == "hello")
        #expect(try channel.finish().isClean)
    }

    @Test func anOverdueReplyClosesTheConnectionAndFailsEveryPendingCommand() throws {
        let channel = try channel()
        let slow = try request(channel, RedisCommand("GET", "a"), timeout: .seconds(2))
        let later = try request(channel, RedisCommand("GET", "b"), timeout: .seconds(10))
        loop.advanceTime(by: .milliseconds(1_999))
        #expect(channel.isActive)
        loop.advanceTime(by: .milliseconds(1))
        #expect(throws: RedisClientError(.timeout, "no reply from redis in time")) { try slow.wait() }
        #expect(throws: RedisClientError(.timeout, "no reply from redis in time")) { try later.wait() }
        #expect(!channel.isActive)
        // Writes after the close fail at once instead of waiting forever.
        let afterwards = try request(channel, RedisCommand("PING"))
        #expect(throws: (any Error).self) { try afterwards.wait() }
    }

    @Test func garbageFailsPendingCommandsAndCloses() throws {
        let channel = try channel()
        let pending = try request(channel, RedisCommand("PING"))
        _ = try? channel.writeInbound(ByteBuffer(string: "?garbage\r\n"))
        #expect(throws: RedisClientError.self) { try pending.wait() }
        #expect(!channel.isActive)
    }

    @Test func aDroppedConnectionFailsPendingCommands() throws {
        let channel = try channel()
        let pending = try request(channel, RedisCommand("PING"))
        channel.pipeline.fireChannelInactive()
        #expect(throws: RedisClientError(.connectionClosed, "connection to redis closed")) { try pending.wait() }
    }
}
