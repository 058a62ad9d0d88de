import Foundation
import SluiceCore
import SluiceRedis
import SluiceTestSupport
import Testing

/// Scripts declare every key they touch, including those only data names (an open gate's
/// indexes, an open task's queues): a script sent without them changes nothing and asks for them
/// (`KEYS ...`), and a process that never met the instance still decides, cancels and deletes it.
@Suite struct DeclaredKeysTests {
    func members(_ api: TestAPI, _ key: String) async throws -> [String] {
        (try await api.redis.execute("ZRANGE", key, "0", "-1").array ?? []).compactMap(\.string)
    }

    /// A storage with nothing learned: as in another process behind the load balancer.
    func coldStorage(_ api: TestAPI) -> Storage {
        Storage(redis: api.redis, keys: api.keys, declaredKeys: DeclaredKeys())
    }

    /// An instance of a one-gate sequence `sequence`, waiting at its gate `g` (opened by the
    /// test application's runner).
    func openGate(_ api: TestAPI, _ client: TestClient, sequence: String, id: String, tenant: String, namespace: String) async throws {
        try await client.post("/sequences", ["id": .string(sequence), "blocks": [["id": "g", "type": "human_input", "prompt": "?"]]])
        try await client.post("/instances", ["sequence_id": .string(sequence), "id": .string(id), "tenant_id": .string(tenant), "namespace": .string(namespace)])
        #expect(try await api.waitFor(client, id, state: "waiting")["state"] == "waiting")
    }

    @Test func aDecisionWithoutTheGateIndexesChangesNothingAndAsksForThem() async throws {
        let api = try await TestAPI.make()
        try await api.run(engine: true) { client in
            try await openGate(api, client, sequence: "dk-gated", id: "dk-1", tenant: "t-dk", namespace: "ns-dk")
            let keys = api.keys
            let p = keys.partition(of: "dk-1")
            let tenantIndex = keys.approvals(p, tenant: "t-dk")
            #expect(try await members(api, tenantIndex) == ["dk-1"])

            // decide_gate with no declared keys (the count 0 as the last argument).
            let now = Clock.nowMilliseconds()
            let reply = try await api.redis.run(
                LuaScripts.decideGate,
                keys: [keys.instance("dk-1"), keys.context("dk-1"), keys.outputs("dk-1"), keys.events("dk-1"), keys.gate("dk-1"), keys.inbox("dk-1"),
                       keys.ready(p), keys.approvalItems(p), keys.deadlines(p), keys.approvalEvents(p), keys.wakeChannel(p)],
                arguments: ["dk-1", "g", #"{"value":"yes"}"#, "sig-1", "x", .init(String(now)), .init(Clock.rfc3339(milliseconds: now)),
                            "100", "100", "", "", "0"])
            guard case .error(let message) = reply else { Issue.record("expected KEYS, got \(reply)"); return }
            let asked = Set(message.split(separator: " ").dropFirst().map(String.init))
            #expect(asked == [keys.approvals(p), tenantIndex, keys.approvals(p, namespace: "ns-dk"),
                              keys.approvals(p, tenant: "t-dk", namespace: "ns-dk")], "\(message)")
            #expect(try await members(api, tenantIndex) == ["dk-1"])
            #expect(try await api.redis.execute("HGET", keys.gate("dk-1"), "block").string == "g")

            // A process that never met the instance: one call asks, the next applies.
            let decision = try await ApprovalStore(coldStorage(api)).decide(
                "dk-1", blockId: "g", payload: ["value": "yes"], by: .anonymous, idempotencyKey: nil, nowMilliseconds: now)
            guard case .applied = decision else { Issue.record("expected applied, got \(decision)"); return }
            for index in asked { #expect(try await members(api, index) == [], "\(index)") }
            #expect(try await api.waitFor(client, "dk-1", state: "completed")["state"] == "completed")
        }
    }

    /// A decision from a process that never met the instance (another process behind the load
    /// balancer, or one whose cache has dropped it): one script call on a single Redis, where no
    /// slot migrates and nothing needs declaring; on Redis Cluster the first call asks for the
    /// gate's index keys and the second applies.
    @Test func aColdProcessDecidesWithOneScriptCallOnASingleRedis() async throws {
        let api = try await TestAPI.make()
        try await api.run(engine: true) { client in
            try await openGate(api, client, sequence: "dk-one", id: "dk-one-1", tenant: "t-one", namespace: "ns-one")
            _ = try await api.redis.sendToEachPrimary(RedisCommand("SCRIPT", "LOAD", LuaScripts.decideGate.source))
            let coldRedis = RedisClient(configuration: api.redis.configuration)
            defer { coldRedis.shutdown() }
            let cold = Storage(redis: coldRedis, keys: api.keys, declaredKeys: DeclaredKeys())
            let before = coldRedis.sent
            let decision = try await ApprovalStore(cold).decide(
                "dk-one-1", blockId: "g", payload: ["value": "yes"], by: .anonymous, idempotencyKey: nil, nowMilliseconds: Clock.nowMilliseconds())
            let sent = coldRedis.sent.roundTrips - before.roundTrips
            guard case .applied = decision else { Issue.record("expected applied, got \(decision)"); return }
            #expect(sent == (api.redis.isCluster ? 2 : 1), "\(sent) round trips")
            let p = api.keys.partition(of: "dk-one-1")
            for index in [api.keys.approvals(p), api.keys.approvals(p, tenant: "t-one"), api.keys.approvals(p, namespace: "ns-one"),
                          api.keys.approvals(p, tenant: "t-one", namespace: "ns-one")] {
                #expect(try await members(api, index) == [], "\(index)")
            }
            #expect(try await api.waitFor(client, "dk-one-1", state: "completed")["state"] == "completed")
        }
    }

    @Test func aColdProcessCancelsAndDeletesInstancesWithOpenTasks() async throws {
        let api = try await TestAPI.make()
        try await api.run(engine: true) { client in
            try await client.post("/sequences", ["id": "dk-step", "blocks": [["id": "work", "type": "step", "handler": "dk-worker"]]])
            for id in ["dk-c", "dk-d"] {
                try await client.post("/instances", ["sequence_id": "dk-step", "id": .string(id), "tenant_id": "t-dk"])
            }
            let keys = api.keys
            func queues(_ id: String) -> [String] {
                let p = keys.partition(of: id)
                return [keys.tasks(p, handler: "dk-worker"), keys.tasks(p, handler: "dk-worker", tenant: "t-dk")]
            }
            for id in ["dk-c", "dk-d"] {
                for queue in queues(id) {
                    #expect(await eventually(timeout: .seconds(30)) { try await members(api, queue).contains { $0.hasPrefix(id + "~") } }, "\(queue)")
                }
            }
            let now = Clock.nowMilliseconds()
            let cancelled = try await SignalStore(coldStorage(api)).apply(.cancel, to: "dk-c", payload: .null, nowMilliseconds: now)
            #expect(cancelled.state == .cancelled)
            #expect(try await InstanceStore(coldStorage(api)).delete("dk-d"))
            for id in ["dk-c", "dk-d"] {
                for queue in queues(id) {
                    #expect(try await members(api, queue).allSatisfy { !$0.hasPrefix(id + "~") }, "\(queue)")
                }
            }
            let findings = try await ConsistencyCheck(redis: api.redis, keys: api.keys).run().findings
            #expect(findings.isEmpty, "\(findings)")
        }
    }
}
