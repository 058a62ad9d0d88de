import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import SluiceCore
@testable import SluiceEngine
import Testing

/// Issue 11: a poison step or task was retried forever (a step that kills its runner, a task
/// whose worker dies: each expired lease handed it out again), and a step longer than the
/// runner's lease ran twice. Now every attempt counts against `retry.max_attempts` (default 5)
/// and the instance fails with the last error; the runner renews its lease while a step runs.
@Suite struct PoisonTests {
    @Test func retryDefaultsToFiveAttempts() throws {
        let definition = try SequenceParser.parse(["id": "s", "blocks": [["id": "a", "type": "step", "handler": "noop"]]])
        guard case .step(let step) = definition.blocks[0].kind else { Issue.record("not a step"); return }
        #expect(step.retry.maxAttempts == 5)
    }

    /// Runners that die while running a block (their lease expires) use up its attempts.
    @Test func aStepThatKillsItsRunnersFailsTheInstance() async throws {
        let api = try await TestAPI.make()
        try await api.run { client in
            try await client.post("/sequences", ["id": "poison", "blocks": [["id": "boom", "type": "step", "handler": "noop", "retry": ["max_attempts": 2]]]])
            try await client.post("/instances", ["sequence_id": "poison", "id": "p-1"])
            let storage = Storage(redis: api.redis, configuration: api.configuration)
            let engine = EngineStore(storage)
            for _ in 0..<2 {
                // A runner claims it with a short lease and "dies"; the next scan re-queues it.
                #expect(try await engine.claim("p-1", nowMilliseconds: Clock.nowMilliseconds(), leaseMilliseconds: 1) != nil)
                try await Task.sleep(for: .milliseconds(20))
                _ = try await engine.due(nowMilliseconds: Clock.nowMilliseconds(), limit: 10)
            }
            let runner = Runner(
                engine: engine, sequences: SequenceStore(redis: api.redis, keys: api.keys), tasks: TaskStore(storage), approvals: ApprovalStore(storage),
                leaseMilliseconds: 30_000, doorbell: Doorbell(), logger: Logger(label: "test"))
            await runner.process("p-1")
            let instance = try await client.call(.get, "/instances/p-1").json
            #expect(instance["state"] == "failed", "\(instance)")
            #expect(instance.lookup("error.block_id") == "boom")
            #expect(instance.lookup("error.error")?.stringValue?.contains("lease expired") == true, "\(instance)")
            #expect(try await client.call(.get, "/instances/p-1/outputs").json.arrayValue?.isEmpty == true)  // never ran
        }
    }

    /// Workers that take the task and die (no heartbeat) use up its attempts.
    @Test func aTaskWhoseWorkersDieFailsTheInstance() async throws {
        let api = try await TestAPI.make { $0.taskLeaseMilliseconds = 300; $0.sweepIntervalMilliseconds = 50 }
        try await api.run(engine: true) { client in
            try await client.post("/sequences", ["id": "ext", "blocks": [["id": "work", "type": "step", "handler": "dying-worker", "retry": ["max_attempts": 2]]]])
            try await client.post("/instances", ["sequence_id": "ext", "id": "d-1"])
            var attempts: [JSONValue] = []
            let deadline = ContinuousClock.now + .seconds(20)
            while attempts.count < 2 && ContinuousClock.now < deadline {
                let polled = try await client.post("/workers/tasks/poll", ["handler": "dying-worker", "worker_id": "w", "wait_ms": 1000]).json.arrayValue ?? []
                attempts += polled.compactMap { $0["attempt"] }
            }
            #expect(attempts == [1, 2])
            let failed = try await api.waitFor(client, "d-1", state: "failed", timeout: .seconds(10))
            #expect(failed["state"] == "failed", "\(failed)")
            #expect(failed.lookup("error.error")?.stringValue?.contains("lease expired") == true, "\(failed)")
            #expect(failed.lookup("error.attempts") == 2)
            // Not handed out again.
            #expect(try await client.post("/workers/tasks/poll", ["handler": "dying-worker", "worker_id": "w", "wait_ms": 600]).json == [])
        }
    }

    /// A step longer than the runner's lease runs once: the runner renews its lease meanwhile.
    @Test func aStepLongerThanTheLeaseRunsOnce() async throws {
        let hits = HitCounter()
        let router = Router()
        router.get("/slow") { _, _ -> Response in
            _ = hits.next()
            try await Task.sleep(for: .milliseconds(8000))
            return Response(status: .ok, body: .init(byteBuffer: ByteBuffer(string: "done")))
        }
        let upstream = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)), logger: Logger(label: "slow"))
        try await upstream.test(.live) { live in
            let port = try #require(live.port)
            // The step takes over 3 lease lengths; renewals every third of the lease leave 1.7 s of
            // slack for a loaded machine (the whole suite runs in one process on 2 cores; 1 s of
            // slack with a 1.5 s lease ran out once while a second test run shared the cores).
            let api = try await TestAPI.make { $0.taskLeaseMilliseconds = 2500; $0.httpAllow = try! EgressPolicy(parsing: "127.0.0.1") }
            try await api.run(engine: true) { client in
                try await client.post("/sequences", ["id": "slow", "blocks": [
                    ["id": "call", "type": "step", "handler": "http_request", "params": ["url": .string("http://127.0.0.1:\(port)/slow"), "timeout_ms": 10_000]],
                ]])
                try await client.post("/instances", ["sequence_id": "slow", "id": "s-1"])
                let done = try await api.waitFor(client, "s-1", state: "completed")
                #expect(done["state"] == "completed", "\(done)")
                #expect(hits.value == 1)
            }
        }
    }
}
