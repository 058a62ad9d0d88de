import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import NIOConcurrencyHelpers
import SluiceCore
import SluiceEngine
import SluiceRedis
import SluiceServer
import SluiceTestSupport
import Testing

/// Deadlines: on_timeout policies, escalation exactly once with several sweepers (R3), and
/// racing reviewers (R4).
@Suite struct ApprovalSweeperTests {
    /// Creates `count` instances of `sequence` straight through the store (the HTTP route is
    /// tested elsewhere), runs a runner until every one waits at its gate, then stops it.
    static func openGates(_ api: TestAPI, sequence: String, prefix: String, count: Int) async throws -> [String] {
        let storage = Storage(redis: api.redis, configuration: api.configuration)
        let sequences = SequenceStore(redis: api.redis, keys: api.keys)
        let stored = try #require(try await sequences.get(sequence))
        let instances = InstanceStore(storage)
        let ids = (0..<count).map { "\(prefix)-\($0)" }
        let runner = Runner(
            engine: EngineStore(storage), sequences: sequences, tasks: TaskStore(storage), approvals: ApprovalStore(storage),
            leaseMilliseconds: 30_000, doorbell: Doorbell(), logger: Logger(label: "runner"), batch: 256, idleMilliseconds: 20)
        let running = Task { try await runner.run() }
        defer { running.cancel() }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for chunk in stride(from: 0, to: count, by: max(count / 16, 1)) {
                group.addTask {
                    for id in ids[chunk..<min(chunk + max(count / 16, 1), count)] {
                        _ = try await instances.create(
                            .init(id: id, tenantId: nil, namespace: nil, sequence: stored, context: .object([:]), metadata: .object([:])),
                            nowMilliseconds: Clock.nowMilliseconds())
                    }
                }
            }
            try await group.waitForAll()
        }
        let deadline = ContinuousClock.now + .seconds(120)
        while ContinuousClock.now < deadline {
            let page = try await ApprovalStore(storage).list(.init(limit: 0))
            if page.total == count { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(try await ApprovalStore(storage).list(.init(limit: 0)).total == count)
        return ids
    }

    static func sweepers(_ api: TestAPI, _ count: Int) -> [Sweeper] {
        let storage = Storage(redis: api.redis, configuration: api.configuration)
        return (0..<count).map { index in
            Sweeper(tasks: TaskStore(storage), approvals: ApprovalStore(storage), handlers: BuiltinHandlers(configuration: api.configuration),
                    intervalMilliseconds: 50, logger: Logger(label: "sweeper-\(index)"))
        }
    }

    /// Runs the sweepers' passes concurrently until no deadline is left.
    static func sweepTogether(_ api: TestAPI, _ sweepers: [Sweeper]) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            for sweeper in sweepers {
                group.addTask {
                    for _ in 0..<3 { try await sweeper.sweep() }
                }
            }
            try await group.waitForAll()
        }
        for p in api.keys.allPartitions {
            #expect(try await api.redis.execute(RedisCommand("ZCARD", api.keys.deadlines(p))) == .integer(0))
        }
    }

    @Test func threeSweepersEscalateTenThousandGatesExactlyOnce() async throws {
        let api = try await TestAPI.make { $0.partitions = 16 }
        try await api.run { client in
            try await client.post("/sequences", ["id": "r3", "blocks": [
                ["id": "g", "type": "human_input", "prompt": "go?", "timeout_seconds": 1, "escalation_handler": "notify-director"],
            ]])
        }
        let api2 = try await TestAPI.make { $0.keyPrefix = api.configuration.keyPrefix; $0.partitions = 16 }
        let ids = try await Self.openGates(api2, sequence: "r3", prefix: "r3", count: 10_000)
        try await Task.sleep(for: .milliseconds(1100))  // every deadline has passed
        try await Self.sweepTogether(api2, Self.sweepers(api2, 3))

        // One escalation task per gate, and one escalation event per instance.
        var tasks: [String] = []
        for p in api2.keys.allPartitions {
            tasks += try await api2.redis.execute(RedisCommand("ZRANGE", api2.keys.tasks(p, handler: "notify-director"), "0", "-1")).array?
                .compactMap(\.string) ?? []
        }
        #expect(tasks.count == 10_000)
        #expect(Set(tasks.compactMap { TaskStore.TaskID($0)?.instanceId }) == Set(ids))
        let replies = try await api2.redis.pipeline(ids.map { RedisCommand("XRANGE", api2.keys.events($0), "-", "+") })
        let escalations = replies.map { reply in
            (reply.array ?? []).filter { $0.array?[1].array?[1].string == "escalation" }.count
        }
        #expect(escalations.allSatisfy { $0 == 1 })
        let escalated = try await ApprovalStore(Storage(redis: api2.redis, configuration: api2.configuration)).list(.init(limit: 50))
        #expect(escalated.total == 10_000)  // escalated items stay in the queue
        #expect(escalated.items.allSatisfy { $0.contains(#""escalated_at":"20"#) })
        api2.redis.shutdown()
    }

    @Test func builtInEscalationHandlersRunOnceEach() async throws {
        let hits = NIOLockedValueBox([String: Int]())
        let router = Router()
        router.post("/hook/{id}") { _, context -> Response in
            let id = try context.parameters.require("id")
            hits.withLockedValue { $0[id, default: 0] += 1 }
            return Response(status: .ok)
        }
        let upstream = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)), logger: Logger(label: "hook"))
        try await upstream.test(.live) { live in
            let port = try #require(live.port)
            let api = try await TestAPI.make { $0.partitions = 8; $0.httpAllow = try! EgressPolicy(parsing: "127.0.0.1") }
            try await api.run { client in
                try await client.post("/sequences", ["id": "hook", "blocks": [
                    ["id": "g", "type": "human_input", "prompt": "go?", "timeout_seconds": 1, "escalation_handler": "http_request",
                     "escalation_params": ["method": "POST", "url": .string("http://127.0.0.1:\(port)/hook/{{instance.id}}"), "body": ["text": "late"]]],
                ]])
                let ids = try await Self.openGates(api, sequence: "hook", prefix: "h", count: 300)
                try await Task.sleep(for: .milliseconds(1100))
                try await Self.sweepTogether(api, Self.sweepers(api, 3))
                let counted = hits.withLockedValue { $0 }
                #expect(counted.count == 300)
                #expect(Set(counted.keys) == Set(ids))
                #expect(counted.values.allSatisfy { $0 == 1 })
                // Done tasks leave nothing behind.
                for p in api.keys.allPartitions {
                    #expect(try await api.redis.execute(RedisCommand("ZCARD", api.keys.builtinEscalations(p))) == .integer(0))
                }
                #expect(try await client.call(.get, "/instances/h-1").json["state"] == "waiting")
            }
        }
    }

    @Test func failAndChoosePoliciesAndAnExternalEscalationTask() async throws {
        let api = try await TestAPI.make { $0.sweepIntervalMilliseconds = 100 }
        try await api.run(engine: true) { client in
            try await client.post("/sequences", ["id": "fails", "blocks": [["id": "g", "type": "human_input", "prompt": "?", "timeout_seconds": 1]]])
            try await client.post("/sequences", ["id": "chooses", "blocks": [
                ["id": "g", "type": "human_input", "prompt": "?", "timeout_seconds": 1, "store_as": "answer", "on_timeout": ["choose": "no"]],
                ["id": "after", "type": "step", "handler": "noop"],
            ]])
            try await client.post("/sequences", ["id": "escalates", "blocks": [
                ["id": "g", "type": "human_input", "prompt": "pay {{context.who}}?", "timeout_seconds": 1, "escalation_handler": "page-boss"],
            ]])
            try await client.post("/instances", ["sequence_id": "fails", "id": "p-fail"])
            try await client.post("/instances", ["sequence_id": "chooses", "id": "p-choose"])
            try await client.post("/instances", ["sequence_id": "escalates", "id": "p-esc", "context": ["who": "bob"]])

            let failed = try await api.waitFor(client, "p-fail", state: "failed")
            #expect(failed["error"] == ["error": "approval timed out", "block_id": "g"])
            let chosen = try await api.waitFor(client, "p-choose", state: "completed")
            #expect(chosen["context"]?["answer"] == "no")
            #expect(chosen["decisions"]?.arrayValue?.first?["decided_by"] == "timeout")

            let tasks = try await client.post("/workers/tasks/poll", ["handler": "page-boss", "worker_id": "w-1", "wait_ms": 10_000]).json
            let task = try #require(tasks.arrayValue?.first)
            #expect(task["instance_id"] == "p-esc")
            #expect(task["block_id"] == "g")
            #expect(task["params"]?["prompt"] == "pay bob?")
            #expect(task["params"]?["escalated_at"]?.stringValue != nil)
            let taskId = try #require(task["task_id"]?.stringValue)
            #expect(try await client.post("/workers/tasks/\(taskId)/complete", ["worker_id": "w-2", "output": [:]]).status == .conflict)
            #expect(try await client.post("/workers/tasks/\(taskId)/complete", ["worker_id": "w-1", "output": ["paged": true]]).status == .ok)
            #expect(try await client.post("/workers/tasks/\(taskId)/complete", ["worker_id": "w-1", "output": [:]]).status == .conflict)
            // Escalated, still waiting and decidable.
            #expect(try await client.call(.get, "/instances/p-esc").json["state"] == "waiting")
            let page = try await client.call(.get, "/approvals").json
            #expect(page["total"] == 1)
            #expect(try await client.post("/instances/p-esc/signals", ["signal_type": "human_input:g", "payload": ["value": "yes"]]).status == .ok)
            _ = try await api.waitFor(client, "p-esc", state: "completed")
        }
    }

    @Test func restoreEndsAnOpenEscalationTask() async throws {
        let api = try await TestAPI.make { $0.sweepIntervalMilliseconds = 100 }
        try await api.run(engine: true) { client in
            try await client.post("/sequences", ["id": "esc-restore", "blocks": [
                ["id": "g", "type": "human_input", "prompt": "?", "timeout_seconds": 1, "escalation_handler": "page-boss-2"],
            ]])
            try await client.post("/instances", ["sequence_id": "esc-restore", "id": "er-1"])
            _ = try await api.waitFor(client, "er-1", state: "waiting")
            let saved = try await client.post("/instances/er-1/checkpoints", ["checkpoint_data": [:]])
            let tasks = try await client.post("/workers/tasks/poll", ["handler": "page-boss-2", "worker_id": "w", "wait_ms": 10_000]).json
            let taskId = try #require(tasks.arrayValue?.first?["task_id"]?.stringValue)
            let cp = try #require(saved.json["id"]?.stringValue)
            #expect(try await client.post("/instances/er-1/checkpoints/\(cp)/restore", [:]).status == .ok)
            // The gate was closed by the restore: its escalation is over.
            #expect(try await client.post("/workers/tasks/\(taskId)/complete", ["worker_id": "w", "output": [:]]).status == .conflict)
            #expect(try await client.post("/workers/tasks/\(taskId)/heartbeat", ["worker_id": "w"]).status == .conflict)
        }
    }

    @Test func twoReviewersOnAThousandGatesOneWinnerEach() async throws {
        let api = try await TestAPI.make { $0.partitions = 16 }
        try await api.run { client in
            try await client.post("/sequences", ["id": "r4", "blocks": [
                ["id": "g", "type": "human_input", "prompt": "?", "store_as": "pick",
                 "choices": [["label": "A", "value": "a"], ["label": "B", "value": "b"]]],
            ]])
            let ids = try await Self.openGates(api, sequence: "r4", prefix: "r4", count: 1000)
            let results = try await withThrowingTaskGroup(of: (String, String, TestClient.Reply).self) { group in
                for id in ids {
                    for value in ["a", "b"] {
                        group.addTask {
                            (id, value, try await client.post("/instances/\(id)/signals", ["signal_type": "human_input:g", "payload": ["value": .string(value)]]))
                        }
                    }
                }
                var all: [(String, String, TestClient.Reply)] = []
                for try await result in group { all.append(result) }
                return all
            }
            let byInstance = Dictionary(grouping: results, by: \.0)
            #expect(byInstance.count == 1000)
            let contexts = try await api.redis.pipeline(ids.map { RedisCommand("HGET", api.keys.context($0), "pick") })
            for (id, stored) in zip(ids, contexts) {
                let pair = byInstance[id] ?? []
                let winners = pair.filter { $0.2.status == .ok }
                let losers = pair.filter { $0.2.status == .conflict }
                #expect(winners.count == 1 && losers.count == 1, "\(id)")
                guard let winner = winners.first, let loser = losers.first else { continue }
                #expect(loser.2.json["details"]?["value"] == .string(winner.1))
                #expect(stored.string == "\"\(winner.1)\"")
            }
        }
    }
}
