import Foundation
import SluiceCore
import SluiceRedis
import Testing

@Suite struct InstancesTests {
    static let sequence: JSONValue = [
        "id": "flow", "name": "Flow", "tenant_id": "t1", "namespace": "prod",
        "blocks": [["id": "a", "type": "step", "handler": "noop"]],
    ]

    @Test func createReadAndIdempotentRecreate() async throws {
        let api = try await TestAPI.make()
        try await api.run { client in
            #expect(try await client.post("/sequences", Self.sequence).status == .created)
            let body: JSONValue = ["sequence_id": "flow", "id": "inst-1", "context": ["amount": 2500], "metadata": ["requester": "alice"]]
            let created = try await client.post("/instances", body)
            #expect(created.status == .created)
            #expect(created.json == ["id": "inst-1", "state": "scheduled"])

            let instance = try await client.call(.get, "/instances/inst-1")
            #expect(instance.status == .ok)
            #expect(instance.json["tenant_id"] == "t1" && instance.json["namespace"] == "prod")
            #expect(instance.json["sequence_version"] == 1 && instance.json["sequence_name"] == "Flow")
            #expect(instance.json.lookup("context.amount") == 2500 && instance.json.lookup("metadata.requester") == "alice")
            #expect(instance.json["current_block"] == "a" && instance.json["error"] == .null)
            let createdAt = instance.json["created_at"]?.stringValue ?? ""
            #expect(createdAt.count == 24 && createdAt.hasSuffix("Z"), "\(createdAt)")

            let again = try await client.post("/instances", body)
            #expect(again.status == .ok)
            #expect(again.json["id"] == "inst-1")
            let different = try await client.post("/instances", ["sequence_id": "flow", "id": "inst-1", "context": ["amount": 1]])
            #expect(different.status == .conflict)
            #expect(different.json["code"] == "conflict")

            // The creation is in the instance's event stream, written by the same script.
            let events = try await api.redis.execute(RedisCommand("XRANGE", api.keys.events("inst-1"), "-", "+"))
            #expect(events.array?.count == 1)
            #expect(events.description.contains(#"scheduled"#))
        }
    }

    @Test func generatedIdsAreTimeOrderedUUIDv7() async throws {
        let api = try await TestAPI.make()
        try await api.run { client in
            try await client.post("/sequences", Self.sequence)
            let first = try await client.post("/instances", ["sequence_id": "flow"]).json["id"]?.stringValue ?? ""
            try await Task.sleep(for: .milliseconds(2))
            let second = try await client.post("/instances", ["sequence_id": "flow"]).json["id"]?.stringValue ?? ""
            #expect(first.count == 36 && Array(first)[14] == "7", "\(first)")
            #expect(first < second)
        }
    }

    /// Regression (issue 11): ids may contain `:`, and with `<instance key>:ev` the instance
    /// `inv-3:ev` was `inv-3`'s event stream: creating `inv-3` then failed with WRONGTYPE half-way
    /// and left it `running` forever. Both must work and run to completion.
    @Test func anIdThatEndsInAKeyKindIsItsOwnInstance() async throws {
        let api = try await TestAPI.make()
        // Two ids of one partition, as a collision needs.
        let base = try #require((0..<10_000).map { "inv-\($0)" }.first { api.keys.partition(of: $0) == api.keys.partition(of: $0 + ":ev") })
        try await api.run(engine: true) { client in
            #expect(try await client.post("/sequences", Self.sequence).status == .created)
            for id in [base + ":ev", base, base + ":ctx"] {
                let created = try await client.post("/instances", ["sequence_id": "flow", "id": .string(id), "context": ["k": .string(id)]])
                #expect(created.status == .created, "\(id): \(created.json)")
            }
            for id in [base + ":ev", base, base + ":ctx"] {
                let done = try await api.waitFor(client, id, state: "completed")
                #expect(done["state"] == "completed", "\(id): \(done)")
                #expect(done.lookup("context.k") == .string(id))
            }
        }
    }

