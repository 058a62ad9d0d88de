import Foundation
import SluiceCore
import SluiceRedis
import Testing

/// Issue 11: scripts passed user-sized maps to `unpack`, which fails beyond Lua's stack limit
/// (about 8000 values). `finish_task` had already removed the task's lease (the instance stayed
/// `running` forever) and `commit_block` failed on every claim (forever). Each script that writes
/// a user-sized map now writes it in slices, and checks its arguments before its first write.
@Suite struct LargeMapTests {
    /// 5000 keys: 10,000 values, beyond Lua's unpack limit.
    static let bigPatch: JSONValue = .object(Dictionary(uniqueKeysWithValues: (0..<5000).map { ("k\($0)", JSONValue.number(Double($0))) }))

    static func contextCount(_ api: TestAPI, _ id: String) async throws -> Int {
        try await api.redis.execute("HLEN", api.keys.context(id)).int ?? -1
    }

    @Test func createAndUpdateContextWithThousandsOfKeys() async throws {
        let api = try await TestAPI.make { $0.contextMaxBytes = 1 << 20 }
        try await api.run { client in
            try await client.post("/sequences", ["id": "nap", "blocks": [["id": "z", "type": "step", "handler": "sleep", "params": ["ms": 60_000]]]])
            let created = try await client.post("/instances", ["sequence_id": "nap", "id": "big-1", "context": Self.bigPatch])
            #expect(created.status == .created, "\(created.json)")
            #expect(try await Self.contextCount(api, "big-1") == 5000)

            // save_checkpoint snapshots it, restore_checkpoint writes it back (in slices too).
            let saved = try await client.post("/instances/big-1/checkpoints", ["checkpoint_data": ["n": 1]])
            #expect(saved.status == .created, "\(saved.json)")
            let checkpoint = try #require(saved.json["id"]?.stringValue)
            try await api.redis.execute("DEL", api.keys.context("big-1"))
            let restored = try await client.call(.post, "/instances/big-1/checkpoints/\(checkpoint)/restore")
            #expect(restored.status == .ok, "\(restored.json)")
            #expect(try await Self.contextCount(api, "big-1") == 5000)

            try await client.post("/instances", ["sequence_id": "nap", "id": "big-2"])
            let updated = try await client.post("/instances/big-2/signals", ["signal_type": "update_context", "payload": Self.bigPatch])
            #expect(updated.status == .ok, "\(updated.json)")
            #expect(try await Self.contextCount(api, "big-2") == 5000)
        }
    }

    /// commit_block: a built-in step whose context patch has 5000 keys.
    @Test func aBuiltinStepMergesThousandsOfKeys() async throws {
        let api = try await TestAPI.make { $0.contextMaxBytes = 1 << 20 }
        try await api.run(engine: true) { client in
            let sequence: JSONValue = ["id": "wide", "blocks": [["id": "set", "type": "step", "handler": "set_context", "params": Self.bigPatch]]]
            #expect(try await client.post("/sequences", sequence).status == .created)
            try await client.post("/instances", ["sequence_id": "wide", "id": "wide-1"])
            let done = try await api.waitFor(client, "wide-1", state: "completed")
            #expect(done["state"] == "completed", "\(done["error"] ?? .null)")
            #expect(try await Self.contextCount(api, "wide-1") == 5000)
        }
    }

    /// finish_task: a worker completes with a 5000-key context patch.
    @Test func aWorkerCompletesWithThousandsOfKeys() async throws {
        let api = try await TestAPI.make { $0.contextMaxBytes = 1 << 20 }
        try await api.run(engine: true) { client in
            try await client.post("/sequences", ["id": "ext", "blocks": [["id": "work", "type": "step", "handler": "wide-worker"]]])
            try await client.post("/instances", ["sequence_id": "ext", "id": "ext-1"])
            var task: JSONValue?
            for _ in 0..<10 where task == nil {
                task = try await client.post("/workers/tasks/poll", ["handler": "wide-worker", "worker_id": "w", "wait_ms": 3000]).json.arrayValue?.first
            }
            let taskId = try #require(task?["task_id"]?.stringValue)
            let done = try await client.post("/workers/tasks/\(taskId)/complete", ["worker_id": "w", "output": ["ok": true], "context": Self.bigPatch])
            #expect(done.status == .ok, "\(done.json)")
            let instance = try await api.waitFor(client, "ext-1", state: "completed")
            #expect(instance["state"] == "completed")
            #expect(try await Self.contextCount(api, "ext-1") == 5000)
        }
    }

