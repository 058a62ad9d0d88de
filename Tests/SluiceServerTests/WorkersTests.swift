import Foundation
import SluiceCore
import SluiceRedis
import SluiceTestSupport
import Testing

/// External handlers served by workers over HTTP, with leases, retries and fencing.
@Suite struct WorkersTests {
    static let expense: JSONValue = ["id": "pay", "blocks": [
        ["id": "prepare", "type": "step", "handler": "set_context", "params": ["prepared": true]],
        ["id": "charge", "type": "step", "handler": "pay-expense", "params": ["amount": "{{context.amount}}"],
         "retry": ["max_attempts": 2, "backoff_ms": 100]],
        ["id": "done", "type": "step", "handler": "noop", "params": ["receipt": "{{outputs.charge.receipt}}"]],
    ]]

    func pollOne(_ client: TestClient, worker: String, wait: Int = 5000) async throws -> JSONValue? {
        let reply = try await client.post("/workers/tasks/poll", ["handler": "pay-expense", "worker_id": .string(worker), "limit": 1, "wait_ms": .number(Double(wait))])
        #expect(reply.status == .ok)
        return reply.json.arrayValue?.first
    }

    @Test func aWorkerDrivesTheExternalStepToCompletion() async throws {
        let api = try await TestAPI.make()
        try await api.run(engine: true) { client in
            try await client.post("/sequences", Self.expense)
            try await client.post("/instances", ["sequence_id": "pay", "id": "w-1", "context": ["amount": 42]])
            let task = try #require(try await pollOne(client, worker: "w-a"))
            #expect(task["instance_id"] == "w-1" && task["block_id"] == "charge" && task["handler"] == "pay-expense")
            #expect(task["params"] == ["amount": 42])
            #expect(task.lookup("context.prepared") == true)
            #expect(task["attempt"] == 1 && task["latest_checkpoint"] == .null)
            #expect(try await client.call(.get, "/instances/w-1").json["state"] == "running")
            let taskId = try #require(task["task_id"]?.stringValue)

            #expect(try await client.post("/workers/tasks/\(taskId)/heartbeat", ["worker_id": "w-a"]).status == .ok)
            let done = try await client.post("/workers/tasks/\(taskId)/complete", ["worker_id": "w-a", "output": ["receipt": "r-9"], "context": ["paid": true]])
            #expect(done.status == .ok)
            let instance = try await api.waitFor(client, "w-1", state: "completed")
            #expect(instance.lookup("context.paid") == true)
            let outputs = try await client.call(.get, "/instances/w-1/outputs").json.arrayValue ?? []
            #expect(outputs.map { $0["block_id"] } == ["prepare", "charge", "done"])
            #expect(outputs.last?["output"] == ["receipt": "r-9"])
            // A second completion of the same task is refused.
            #expect(try await client.post("/workers/tasks/\(taskId)/complete", ["worker_id": "w-a", "output": [:]]).status == .conflict)
        }
    }

    @Test func aWaitingPollIsWokenByTheTaskAndCostsLittleWhileIdle() async throws {
        // Idle: with no task and no wake-up, a waiting poll looks once per second (one pipelined
        // round trip over the partitions each time), not every few milliseconds.
        let idle = try await TestAPI.make()
        try await idle.run { client in
            let before = idle.redis.sent.roundTrips
            let reply = try await client.post("/workers/tasks/poll", ["handler": "nobody", "worker_id": "w", "wait_ms": 3000])
            #expect(reply.json == [])
            #expect(idle.redis.sent.roundTrips - before <= 5)
        }
        // Woken: a poll waiting before the task exists gets it as soon as it is queued.
        let api = try await TestAPI.make()
        try await api.run(engine: true) { client in
            try await client.post("/sequences", Self.expense)
            let poll = Task { try await pollOne(client, worker: "w-wake", wait: 20_000) }
            try await Task.sleep(for: .milliseconds(300))
            try await client.post("/instances", ["sequence_id": "pay", "id": "w-wake", "context": ["amount": 1]])
            let task = try await poll.value
            #expect(task?["instance_id"] == "w-wake")
        }
    }

