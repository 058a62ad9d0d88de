import Foundation
import Logging
import SluiceCore
import SluiceEngine
import SluiceRedis
import SluiceTestSupport
import Testing

/// Runners that die, and runners and workers that race: fencing keeps every result once.
@Suite struct EngineRaceTests {
    /// (type, block id) of every event in the instance's stream.
    static func events(_ api: TestAPI, _ id: String) async throws -> [(String, String)] {
        let entries = try await api.redis.execute(RedisCommand("XRANGE", api.keys.events(id), "-", "+")).array ?? []
        return entries.compactMap { entry in
            guard let fields = entry.array?[1].array, fields.count == 4, let type = fields[1].string,
                  let data = fields[3].string.flatMap({ try? JSONValue.parse(Array($0.utf8)) }) else { return nil }
            return (type, data["block_id"]?.stringValue ?? data["state"]?.stringValue ?? "")
        }
    }

    @Test func aRunnerKilledBetweenClaimAndCommitIsReplacedAndFenced() async throws {
        let api = try await TestAPI.make { $0.taskLeaseMilliseconds = 300 }
        let engine = EngineStore(Storage(redis: api.redis, keys: api.keys, streamMaxLength: 1000, retentionSeconds: 60, taskLeaseMilliseconds: 300))
        try await api.run { client in
            try await client.post("/sequences", ["id": "two", "blocks": [
                ["id": "a", "type": "step", "handler": "noop", "params": ["n": 1]],
                ["id": "b", "type": "step", "handler": "noop", "params": ["n": 2]],
            ]])
            try await client.post("/instances", ["sequence_id": "two", "id": "k-1"])
            // Runner A claims, then dies before committing anything.
            let dead = try #require(try await engine.claim("k-1", nowMilliseconds: Clock.nowMilliseconds(), leaseMilliseconds: 300))
            #expect(try await client.call(.get, "/instances/k-1").json["state"] == "running")

            // Runner B starts; once A's lease expires, B takes the instance and finishes it.
            let runner = Runner(
                engine: engine, sequences: SequenceStore(redis: api.redis, keys: api.keys),
                tasks: TaskStore(engine.storage), approvals: ApprovalStore(engine.storage),
                leaseMilliseconds: 300, doorbell: Doorbell(), logger: Logger(label: "b"), idleMilliseconds: 50)
            let b = Task { try await runner.run() }
            defer { b.cancel() }
            _ = try await api.waitFor(client, "k-1", state: "completed")

            // A wakes up and commits its stale result: refused, nothing changes.
            await #expect(throws: SluiceError.self) {
                try await engine.commit("k-1", epoch: dead.epoch, .init(mode: .continue, output: ("a", ["n": 99]), nextIndex: 1, nextBlock: "b"),
                                        nowMilliseconds: Clock.nowMilliseconds(), leaseMilliseconds: 300)
            }
            let outputs = try await client.call(.get, "/instances/k-1/outputs").json.arrayValue ?? []
            #expect(outputs.map { $0["block_id"] } == ["a", "b"])
            #expect(outputs.first?["output"] == ["n": 1])
            let outputEvents = try await Self.events(api, "k-1").filter { $0.0 == "output" }.map(\.1)
            #expect(outputEvents == ["a", "b"])
        }
    }

    @Test func twoRunnersAndTwoWorkersOnAThousandInstances() async throws {
        let api = try await TestAPI.make { $0.partitions = 16 }
        let keys = api.keys
        let storage = Storage(redis: api.redis, keys: keys, streamMaxLength: 1000, retentionSeconds: 600, taskLeaseMilliseconds: 30_000)
        let runners = (0..<2).map { index in
            Runner(
                engine: EngineStore(storage),
                sequences: SequenceStore(redis: api.redis, keys: keys),
                tasks: TaskStore(storage), approvals: ApprovalStore(storage),
                leaseMilliseconds: 30_000, doorbell: Doorbell(), logger: Logger(label: "runner-\(index)"), idleMilliseconds: 20)
        }
        let tasks = TaskStore(storage)
        let total = 1000
        try await api.run { client in
            try await client.post("/sequences", ["id": "race", "blocks": [
                ["id": "first", "type": "step", "handler": "noop"],
                ["id": "work", "type": "step", "handler": "worker-job"],
                ["id": "last", "type": "step", "handler": "set_context", "params": ["done": true]],
            ]])
            let background = Task {
                await withTaskGroup(of: Void.self) { group in
                    for runner in runners { group.addTask { try? await runner.run() } }
                    for worker in ["w1", "w2"] {
                        group.addTask {
                            while !Task.isCancelled {
                                let leased = (try? await tasks.lease(handler: "worker-job", worker: worker, limit: 20, nowMilliseconds: Clock.nowMilliseconds())) ?? []
                                for task in leased {
                                    _ = try? await tasks.finish(task.id, worker: worker, .completed(output: ["by": .string(worker)], contextPatch: [:]),
                                                                nowMilliseconds: Clock.nowMilliseconds())
                                }
                                if leased.isEmpty { try? await Task.sleep(for: .milliseconds(10)) }
                            }
                        }
                    }
                }
            }
            defer { background.cancel() }
            for batch in stride(from: 0, to: total, by: 50) {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for i in batch..<min(batch + 50, total) {
                        group.addTask { try await client.post("/instances", ["sequence_id": "race", "id": .string("r-\(i)")]) }
                    }
                    try await group.waitForAll()
                }
            }
            let ids = (0..<total).map { "r-\($0)" }
            let allDone = await eventually(timeout: .seconds(60), every: .milliseconds(200)) {
                let states = try await api.redis.pipeline(ids.map { RedisCommand("HGET", keys.instance($0), "state") })
                return states.allSatisfy { $0.string == "completed" }
            }
            #expect(allDone)
            var duplicated = 0
            var wrong = 0
            for id in ids {
                let outputs = try await Self.events(api, id).filter { $0.0 == "output" }.map(\.1)
                if outputs.count != Set(outputs).count { duplicated += 1 }
                if outputs != ["first", "work", "last"] { wrong += 1 }
            }
            #expect(duplicated == 0)
            #expect(wrong == 0)
        }
    }
}