    /// Arguments that disagree with their declared pair count are refused before any write.
    @Test func scriptsRefuseInconsistentArgumentsBeforeWriting() async throws {
        let api = try await TestAPI.make()
        try await api.run(engine: true) { client in
            try await client.post("/sequences", ["id": "ext", "blocks": [["id": "work", "type": "step", "handler": "odd-worker"]]])
            try await client.post("/instances", ["sequence_id": "ext", "id": "odd-1"])
            var task: JSONValue?
            for _ in 0..<10 where task == nil {
                task = try await client.post("/workers/tasks/poll", ["handler": "odd-worker", "worker_id": "w", "wait_ms": 3000]).json.arrayValue?.first
            }
            let taskId = try #require(task?["task_id"]?.stringValue)
            let keys = api.keys
            let p = keys.partition(of: "odd-1")
            func snapshot() async throws -> String {
                let replies = try await api.redis.pipeline([
                    RedisCommand("HGETALL", keys.instance("odd-1")), RedisCommand("HGETALL", keys.context("odd-1")),
                    RedisCommand("ZRANGE", keys.taskLeases(p), "0", "-1", "WITHSCORES"), RedisCommand("XLEN", keys.events("odd-1")),
                    RedisCommand("HGETALL", keys.outputs("odd-1")),
                ])
                return replies.map(\.description).joined(separator: "\n")
            }
            let before = try await snapshot()
            // finish_task: 3 pairs declared, 1 given (the lease used to go first).
            let finish = try await api.redis.run(
                LuaScripts.finishTask,
                keys: [keys.instance("odd-1"), keys.context("odd-1"), keys.outputs("odd-1"), keys.events("odd-1"), keys.ready(p),
                       keys.tasks(p, handler: "odd-worker"), keys.taskLeases(p), keys.wakeChannel(p), keys.tasks(p, handler: "odd-worker")],
                arguments: [.init(taskId), "w", .init(String(Clock.nowMilliseconds())), "100", "1000", "complete", "{}", "2024-01-01T00:00:00.000Z",
                            "", "w", "3", "a", "1", "0"])  // the last: no keys declared (take_declared_keys)
            #expect(finish.description.contains("INVALID"), "\(finish)")
            // commit_block: a count that is not a number.
            let commit = try await api.redis.run(
                LuaScripts.commitBlock,
                keys: [keys.instance("odd-1"), keys.context("odd-1"), keys.outputs("odd-1"), keys.events("odd-1"), keys.ready(p), keys.leases(p), keys.wakeChannel(p)],
                arguments: ["odd-1", "1", "1", "100", "1000", "1000", "continue", "0", "", "1", "", "", "", "x", "a", "1", "0"])
            #expect(commit.description.contains("INVALID"), "\(commit)")
            // commit_block: more outputs declared than given.
            let outputs = try await api.redis.run(
                LuaScripts.commitBlock,
                keys: [keys.instance("odd-1"), keys.context("odd-1"), keys.outputs("odd-1"), keys.events("odd-1"), keys.ready(p), keys.leases(p), keys.wakeChannel(p)],
                arguments: ["odd-1", "1", "1", "100", "1000", "1000", "continue", "9", "", "1", "", "", "", "a", "{}", "0", "0"])
            #expect(outputs.description.contains("INVALID"), "\(outputs)")
            // create_instance: more context pairs declared than arguments.
            let create = try await api.redis.run(
                LuaScripts.createInstance,
                keys: [keys.instance("odd-2"), keys.events("odd-2"), keys.ready(keys.partition(of: "odd-2")), keys.instanceIndex(keys.partition(of: "odd-2")),
                       keys.wakeChannel(keys.partition(of: "odd-2")), keys.context("odd-2")],
                arguments: ["odd-2", "f", "1", "100", "9", "w", "1", "a", "1"])
            #expect(create.description.contains("INVALID"), "\(create)")
            #expect(try await api.redis.execute("EXISTS", keys.instance("odd-2"), keys.context("odd-2")).int == 0)
            #expect(try await snapshot() == before)
            // The task is still held and completes normally.
            #expect(try await client.post("/workers/tasks/\(taskId)/complete", ["worker_id": "w", "output": [:]]).status == .ok)
        }
    }
}
