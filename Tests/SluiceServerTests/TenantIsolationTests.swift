import AsyncHTTPClient
import Foundation
import HTTPTypes
import SluiceCore
import SluiceServer
import SluiceTestSupport
import Testing

/// targets.md R6: a tenant key never reads, streams, lists, decides or checkpoints another
/// tenant's instance; and api.md's who-did-what: every change records the key that caused it.
@Suite struct TenantIsolationTests {
    static func as_(_ name: String) -> HTTPFields { [.authorization: "Bearer \(AccessKeys.key(name).secret)"] }
    static let admin = ["Authorization": "Bearer \(AccessKeys.key("admin").secret)"]
    static func apiKey(_ name: String) -> HTTPFields { [HTTPField.Name("X-API-Key")!: AccessKeys.key(name).secret] }

    /// Sequence `gate` (a gate then a worker step `job`) usable by every tenant, and one
    /// instance of it per tenant (`a-1` of acme, `g-1` of globex).
    static func setUp(_ client: TestClient) async throws {
        #expect(try await client.post("/sequences", [
            "id": "gate", "blocks": [["id": "review", "type": "human_input", "prompt": "ok?"], ["id": "work", "type": "step", "handler": "job"]],
        ]).status == .created)
        #expect(try await client.post("/instances", ["sequence_id": "gate", "id": "a-1", "tenant_id": "acme"], headers: as_("ops-acme")).status == .created)
        #expect(try await client.post("/instances", ["sequence_id": "gate", "id": "g-1"], headers: as_("ops-globex")).status == .created)
    }

    @Test func bothHeaderStylesWorkAndMissingOrUnknownKeysAre401() async throws {
        try await AccessKeys.api().run { client in
            #expect(try await client.call(.get, "/instances", headers: Self.as_("ops")).status == .ok)
            #expect(try await client.call(.get, "/instances", headers: Self.apiKey("ops")).status == .ok)
            let unknown = try await client.call(.get, "/instances", headers: [.authorization: "Bearer not-a-key"])
            #expect(unknown.status == .unauthorized)
            #expect(unknown.json == ["error": "unknown API key", "code": "unauthorized"])
            let missing = try await client.call(.get, "/instances", headers: [HTTPField.Name("X-Nothing")!: "x", .authorization: ""])
            #expect(missing.status == .unauthorized)
            #expect(missing.json["code"] == "unauthorized")
            // The wrong role: 403 with the error body.
            let forbidden = try await client.call(.get, "/instances", headers: Self.as_("worker"))
            #expect(forbidden.status == .forbidden)
            #expect(forbidden.json["code"] == "forbidden")
            // Each refusal is counted by reason.
            let metrics = try await client.client.execute(uri: "/metrics", method: .get, headers: Self.as_("admin")) { response in
                (response.status, String(buffer: response.body))
            }
            #expect(metrics.0 == .ok)
            for reason in ["unknown_key", "missing_key", "forbidden"] {
                #expect(metrics.1.contains("sluice_auth_failures_total{reason=\"\(reason)\"}"), "\(reason) in \(metrics.1)")
            }
        }
    }

    @Test func anotherTenantsInstanceIsNotFoundEverywhere() async throws {
        try await AccessKeys.api().run { client in
            try await Self.setUp(client)
            let cp = try await client.post("/instances/a-1/checkpoints", ["checkpoint_data": ["n": 1]], headers: Self.as_("ops-acme"))
            #expect(cp.status == .created)
            let checkpoint = cp.json["id"]?.stringValue ?? ""
            let globex = Self.as_("ops-globex")
            for (method, path, body) in [
                (HTTPRequest.Method.get, "/instances/a-1", nil), (.get, "/instances/a-1/outputs", nil),
                (.post, "/instances/a-1/signals", #"{"signal_type": "cancel"}"#),
                (.post, "/instances/a-1/signals", #"{"signal_type": "human_input:review", "payload": {"value": "yes"}}"#),
                (.post, "/instances/a-1/checkpoints", #"{"checkpoint_data": 1}"#), (.get, "/instances/a-1/checkpoints", nil),
                (.get, "/instances/a-1/checkpoints/latest", nil), (.get, "/instances/a-1/checkpoints/\(checkpoint)", nil),
                (.post, "/instances/a-1/checkpoints/prune", #"{"keep": 0}"#), (.post, "/instances/a-1/checkpoints/\(checkpoint)/restore", nil),
                (.delete, "/instances/a-1", nil),
            ] as [(HTTPRequest.Method, String, String?)] {
                let reply = try await client.call(method, path, body, headers: globex)
                #expect(reply.status == .notFound, "\(method) \(path) as globex: \(reply.status)")
                #expect(reply.json["code"] == "not_found")
            }
            // Nothing changed: the instance is still there, with its checkpoint, not cancelled.
            let instance = try await client.call(.get, "/instances/a-1", headers: Self.as_("ops-acme"))
            #expect(instance.json["state"] == "scheduled")
            #expect(try await client.call(.get, "/instances/a-1/checkpoints", headers: Self.as_("ops-acme")).json.arrayValue?.count == 1)
            // Its own tenant and untenanted keys see it.
            #expect(try await client.call(.get, "/instances/a-1", headers: Self.as_("approver-acme")).status == .ok)
            #expect(try await client.call(.get, "/instances/a-1", headers: Self.as_("ops")).status == .ok)
        }
    }

    @Test func anotherTenantsStreamEndsWithNotFound() async throws {
        try await AccessKeys.api().run(live: true) { client in
            try await Self.setUp(client)
            let port = try #require(client.port)
            let other = try await SSEClient.read(port: port, path: "/instances/a-1/stream", headers: ["Authorization": "Bearer \(AccessKeys.key("approver-globex").secret)"], timeout: .seconds(10))
            #expect(other.status == 200)
            #expect(other.events.map(\.event) == ["error"])
            #expect(other.events.first?.data.contains("instance not found") == true)
            let own = try await SSEClient.read(port: port, path: "/instances/a-1/stream", headers: ["Authorization": "Bearer \(AccessKeys.key("approver-acme").secret)"],
                                               timeout: .seconds(2))
            #expect(own.events.first?.event == "state")
        }
    }

    @Test func listsAreFilteredAndNamingAnotherTenantIs403() async throws {
        try await AccessKeys.api().run(engine: true) { client in
            try await Self.setUp(client)
            let acme = Self.as_("ops-acme")
            let items = try await client.call(.get, "/instances", headers: acme).json["items"]?.arrayValue ?? []
            #expect(items.compactMap { $0["id"]?.stringValue } == ["a-1"])
            let named = try await client.call(.get, "/instances?tenant_id=globex", headers: acme)
            #expect(named.status == .forbidden)
            #expect(named.json["code"] == "forbidden")
            #expect(try await client.call(.get, "/instances?tenant_id=acme", headers: acme).status == .ok)
            #expect(try await client.post("/instances", ["sequence_id": "gate", "tenant_id": "globex"], headers: acme).status == .forbidden)
            // Both reach the gate; each tenant's approver sees its own item only (and its total).
            #expect(await eventually(timeout: .seconds(20)) {
                try await client.call(.get, "/approvals", headers: Self.as_("ops")).json["total"] == 2
            })
            let page = try await client.call(.get, "/approvals", headers: Self.as_("approver-acme")).json
            #expect(page["total"] == 1)
            #expect(page["items"]?.arrayValue?.compactMap { $0["instance_id"]?.stringValue } == ["a-1"])
            #expect(try await client.call(.get, "/approvals?tenant_id=globex", headers: Self.as_("approver-acme")).status == .forbidden)
            // An approver decides; it may not cancel.
            let cancel = try await client.post("/instances/a-1/signals", ["signal_type": "cancel"], headers: Self.as_("approver-acme"))
            #expect(cancel.status == .forbidden)
        }
    }

    @Test func approvalsStreamIsFilteredToTheKeysTenant() async throws {
        try await AccessKeys.api().run(engine: true, live: true) { client in
            try await Self.setUp(client)
            let port = try #require(client.port)
            #expect(await eventually(timeout: .seconds(20)) {
                try await client.call(.get, "/approvals", headers: Self.as_("ops")).json["total"] == 2
            })
            let seen = try await SSEClient.read(
                port: port, path: "/approvals/stream", headers: ["X-API-Key": AccessKeys.key("approver-acme").secret], timeout: .seconds(3)
            ) { $0.events.count >= 1 }
            #expect(seen.events.map(\.event) == ["added"])
            #expect(seen.events.allSatisfy { $0.data.contains("\"a-1\"") && !$0.data.contains("\"g-1\"") })
            let named = try await client.call(.get, "/approvals/stream?tenant_id=globex", headers: Self.as_("approver-acme"))
            #expect(named.status == .forbidden)
        }
    }

    @Test func decisionsAndChangesRecordTheKeyThatMadeThem() async throws {
        try await AccessKeys.api().run(engine: true, live: true) { client in
            try await Self.setUp(client)
            let port = try #require(client.port)
            #expect(await eventually(timeout: .seconds(20)) {
                try await client.call(.get, "/instances/a-1").json["state"] == "waiting"
            })
            let decided = try await client.post(
                "/instances/a-1/signals", ["signal_type": "human_input:review", "payload": ["value": "yes"]], headers: Self.as_("approver-acme"))
            #expect(decided.status == .ok)
            let instance = try await client.call(.get, "/instances/a-1").json
            #expect(instance["decisions"]?.arrayValue?.first?["decided_by"] == "approver-acme")
            #expect(try await client.post("/instances/g-1/signals", ["signal_type": "cancel"], headers: Self.as_("ops-globex")).status == .ok)

            let acme = try await SSEClient.read(port: port, path: "/instances/a-1/stream", headers: Self.admin, timeout: .seconds(5)) { $0.events.count >= 6 }
            let created = try #require(acme.events.first)
            #expect(created.event == "state" && created.data.contains(#""by":"ops-acme""#), "\(acme.events)")
            let output = try #require(acme.events.first { $0.event == "output" })
            #expect(output.data.contains(#""by":"approver-acme""#), "\(output)")
            #expect(acme.events.contains { $0.event == "state" && $0.data.contains(#""state":"scheduled""#) && $0.data.contains(#""by":"approver-acme""#) })
            let globex = try await SSEClient.read(port: port, path: "/instances/g-1/stream", headers: Self.admin, timeout: .seconds(5))
            #expect(globex.events.contains { $0.data.contains(#""state":"cancelled""#) && $0.data.contains(#""by":"ops-globex""#) }, "\(globex.events)")

            // The approvals stream's `removed` events say who decided or cancelled.
            let queue = try await SSEClient.read(port: port, path: "/approvals/stream", headers: Self.admin, timeout: .seconds(5)) { $0.events.count >= 4 }
            let removed = queue.events.filter { $0.event == "removed" }
            #expect(removed.contains { $0.data.contains(#""reason":"decided""#) && $0.data.contains(#""by":"approver-acme""#) }, "\(queue.events)")
            #expect(removed.contains { $0.data.contains(#""reason":"cancelled""#) && $0.data.contains(#""by":"ops-globex""#) }, "\(queue.events)")
        }
    }

    @Test func sequencesBelongToTheTenantThatCreatedThem() async throws {
        try await AccessKeys.api().run { client in
            let acme = Self.as_("ops-acme")
            let body: JSONValue = ["id": "mine", "blocks": [["id": "a", "type": "step", "handler": "noop"]]]
            #expect(try await client.post("/sequences", body, headers: acme).status == .created)
            let stored = try await client.call(.get, "/sequences/mine", headers: acme)
            #expect(stored.json["tenant_id"] == "acme")
            #expect(try await client.call(.get, "/sequences/mine", headers: Self.as_("ops-globex")).status == .notFound)
            #expect(try await client.call(.get, "/sequences/mine", headers: Self.as_("ops")).status == .ok)
            // Another tenant can neither version it nor start it.
            #expect(try await client.post("/sequences", body, headers: Self.as_("ops-globex")).status == .conflict)
            #expect(try await client.post("/instances", ["sequence_id": "mine"], headers: Self.as_("ops-globex")).status == .notFound)
            // Naming another tenant in the body is refused.
            let other: JSONValue = ["id": "x", "tenant_id": "globex", "blocks": [["id": "a", "type": "step", "handler": "noop"]]]
            #expect(try await client.post("/sequences", other, headers: acme).status == .forbidden)
        }
    }

    @Test func tenantBoundWorkersOnlyGetTheirTenantsTasks() async throws {
        try await AccessKeys.api().run(engine: true) { client in
            #expect(try await client.post("/sequences", ["id": "work", "blocks": [["id": "w", "type": "step", "handler": "job"]]]).status == .created)
            // More globex tasks than a poll's limit ahead of acme's: the acme worker still gets its own.
            for index in 0..<5 {
                #expect(try await client.post("/instances", ["sequence_id": "work", "id": .string("g-\(index)"), "tenant_id": "globex"]).status == .created)
            }
            #expect(try await client.post("/instances", ["sequence_id": "work", "id": "a-1", "tenant_id": "acme"]).status == .created)
            #expect(await eventually(timeout: .seconds(20)) {
                try await client.call(.get, "/instances/a-1").json["state"] == "running"
            })
            let poll: JSONValue = ["handler": "job", "worker_id": "wa", "limit": 2, "wait_ms": 5000]
            let acmeTasks = try await client.post("/workers/tasks/poll", poll, headers: Self.as_("worker-acme")).json.arrayValue ?? []
            #expect(acmeTasks.compactMap { $0["instance_id"]?.stringValue } == ["a-1"])
            let globexTasks = try await client.post("/workers/tasks/poll", ["handler": "job", "worker_id": "wg", "limit": 10, "wait_ms": 5000],
                                                     headers: Self.as_("worker-globex")).json.arrayValue ?? []
            #expect(Set(globexTasks.compactMap { $0["instance_id"]?.stringValue }).allSatisfy { $0.hasPrefix("g-") })
            // A task of another tenant is not found for a tenant-bound worker, even with the right id.
            let acmeTask = try #require(acmeTasks.first?["task_id"]?.stringValue)
            let stolen = try await client.post("/workers/tasks/\(acmeTask)/complete", ["worker_id": "wa", "output": [:]], headers: Self.as_("worker-globex"))
            #expect(stolen.status == .notFound)
            // A worker key limited to other handlers may not poll this one.
            let limited = try await client.post("/workers/tasks/poll", ["handler": "job", "worker_id": "x"], headers: Self.as_("worker-other-handler"))
            #expect(limited.status == .forbidden)
            // The acme worker completes its task; the output event says which key reported it.
            #expect(try await client.post("/workers/tasks/\(acmeTask)/complete", ["worker_id": "wa", "output": ["ok": true]], headers: Self.as_("worker-acme")).status == .ok)
            #expect(try await client.call(.get, "/instances/a-1").json["state"] == "completed")
        }
    }
}
