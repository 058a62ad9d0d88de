import Foundation
import SluiceCore
import SluiceRedis
import SluiceTestSupport
import Testing

@Suite struct SignalsTests {
    static let napping: JSONValue = ["id": "nap", "blocks": [
        ["id": "zz", "type": "step", "handler": "sleep", "params": ["ms": 60_000]],
        ["id": "after", "type": "step", "handler": "noop"],
    ]]

    @Test func pauseResumeCancelAndTheirConflicts() async throws {
        let api = try await TestAPI.make()
        try await api.run { client in
            try await client.post("/sequences", Self.napping)
            try await client.post("/instances", ["sequence_id": "nap", "id": "s-1"])
            let p = api.keys.partition(of: "s-1")

            let paused = try await client.post("/instances/s-1/signals", ["signal_type": "pause"])
            #expect(paused.status == .ok)
            #expect(paused.json["status"] == "applied")
            #expect(paused.json["signal_id"]?.stringValue?.count == 36)
            #expect(try await client.call(.get, "/instances/s-1").json["state"] == "paused")
            // A paused instance is not due: nothing would claim it.
            #expect(try await api.redis.execute(RedisCommand("ZSCORE", api.keys.ready(p), "s-1")) == .null)
            #expect(try await client.post("/instances/s-1/signals", ["signal_type": "pause"]).status == .conflict)

            #expect(try await client.post("/instances/s-1/signals", ["signal_type": "resume"]).status == .ok)
            #expect(try await client.call(.get, "/instances/s-1").json["state"] == "scheduled")
            #expect(try await api.redis.execute(RedisCommand("ZSCORE", api.keys.ready(p), "s-1")) != .null)
            let notPaused = try await client.post("/instances/s-1/signals", ["signal_type": "resume"])
            #expect(notPaused.status == .conflict)
            #expect(notPaused.json["code"] == "conflict")

            #expect(try await client.post("/instances/s-1/signals", ["signal_type": "cancel"]).status == .ok)
            let cancelled = try await client.call(.get, "/instances/s-1").json
            #expect(cancelled["state"] == "cancelled")
            #expect(try await api.redis.execute(RedisCommand("PTTL", api.keys.instance("s-1"))).int ?? -1 > 0)
            // Terminal: every further signal is a conflict.
            for signal in ["cancel", "pause", "resume", "update_context"] {
                #expect(try await client.post("/instances/s-1/signals", ["signal_type": .string(signal), "payload": [:]]).status == .conflict, "\(signal)")
            }
        }
    }

    @Test func updateContextMergesShallowly() async throws {
        let api = try await TestAPI.make()
        try await api.run { client in
            try await client.post("/sequences", Self.napping)
            try await client.post("/instances", ["sequence_id": "nap", "id": "u-1", "context": ["a": 1, "nested": ["x": 1, "y": 2]]])
            let reply = try await client.post("/instances/u-1/signals", ["signal_type": "update_context", "payload": ["b": "two", "nested": ["x": 9]]])
            #expect(reply.status == .ok)
            let context = try await client.call(.get, "/instances/u-1").json["context"]
            #expect(context == ["a": 1, "b": "two", "nested": ["x": 9]])
            #expect(try await client.post("/instances/u-1/signals", ["signal_type": "update_context", "payload": [1, 2]]).status == .unprocessableContent)
        }
    }

    @Test func badSignalsAndUnknownInstances() async throws {
        let api = try await TestAPI.make()
        try await api.run { client in
            try await client.post("/sequences", Self.napping)
            try await client.post("/instances", ["sequence_id": "nap", "id": "b-1"])
            #expect(try await client.post("/instances/nope/signals", ["signal_type": "cancel"]).status == .notFound)
            #expect(try await client.post("/instances/b-1/signals", ["signal_type": "explode"]).status == .unprocessableContent)
            #expect(try await client.post("/instances/b-1/signals", ["payload": [:]]).status == .unprocessableContent)
            #expect(try await client.post("/instances/b-1/signals", ["signal_type": "human_input:zz"]).status == .unprocessableContent)
            #expect(try await client.post("/instances/b-1/signals", ["signal_type": ["custom": "human_input:zz"]]).status == .unprocessableContent)
            #expect(try await client.post("/instances/nope/signals", ["signal_type": "human_input:zz"]).status == .notFound)
            #expect(try await client.call(.post, "/instances/b-1/signals", "{").status == .badRequest)
            // The alias form of a control signal works too.
            #expect(try await client.post("/instances/b-1/signals", ["signal_type": ["custom": "pause"]]).status == .ok)
        }
    }

    @Test func cancelWhileRunningFencesTheRunnersCommit() async throws {
        let api = try await TestAPI.make { $0.httpAllow = try! EgressPolicy(parsing: "127.0.0.1") }
        try await api.run(engine: true) { client in
            // The step waits 1 s on a server that never answers: cancel lands while the runner holds it.
            let silent = try SilentServer()
            try await client.post("/sequences", ["id": "slow", "blocks": [
                ["id": "wait", "type": "step", "handler": "http_request",
                 "params": ["url": .string("http://127.0.0.1:\(silent.port)/"), "timeout_ms": 1000], "retry": ["max_attempts": 1]],
            ]])
            try await client.post("/instances", ["sequence_id": "slow", "id": "c-1"])
            _ = try await api.waitFor(client, "c-1", state: "running")
            #expect(try await client.post("/instances/c-1/signals", ["signal_type": "cancel"]).status == .ok)
            try await Task.sleep(for: .milliseconds(1500))
            let instance = try await client.call(.get, "/instances/c-1").json
            #expect(instance["state"] == "cancelled")  // the runner's later failure was refused
            #expect(instance["error"] == .null)
            _ = silent
        }
    }
}
