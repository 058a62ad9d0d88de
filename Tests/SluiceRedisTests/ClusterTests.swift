import NIOCore
import SluiceProcess
import SluiceRedis
import SluiceTestSupport
import Testing

/// The client against a real local Redis Cluster (3 primaries, 3 replicas).
@Suite(.serialized) struct ClusterTests {
    /// Keys in `count` different hash tags: spread over every primary.
    func keys(_ prefix: String, _ count: Int) -> [String] { (0..<count).map { "{\(prefix):\($0)}:k" } }

    @Test func commandsAndPipelinesGoToTheNodeOfTheirSlot() async throws {
        let cluster = try await TestRedis.sharedCluster()
        let client = RedisClient(configuration: cluster.clientConfiguration)
        defer { client.shutdown() }
        let prefix = TestRedis.uniquePrefix("route")
        let names = keys(prefix, 60)
        for (index, key) in names.enumerated() { try await client.execute("SET", key, "v\(index)") }
        // A pipeline over every node returns the replies in the order of the commands.
        let replies = try await client.pipeline(names.map { RedisCommand("GET", $0) })
        #expect(replies.map(\.string) == (0..<60).map { "v\($0)" })
        // Each key is on the primary that owns its slot, and every primary got some.
        var perNode: [Int] = []
        for node in try await cluster.primaries() {
            var held = 0
            for key in names {
                // Another node answers MOVED (an error): only the owner says 1.
                if (try? await cluster.command(node, "EXISTS", key)) == .integer(1) { held += 1 }
            }
            perNode.append(held)
        }
        #expect(perNode.count == 3 && perNode.allSatisfy { $0 > 0 } && perNode.reduce(0, +) == 60, "\(perNode)")
        // Commands without keys, on each primary.
        #expect(try await client.sendToEachPrimary(RedisCommand("PING")) == [.status("PONG"), .status("PONG"), .status("PONG")])
        #expect(Set(try await client.scan(matching: "{\(prefix):*")) == Set(names))
    }

    @Test func scriptsRunOnTheirSlotsNodeAndAreLoadedPerNode() async throws {
        let cluster = try await TestRedis.sharedCluster()
        let client = RedisClient(configuration: cluster.clientConfiguration)
        defer { client.shutdown() }
        let script = RedisScript(name: "t", source: "redis.call('SET', KEYS[1], ARGV[1]); return redis.call('INCR', KEYS[2])  -- \(TestRedis.uniquePrefix())")
        let prefix = TestRedis.uniquePrefix("script")
        // Every node answers NOSCRIPT the first time; the client falls back to EVAL there.
        let calls = (0..<30).map { (keys: ["{\(prefix):\($0)}:a", "{\(prefix):\($0)}:n"], arguments: [RedisArgument("x\($0)")]) }
        #expect(try await client.runAll(script, calls) == Array(repeating: .integer(1), count: 30))
        #expect(try await client.run(script, keys: calls[0].keys, arguments: ["y"]) == .integer(2))
        // Keys of two slots in one script: the node refuses, nothing is guessed.
        let cross = try await client.run(script, keys: ["{\(prefix):a}:x", "{\(prefix):b}:x"], arguments: ["z"])
        guard case .error(let message) = cross else { Issue.record("expected CROSSSLOT, got \(cross)"); return }
        #expect(message.hasPrefix("CROSSSLOT"), "\(message)")
    }

    /// Moves one (empty) slot to another primary behind the client's back: the client's next
    /// command gets MOVED, follows it and learns the new owner.
    @Test func movedSlotsAreFollowed() async throws {
        let cluster = try await TestRedis.sharedCluster()
        let client = RedisClient(configuration: cluster.clientConfiguration)
        defer { client.shutdown() }
        let key = try await keyInAnEmptySlot(cluster, "moved", suffix: ":k")
        let slot = HashSlot.of(key)
        #expect(try await client.execute("GET", key) == .null)  // the client has read the map
        let (owner, other) = try await ownerAndOther(cluster, key: key)
        // Every node agrees on the new owner before the client, still holding the old map, asks.
        try await cluster.moveEmptySlot(slot, from: owner, to: other)
        #expect(try await client.execute("SET", key, "here") == .status("OK"))
        #expect(try await cluster.command(other, "GET", key).string == "here")
        #expect(try await client.execute("GET", key).string == "here")
    }

    /// A slot half-way through a migration: a key already moved is answered with ASK, and the
    /// client sends ASKING and the command to the importing node.
    @Test func askRedirectionsAreFollowedOnce() async throws {
        let cluster = try await TestRedis.sharedCluster()
        let client = RedisClient(configuration: cluster.clientConfiguration)
        defer { client.shutdown() }
        let tag = TestRedis.uniquePrefix("ask")
        let moved = "{\(tag)}:moved", stays = "{\(tag)}:stays"
        let slot = HashSlot.of(moved)
        try await client.execute("SET", moved, "1")
        try await client.execute("SET", stays, "2")
        let (source, target) = try await ownerAndOther(cluster, key: moved)
        let sourceId = try #require(try await cluster.command(source, "CLUSTER", "MYID").string)
        let targetId = try #require(try await cluster.command(target, "CLUSTER", "MYID").string)
        try await cluster.command(target, "CLUSTER", "SETSLOT", String(slot), "IMPORTING", sourceId)
        try await cluster.command(source, "CLUSTER", "SETSLOT", String(slot), "MIGRATING", targetId)
        try await cluster.command(source, "MIGRATE", "127.0.0.1", String(target.port), moved, "0", "5000")
        #expect(try await client.execute("GET", moved).string == "1")  // ASK → ASKING + GET on the target
        #expect(try await client.execute("GET", stays).string == "2")  // still on the source
        // Finish the migration so the shared cluster stays whole.
        try await cluster.command(source, "MIGRATE", "127.0.0.1", String(target.port), stays, "0", "5000")
        // SETSLOT NODE on the importing node bumps its epoch; wait for gossip so later tests see one map.
        for node in [target, source] { try await cluster.command(node, "CLUSTER", "SETSLOT", String(slot), "NODE", targetId) }
        #expect(await eventually(timeout: .seconds(30)) { try await cluster.everyNode(mapsSlot: slot, to: targetId) })
        #expect(try await client.execute("GET", stays).string == "2")
    }

