import Foundation
import Hummingbird
import SluiceCore
import SluiceRedis
import SluiceTestSupport
import Testing

/// Checkpoints (api.md → Checkpoints): save, list, latest, get, prune, restore; the cap; fencing
/// on restore; the latest checkpoint on redelivered tasks (batch recovery).
@Suite struct CheckpointsTests {
    /// One built-in step, then an external step that keeps the instance `running` until a worker acts.
    static let job: JSONValue = ["id": "job", "blocks": [
        ["id": "prepare", "type": "step", "handler": "set_context", "params": ["prepared": true]],
        ["id": "work", "type": "step", "handler": "cp-work", "params": ["marker": "{{context.marker}}"]],
        ["id": "report", "type": "step", "handler": "noop", "params": ["marker": "{{context.marker}}", "result": "{{outputs.work.result}}"]],
    ]]

    func poll(_ client: TestClient, handler: String = "cp-work", worker: String, wait: Int = 10_000) async throws -> JSONValue? {
        let reply = try await client.post("/workers/tasks/poll", ["handler": .string(handler), "worker_id": .string(worker), "limit": 1, "wait_ms": .number(Double(wait))])
        #expect(reply.status == .ok)
        return reply.json.arrayValue?.first
    }

    func save(_ client: TestClient, _ id: String, _ data: JSONValue) async throws -> String {
        let reply = try await client.post("/instances/\(id)/checkpoints", ["checkpoint_data": data])
        #expect(reply.status == .created, "save: \(reply.json)")
        return reply.json["id"]?.stringValue ?? ""
    }

    func ids(_ client: TestClient, _ id: String) async throws -> [String] {
        try await client.call(.get, "/instances/\(id)/checkpoints").json.arrayValue?.compactMap { $0["id"]?.stringValue } ?? []
    }

    func redisInt(_ api: TestAPI, _ arguments: String...) async throws -> Int {
        try await api.redis.execute(RedisCommand(arguments[0], arguments.dropFirst().map { RedisArgument($0) })).int ?? -1
    }

