import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import SluiceCore
import SluiceEngine
import SluiceRedis
import SluiceServer
import SluiceTestSupport
import Testing

/// Queue order, totals, filters and pagination across partitions; the approvals stream.
@Suite struct ApprovalQueueTests {
    static func gate(_ id: String, timeout: Int?) -> JSONValue {
        var block: [String: JSONValue] = ["id": "g", "type": "human_input", "prompt": "go {{instance.id}}?"]
        if let timeout { block["timeout_seconds"] = .number(Double(timeout)) }
        return ["id": .string(id), "blocks": [.object(block)]]
    }

    /// The documented order, computed from the items themselves.
    static func sortKey(_ item: JSONValue) -> (Int64, Int64, [UInt8]) {
        let deadline = item["deadline"]?.stringValue.flatMap(ApprovalsTests.milliseconds) ?? Int64.max
        let since = item["waiting_since"]?.stringValue.flatMap(ApprovalsTests.milliseconds) ?? 0
        return (deadline, since, Array((item["instance_id"]?.stringValue ?? "").utf8))
    }

    static func inOrder(_ a: JSONValue, _ b: JSONValue) -> Bool {
        let (x, y) = (sortKey(a), sortKey(b))
        if x.0 != y.0 { return x.0 < y.0 }
        if x.1 != y.1 { return x.1 < y.1 }
        return x.2.lexicographicallyPrecedes(y.2)
    }

