import Foundation
import SluiceCore
import Testing

/// Issue 11: no input reaches a trap (integer overflow, a conversion of a huge Double), and
/// JSON is RFC 8259 strictly. Each case here crashed the process or was accepted before.
@Suite struct HostileInputTests {
    @Test func hugeApprovalOffsetsAreRefusedNotOverflowed() async throws {
        let api = try await TestAPI.make()
        try await api.run { client in
            for query in ["offset=9223372036854775807", "offset=9223372036854775807&limit=1000", "offset=9223372036854775808", "offset=10001&limit=0"] {
                let reply = try await client.call(.get, "/approvals?\(query)")
                #expect(reply.status == .badRequest, "\(query): \(reply.json)")
                #expect(reply.json["code"] == "bad_request")
            }
            #expect(try await client.call(.get, "/approvals?offset=9000&limit=1000").status == .ok)
        }
    }

    @Test func stepNumbersOutOfRangeAreRefusedWhenTheSequenceIsPosted() async throws {
        let api = try await TestAPI.make()
        try await api.run { client in
            let cases: [(JSONValue, String)] = [
                (["id": "s", "type": "step", "handler": "http_request", "params": ["url": "http://x", "timeout_ms": .number(1e19)]], "blocks[0].params.timeout_ms"),
                (["id": "s", "type": "step", "handler": "http_request", "params": ["url": "http://x", "timeout_ms": .number(-1)]], "blocks[0].params.timeout_ms"),
                (["id": "s", "type": "step", "handler": "http_request", "params": ["url": "http://x", "timeout_ms": .number(1.5)]], "blocks[0].params.timeout_ms"),
                (["id": "s", "type": "step", "handler": "sleep", "params": ["ms": .number(1e19)]], "blocks[0].params.ms"),
                (["id": "s", "type": "step", "handler": "noop", "timeout_ms": .number(1e19)], "blocks[0].timeout_ms"),
                (["id": "s", "type": "step", "handler": "noop", "retry": ["backoff_ms": .number(1e19)]], "blocks[0].retry.backoff_ms"),
                (["id": "s", "type": "step", "handler": "noop", "retry": ["backoff_ms": .number(86_400_001)]], "blocks[0].retry.backoff_ms"),
                (["id": "s", "type": "step", "handler": "noop", "retry": ["max_attempts": .number(1e19)]], "blocks[0].retry.max_attempts"),
                (["id": "s", "type": "step", "handler": "noop", "retry": ["max_attempts": 101]], "blocks[0].retry.max_attempts"),
                (["id": "s", "type": "step", "handler": "noop", "retry": ["multiplier": .number(1e300)]], "blocks[0].retry.multiplier"),
                (["id": "g", "type": "human_input", "prompt": "?", "timeout_seconds": .number(1e19)], "blocks[0].timeout_seconds"),
            ]
            for (block, field) in cases {
                let reply = try await client.post("/sequences", ["id": "bad", "blocks": [block]])
                #expect(reply.status == .unprocessableContent, "\(block): \(reply.json)")
                #expect(reply.json.lookup("details.field") == .string(field), "\(reply.json)")
            }
            // Templates are checked when the step runs.
            let templated: JSONValue = ["id": "ok", "blocks": [["id": "s", "type": "step", "handler": "http_request", "params": ["url": "http://x", "timeout_ms": "{{context.t}}"]]]]
            #expect(try await client.post("/sequences", templated).status == .created)
        }
    }

    /// The fleet killer: a rendered timeout of 1e19 trapped in `Int64(_:)` in every runner that
    /// claimed the instance. Now the step fails (not retried) and the instance fails.
    @Test func aHugeRenderedTimeoutFailsTheStepNotTheRunner() async throws {
        let api = try await TestAPI.make()
        try await api.run(engine: true) { client in
            let sequence: JSONValue = [
                "id": "timeouts",
                "blocks": [["id": "call", "type": "step", "handler": "http_request", "params": ["url": "http://127.0.0.1:9/", "timeout_ms": "{{context.t}}"]]],
            ]
            #expect(try await client.post("/sequences", sequence).status == .created)
            #expect(try await client.post("/instances", ["sequence_id": "timeouts", "id": "t-1", "context": ["t": .number(1e19)]]).status == .created)
            let failed = try await api.waitFor(client, "t-1", state: "failed")
            #expect(failed["state"] == "failed", "\(failed)")
            #expect(failed.lookup("error.error")?.stringValue?.contains("timeout_ms") == true, "\(failed)")
        }
    }