    @Test func createErrors() async throws {
        let api = try await TestAPI.make { $0.contextMaxBytes = 100 }
        try await api.run { client in
            try await client.post("/sequences", Self.sequence)
            #expect(try await client.post("/instances", ["sequence_id": "nope"]).status == .notFound)
            #expect(try await client.post("/instances", ["sequence_id": "flow", "tenant_id": "t2"]).status == .notFound)
            let big = try await client.post("/instances", ["sequence_id": "flow", "context": ["pad": .string(String(repeating: "x", count: 200))]])
            #expect(big.status == .contentTooLarge)
            #expect(big.json["code"] == "payload_too_large")
            for (body, field) in [(["context": [:]] as JSONValue, "sequence_id"), (["sequence_id": "flow", "context": [1]], "context"),
                                  (["sequence_id": "flow", "id": "bad id"], "id"), (["sequence_id": "flow", "extra": 1], "extra")] {
                let reply = try await client.post("/instances", body)
                #expect(reply.status == .unprocessableContent, "\(body)")
                #expect(reply.json.lookup("details.field") == .string(field))
            }
            #expect(try await client.call(.post, "/instances", "{nope").status == .badRequest)
            #expect(try await client.call(.get, "/instances/none").status == .notFound)
        }
    }

    @Test func listNewestFirstWithCursorAndFilters() async throws {
        let api = try await TestAPI.make()
        try await api.run { client in
            try await client.post("/sequences", Self.sequence)
            try await client.post("/sequences", ["id": "other", "tenant_id": "t2", "blocks": [["id": "a", "type": "step", "handler": "noop"]]])
            var ids: [String] = []
            for i in 0..<7 {
                let id = "i-\(i)"
                try await client.post("/instances", ["sequence_id": i % 2 == 0 ? "flow" : "other", "id": .string(id)])
                ids.append(id)
                try await Task.sleep(for: .milliseconds(2))
            }
            var seen: [String] = []
            var cursor: String? = nil
            repeat {
                let page = try await client.call(.get, "/instances?limit=3" + (cursor.map { "&cursor=\($0)" } ?? ""))
                #expect(page.status == .ok)
                seen += (page.json["items"]?.arrayValue ?? []).compactMap { $0["id"]?.stringValue }
                cursor = page.json["next_cursor"]?.stringValue
            } while cursor != nil
            #expect(seen == ids.reversed())
            let t2 = try await client.call(.get, "/instances?tenant_id=t2")
            #expect((t2.json["items"]?.arrayValue ?? []).compactMap { $0["id"]?.stringValue } == ["i-5", "i-3", "i-1"])
            let scheduled = try await client.call(.get, "/instances?state=scheduled&limit=100")
            #expect(scheduled.json["items"]?.arrayValue?.count == 7)
            for bad in ["state=asleep", "limit=0", "limit=abc", "cursor=zzz", "tenant_id=a%20b"] {
                #expect(try await client.call(.get, "/instances?\(bad)").status == .badRequest, "\(bad)")
            }
        }
    }

    @Test func outputsAndDelete() async throws {
        let api = try await TestAPI.make()
        try await api.run { client in
            try await client.post("/sequences", Self.sequence)
            try await client.post("/instances", ["sequence_id": "flow", "id": "gone"])
            let outputs = try await client.call(.get, "/instances/gone/outputs")
            #expect(outputs.status == .ok && outputs.json == [])
            #expect(try await client.call(.delete, "/instances/gone").status == .noContent)
            #expect(try await client.call(.get, "/instances/gone").status == .notFound)
            #expect(try await client.call(.get, "/instances/gone/outputs").status == .notFound)
            #expect(try await client.call(.delete, "/instances/gone").status == .notFound)
            let p = api.keys.partition(of: "gone")
            #expect(try await api.redis.execute(RedisCommand("EXISTS", api.keys.instance("gone"), api.keys.events("gone"))) == .integer(0))
            #expect(try await api.redis.execute(RedisCommand("ZSCORE", api.keys.ready(p), "gone")) == .null)
            #expect(try await api.redis.execute(RedisCommand("ZSCORE", api.keys.instanceIndex(p), "gone")) == .null)
        }
    }
}
