import Foundation
import SluiceCore
import SluiceRedis
import SluiceTestSupport
import Testing

/// `sluice check` (ConsistencyCheck): silent on data the engine wrote, and reports each kind of
/// damage made by hand in a real Redis.
@Suite struct ConsistencyCheckTests {
    /// A gate, an external step and built-in steps: instances end up waiting, running on a
    /// worker's task, completed and cancelled.
    static let sequence: JSONValue = ["id": "mixed", "tenant_id": "t-1", "namespace": "ns", "blocks": [
        ["id": "prepare", "type": "step", "handler": "set_context", "params": ["ready": true]],
        ["id": "review", "type": "human_input", "prompt": "ok?", "timeout_seconds": 3600],
        ["id": "charge", "type": "step", "handler": "pay-check", "params": [:]],
        ["id": "done", "type": "step", "handler": "noop"],
    ]]

    func check(_ api: TestAPI) async throws -> ConsistencyCheck.Report {
        try await ConsistencyCheck(redis: api.redis, keys: api.keys).run()
    }

    /// Runs a few instances to different states; returns when they are there.
    func populate(_ api: TestAPI, _ client: TestClient) async throws {
        #expect(try await client.post("/sequences", Self.sequence).status == .created)
        for id in ["c-wait", "c-task", "c-done", "c-cancel"] {
            #expect(try await client.post("/instances", ["sequence_id": "mixed", "id": .string(id), "tenant_id": "t-1"]).status == .created)
        }
        for id in ["c-wait", "c-task", "c-done", "c-cancel"] { _ = try await api.waitFor(client, id, state: "waiting") }
        for id in ["c-task", "c-done"] {
            let decided = try await client.post("/instances/\(id)/signals", ["signal_type": "human_input:review", "payload": ["value": "yes"]])
            #expect(decided.status == .ok)
        }
        #expect(try await client.post("/instances/c-cancel/signals", ["signal_type": "cancel"]).status == .ok)
        let polled = try await client.post("/workers/tasks/poll", ["handler": "pay-check", "worker_id": "w", "limit": 2, "wait_ms": 10000])
        var tasks = polled.json.arrayValue ?? []
        while tasks.count < 2 {
            let more = try await client.post("/workers/tasks/poll", ["handler": "pay-check", "worker_id": "w", "limit": 1, "wait_ms": 10000])
            tasks += more.json.arrayValue ?? []
        }
        let done = try #require(tasks.first { $0["instance_id"] == "c-done" }?["task_id"]?.stringValue)
        #expect(try await client.post("/workers/tasks/\(done)/complete", ["worker_id": "w", "output": ["ok": true]]).status == .ok)
        _ = try await api.waitFor(client, "c-done", state: "completed")
        #expect(try await client.post("/instances/c-wait/checkpoints", ["checkpoint_data": ["cursor": 1]]).status == .created)
    }

    @Test func dataWrittenByTheEngineIsConsistent() async throws {
        let api = try await TestAPI.make()
        try await api.run(engine: true) { client in
            try await populate(api, client)
            #expect(try await client.call(.get, "/instances/c-task").json["state"] == "running")
            let report = try await check(api)
            #expect(report.findings.map(\.description) == [])
            #expect(report.instances == 4)
            #expect(report.keysScanned > 10)
            #expect(report.summary.hasPrefix("ok: 0 finding(s); 4 instance(s)"))
        }
    }

    @Test func damageMadeByHandIsReported() async throws {
        let api = try await TestAPI.make()
        try await api.run(engine: true) { client in
            try await populate(api, client)
        }
        let redis = RedisClient(configuration: api.redis.configuration)
        defer { redis.shutdown() }
        let keys = api.keys
        func p(_ id: String) -> Int { keys.partition(of: id) }
        func send(_ arguments: String...) async throws {
            _ = try await redis.send(RedisCommand(arguments[0], arguments.dropFirst().map { RedisArgument($0) })).throwingServerError()
        }
        // An index entry of an instance that does not exist, and a leased task of one.
        try await send("ZADD", keys.instanceIndex(p("ghost")), "1", "ghost")
        try await send("ZADD", keys.taskLeases(p("ghost")), "1", "ghost~1~pay-check")
        // The waiting instance loses its gate: waiting without a gate, item without a gate.
        try await send("DEL", keys.gate("c-wait"))
        // The worker's task vanishes from every queue and lease: the instance can never finish.
        let task = try #require(try await redis.send(RedisCommand("HGET", keys.instance("c-task"), "task_id")).string)
        try await send("ZREM", keys.taskLeases(p("c-task")), task)
        // A state no code knows, and a key left behind by an instance that is gone.
        try await send("HSET", keys.instance("c-done"), "state", "zombie")
        try await send("HSET", keys.context("vanished"), "a", "1")

        let check = ConsistencyCheck(redis: redis, keys: keys)
        let report = try await check.run()
        let found = Set(report.findings.map { "\($0.kind.rawValue) \($0.key)" })
        let expected: Set<String> = [
            "index-entry-without-instance \(keys.instanceIndex(p("ghost")))",
            "index-entry-without-instance \(keys.taskLeases(p("ghost")))",
            "waiting-without-gate \(keys.instance("c-wait"))",
            "item-without-gate \(keys.approvalItems(p("c-wait")))",
            "task-not-queued-or-leased \(keys.instance("c-task"))",
            "unknown-state \(keys.instance("c-done"))",
            "key-without-owner \(keys.context("vanished"))",
        ]
        #expect(found == expected, "\(report.findings.map(\.description).joined(separator: "\n"))")
        #expect(report.summary.hasPrefix("INCONSISTENT: 7 finding(s)"))
    }

    @Test func aGateWithoutItemAndAnApprovalEntryWithoutItemAreReported() async throws {
        let api = try await TestAPI.make()
        try await api.run(engine: true) { client in
            #expect(try await client.post("/sequences", Self.sequence).status == .created)
            #expect(try await client.post("/instances", ["sequence_id": "mixed", "id": "g-1", "tenant_id": "t-1", "namespace": "ns"]).status == .created)
            _ = try await api.waitFor(client, "g-1", state: "waiting")
        }
        let redis = RedisClient(configuration: api.redis.configuration)
        defer { redis.shutdown() }
        let keys = api.keys
        let p = keys.partition(of: "g-1")
        _ = try await redis.send(RedisCommand("HDEL", keys.approvalItems(p), "g-1")).throwingServerError()
        let report = try await ConsistencyCheck(redis: redis, keys: keys).run()
        let found = Set(report.findings.map { "\($0.kind.rawValue) \($0.key)" })
        // Every approval index of the item (all, tenant, namespace, tenant+namespace) still holds it.
        let indexes = [keys.approvals(p), keys.approvals(p, tenant: "t-1"), keys.approvals(p, namespace: "ns"),
                       keys.approvals(p, tenant: "t-1", namespace: "ns")]
        let expected = Set(["waiting-without-item \(keys.instance("g-1"))", "gate-without-item \(keys.gate("g-1"))"]
            + indexes.map { "index-entry-without-item \($0)" })
        #expect(found == expected, "\(report.findings.map(\.description).joined(separator: "\n"))")
    }
}