    @Test func expiredLeaseRedeliversWithTheNextAttemptAndFencesTheStaleWorker() async throws {
        let api = try await TestAPI.make { $0.taskLeaseMilliseconds = 3000; $0.sweepIntervalMilliseconds = 50 }
        try await api.run(engine: true) { client in
            try await client.post("/sequences", Self.expense)
            try await client.post("/instances", ["sequence_id": "pay", "id": "w-2", "context": ["amount": 1]])
            let first = try #require(try await pollOne(client, worker: "stale"))
            #expect(first["attempt"] == 1)
            // No heartbeat: the lease runs out and the sweeper hands the task out again.
            let second = try #require(try await pollOne(client, worker: "fresh", wait: 10_000))
            #expect(second["task_id"] == first["task_id"])
            #expect(second["attempt"] == 2)
            let taskId = try #require(first["task_id"]?.stringValue)
            let stale = try await client.post("/workers/tasks/\(taskId)/complete", ["worker_id": "stale", "output": ["receipt": "stale"]])
            #expect(stale.status == .conflict)
            #expect(try await client.post("/workers/tasks/\(taskId)/heartbeat", ["worker_id": "stale"]).status == .conflict)
            #expect(try await client.call(.get, "/instances/w-2/outputs").json.arrayValue?.count == 1)  // nothing changed
            #expect(try await client.post("/workers/tasks/\(taskId)/complete", ["worker_id": "fresh", "output": ["receipt": "ok"]]).status == .ok)
            let instance = try await api.waitFor(client, "w-2", state: "completed")
            #expect(instance["state"] == "completed")
        }
    }

    @Test func failuresRetryThenFailTheInstance() async throws {
        let api = try await TestAPI.make()
        try await api.run(engine: true) { client in
            try await client.post("/sequences", Self.expense)
            try await client.post("/instances", ["sequence_id": "pay", "id": "w-3"])
            let first = try #require(try await pollOne(client, worker: "w"))
            let taskId = try #require(first["task_id"]?.stringValue)
            #expect(try await client.post("/workers/tasks/\(taskId)/fail", ["worker_id": "w", "error": "card declined", "retryable": true]).status == .ok)
            let retried = try #require(try await pollOne(client, worker: "w"))
            #expect(retried["attempt"] == 2)
            #expect(try await client.post("/workers/tasks/\(taskId)/fail", ["worker_id": "w", "error": "card declined", "retryable": true]).status == .ok)
            let failed = try await api.waitFor(client, "w-3", state: "failed")
            #expect(failed["error"] == ["error": "card declined", "block_id": "charge", "attempts": 2])
        }
    }

    @Test func nonRetryableFailureFailsAtOnce() async throws {
        let api = try await TestAPI.make()
        try await api.run(engine: true) { client in
            try await client.post("/sequences", Self.expense)
            try await client.post("/instances", ["sequence_id": "pay", "id": "w-4"])
            let task = try #require(try await pollOne(client, worker: "w"))
            let taskId = try #require(task["task_id"]?.stringValue)
            #expect(try await client.post("/workers/tasks/\(taskId)/fail", ["worker_id": "w", "error": "fraud", "retryable": false]).status == .ok)
            #expect(try await client.call(.get, "/instances/w-4").json.lookup("error.error") == "fraud")
        }
    }

    @Test func badWorkerRequests() async throws {
        let api = try await TestAPI.make()
        try await api.run { client in
            #expect(try await client.post("/workers/tasks/poll", ["worker_id": "w"]).status == .unprocessableContent)
            #expect(try await client.post("/workers/tasks/poll", ["handler": "h", "worker_id": "w", "wait_ms": 30001]).status == .unprocessableContent)
            #expect(try await client.post("/workers/tasks/poll", ["handler": "h", "worker_id": "w", "limit": 0]).status == .unprocessableContent)
            let empty = try await client.post("/workers/tasks/poll", ["handler": "h", "worker_id": "w", "wait_ms": 200])
            #expect(empty.status == .ok && empty.json == [])
            #expect(try await client.post("/workers/tasks/not-a-task/complete", ["worker_id": "w"]).status == .notFound)
            #expect(try await client.post("/workers/tasks/x~1~h/complete", ["worker_id": "w", "output": [:]]).status == .conflict)
            #expect(try await client.post("/workers/tasks/x~1~h/fail", ["worker_id": "w"]).status == .unprocessableContent)
        }
    }
}
