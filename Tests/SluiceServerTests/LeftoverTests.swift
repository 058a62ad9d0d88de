import Foundation
import HTTPTypes
import SluiceCore
import SluiceRedis
import SluiceTestSupport
import Testing

/// Nothing of an instance outlives it: deleting, cancelling or finishing an instance ends its
/// worker and escalation tasks in the same script, and `sluice check` finds nothing afterwards.
@Suite struct LeftoverTests {
    func check(_ api: TestAPI) async throws -> [String] {
        try await ConsistencyCheck(redis: api.redis, keys: api.keys).run().findings.map(\.description)
    }

    /// Members of a zset.
    func members(_ api: TestAPI, _ key: String) async throws -> [String] {
        (try await api.redis.execute("ZRANGE", key, "0", "-1").throwingServerError().array ?? []).compactMap(\.string)
    }

    /// Waits until the zset holds `count` members; returns them.
    func waitForMembers(_ api: TestAPI, _ key: String, count: Int) async throws -> [String] {
        let deadline = ContinuousClock.now + .seconds(30)
        var found: [String] = []
        while ContinuousClock.now < deadline {
            found = try await members(api, key)
            if found.count == count { return found }
            try await Task.sleep(for: .milliseconds(20))
        }
        return found
    }

    func postStepSequence(_ client: TestClient, id: String, handler: String) async throws {
        let posted = try await client.post("/sequences", ["id": .string(id), "blocks": [
            ["id": "work", "type": "step", "handler": .string(handler), "params": [:]],
            ["id": "after", "type": "step", "handler": "noop"],
        ]])
        #expect(posted.status == .created)
    }

