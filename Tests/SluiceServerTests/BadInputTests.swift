import Foundation
import SluiceCore
import Testing

/// Issue 11: every route, fed malformed JSON, wrong types, huge and negative numbers, odd
/// unicode, bad cursors and ids, answers a 4xx JSON error (never a 5xx, never a crash), and
/// nothing is stored.
@Suite struct BadInputTests {
    static let bodies: [String] = [
        "", "{", "[]", "null", "1e999", #"{"a": 1,}"#, String(repeating: "[", count: 5000), #"{"s": "\ud800"}"#, "\u{FEFF}{}",
        #"{"id": 1e308, "sequence_id": [], "context": "x", "metadata": 7, "payload": 12, "signal_type": 5, "worker_id": {}, "handler": null, "wait_ms": 1e19, "limit": -1e19, "keep": 1e300, "checkpoint_data": null, "output": 1, "error": 3, "retryable": "yes", "blocks": 1e19}"#,
        #"{"id": "\u202Eevil", "sequence_id": "s\u0000", "signal_type": "human_input:\ud83d\ude42", "worker_id": "w", "handler": "h", "wait_ms": -1, "limit": 1e19}"#,
        #"{"id": "x", "blocks": [{"id": "a", "type": "step", "handler": "noop", "retry": {"max_attempts": 1e19, "backoff_ms": -1, "multiplier": 1e308}, "timeout_ms": 9.5}]}"#,
        #"{"signal_type": "update_context", "payload": []}"#, #"{"signal_type": "cancel", "payload": {"a": 1e400}}"#,
    ]

    static let posts = [
        "/sequences", "/instances", "/instances/i-1/signals", "/workers/tasks/poll", "/workers/tasks/i-1~1~h/heartbeat",
        "/workers/tasks/i-1~1~h/complete", "/workers/tasks/i-1~1~h/fail", "/instances/i-1/checkpoints", "/instances/i-1/checkpoints/prune",
        "/instances/i-1/checkpoints/0190-bad/restore", "/workers/tasks/%E2%80%AE/complete",
    ]

    static let gets = [
        "/sequences/s-1?version=99999999999999999999", "/sequences/s-1?version=-1", "/sequences/%F0%9F%99%82",
        "/instances?limit=1e19", "/instances?limit=-1", "/instances?cursor=%00%FF", "/instances?cursor=9999999999999999999999_x",
        "/instances?state=bogus", "/instances?tenant_id=%E2%80%AE", "/instances/%00", "/instances/" + String(repeating: "a", count: 300),
        "/instances/i-1/outputs", "/approvals?limit=1001", "/approvals?offset=-1", "/approvals?offset=18446744073709551616",
        "/approvals?cursor=-1_x", "/approvals?cursor=99999999999999999999_a", "/approvals?tenant_id=a%7Cb",
        "/instances/i-1/checkpoints", "/instances/i-1/checkpoints/latest", "/instances/i-1/checkpoints/%2E%2E",
        "/instances/i-1/stream?poll_ms=99999999999999999999", "/instances/i-1/stream?last_event_id=18446744073709551616-1",
        "/approvals/stream?last_event_id=18446744073709551615:zzzzzzzzzzzzzz", "/approvals/stream?last_event_id=%00",
    ]

    @Test func everyRouteAnswersBadInputWithA4xxJSONError() async throws {
        let api = try await TestAPI.make()
        try await api.run { client in
            var seen = 0
            for path in Self.posts {
                for body in Self.bodies {
                    let reply = try await client.call(.post, path, body)
                    #expect((400..<500).contains(reply.status.code), "POST \(path) \(body.prefix(80)): \(reply.status) \(reply.json)")
                    #expect(reply.json["code"]?.stringValue != nil, "POST \(path) \(body.prefix(80)): \(reply.json)")
                    seen += 1
                }
            }
            for path in Self.gets {
                let reply = try await client.call(.get, path)
                #expect((400..<500).contains(reply.status.code), "GET \(path): \(reply.status) \(reply.json)")
                #expect(reply.json["code"]?.stringValue != nil, "GET \(path): \(reply.json)")
                seen += 1
            }
            for path in ["/instances/%00", "/instances/" + String(repeating: "b", count: 300), "/instances/i-1"] {
                let reply = try await client.call(.delete, path)
                #expect(reply.status == .notFound, "DELETE \(path): \(reply.status)")
            }
            #expect(seen == Self.posts.count * Self.bodies.count + Self.gets.count)
            // Nothing was stored by any of it (SCAN on every primary when on a cluster).
            let keys = try await api.redis.scan(matching: "{\(api.configuration.keyPrefix):*")
            let sequences = try await api.redis.scan(matching: "\(api.configuration.keyPrefix):seq:*")
            #expect(keys.isEmpty, "\(keys.prefix(5))")
            #expect(sequences.isEmpty, "\(sequences)")
        }
    }
}