    @Test func orderTotalsFiltersAndPagination() async throws {
        let api = try await TestAPI.make { $0.partitions = 16 }
        try await api.run(engine: true) { client in
            try await client.post("/sequences", Self.gate("slow", timeout: 5000))
            try await client.post("/sequences", Self.gate("fast", timeout: 1000))
            try await client.post("/sequences", Self.gate("open", timeout: nil))
            let sequences = ["slow", "fast", "open"]
            var ids: [String] = []
            for index in 0..<60 {
                let id = "q-\(index)"
                ids.append(id)
                let reply = try await client.post("/instances", [
                    "sequence_id": .string(sequences[index % 3]), "id": .string(id),
                    "tenant_id": .string("t\(index % 2)"), "namespace": .string("n\(index % 4)"),
                ])
                #expect(reply.status == .created)
            }
            for id in ids { _ = try await api.waitFor(client, id, state: "waiting") }

            let all = try await client.call(.get, "/approvals?limit=1000").json
            let items = all["items"]?.arrayValue ?? []
            #expect(all["total"] == 60)
            #expect(items.count == 60)
            #expect(Set(items.compactMap { $0["instance_id"]?.stringValue }) == Set(ids))
            for (a, b) in zip(items, items.dropFirst()) { #expect(Self.inOrder(a, b), "\(a["instance_id"]!) before \(b["instance_id"]!)") }
            // Dated items first (soonest deadline), then undated ones.
            let dated = items.prefix { $0["deadline"] != .null }
            #expect(dated.count == 40)
            #expect(items.dropFirst(40).allSatisfy { $0["deadline"] == .null })

            // Cursor pages and offset pages give the same sequence.
            var byCursor: [JSONValue] = []
            var cursor: String? = nil
            repeat {
                let page = try await client.call(.get, "/approvals?limit=7" + (cursor.map { "&cursor=\($0)" } ?? "")).json
                #expect(page["total"] == 60)
                byCursor += page["items"]?.arrayValue ?? []
                cursor = page["next_cursor"]?.stringValue
            } while cursor != nil
            #expect(byCursor == items)
            var byOffset: [JSONValue] = []
            for offset in stride(from: 0, to: 60, by: 7) {
                byOffset += try await client.call(.get, "/approvals?limit=7&offset=\(offset)").json["items"]?.arrayValue ?? []
            }
            #expect(byOffset == items)
            let none = try await client.call(.get, "/approvals?limit=0").json
            #expect(none["items"] == [])
            #expect(none["total"] == 60)

            // Filters: exact match, totals over the whole queue.
            for (query, expected) in [("tenant_id=t0", items.filter { $0["tenant_id"] == "t0" }),
                                      ("namespace=n1", items.filter { $0["namespace"] == "n1" }),
                                      ("tenant_id=t1&namespace=n3", items.filter { $0["tenant_id"] == "t1" && $0["namespace"] == "n3" })] {
                let page = try await client.call(.get, "/approvals?limit=5&\(query)").json
                #expect(page["total"] == .number(Double(expected.count)), "\(query)")
                #expect(page["items"]?.arrayValue == Array(expected.prefix(5)), "\(query)")
            }
            #expect(try await client.call(.get, "/approvals?tenant_id=nobody").json["total"] == 0)

            // Keyset pages stay correct while items come and go: decide one item already seen and
            // one not yet seen after the first page; the rest is exactly what remains.
            let first = try await client.call(.get, "/approvals?limit=10").json
            let seen = first["items"]?.arrayValue ?? []
            let next = try #require(first["next_cursor"]?.stringValue)
            let gone = [seen[3], items[20]].compactMap { $0["instance_id"]?.stringValue }
            for id in gone {
                #expect(try await client.post("/instances/\(id)/signals", ["signal_type": "human_input:g", "payload": ["value": "yes"]]).status == .ok)
            }
            var rest: [JSONValue] = []
            cursor = next
            while let position = cursor {
                let page = try await client.call(.get, "/approvals?limit=9&cursor=\(position)").json
                rest += page["items"]?.arrayValue ?? []
                cursor = page["next_cursor"]?.stringValue
            }
            #expect(rest == Array(items.dropFirst(10)).filter { $0["instance_id"] != .string(gone[1]) })
        }
    }

    /// A page's positions come a few per partition; a partition that holds more of the page than
    /// that is read again, with its items, in the same second round trip as the other items. Here
    /// most of the queue is in one partition of 64, so every first page needs that second look.
    @Test func aPartitionHoldingMostOfAPageIsReadAgainWithinTwoRoundTrips() async throws {
        let server = try await TestRedis.start()
        // A runner opens the gates; the listing is then counted on an API without one, so that
        // nothing else talks to Redis meanwhile.
        let opener = try await TestAPI.make(server: server) { $0.partitions = 64 }
        let keys = opener.keys
        // 30 ids in partition 0, 10 spread elsewhere.
        var crowded = (0...).lazy.map { "crowd-\($0)" }.filter { keys.partition(of: $0) == 0 }.makeIterator()
        let ids = (0..<40).map { index in index % 4 == 3 ? "spread-\(index)" : crowded.next()! }
        #expect(ids.filter { keys.partition(of: $0) == 0 }.count == 30)
        try await opener.run(engine: true) { client in
            try await client.post("/sequences", Self.gate("open", timeout: nil))
            for id in ids {
                #expect(try await client.post("/instances", ["sequence_id": "open", "id": .string(id)]).status == .created)
                _ = try await opener.waitFor(client, id, state: "waiting")
            }
        }
        let api = try await TestAPI.make(server: server) { $0.partitions = 64; $0.keyPrefix = opener.configuration.keyPrefix }
        let counter = RedisClient(configuration: server.clientConfiguration)
        defer { counter.shutdown() }
        try await api.run { client in
            let all = try await client.call(.get, "/approvals?limit=1000").json["items"]?.arrayValue ?? []
            #expect(Set(all.compactMap { $0["instance_id"]?.stringValue }) == Set(ids))
            for (a, b) in zip(all, all.dropFirst()) { #expect(Self.inOrder(a, b)) }
            let crowdedOnPage = all.prefix(20).filter { keys.partition(of: $0["instance_id"]?.stringValue ?? "") == 0 }.count
            #expect(crowdedOnPage > 3, "the premise: partition 0 holds more of the page than its first share")

            // Cursor pages (approval_page after the cursor; this also loads the script, so the
            // count below sees EVALSHA and no NOSCRIPT round trip).
            var byCursor: [JSONValue] = []
            var cursor: String? = nil
            repeat {
                let page = try await client.call(.get, "/approvals?limit=11" + (cursor.map { "&cursor=\($0)" } ?? "")).json
                byCursor += page["items"]?.arrayValue ?? []
                cursor = page["next_cursor"]?.stringValue
            } while cursor != nil
            #expect(byCursor == all)

            // limit 20: each partition is first asked for 3 positions; partition 0 holds ~15 of the page.
            let counts = try await RoundTripTests.count(counter, api: api.redis) {
                let page = try await client.call(.get, "/approvals?limit=20").json
                #expect(page["items"]?.arrayValue == Array(all.prefix(20)))
                #expect(page["total"] == 40)
            }
            #expect(counts.roundTrips == 2, "GET /approvals: \(counts)")
            #expect(counts.scriptCalls == 1, "only partition 0 is read again: \(counts)")
            for offset in [5, 13, 30] {
                let page = try await client.call(.get, "/approvals?limit=9&offset=\(offset)").json
                #expect(page["items"]?.arrayValue == Array(all.dropFirst(offset).prefix(9)), "offset \(offset)")
            }
        }
    }

    @Test func approvalsStreamShowsAddedRemovedAndEscalatedAndResumes() async throws {
        let api = try await TestAPI.make { $0.sweepIntervalMilliseconds = 100 }
        try await api.run(engine: true, live: true) { client in
            let port = try #require(client.port)
            try await client.post("/sequences", ["id": "esc", "blocks": [
                ["id": "g", "type": "human_input", "prompt": "go?", "timeout_seconds": 1, "escalation_handler": "noop",
                 "escalation_params": ["why": "late"]],
            ]])
            try await client.post("/sequences", Self.gate("plain", timeout: nil))
            let everything = Task {
                try await SSEClient.read(port: port, path: "/approvals/stream?poll_ms=5000", timeout: .seconds(20)) { result in
                    result.events.filter { $0.event == "removed" }.count == 2
                }
            }
            let tenantOnly = Task {
                try await SSEClient.read(port: port, path: "/approvals/stream?tenant_id=a", timeout: .seconds(20)) { result in
                    result.events.contains { $0.event == "removed" }
                }
            }
            try await Task.sleep(for: .milliseconds(300))
            // The gate without a deadline opens first, so the order of events does not depend on
            // how fast the runner gets to s-1 relative to its 1 s deadline.
            try await client.post("/instances", ["sequence_id": "plain", "id": "s-2", "tenant_id": "b"])
            _ = try await api.waitFor(client, "s-2", state: "waiting")
            try await client.post("/instances", ["sequence_id": "esc", "id": "s-1", "tenant_id": "a"])
            _ = try await api.waitFor(client, "s-1", state: "waiting")
            // s-1's deadline passes: the sweeper escalates (the item stays, escalated_at set).
            var page = JSONValue.null
            for _ in 0..<200 {
                page = try await client.call(.get, "/approvals?tenant_id=a").json
                if page["items"]?.arrayValue?.first?["escalated_at"]?.stringValue != nil { break }
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(page["items"]?.arrayValue?.first?["escalated_at"]?.stringValue != nil)
            #expect(try await client.call(.get, "/instances/s-1").json["state"] == "waiting")
            #expect(try await client.post("/instances/s-1/signals", ["signal_type": "human_input:g", "payload": ["value": "no"]]).status == .ok)
            #expect(try await client.post("/instances/s-2/signals", ["signal_type": "cancel"]).status == .ok)

            let events = try await everything.value.events
            #expect(events.map(\.event) == ["added", "added", "escalated", "removed", "removed"])
            #expect(events[0].data.contains("\"instance_id\":\"s-2\""))
            #expect(events[1].data.contains("\"instance_id\":\"s-1\""))
            #expect(events[2].data.contains("\"escalated_at\":\""))
            // `by`: the key whose call removed it (api.md → who did what).
            #expect(events[3].data == #"{"instance_id":"s-1","block_id":"g","reason":"decided","by":"\#(TestAuth.principal)"}"#)
            #expect(events[4].data == #"{"instance_id":"s-2","block_id":"g","reason":"cancelled","by":"\#(TestAuth.principal)"}"#)
            let filtered = try await tenantOnly.value.events
            #expect(filtered.map(\.event) == ["added", "escalated", "removed"])

            // Resume after the second event, on another server: the rest, once each.
            let other = buildApplication(ServerDependencies(configuration: api.configuration, redis: api.redis, apiKeys: api.apiKeys), logger: Logger(label: "b"))
            try await other.test(.live) { clientB in
                let portB = try #require(clientB.port)
                let resumed = try await SSEClient.read(
                    port: portB, path: "/approvals/stream", headers: ["Last-Event-ID": try #require(events[1].id)], timeout: .seconds(3))
                #expect(resumed.events == Array(events.dropFirst(2)))
                let byQuery = try await SSEClient.read(
                    port: portB, path: "/approvals/stream?last_event_id=\(try #require(events[3].id))", timeout: .seconds(2))
                #expect(byQuery.events == [events[4]])
            }
            let bad = try await client.call(.get, "/approvals/stream?last_event_id=12-0")
            #expect(bad.status == .badRequest)
        }
    }
}
