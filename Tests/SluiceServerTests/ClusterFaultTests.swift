import Foundation
import NIOConcurrencyHelpers
import SluiceCore
import SluiceProcess
import SluiceRedis
import SluiceTestSupport
import Testing

/// Sluice on a Redis Cluster that loses a primary, and on one whose slots move, each on a
/// cluster of its own (3 primaries + 3 replicas, `cluster-node-timeout` 1 s). They run in the
/// cluster pass of `make test` (`SLUICE_TEST_REDIS=cluster`), where the suite is about clusters.
@Suite(.serialized, .enabled(if: TestRedis.usesCluster, "runs in the cluster pass of make test (SLUICE_TEST_REDIS=cluster)"))
struct ClusterFaultTests {
    static let sleepy: JSONValue = ["id": "sleepy", "blocks": [
        ["id": "nap", "type": "step", "handler": "sleep", "params": ["ms": 2500]],
        ["id": "after", "type": "step", "handler": "noop"],
    ]]

    /// kill -9 of the primary serving an instance: its replica takes over, Sluice follows within
    /// 3 s of the promotion, the instance's SSE stream keeps going to `done`, and every instance
    /// (on the failed primary's partitions too) completes.
    @Test func aKilledPrimaryIsReplacedAndSluiceFollows() async throws {
        let cluster = try await TestRedisCluster.start(nodeTimeoutMilliseconds: 1_000)
        defer { cluster.stop() }
        let api = TestAPI.make(redis: cluster.clientConfiguration) { $0.partitions = 16 }
        try await api.run(engine: true, live: true) { client in
            let port = try #require(client.port)
            #expect(try await client.post("/sequences", Self.sleepy).status == .created)
            let ids = (0..<24).map { "fo-\($0)" }
            for id in ids {
                #expect(try await client.post("/instances", ["sequence_id": "sleepy", "id": .string(id)]).status == .created)
            }
            let victim = try await cluster.primary(owning: api.keys.instance("fo-0"))
            let onVictim = try await ids.asyncFilter { try await cluster.primary(owning: api.keys.instance($0)).port == victim.port }
            let stream = Task { try await SSEClient.read(port: port, path: "/instances/fo-0/stream?poll_ms=200", timeout: .seconds(60)) }
            _ = try await api.waitFor(client, "fo-0", state: "running")

            victim.server.killImmediately()
            let killedAt = ContinuousClock.now
            // The replica is promoted once the others agree the primary failed.
            #expect(await eventually(timeout: .seconds(20), every: .milliseconds(50)) {
                let primaries = try await cluster.primaries().count
                let healthy = try await cluster.isHealthyWithout(victim)
                return primaries == 3 && healthy
            })
            let promotedAt = ContinuousClock.now
            // Sluice serves the failed primary's partitions again within 3 s of the promotion.
            var followedAt: ContinuousClock.Instant?
            while ContinuousClock.now - promotedAt < .seconds(10) {
                if try await client.call(.get, "/instances/fo-0").status == .ok {
                    followedAt = .now
                    break
                }
                try await Task.sleep(for: .milliseconds(20))
            }
            let followed = try #require(followedAt, "GET /instances/fo-0 still failing 10 s after the promotion")
            #expect(followed - promotedAt < .seconds(3), "followed \(followed - promotedAt) after the promotion (\(promotedAt - killedAt) after the kill)")
            // A write to the failed primary's partition succeeds too.
            #expect(try await client.post("/instances", ["sequence_id": "sleepy", "id": "fo-after"]).status == .created)

            for id in ids + ["fo-after"] {
                #expect(try await api.waitFor(client, id, state: "completed", timeout: .seconds(60))["state"] == "completed", "\(id)")
            }
            #expect(!onVictim.isEmpty)
            let events = try await stream.value.events.map(\.event)
            #expect(events.last == "done", "\(events)")
        }
    }

    /// `redis-cli --cluster reshard` moves a third of the slots (with the partitions on them)
    /// while clients create, read and signal instances: no request fails.
    @Test func reshardingUnderLoadFailsNoRequest() async throws {
        let cluster = try await TestRedisCluster.start(nodeTimeoutMilliseconds: 1_000)
        defer { cluster.stop() }
        let api = TestAPI.make(redis: cluster.clientConfiguration) { $0.partitions = 64 }
        try await api.run(engine: true) { client in
            #expect(try await client.post("/sequences", ["id": "quick", "blocks": [["id": "a", "type": "step", "handler": "noop"]]]).status == .created)
            let primaries = try await cluster.primaries()
            let from = try await cluster.nodeId(primaries[0]), to = try await cluster.nodeId(primaries[1])
            let failures = LockedList()
            let requests = LockedCounter()
            // Stopped by a flag, not by cancelling: a cancelled request would end early.
            let stop = NIOLockedValueBox(false)
            let load = Task {
                var n = 0
                while !stop.withLockedValue({ $0 }) {
                    let id = "rs-\(n)"
                    n += 1
                    let created = try await client.post("/instances", ["sequence_id": "quick", "id": .string(id)])
                    let read = try await client.call(.get, "/instances/\(id)")
                    let listed = try await client.call(.get, "/instances?limit=20")
                    requests.add(3)
                    for (what, status) in [("POST", created.status.code), ("GET", read.status.code), ("LIST", listed.status.code)] where status >= 300 {
                        failures.append("\(what) \(id): \(status)")
                    }
                }
            }
            try await Task.sleep(for: .milliseconds(300))
            let cli = try #require(TestRedisCluster.findRedisCLI())
            let log = cluster.directory + "/reshard.log"
            let reshard = try await ChildProcess.spawn(cli, [
                "--cluster", "reshard", "127.0.0.1:\(primaries[0].port)", "--cluster-from", from, "--cluster-to", to,
                "--cluster-slots", "5461", "--cluster-yes", "--cluster-pipeline", "10",
            ], stdoutPath: log, stderrPath: log)
            let status = await reshard.exitStatus(timeoutMilliseconds: 120_000)
            stop.withLockedValue { $0 = true }
            try await load.value
            #expect(status == 0, "\((try? String(contentsOfFile: log, encoding: .utf8))?.suffix(400) ?? "")")
            #expect(requests.value > 30)
            #expect(failures.items.isEmpty, "\(failures.items.prefix(10)) of \(requests.value) requests")
            // Every instance created during the move exists and completes.
            let keys = api.keys
            let count = try await api.redis.pipeline(keys.allPartitions.map { RedisCommand("ZCARD", keys.instanceIndex($0)) }).compactMap(\.int).reduce(0, +)
            #expect(count * 3 >= requests.value - 3)
        }
    }
}

extension Array where Element: Sendable {
    func asyncFilter(_ keep: (Element) async throws -> Bool) async rethrows -> [Element] {
        var kept: [Element] = []
        for element in self {
            if try await keep(element) { kept.append(element) }
        }
        return kept
    }
}

final class LockedList: Sendable {
    private let box = NIOLockedValueBox<[String]>([])
    func append(_ item: String) { box.withLockedValue { $0.append(item) } }
    var items: [String] { box.withLockedValue { $0 } }
}

final class LockedCounter: Sendable {
    private let box = NIOLockedValueBox(0)
    func add(_ n: Int) { box.withLockedValue { $0 += n } }
    var value: Int { box.withLockedValue { $0 } }
}
