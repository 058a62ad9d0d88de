import NIOCore
import SluiceRedis
import SluiceTestSupport
import Testing

@Suite struct PubSubTests {
    /// Subscribes with a fresh `RedisSubscriber`, publishes with `publishCommand`, and returns
    /// the messages received, after `expected` arrive (or a timeout).
    private func roundTrip(kind: RedisSubscriber.Kind, publish: String, expected: Int) async throws -> [RedisPushMessage] {
        let server = try await TestRedis.shared()
        let client = RedisClient(configuration: server.clientConfiguration)
        defer { client.shutdown() }
        let channel = TestRedis.uniquePrefix("ch")
        let (messages, continuation) = AsyncStream.makeStream(of: RedisPushMessage.self)
        let (subscribed, subscribedContinuation) = AsyncStream.makeStream(of: Void.self)
        let subscriber = RedisSubscriber(
            configuration: server.clientConfiguration, kind: kind, channels: [channel],
            onSubscribed: { subscribedContinuation.yield() },
            onMessage: { continuation.yield($0) })
        let task = Task { try await subscriber.run() }
        defer { task.cancel() }
        var waiter = subscribed.makeAsyncIterator()
        _ = await waiter.next()
        for i in 0..<expected {
            let receivers = try await client.execute(publish, channel, "hello-\(i)")
            #expect(receivers == .integer(1))
        }
        var received: [RedisPushMessage] = []
        for await message in messages {
            received.append(message)
            if received.count == expected { break }
        }
        return received
    }

    @Test func plainPublishReachesTheSubscriberInOrder() async throws {
        let received = try await roundTrip(kind: .plain, publish: "PUBLISH", expected: 50)
        #expect(received.map { String(buffer: $0.payload) } == (0..<50).map { "hello-\($0)" })
        #expect(received.allSatisfy { !$0.sharded })
    }

    @Test func shardedPublishReachesTheShardedSubscriber() async throws {
        let received = try await roundTrip(kind: .sharded, publish: "SPUBLISH", expected: 10)
        #expect(received.map { String(buffer: $0.payload) } == (0..<10).map { "hello-\($0)" })
        #expect(received.allSatisfy { $0.sharded })
    }

    @Test func subscriberResubscribesAfterRedisRestarts() async throws {
        let server = try await TestRedis.start()
        let (subscribed, subscribedContinuation) = AsyncStream.makeStream(of: Void.self)
        let (messages, continuation) = AsyncStream.makeStream(of: String.self)
        let subscriber = RedisSubscriber(
            configuration: server.clientConfiguration, kind: .sharded, channels: ["{p:1}:wake"],
            onSubscribed: { subscribedContinuation.yield() },
            onMessage: { continuation.yield(String(buffer: $0.payload)) })
        let task = Task { try await subscriber.run() }
        defer { task.cancel() }
        var subscriptions = subscribed.makeAsyncIterator()
        _ = await subscriptions.next()

        await server.kill()
        try await server.start()
        _ = await subscriptions.next()  // resubscribed by itself

        let client = RedisClient(configuration: server.clientConfiguration)
        defer { client.shutdown() }
        #expect(await eventually { try await client.send(RedisCommand("PING")) == .status("PONG") })
        #expect(try await client.execute("SPUBLISH", "{p:1}:wake", "after-restart") == .integer(1))
        var iterator = messages.makeAsyncIterator()
        #expect(await iterator.next() == "after-restart")
    }
}