    @Test func lenientJSONIsRefused() async throws {
        let api = try await TestAPI.make()
        try await api.run { client in
            try await client.post("/sequences", ["id": "flow", "blocks": [["id": "a", "type": "step", "handler": "noop"]]])
            for body in [
                #"{"sequence_id": "flow", "id": "j-1",}"#, #"{"sequence_id": "flow", "id": "j-2", "context": {"n": 01}}"#,
                #"{"sequence_id": "flow", "id": "j-3", "context": {"n": NaN}}"#, #"{"sequence_id": "flow", "id": "j-4", "context": {"s": "\ud800"}}"#,
                String(repeating: "[", count: 100_000),
            ] {
                let reply = try await client.call(.post, "/instances", body)
                #expect(reply.status == .badRequest, "\(body.prefix(60)): \(reply.json)")
                #expect(reply.json["error"]?.stringValue?.hasPrefix("malformed JSON body") == true, "\(reply.json)")
            }
            for id in ["j-1", "j-2", "j-3", "j-4"] {
                #expect(try await client.call(.get, "/instances/\(id)").status == .notFound)
            }
        }
    }

    /// Templates copy values: 1000 copies of a 1000-byte value is a megabyte from a 15 KB
    /// sequence (and gigabytes with bigger ones). Over the context limit, the instance fails.
    @Test func templateBombsFailTheInstance() async throws {
        let api = try await TestAPI.make { $0.contextMaxBytes = 100_000 }
        try await api.run(engine: true) { client in
            let bomb = JSONValue.string(String(repeating: "{{context.big}}", count: 1000))
            try await client.post("/sequences", ["id": "bomb", "blocks": [["id": "s", "type": "step", "handler": "noop", "params": ["p": bomb]]]])
            try await client.post("/sequences", ["id": "gate-bomb", "blocks": [["id": "g", "type": "human_input", "prompt": bomb]]])
            let big = JSONValue.string(String(repeating: "x", count: 1000))
            for (sequence, id) in [("bomb", "b-1"), ("gate-bomb", "b-2")] {
                try await client.post("/instances", ["sequence_id": .string(sequence), "id": .string(id), "context": ["big": big]])
                let failed = try await api.waitFor(client, id, state: "failed")
                #expect(failed["state"] == "failed", "\(failed)")
                #expect(failed.lookup("error.error")?.stringValue?.contains("SLUICE_CONTEXT_MAX_BYTES") == true, "\(failed)")
            }
            #expect(try await client.call(.get, "/approvals").json["total"] == 0)
        }
    }

    /// The deepest context a client may send still reads back from the records that wrap it
    /// (a checkpoint's snapshot holds it three levels deeper than the request did).
    @Test func theDeepestAllowedContextSurvivesACheckpoint() async throws {
        let api = try await TestAPI.make()
        try await api.run { client in
            try await client.post("/sequences", ["id": "nap", "blocks": [["id": "z", "type": "step", "handler": "sleep", "params": ["ms": 60_000]]]])
            // body (1) > context (2) > deep (3) > 125 more arrays: 128 levels, the client limit.
            let deep = String(repeating: "[", count: 126) + "1" + String(repeating: "]", count: 126)
            let body = #"{"sequence_id": "nap", "id": "deep-1", "context": {"deep": "# + deep + "}}"
            #expect(try await client.call(.post, "/instances", body).status == .created)
            let tooDeep = #"{"sequence_id": "nap", "id": "deep-2", "context": {"deep": ["# + deep + "]}}"
            #expect(try await client.call(.post, "/instances", tooDeep).status == .badRequest)
            #expect(try await client.post("/instances/deep-1/checkpoints", ["checkpoint_data": ["n": 1]]).status == .created)
            let latest = try await client.call(.get, "/instances/deep-1/checkpoints/latest")
            #expect(latest.status == .ok, "\(latest.json)")
            #expect(latest.json.lookup("snapshot.context.deep") != nil)
            #expect(try await client.call(.get, "/instances/deep-1").json.lookup("context.deep") != nil)
        }
    }
}
