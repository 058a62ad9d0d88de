import Foundation
import SluiceCore
import Testing

/// Issue 11: the context limit was checked at create only, and the body limit was 8 MiB
/// whatever the configuration. Every path that writes a context-sized value now answers 413
/// naming SLUICE_CONTEXT_MAX_BYTES, and changes nothing.
@Suite struct LimitsTests {
    static let big: JSONValue = .string(String(repeating: "x", count: 1500))

    @Test func everyContextSizedWriteIsLimited() async throws {
        let api = try await TestAPI.make { $0.contextMaxBytes = 1000 }
        try await api.run(engine: true) { client in
            try await client.post("/sequences", ApprovalsTests.expense)
            try await client.post("/sequences", ["id": "ext", "blocks": [["id": "work", "type": "step", "handler": "limit-worker"]]])

            let metadata = try await client.post("/instances", ["sequence_id": "ext", "id": "m-1", "metadata": ["pad": Self.big]])
            #expect(metadata.status == .contentTooLarge, "\(metadata.json)")
            #expect(metadata.json["error"]?.stringValue?.contains("metadata") == true)
            #expect(metadata.json["error"]?.stringValue?.contains("SLUICE_CONTEXT_MAX_BYTES") == true)
            #expect(try await client.call(.get, "/instances/m-1").status == .notFound)

            // update_context
            try await client.post("/instances", ["sequence_id": "ext", "id": "u-1", "context": ["a": 1]])
            let update = try await client.post("/instances/u-1/signals", ["signal_type": "update_context", "payload": ["pad": Self.big]])
            #expect(update.status == .contentTooLarge, "\(update.json)")
            #expect(update.json["error"]?.stringValue?.contains("SLUICE_CONTEXT_MAX_BYTES") == true)

            // a worker's output and context
            var task: JSONValue?
            for _ in 0..<10 where task == nil {
                task = try await client.post("/workers/tasks/poll", ["handler": "limit-worker", "worker_id": "w", "wait_ms": 3000]).json.arrayValue?.first
            }
            let taskId = try #require(task?["task_id"]?.stringValue)
            let output = try await client.post("/workers/tasks/\(taskId)/complete", ["worker_id": "w", "output": ["pad": Self.big]])
            #expect(output.status == .contentTooLarge, "\(output.json)")
            #expect(output.json["error"]?.stringValue?.hasPrefix("output is") == true, "\(output.json)")
            let patch = try await client.post("/workers/tasks/\(taskId)/complete", ["worker_id": "w", "output": [:], "context": ["pad": Self.big]])
            #expect(patch.status == .contentTooLarge, "\(patch.json)")
            // Nothing changed: the task is still held and completes.
            #expect(try await client.post("/workers/tasks/\(taskId)/complete", ["worker_id": "w", "output": ["ok": true]]).status == .ok)

            // a decision's payload
            try await client.post("/instances", ["sequence_id": "expense-approval", "id": "d-1", "context": ["amount": 1, "purpose": "p"]])
            _ = try await api.waitFor(client, "d-1", state: "waiting")
            let decision = try await client.post(
                "/instances/d-1/signals", ["signal_type": "human_input:manager-review", "payload": ["decision": "approved", "notes": Self.big]])
            #expect(decision.status == .contentTooLarge, "\(decision.json)")
            #expect(try await client.call(.get, "/instances/d-1").json["state"] == "waiting")
            #expect(try await client.call(.get, "/instances/u-1").json.lookup("context.pad") == nil)
        }
    }

    /// The limit is on the whole context: patches that each fit cannot grow it beyond.
    @Test func patchesCannotGrowTheContextPastTheLimit() async throws {
        let api = try await TestAPI.make { $0.contextMaxBytes = 1000 }
        try await api.run(engine: true) { client in
            let half = JSONValue.string(String(repeating: "x", count: 400))
            try await client.post("/sequences", ["id": "ext", "blocks": [["id": "work", "type": "step", "handler": "grow-worker"]]])
            try await client.post("/sequences", ["id": "copy", "blocks": [["id": "dup", "type": "step", "handler": "set_context", "params": ["b": "{{context.a}}", "c": "{{context.a}}"]]]])

            // update_context: the first patch fits, the second would pass the limit.
            try await client.post("/instances", ["sequence_id": "ext", "id": "g-1", "context": ["a": half]])
            #expect(try await client.post("/instances/g-1/signals", ["signal_type": "update_context", "payload": ["b": half]]).status == .ok)
            let second = try await client.post("/instances/g-1/signals", ["signal_type": "update_context", "payload": ["c": half]])
            #expect(second.status == .contentTooLarge, "\(second.json)")
            #expect(second.json["error"]?.stringValue?.contains("the context would be") == true, "\(second.json)")
            // Replacing a key counts its new size only.
            #expect(try await client.post("/instances/g-1/signals", ["signal_type": "update_context", "payload": ["b": "small"]]).status == .ok)

            // a worker's context patch, merged
            var task: JSONValue?
            for _ in 0..<10 where task == nil {
                task = try await client.post("/workers/tasks/poll", ["handler": "grow-worker", "worker_id": "w", "wait_ms": 3000]).json.arrayValue?.first
            }
            let taskId = try #require(task?["task_id"]?.stringValue)
            let grown = try await client.post("/workers/tasks/\(taskId)/complete", ["worker_id": "w", "output": [:], "context": ["d": half, "e": half]])
            #expect(grown.status == .contentTooLarge, "\(grown.json)")
            #expect(try await client.post("/workers/tasks/\(taskId)/complete", ["worker_id": "w", "output": [:]]).status == .ok)

            // a built-in step's patch, merged
            try await client.post("/instances", ["sequence_id": "copy", "id": "g-2", "context": ["a": half]])
            let failed = try await api.waitFor(client, "g-2", state: "failed")
            #expect(failed.lookup("error.error")?.stringValue?.contains("SLUICE_CONTEXT_MAX_BYTES") == true, "\(failed)")
            #expect(failed.lookup("context.b") == nil)
        }
    }

    /// The body limit follows the configured limits: 2 × context (a worker's output and
    /// context) or the checkpoint limit, whichever is larger, plus a 64 KiB envelope.
    @Test func theBodyLimitFollowsTheConfiguration() async throws {
        #expect(Limits(contextBytes: 1000, checkpointBytes: 1000).bodyBytes == 2000 + 64 * 1024)
        #expect(Limits(contextBytes: 256 * 1024, checkpointBytes: 4 << 20).bodyBytes == (4 << 20) + 64 * 1024)
        #expect(Limits(contextBytes: Int.max, checkpointBytes: 1).bodyBytes == Int.max)
        let api = try await TestAPI.make { $0.contextMaxBytes = 1000; $0.checkpointMaxBytes = 1000 }
        try await api.run { client in
            let body = #"{"sequence_id": "x", "pad": ""# + String(repeating: "x", count: 100 * 1024) + #""}"#
            let reply = try await client.call(.post, "/instances", body)
            #expect(reply.status == .contentTooLarge, "\(reply.json)")
        }
    }
}