    /// Two instances of a tenant, one with its task queued (handler's and tenant's queue), one
    /// with its task leased by a worker; then `end` each. Their tasks must be gone everywhere.
    func endTasks(_ end: @escaping @Sendable (TestClient, String) async throws -> Void) async throws {
        let api = try await TestAPI.make()
        try await api.run(engine: true) { client in
            try await postStepSequence(client, id: "queued-seq", handler: "left-q")
            try await postStepSequence(client, id: "leased-seq", handler: "left-l")
            for (id, sequence) in [("lq-1", "queued-seq"), ("ll-1", "leased-seq")] {
                let created = try await client.post("/instances", ["sequence_id": .string(sequence), "id": .string(id), "tenant_id": "t-9"])
                #expect(created.status == .created)
            }
            let keys = api.keys
            let queuedP = keys.partition(of: "lq-1"), leasedP = keys.partition(of: "ll-1")
            let queues = [keys.tasks(queuedP, handler: "left-q"), keys.tasks(queuedP, handler: "left-q", tenant: "t-9")]
            for queue in queues { #expect(try await waitForMembers(api, queue, count: 1).count == 1) }
            #expect(try await waitForMembers(api, keys.tasks(leasedP, handler: "left-l"), count: 1).count == 1)
            let polled = try await client.post("/workers/tasks/poll", ["handler": "left-l", "worker_id": "w-1", "wait_ms": 10000])
            let leased = try #require(polled.json.arrayValue?.first?["task_id"]?.stringValue)
            #expect(try await members(api, keys.taskLeases(leasedP)) == [leased])

            try await end(client, "lq-1")
            try await end(client, "ll-1")

            for queue in queues + [keys.tasks(leasedP, handler: "left-l"), keys.tasks(leasedP, handler: "left-l", tenant: "t-9")] {
                #expect(try await members(api, queue) == [], "\(queue)")
            }
            #expect(try await members(api, keys.taskLeases(leasedP)) == [])
            #expect(try await members(api, keys.taskLeases(queuedP)) == [])
            // The worker that held the task is fenced.
            let late = try await client.post("/workers/tasks/\(leased)/complete", ["worker_id": "w-1", "output": [:]])
            #expect(late.status == .conflict || late.status == .notFound)
            #expect(try await check(api) == [])
        }
    }

    @Test func deletingAnInstanceEndsItsQueuedAndLeasedTasks() async throws {
        try await endTasks { client, id in
            let deleted = try await client.call(.delete, "/instances/\(id)")
            #expect(deleted.status == .noContent)
        }
    }

    @Test func cancellingAnInstanceEndsItsQueuedAndLeasedTasks() async throws {
        try await endTasks { client, id in
            let cancelled = try await client.post("/instances/\(id)/signals", ["signal_type": "cancel"])
            #expect(cancelled.status == .ok)
        }
    }

    /// An escalation task still queued when the instance completes ends with it (commit_block),
    /// instead of waiting in its handler's queue after the instance's keys expired.
    @Test func finishingAnInstanceEndsItsEscalationTask() async throws {
        let api = try await TestAPI.make()
        try await api.run(engine: true) { client in
            let posted = try await client.post("/sequences", ["id": "esc-left", "blocks": [
                ["id": "g", "type": "human_input", "prompt": "ok?", "timeout_seconds": 1, "escalation_handler": "page-left",
                 "choices": [["label": "Yes", "value": "yes"]]],
                ["id": "after", "type": "step", "handler": "noop"],
            ]])
            #expect(posted.status == .created)
            #expect(try await client.post("/instances", ["sequence_id": "esc-left", "id": "el-1"]).status == .created)
            let queue = api.keys.tasks(api.keys.partition(of: "el-1"), handler: "page-left")
            #expect(try await waitForMembers(api, queue, count: 1).count == 1)
            let decided = try await client.post("/instances/el-1/signals", ["signal_type": "human_input:g", "payload": ["value": "yes"]])
            #expect(decided.status == .ok)
            _ = try await api.waitFor(client, "el-1", state: "completed")
            #expect(try await members(api, queue) == [])
            #expect(try await check(api) == [])
        }
    }

    /// Retention trims the listing index too: once a finished instance's keys expire, the
    /// sweeper drops its `{p}:idx` entry (recorded in `{p}:expiry` when it finished); a live
    /// instance keeps its entry.
    @Test func expiredInstancesLeaveTheListingIndex() async throws {
        let api = try await TestAPI.make { $0.retentionSeconds = 1 }
        try await api.run(engine: true) { client in
            #expect(try await client.post("/sequences", ["id": "quick", "blocks": [["id": "n", "type": "step", "handler": "noop"]]]).status == .created)
            #expect(try await client.post("/sequences", ["id": "gated", "blocks": [
                ["id": "g", "type": "human_input", "prompt": "ok?", "choices": [["label": "Yes", "value": "yes"]]],
            ]]).status == .created)
            for id in ["r-done-1", "r-done-2"] {
                #expect(try await client.post("/instances", ["sequence_id": "quick", "id": .string(id)]).status == .created)
            }
            for id in ["r-cancel", "r-live"] {
                #expect(try await client.post("/instances", ["sequence_id": "gated", "id": .string(id)]).status == .created)
            }
            for id in ["r-done-1", "r-done-2"] { _ = try await api.waitFor(client, id, state: "completed") }
            _ = try await api.waitFor(client, "r-cancel", state: "waiting")
            _ = try await api.waitFor(client, "r-live", state: "waiting")
            #expect(try await client.post("/instances/r-cancel/signals", ["signal_type": "cancel"]).status == .ok)
            let keys = api.keys
            func indexed() async throws -> Set<String> {
                var all: Set<String> = []
                for p in keys.allPartitions { all.formUnion(try await members(api, keys.instanceIndex(p))) }
                return all
            }
            // (The finished ones may already be gone on a loaded machine: the retention is 1 s.)
            #expect(try await indexed().contains("r-live"))
            let deadline = ContinuousClock.now + .seconds(20)
            while try await indexed() != ["r-live"], ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(100)) }
            #expect(try await indexed() == ["r-live"])
            for p in keys.allPartitions { #expect(try await members(api, keys.expiries(p)) == []) }
            let listed = try await client.call(.get, "/instances?limit=10").json["items"]?.arrayValue ?? []
            #expect(listed.compactMap { $0["id"]?.stringValue } == ["r-live"])
            #expect(try await check(api) == [])
            // An expiry entry of an instance that lives (restored, or created again under its id)
            // goes, and the instance stays listed.
            _ = try await api.redis.execute("ZADD", keys.expiries(keys.partition(of: "r-live")), "0", "r-live").throwingServerError()
            let store = InstanceStore(Storage(redis: api.redis, configuration: api.configuration))
            #expect(try await store.trimExpired(nowMilliseconds: Clock.nowMilliseconds()) == 0)
            #expect(try await indexed() == ["r-live"])
            #expect(try await members(api, keys.expiries(keys.partition(of: "r-live"))) == [])
        }
    }

    /// An instance remembers at most 1000 Idempotency-Keys: the 1001st forgets the oldest half,
    /// the newest 500 still replay, a forgotten one applies again.
    @Test func idempotencyRecordsAreBoundedPerInstance() async throws {
        let api = try await TestAPI.make()
        try await api.run { client in
            #expect(try await client.post("/sequences", ["id": "idem-seq", "blocks": [["id": "n", "type": "step", "handler": "noop"]]]).status == .created)
            #expect(try await client.post("/instances", ["sequence_id": "idem-seq", "id": "idem-1"]).status == .created)
            let signals = SignalStore(Storage(redis: api.redis, configuration: api.configuration))
            func send(_ n: Int) async throws -> SignalStore.Applied {
                try await signals.apply(.updateContext, to: "idem-1", payload: ["n": .number(Double(n))], idempotencyKey: "key-\(n)",
                                        nowMilliseconds: Clock.nowMilliseconds())
            }
            func remembered() async throws -> [String] {
                let fields = try await api.redis.execute("HKEYS", api.keys.instance("idem-1")).throwingServerError().array ?? []
                return fields.compactMap(\.string).filter { $0.hasPrefix("idem:") }
            }
            for n in 0..<1000 { #expect(try await send(n).replayed == false) }
            #expect(try await remembered().count == 1000)
            #expect(try await send(999).replayed)
            #expect(try await send(1000).replayed == false)
            let kept = try await remembered()
            #expect(kept.count == 500)
            #expect(Set(kept) == Set((501...1000).map { "idem:key-\($0)" }))
            #expect(try await send(501).replayed)
            #expect(try await send(1000).replayed)
            #expect(try await send(0).replayed == false)  // forgotten: applied again
            // A key first used for another signal is still refused while remembered.
            let reused = try await client.post("/instances/idem-1/signals", ["signal_type": "pause"], headers: [HTTPField.Name("Idempotency-Key")!: "key-700"])
            #expect(reused.status == .unprocessableContent, "\(reused.json)")
            #expect(reused.json.lookup("details.field") == "Idempotency-Key")
        }
    }
}