    @Test func everyRouteAndStatus() async throws {
        let api = try await TestAPI.make { $0.checkpointMaxBytes = 1000 }
        try await api.run { client in
            // No runner: the instance stays where it was created.
            try await client.post("/sequences", Self.job)
            try await client.post("/instances", ["sequence_id": "job", "id": "c-1", "context": ["marker": "m", "n": .number(1.5), "deep": ["a": [1, ["b": .null]]]]])
            let route = "/instances/c-1/checkpoints"

            #expect(try await client.call(.get, "\(route)/latest").json == ["error": "no checkpoints", "code": "not_found"])
            #expect(try await client.call(.get, route).json == [])
            let first = try await save(client, "c-1", ["progress": 75, "last_cursor": "cursor_abc123"])
            try await client.post("/instances/c-1/signals", ["signal_type": "update_context", "payload": ["marker": "changed"]])
            let second = try await save(client, "c-1", "just a string")
            let third = try await save(client, "c-1", .null)
            #expect(first < second && second < third)

            // List, oldest first; each with its snapshot of the instance at that moment.
            let list = try await client.call(.get, route)
            #expect(list.status == .ok)
            let items = list.json.arrayValue ?? []
            #expect(items.compactMap { $0["id"]?.stringValue } == [first, second, third])
            #expect(items.map { $0["checkpoint_data"] } == [["progress": 75, "last_cursor": "cursor_abc123"], "just a string", .null])
            #expect(items.allSatisfy { $0["instance_id"] == "c-1" && $0["created_at"]?.stringValue?.hasSuffix("Z") == true })
            let instance = try await client.call(.get, "/instances/c-1").json
            #expect(items[0].lookup("snapshot.context") == ["marker": "m", "n": .number(1.5), "deep": ["a": [1, ["b": .null]]]])
            #expect(items[2].lookup("snapshot.context") == instance["context"])
            #expect(items[2].lookup("snapshot.current_block") == instance["current_block"])
            #expect(items[2].lookup("snapshot.state") == "scheduled" && items[2].lookup("snapshot.block_index") == 0)
            #expect(items[2].lookup("snapshot.context_layout") == nil)  // storage detail

            let latest = try await client.call(.get, "\(route)/latest")
            #expect(latest.status == .ok && latest.json == items[2])
            let one = try await client.call(.get, "\(route)/\(first)")
            #expect(one.status == .ok && one.json == items[0])
            #expect(try await client.call(.get, "\(route)/0190aaaa-0000-7000-8000-000000000000").json == ["error": "checkpoint not found", "code": "not_found"])
            #expect(try await client.call(.get, "\(route)/not%20an%20id").status == .notFound)

            // Save: 422 without checkpoint_data, 413 over the limit, 400 for malformed JSON.
            let missing = try await client.post(route, ["data": 1])
            #expect(missing.status == .unprocessableContent && missing.json.lookup("details.field") == "checkpoint_data")
            #expect(try await client.post(route, [1, 2]).status == .unprocessableContent)
            let big = try await client.post(route, ["checkpoint_data": .string(String(repeating: "x", count: 1000))])
            #expect(big.status == .contentTooLarge && big.json["code"] == "payload_too_large")
            #expect(try await client.call(.post, route, "{\"checkpoint_data\": ").status == .badRequest)
            #expect(try await ids(client, "c-1") == [first, second, third])  // nothing stored by the failures

            // Prune: 422 for anything but an integer >= 0; exact counts; idempotent.
            for keep: JSONValue in [-1, .number(1.5), "3", .null, true, [:]] {
                let reply = try await client.post("\(route)/prune", ["keep": keep])
                #expect(reply.status == .unprocessableContent && reply.json.lookup("details.field") == "keep", "keep \(keep)")
            }
            #expect(try await client.post("\(route)/prune", [:]).status == .unprocessableContent)
            #expect(try await client.post("\(route)/prune", ["keep": 5]).json == ["count": 0])
            let pruned = try await client.post("\(route)/prune", ["keep": 1])
            #expect(pruned.status == .ok && pruned.json == ["count": 2])
            #expect(try await client.post("\(route)/prune", ["keep": 1]).json == ["count": 0])
            #expect(try await ids(client, "c-1") == [third])
            #expect(try await client.call(.get, "\(route)/\(first)").status == .notFound)
            #expect(try await client.post("\(route)/prune", ["keep": 0]).json == ["count": 1])
            #expect(try await client.post("\(route)/prune", ["keep": 0]).json == ["count": 0])
            #expect(try await client.call(.get, "\(route)/latest").status == .notFound)
            #expect(try await redisInt(api, "EXISTS", api.keys.checkpoints("c-1"), api.keys.checkpointData("c-1")) == 0)

            // Restore: 200 with the position; 404 for an unknown checkpoint.
            let kept = try await save(client, "c-1", ["k": 1])
            let restored = try await client.post("\(route)/\(kept)/restore", [:])
            #expect(restored.status == .ok)
            #expect(restored.json == ["id": "c-1", "checkpoint_id": .string(kept), "state": "scheduled", "current_block": "prepare"])
            #expect(try await client.post("\(route)/\(first)/restore", [:]).json == ["error": "checkpoint not found", "code": "not_found"])

            // Unknown instance: 404 on every route.
            for (method, uri, body) in [
                (HTTPRequest.Method.post, "/instances/nope/checkpoints", #"{"checkpoint_data": 1}"#),
                (.get, "/instances/nope/checkpoints", nil), (.get, "/instances/nope/checkpoints/latest", nil),
                (.get, "/instances/nope/checkpoints/\(kept)", nil), (.post, "/instances/nope/checkpoints/prune", #"{"keep": 1}"#),
                (.post, "/instances/nope/checkpoints/\(kept)/restore", "{}"), (.get, "/instances/bad%20id/checkpoints", nil),
            ] {
                let reply = try await client.call(method, uri, body)
                #expect(reply.status == .notFound && reply.json == ["error": "instance not found", "code": "not_found"], "\(method) \(uri)")
            }
            #expect(try await redisInt(api, "EXISTS", api.keys.checkpoints("nope"), api.keys.checkpointData("nope")) == 0)
        }
    }

    @Test func theCapKeepsTheNewestInTheListAndTheHash() async throws {
        let api = try await TestAPI.make { $0.checkpointCap = 10 }
        try await api.run { client in
            try await client.post("/sequences", Self.job)
            for id in ["cap-1", "cap-2"] { try await client.post("/instances", ["sequence_id": "job", "id": .string(id)]) }
            // One client after another: exactly the last ten remain, in order.
            var saved: [String] = []
            for n in 0..<200 { saved.append(try await save(client, "cap-1", ["n": .number(Double(n))])) }
            #expect(saved == saved.sorted() && Set(saved).count == 200)
            #expect(try await ids(client, "cap-1") == Array(saved.suffix(10)))
            #expect(try await redisInt(api, "LLEN", api.keys.checkpoints("cap-1")) == 10)
            #expect(try await redisInt(api, "HLEN", api.keys.checkpointData("cap-1")) == 10)
            #expect(try await client.call(.get, "/instances/cap-1/checkpoints/latest").json["checkpoint_data"] == ["n": 199])

            // Eight clients at once: still ten, the newest ten, list and hash the same ids.
            let concurrent = try await withThrowingTaskGroup(of: [String].self) { group in
                for worker in 0..<8 {
                    group.addTask {
                        var mine: [String] = []
                        for n in 0..<25 { mine.append(try await save(client, "cap-2", ["w": .number(Double(worker)), "n": .number(Double(n))])) }
                        return mine
                    }
                }
                return try await group.reduce(into: []) { $0 += $1 }
            }
            #expect(Set(concurrent).count == 200)
            let list = try await api.redis.execute(RedisCommand("LRANGE", api.keys.checkpoints("cap-2"), "0", "-1")).array?.compactMap(\.string) ?? []
            let hash = try await api.redis.execute(RedisCommand("HKEYS", api.keys.checkpointData("cap-2"))).array?.compactMap(\.string) ?? []
            #expect(list == Array(concurrent.sorted().suffix(10)))
            #expect(Set(hash) == Set(list) && hash.count == 10)
        }
    }

    /// Ids saved by the saving task, in the order its saves returned; read by the pruning one.
    actor SaveLog {
        var ids: [String] = []
        func append(_ id: String) { ids.append(id) }
        var count: Int { ids.count }
    }

    @Test func pruneWhileAnotherClientSavesIsExactAndLosesNothingItShouldKeep() async throws {
        let api = try await TestAPI.make { $0.checkpointCap = 10_000 }
        try await api.run { client in
            try await client.post("/sequences", Self.job)
            try await client.post("/instances", ["sequence_id": "job", "id": "pr-1"])
            let log = SaveLog()
            let saver = Task {
                for n in 0..<300 { await log.append(try await save(client, "pr-1", ["n": .number(Double(n))])) }
            }
            // Per prune: its keep and count; how many saves had returned before it was sent, after it
            // returned and before the listing that follows it; that listing.
            var rounds: [(keep: Int, count: Int, before: Int, after: Int, listedBefore: Int, survivors: [String])] = []
            for round in 0..<15 {
                let keep = round % 4
                let before = await log.count
                let reply = try await client.post("/instances/pr-1/checkpoints/prune", ["keep": .number(Double(keep))])
                #expect(reply.status == .ok)
                let count = Int(reply.json["count"]?.numberValue ?? -1000)
                let after = await log.count
                try await Task.sleep(for: .milliseconds(15))  // saves go on meanwhile
                let listedBefore = await log.count
                rounds.append((keep, count, before, after, listedBefore, try await ids(client, "pr-1")))
            }
            try await saver.value
            let saved = await log.ids
            let final = try await ids(client, "pr-1")
            // What is left is one unbroken run of the newest saves, and every deletion was counted once.
            #expect(final == Array(saved.suffix(final.count)))
            #expect(rounds.map(\.count).reduce(0, +) == saved.count - final.count)
            #expect(try await redisInt(api, "LLEN", api.keys.checkpoints("pr-1")) == final.count)
            #expect(try await redisInt(api, "HLEN", api.keys.checkpointData("pr-1")) == final.count)

            // The checkpoints present are always saves start..<end (ids sort in save order, and saves
            // and prunes only move the ends). Each prune moves `start` by exactly its count.
            var start = 0
            for (index, round) in rounds.enumerated() {
                let previous = start
                start += round.count
                if let first = round.survivors.first {
                    #expect(saved.firstIndex(of: first) == start, "round \(index): the count is not what went")
                    #expect(Array(saved[start..<min(saved.count, start + round.survivors.count)]) == round.survivors)
                }
                // Nothing that should be kept was lost: every save that had returned before the
                // listing and was not counted as deleted is in it.
                #expect(start + round.survivors.count >= round.listedBefore, "round \(index): lost a checkpoint")
                // It kept `keep` when it deleted any: the `keep` newest when it ran, which is after
                // `before` saves had returned and before `after` + 1 (one may be in flight) had run.
                if round.count > 0 {
                    #expect(start >= round.before - round.keep && start <= round.after + 1 - round.keep, "round \(index): kept a wrong number")
                } else {
                    #expect(start == previous)
                }
            }
        }
    }

    @Test func restoreRunsOnFromTheRestoredBlockWithTheRestoredContext() async throws {
        let api = try await TestAPI.make()
        try await api.run(engine: true) { client in
            try await client.post("/sequences", Self.job)
            try await client.post("/instances", ["sequence_id": "job", "id": "rs-1", "context": ["marker": "original"]])
            let first = try #require(try await poll(client, worker: "w"))
            #expect(first["params"] == ["marker": "original"])
            let checkpoint = try await save(client, "rs-1", ["before": "work"])
            let snapshot = try await client.call(.get, "/instances/rs-1/checkpoints/latest").json["snapshot"]
            #expect(snapshot?["state"] == "running" && snapshot?["current_block"] == "work" && snapshot?["block_index"] == 1)
            #expect(snapshot?["context"] == ["marker": "original", "prepared": true])

            // The run goes on with another context and finishes.
            try await client.post("/instances/rs-1/signals", ["signal_type": "update_context", "payload": ["marker": "changed", "extra": 1]])
            let firstId = try #require(first["task_id"]?.stringValue)
            #expect(try await client.post("/workers/tasks/\(firstId)/complete", ["worker_id": "w", "output": ["result": "r1"]]).status == .ok)
            let done = try await api.waitFor(client, "rs-1", state: "completed")
            #expect(done.lookup("context.marker") == "changed")

            // Restored: back at `work` with the snapshot's context, then on to completion again.
            let restored = try await client.post("/instances/rs-1/checkpoints/\(checkpoint)/restore", [:])
            #expect(restored.json == ["id": "rs-1", "checkpoint_id": .string(checkpoint), "state": "scheduled", "current_block": "work"])
            let again = try #require(try await poll(client, worker: "w"))
            #expect(again["block_id"] == "work" && again["task_id"] != first["task_id"])
            #expect(again["params"] == ["marker": "original"] && again["context"] == ["marker": "original", "prepared": true])
            let againId = try #require(again["task_id"]?.stringValue)
            #expect(try await client.post("/workers/tasks/\(againId)/complete", ["worker_id": "w", "output": ["result": "r2"]]).status == .ok)
            let finished = try await api.waitFor(client, "rs-1", state: "completed")
            #expect(finished["context"] == ["marker": "original", "prepared": true])
            let outputs = try await client.call(.get, "/instances/rs-1/outputs").json.arrayValue ?? []
            #expect(outputs.compactMap { $0["block_id"]?.stringValue } == ["prepare", "_restore", "work", "report"])
            #expect(outputs.first { $0["block_id"] == "_restore" }?["output"] == ["checkpoint_id": .string(checkpoint)])
            #expect(outputs.last?["output"] == ["marker": "original", "result": "r2"])
            // Events: the restore's output, then `scheduled`, then the second run.
            let events = try await EngineRaceTests.events(api, "rs-1").map { "\($0.0):\($0.1)" }
            let tail = Array(events.drop { $0 != "output:_restore" })
            #expect(tail == ["output:_restore", "state:scheduled", "state:running", "output:work", "state:scheduled", "state:running", "output:report", "state:completed"])
            // Finished again: expiring again, checkpoints included.
            #expect(try await redisInt(api, "PTTL", api.keys.checkpointData("rs-1")) > 0)
        }
    }

    @Test func restoreFencesTheTaskAWorkerHeldBefore() async throws {
        let api = try await TestAPI.make()
        try await api.run(engine: true) { client in
            try await client.post("/sequences", Self.job)
            try await client.post("/instances", ["sequence_id": "job", "id": "fe-1", "context": ["marker": "m"]])
            let held = try #require(try await poll(client, worker: "old"))
            let heldId = try #require(held["task_id"]?.stringValue)
            let checkpoint = try await save(client, "fe-1", ["at": "work"])
            #expect(try await client.post("/instances/fe-1/checkpoints/\(checkpoint)/restore", [:]).status == .ok)
            let p = api.keys.partition(of: "fe-1")
            #expect(try await api.redis.execute(RedisCommand("ZSCORE", api.keys.taskLeases(p), heldId)) == .null)
            #expect(try await api.redis.execute(RedisCommand("ZSCORE", api.keys.tasks(p, handler: "cp-work"), heldId)) == .null)

            // The runner hands the block out again as a new task; the old one is refused everywhere.
            let fresh = try #require(try await poll(client, worker: "new"))
            #expect(fresh["task_id"] != held["task_id"] && fresh["attempt"] == 1)
            let before = try await client.call(.get, "/instances/fe-1").json
            #expect(try await client.post("/workers/tasks/\(heldId)/complete", ["worker_id": "old", "output": ["result": "stale"]]).status == .conflict)
            #expect(try await client.post("/workers/tasks/\(heldId)/fail", ["worker_id": "old", "error": "x", "retryable": false]).status == .conflict)
            #expect(try await client.post("/workers/tasks/\(heldId)/heartbeat", ["worker_id": "old"]).status == .conflict)
            let after = try await client.call(.get, "/instances/fe-1").json
            #expect(after == before && after["state"] == "running")
            #expect(try await client.call(.get, "/instances/fe-1/outputs").json.arrayValue?.compactMap { $0["block_id"]?.stringValue } == ["prepare", "_restore"])

            let freshId = try #require(fresh["task_id"]?.stringValue)
            #expect(try await client.post("/workers/tasks/\(freshId)/complete", ["worker_id": "new", "output": ["result": "ok"]]).status == .ok)
            let done = try await api.waitFor(client, "fe-1", state: "completed")
            #expect(done["state"] == "completed")
            #expect(try await client.call(.get, "/instances/fe-1/outputs").json.arrayValue?.last?["output"] == ["marker": "m", "result": "ok"])
        }
    }

    @Test func restoreFencesARunnerThatHeldTheInstance() async throws {
        let api = try await TestAPI.make()
        let engine = EngineStore(Storage(redis: api.redis, keys: api.keys, streamMaxLength: 1000, retentionSeconds: 60))
        try await api.run { client in
            try await client.post("/sequences", Self.job)
            try await client.post("/instances", ["sequence_id": "job", "id": "fr-1", "context": ["marker": "m"]])
            let checkpoint = try await save(client, "fr-1", ["at": "start"])
            // A runner claims the instance and is still working on `prepare` when the restore lands.
            let claim = try #require(try await engine.claim("fr-1", nowMilliseconds: Clock.nowMilliseconds(), leaseMilliseconds: 30_000))
            #expect(try await client.post("/instances/fr-1/checkpoints/\(checkpoint)/restore", [:]).status == .ok)
            let p = api.keys.partition(of: "fr-1")
            #expect(try await api.redis.execute(RedisCommand("ZSCORE", api.keys.leases(p), "fr-1")) == .null)
            #expect(try await api.redis.execute(RedisCommand("ZSCORE", api.keys.ready(p), "fr-1")) != .null)
            await #expect(throws: SluiceError.self) {
                try await engine.commit("fr-1", epoch: claim.epoch, .init(mode: .continue, output: ("prepare", ["stale": true]),
                    contextPatch: ["prepared": "stale"], nextIndex: 1, nextBlock: "work"), nowMilliseconds: Clock.nowMilliseconds(), leaseMilliseconds: 30_000)
            }
            let instance = try await client.call(.get, "/instances/fr-1").json
            #expect(instance["state"] == "scheduled" && instance["current_block"] == "prepare" && instance["context"] == ["marker": "m"])
            #expect(try await client.call(.get, "/instances/fr-1/outputs").json.arrayValue?.compactMap { $0["block_id"]?.stringValue } == ["_restore"])
            // The next claim is the one that counts.
            let next = try #require(try await engine.claim("fr-1", nowMilliseconds: Clock.nowMilliseconds(), leaseMilliseconds: 30_000))
            #expect(next.epoch == claim.epoch + 2)
        }
    }

    @Test func restoreRevivesCompletedFailedAndCancelledInstances() async throws {
        let api = try await TestAPI.make()
        try await api.run(engine: true) { client in
            try await client.post("/sequences", Self.job)
            for (id, end) in [("rv-done", "complete"), ("rv-failed", "fail"), ("rv-cancelled", "cancel")] {
                try await client.post("/instances", ["sequence_id": "job", "id": .string(id), "context": ["marker": .string(id)]])
                let task = try #require(try await poll(client, worker: "w"))
                let taskId = try #require(task["task_id"]?.stringValue)
                let checkpoint = try await save(client, id, ["cursor": 1])
                switch end {
                case "complete": try await client.post("/workers/tasks/\(taskId)/complete", ["worker_id": "w", "output": ["result": "first"]])
                case "fail": try await client.post("/workers/tasks/\(taskId)/fail", ["worker_id": "w", "error": "boom", "retryable": false])
                default: try await client.post("/instances/\(id)/signals", ["signal_type": "cancel"])
                }
                let finished = try await api.waitUntil(client, id) { ($0["state"]?.stringValue).flatMap(InstanceState.init(rawValue:))?.isTerminal == true }
                #expect(try await redisInt(api, "PTTL", api.keys.instance(id)) > 0, "\(id) expires once finished")
                #expect(finished["state"] != "running")

                // A checkpoint saved now expires with its instance.
                let late = try await save(client, id, ["after": "end"])
                #expect(try await redisInt(api, "PTTL", api.keys.checkpoints(id)) > 0)
                #expect(try await redisInt(api, "PTTL", api.keys.checkpointData(id)) > 0)
                #expect(try await client.call(.get, "/instances/\(id)/checkpoints/\(late)").json.lookup("snapshot.state") == finished["state"])

                let restored = try await client.post("/instances/\(id)/checkpoints/\(checkpoint)/restore", [:])
                #expect(restored.status == .ok && restored.json["current_block"] == "work", "\(id): \(restored.json)")
                for key in [api.keys.instance(id), api.keys.context(id), api.keys.events(id), api.keys.outputs(id), api.keys.checkpoints(id), api.keys.checkpointData(id)] {
                    #expect(try await redisInt(api, "PTTL", key) == -1, "\(key) lives again")
                }
                let rerun = try #require(try await poll(client, worker: "w"))
                #expect(rerun["instance_id"] == .string(id) && rerun["context"] == ["marker": .string(id), "prepared": true])
                let rerunId = try #require(rerun["task_id"]?.stringValue)
                #expect(try await client.post("/workers/tasks/\(rerunId)/complete", ["worker_id": "w", "output": ["result": "second"]]).status == .ok)
                let done = try await api.waitFor(client, id, state: "completed")
                #expect(done["error"] == .null, "\(id): \(done)")
                #expect(try await client.call(.get, "/instances/\(id)/outputs").json.arrayValue?.last?["output"] == ["marker": .string(id), "result": "second"])
            }
        }
    }

    @Test func redeliveredTasksCarryTheLatestCheckpoint() async throws {
        let api = try await TestAPI.make { $0.taskLeaseMilliseconds = 4000; $0.sweepIntervalMilliseconds = 50 }
        try await api.run(engine: true) { client in
            try await client.post("/sequences", ["id": "retrying", "blocks": [
                ["id": "work", "type": "step", "handler": "cp-retry", "retry": ["max_attempts": 3, "backoff_ms": 50]],
            ]])
            try await client.post("/instances", ["sequence_id": "retrying", "id": "rd-1"])
            let first = try #require(try await poll(client, handler: "cp-retry", worker: "a"))
            #expect(first["attempt"] == 1 && first["latest_checkpoint"] == .null)
            _ = try await save(client, "rd-1", ["cursor": 100])
            let newest = try await save(client, "rd-1", ["cursor": 200])

            // Lease expiry (no heartbeat): the sweeper hands it out again with the newest checkpoint.
            let second = try #require(try await poll(client, handler: "cp-retry", worker: "b"))
            #expect(second["task_id"] == first["task_id"] && second["attempt"] == 2)
            #expect(second.lookup("latest_checkpoint.id") == .string(newest))
            #expect(second.lookup("latest_checkpoint.checkpoint_data") == ["cursor": 200])
            #expect(second.lookup("latest_checkpoint.instance_id") == "rd-1")

            // Retry after a retryable failure: the same.
            let retriedCheckpoint = try await save(client, "rd-1", ["cursor": 300])
            let taskId = try #require(second["task_id"]?.stringValue)
            #expect(try await client.post("/workers/tasks/\(taskId)/fail", ["worker_id": "b", "error": "flaky", "retryable": true]).status == .ok)
            let third = try #require(try await poll(client, handler: "cp-retry", worker: "c"))
            #expect(third["attempt"] == 3 && third.lookup("latest_checkpoint.id") == .string(retriedCheckpoint))
            #expect(third.lookup("latest_checkpoint.checkpoint_data") == ["cursor": 300])
            #expect(try await client.post("/workers/tasks/\(taskId)/complete", ["worker_id": "c", "output": [:]]).status == .ok)
            _ = try await api.waitFor(client, "rd-1", state: "completed")
        }
    }

    /// The seed page's "batch processing recovery": 10,000 records, a checkpoint every 1,000; the
    /// first worker dies after its 7th checkpoint; the task comes back with attempt 2 and the
    /// latest checkpoint, and the second worker goes on from its cursor.
    @Test func batchRecoveryResumesFromTheLastCursor() async throws {
        // The live worker heartbeats at each checkpoint; the lease leaves room for a loaded machine.
        let api = try await TestAPI.make { $0.taskLeaseMilliseconds = 4000; $0.sweepIntervalMilliseconds = 50 }
        try await api.run(engine: true) { client in
            try await client.post("/sequences", ["id": "batch", "blocks": [
                ["id": "import", "type": "step", "handler": "cp-batch", "params": ["records": 10_000]],
            ]])
            try await client.post("/instances", ["sequence_id": "batch", "id": "batch-1"])
            var processed = [Int](repeating: 0, count: 10_000)

            /// Processes records from the task's checkpoint cursor, checkpointing every 1,000;
            /// returns the task id, or completes the task when all are done.
            func work(_ task: JSONValue, worker: String, dieAfterCheckpoint: Int?) async throws -> String {
                let taskId = try #require(task["task_id"]?.stringValue)
                var cursor = Int(task.lookup("latest_checkpoint.checkpoint_data.cursor")?.numberValue ?? 0)
                var sum = Int(task.lookup("latest_checkpoint.checkpoint_data.sum")?.numberValue ?? 0)
                let total = Int(task.lookup("params.records")?.numberValue ?? 0)
                while cursor < total {
                    processed[cursor] += 1
                    sum += cursor
                    cursor += 1
                    if cursor % 1000 == 0 {
                        _ = try await save(client, "batch-1", ["cursor": .number(Double(cursor)), "sum": .number(Double(sum))])
                        #expect(try await client.post("/workers/tasks/\(taskId)/heartbeat", ["worker_id": .string(worker)]).status == .ok)
                        if cursor == dieAfterCheckpoint { return taskId }  // killed: no heartbeat, no completion
                    }
                }
                let done = try await client.post("/workers/tasks/\(taskId)/complete", ["worker_id": .string(worker), "output": ["sum": .number(Double(sum))]])
                #expect(done.status == .ok)
                return taskId
            }

            let first = try #require(try await poll(client, handler: "cp-batch", worker: "w-1"))
            #expect(first["attempt"] == 1 && first["latest_checkpoint"] == .null)
            let taskId = try await work(first, worker: "w-1", dieAfterCheckpoint: 7000)
            let second = try #require(try await poll(client, handler: "cp-batch", worker: "w-2", wait: 15_000))
            #expect(second["task_id"] == .string(taskId) && second["attempt"] == 2)
            #expect(second.lookup("latest_checkpoint.checkpoint_data.cursor") == 7000)
            _ = try await work(second, worker: "w-2", dieAfterCheckpoint: nil)

            #expect(processed.reduce(0, +) == 10_000)
            #expect(processed.allSatisfy { $0 == 1 })
            let done = try await api.waitFor(client, "batch-1", state: "completed")
            #expect(done["state"] == "completed")
            let output = try await client.call(.get, "/instances/batch-1/outputs").json.arrayValue?.last?["output"]
            #expect(output == ["sum": .number(Double(10_000 * 9_999 / 2))])
            #expect(try await ids(client, "batch-1").count == 10)
            // The stale first worker cannot complete what the second one did.
            #expect(try await client.post("/workers/tasks/\(taskId)/complete", ["worker_id": "w-1", "output": [:]]).status == .conflict)
        }
    }
}
