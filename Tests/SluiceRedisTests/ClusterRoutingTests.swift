import NIOCore
@testable import SluiceRedis
import Testing

/// The pure parts of cluster mode: slots, routing keys, redirections, the slot map, seeds.
@Suite struct ClusterRoutingTests {
    @Test func slotsAreRedisCRC16WithHashTags() {
        // Values from the Redis Cluster specification and `CLUSTER KEYSLOT`.
        #expect(HashSlot.crc16(Array("123456789".utf8)[...]) == 0x31C3)
        #expect(HashSlot.of("foo") == 12182)
        #expect(HashSlot.of("{user1000}.following") == HashSlot.of("{user1000}.followers"))
        #expect(HashSlot.of("{user1000}.following") == HashSlot.of("user1000"))
        // An empty tag does not count: the whole key is hashed.
        #expect(HashSlot.of("foo{}{bar}") == Int(HashSlot.crc16(Array("foo{}{bar}".utf8)[...]) % 16384))
        // Only the first tag counts.
        #expect(HashSlot.of("foo{{bar}}zap") == HashSlot.of("{bar"))
        #expect(HashSlot.of("{sluice:7}:i:a") == HashSlot.of("{sluice:7}:ready"))
    }

    @Test func commandsRouteByTheirFirstKey() {
        #expect(RedisCommand("HGETALL", "{a}:x").routingKey == Array("{a}:x".utf8))
        #expect(RedisCommand("EVALSHA", "abc", "2", "{p}:1", "{p}:2", "arg").routingKey == Array("{p}:1".utf8))
        #expect(RedisCommand("EVALSHA", "abc", "0", "arg").routingKey == nil)
        #expect(RedisCommand("XREAD", "COUNT", "5", "STREAMS", "{s}", "0").routingKey == Array("{s}".utf8))
        #expect(RedisCommand("SPUBLISH", "{p:3}:wake", "id").slot == HashSlot.of("{p:3}:wake"))
        for keyless in ["PING", "INFO", "SCAN", "CLUSTER", "script"] { #expect(RedisCommand(keyless, "x").routingKey == nil, "\(keyless)") }
        #expect(RedisCommand("EVAL").routingKey == nil)
    }

    @Test func redirectionsAreParsed() {
        #expect(ClusterRedirect(message: "MOVED 3999 127.0.0.1:6381") == .moved(slot: 3999, address: .tcp(host: "127.0.0.1", port: 6381)))
        #expect(ClusterRedirect(message: "ASK 3999 [::1]:6381") == .ask(slot: 3999, address: .tcp(host: "::1", port: 6381)))
        #expect(ClusterRedirect(message: "MOVED 12 :7000") == .moved(slot: 12, address: .tcp(host: "", port: 7000)))
        #expect(ClusterRedirect(message: "TRYAGAIN Multiple keys request during rehashing of slot") == .retryLater)
        #expect(ClusterRedirect(message: "CLUSTERDOWN The cluster is down") == .retryLater)
        for other in ["MOVED 99999 h:1", "MOVED x h:1", "MOVED 1 h:0", "MOVED 1", "ERR wrong", "NOSCRIPT x", "CONFLICT MOVED 1 h:1"] {
            #expect(ClusterRedirect(message: other) == nil, "\(other)")
        }
    }

    @Test func slotMapsAreReadFromClusterShards() throws {
        func bulk(_ text: String) -> RedisReply { .string(ByteBuffer(string: text)) }
        func node(_ ip: String, _ port: Int, role: String, health: String = "online") -> RedisReply {
            .array([bulk("id"), bulk("x"), bulk("port"), .integer(Int64(port)), bulk("ip"), bulk(ip), bulk("endpoint"), bulk(ip),
                    bulk("role"), bulk(role), bulk("replication-offset"), .integer(1), bulk("health"), bulk(health)])
        }
        let reply = RedisReply.array([
            .array([bulk("slots"), .array([.integer(0), .integer(5460)]),
                    bulk("nodes"), .array([node("10.0.0.1", 7000, role: "master"), node("10.0.0.4", 7003, role: "replica")])]),
            .array([bulk("slots"), .array([.integer(5461), .integer(10922)]),
                    bulk("nodes"), .array([node("10.0.0.2", 7001, role: "master", health: "fail"), node("10.0.0.5", 7004, role: "master")])]),
            .array([bulk("slots"), .array([.integer(10923), .integer(16000), .integer(16001), .integer(16383)]),
                    bulk("nodes"), .array([node("?", 7002, role: "master")])]),
        ])
        let map = try ClusterSlotMap(shards: reply, defaultHost: "seed")
        #expect(map.primary(for: 0) == .tcp(host: "10.0.0.1", port: 7000))
        #expect(map.primary(for: 5460) == .tcp(host: "10.0.0.1", port: 7000))
        #expect(map.primary(for: 5461) == .tcp(host: "10.0.0.5", port: 7004))
        #expect(map.primary(for: 16383) == .tcp(host: "seed", port: 7002))
        #expect(map.coversEverySlot)
        #expect(map.primaries.count == 3)
        // Hostile or broken replies are errors, not traps.
        for broken: RedisReply in [.integer(1), .array([.integer(1)]), .array([.array([bulk("slots"), .array([.integer(5)]), bulk("nodes"), .array([])])]),
                                   .array([.array([bulk("slots"), .array([.integer(9), .integer(99999)]), bulk("nodes"), .array([node("h", 1, role: "master")])])])] {
            #expect(throws: RedisClientError.self) { try ClusterSlotMap(shards: broken, defaultHost: "h") }
        }
    }

    @Test func slotMapsAreReadFromClusterSlots() throws {
        func bulk(_ text: String) -> RedisReply { .string(ByteBuffer(string: text)) }
        let reply = RedisReply.array([
            .array([.integer(0), .integer(8191), .array([bulk("127.0.0.1"), .integer(7000), bulk("id1")]), .array([bulk("127.0.0.1"), .integer(7003)])]),
            .array([.integer(8192), .integer(16383), .array([bulk(""), .integer(7001), bulk("id2")])]),
        ])
        let map = try ClusterSlotMap(slots: reply, defaultHost: "seed")
        #expect(map.primary(for: 8191) == .tcp(host: "127.0.0.1", port: 7000))
        #expect(map.primary(for: 8192) == .tcp(host: "seed", port: 7001))
    }

    @Test func clusterSeedsAreParsed() throws {
        let listed = try RedisConfiguration(clusterURLs: "redis://:pw@10.0.0.1:7000,redis://10.0.0.2:7001")
        #expect(listed.clusterSeeds == [.tcp(host: "10.0.0.1", port: 7000), .tcp(host: "10.0.0.2", port: 7001)])
        #expect(listed.password == "pw")
        let compact = try RedisConfiguration(clusterURLs: "redis+cluster://u:p@h1:1,h2:2")
        #expect(compact.clusterSeeds == [.tcp(host: "h1", port: 1), .tcp(host: "h2", port: 2)])
        #expect(compact.username == "u" && compact.password == "p")
        for bad in ["", "redis://h:1/2", "unix:///tmp/x.sock", "redis://h:1,", "redis+cluster://", "redis://h:99999"] {
            #expect(throws: RedisURLError.self, "\(bad)") { try RedisConfiguration(clusterURLs: bad) }
        }
    }
}