    @Test func shardedWakeChannelsAreSubscribedOnTheirNodes() async throws {
        let cluster = try await TestRedis.sharedCluster()
        let client = RedisClient(configuration: cluster.clientConfiguration)
        defer { client.shutdown() }
        let prefix = TestRedis.uniquePrefix("wake")
        let channels = (0..<12).map { "{\(prefix):\($0)}:wake" }
        let (messages, continuation) = AsyncStream.makeStream(of: String.self)
        let (subscribed, subscribedContinuation) = AsyncStream.makeStream(of: Void.self)
        let subscriber = RedisSubscriber(
            configuration: cluster.clientConfiguration, kind: .sharded, channels: channels,
            onSubscribed: { subscribedContinuation.yield() }, onMessage: { continuation.yield(String(buffer: $0.payload)) })
        let task = Task { try await subscriber.run() }
        defer { task.cancel() }
        var rounds = subscribed.makeAsyncIterator()
        _ = await rounds.next()
        for channel in channels {
            #expect(try await client.execute("SPUBLISH", channel, channel) == .integer(1), "\(channel)")
        }
        var received: Set<String> = []
        for await message in messages {
            received.insert(message)
            if received.count == channels.count { break }
        }
        #expect(received == Set(channels))
    }

    /// A subscribed channel's slot moves to another primary: the old owner unsubscribes it
    /// (`sunsubscribe`), the subscriber reads the map again and subscribes where it lives now,
    /// telling its user to catch up (a new round).
    @Test(.timeLimit(.minutes(1))) func subscriptionsFollowTheirSlotWhenItMoves() async throws {
        let cluster = try await TestRedis.sharedCluster()
        let client = RedisClient(configuration: cluster.clientConfiguration)
        defer { client.shutdown() }
        let channel = try await keyInAnEmptySlot(cluster, "follow", suffix: ":wake")
        let (messages, continuation) = AsyncStream.makeStream(of: String.self)
        let (subscribed, subscribedContinuation) = AsyncStream.makeStream(of: Void.self)
        let (lost, lostContinuation) = AsyncStream.makeStream(of: Void.self)
        let subscriber = RedisSubscriber(
            configuration: cluster.clientConfiguration, kind: .sharded, channels: [channel],
            onSubscribed: { subscribedContinuation.yield() }, onLost: { lostContinuation.yield() },
            onMessage: { continuation.yield(String(buffer: $0.payload)) })
        let task = Task { try await subscriber.run() }
        defer { task.cancel() }
        var rounds = subscribed.makeAsyncIterator()
        _ = await rounds.next()
        #expect(try await client.execute("SPUBLISH", channel, "before") == .integer(1))
        var received = messages.makeAsyncIterator()
        #expect(await received.next() == "before")

        // The channel's slot holds no keys: SETSLOT NODE moves it at once.
        let slot = HashSlot.of(channel)
        let (owner, other) = try await ownerAndOther(cluster, key: channel)
        // Every node agrees on the new owner (gossip), so any map the subscriber reads is right.
        try await cluster.moveEmptySlot(slot, from: owner, to: other)
        // The subscription on the old owner broke: users hear of it (and stop relying on messages).
        var losses = lost.makeAsyncIterator()
        #expect(await losses.next() != nil)
        // Subscribed again, on the new owner (a loaded machine may take a few rounds).
        #expect(await eventually(timeout: .seconds(30)) {
            try await cluster.command(other, "PUBSUB", "SHARDNUMSUB", channel).array?.last == .integer(1)
        })
        // Publishes before the subscription lands reach nobody; the first that reaches it is read.
        #expect(await eventually(timeout: .seconds(30)) { try await client.execute("SPUBLISH", channel, "after") == .integer(1) })
        #expect(await received.next() == "after")
    }

    /// A new name whose slot holds no keys yet: SETSLOT NODE refuses to move a slot with keys,
    /// and the other tests of the shared cluster leave keys in some slots.
    func keyInAnEmptySlot(_ cluster: TestRedisCluster, _ label: String, suffix: String) async throws -> String {
        while true {
            let name = "{\(TestRedis.uniquePrefix(label))}" + suffix
            let owner = try await cluster.primary(owning: name)
            if try await cluster.command(owner, "CLUSTER", "COUNTKEYSINSLOT", String(HashSlot.of(name))) == .integer(0) { return name }
        }
    }

    /// The primary owning `key`'s slot (the one that answers instead of redirecting) and another.
    func ownerAndOther(_ cluster: TestRedisCluster, key: String) async throws -> (TestRedisCluster.Node, TestRedisCluster.Node) {
        let primaries = try await cluster.primaries()
        var owner: TestRedisCluster.Node?
        for node in primaries {
            let probe = try await RedisConnection.connect(cluster.nodeConfiguration(node))
            defer { probe.close() }
            if case .integer = try await probe.send(RedisCommand("EXISTS", key)) { owner = node }
        }
        let found = try #require(owner)
        let other = try #require(primaries.first { $0.port != found.port })
        return (found, other)
    }
}
