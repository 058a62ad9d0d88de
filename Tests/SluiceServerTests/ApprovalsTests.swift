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

/// The approvals queue over HTTP: gates, decisions, listing, early signals, idempotency.
@Suite struct ApprovalsTests {
    /// The seed page's expense approval, with a step after the gate that only runs when approved.
    static let expense: JSONValue = [
        "id": "expense-approval", "name": "Expense Approval Flow", "blocks": [
            ["id": "prepare", "type": "step", "handler": "noop", "params": ["amount": "{{context.amount}}"]],
            ["id": "manager-review", "type": "human_input",
             "prompt": "Approve expense of ${{context.amount}} for {{context.purpose}}?",
             "choices": [["label": "Approve", "value": "approved"], ["label": "Reject", "value": "rejected"],
                         ["label": "Need More Info", "value": "info_needed"]],
             "store_as": "decision", "timeout_seconds": 86400, "escalation_handler": "escalate-to-director"],
            ["id": "pay", "type": "step", "handler": "noop", "params": ["paid": "{{context.amount}}"],
             "when": ["path": "context.decision", "equals": "approved"]],
        ],
    ]

    static func createExpense(_ client: TestClient, id: String, tenant: String = "tenant-1", namespace: String = "production") async throws {
        let reply = try await client.post("/instances", [
            "sequence_id": "expense-approval", "id": .string(id), "tenant_id": .string(tenant), "namespace": .string(namespace),
            "context": ["amount": 2500, "purpose": "Q1 marketing"], "metadata": ["requester": "alice@company.com", "amount": 2500],
        ])
        #expect(reply.status == .created)
    }

    @Test func theExpenseExampleEndToEnd() async throws {
        let api = try await TestAPI.make()
        try await api.run(engine: true, live: true) { client in
            let port = try #require(client.port)
            try await client.post("/sequences", Self.expense)
            try await Self.createExpense(client, id: "abc-123")
            let waiting = try await api.waitFor(client, "abc-123", state: "waiting")
            #expect(waiting["current_block"] == "manager-review")

            let page = try await client.call(.get, "/approvals").json
            #expect(page["total"] == 1)
            #expect(page["next_cursor"] == .null)
            let item = try #require(page["items"]?.arrayValue?.first)
            #expect(item["instance_id"] == "abc-123")
            #expect(item["tenant_id"] == "tenant-1")
            #expect(item["namespace"] == "production")
            #expect(item["sequence_id"] == "expense-approval")
            #expect(item["sequence_name"] == "Expense Approval Flow")
            #expect(item["block_id"] == "manager-review")
            #expect(item["prompt"] == "Approve expense of $2500 for Q1 marketing?")
            #expect(item["choices"] == [["label": "Approve", "value": "approved"], ["label": "Reject", "value": "rejected"],
                                        ["label": "Need More Info", "value": "info_needed"]])
            #expect(item["store_as"] == "decision")
            #expect(item["timeout_seconds"] == 86400)
            #expect(item["escalation_handler"] == "escalate-to-director")
            #expect(item["escalated_at"] == .null)
            #expect(item["metadata"] == ["requester": "alice@company.com", "amount": 2500])
            let since = try #require(item["waiting_since"]?.stringValue.flatMap(Self.milliseconds))
            let deadline = try #require(item["deadline"]?.stringValue.flatMap(Self.milliseconds))
            #expect(deadline - since == 86_400_000)

            // The SSE stream of the instance shows the decision's output event.
            let streamed = Task {
                try await SSEClient.read(port: port, path: "/instances/abc-123/stream", timeout: .seconds(20))
            }
            let decided = try await client.post("/instances/abc-123/signals", [
                "signal_type": "human_input:manager-review",
                "payload": ["decision": "approved", "reviewer": "bob@company.com", "notes": "Within budget, approved."],
            ])
            #expect(decided.status == .ok)
            #expect(decided.json["status"] == "applied")
            let signalId = try #require(decided.json["signal_id"]?.stringValue)

            // Strongly consistent: gone as soon as the signal returned.
            let after = try await client.call(.get, "/approvals").json
            #expect(after["total"] == 0)
            #expect(after["items"] == [])

            let done = try await api.waitFor(client, "abc-123", state: "completed")
            #expect(done["context"]?["decision"] == "approved")
            let decision = try #require(done["decisions"]?.arrayValue?.first)
            #expect(decision["block_id"] == "manager-review")
            #expect(decision["value"] == "approved")
            #expect(decision["decided_by"] == .string(TestAuth.principal))
            #expect(decision["signal_id"] == .string(signalId))
            #expect(decision["decided_at"]?.stringValue.flatMap(Self.milliseconds) != nil)
            let outputs = try await client.call(.get, "/instances/abc-123/outputs").json.arrayValue ?? []
            #expect(outputs.map { $0["block_id"] } == ["prepare", "manager-review", "pay"])
            #expect(outputs[1]["output"]?["reviewer"] == "bob@company.com")

            let events = try await streamed.value.events
            let gateOutput = events.first { $0.event == "output" && $0.data.contains("manager-review") }
            #expect(gateOutput?.data.contains("Within budget") == true)
            #expect(events.map(\.event).contains("done"))
            #expect(events.filter { $0.event == "state" }.map(\.data).contains { $0.contains("waiting") })
        }
    }

    @Test func everyRefusalOfADecision() async throws {
        let api = try await TestAPI.make()
        try await api.run(engine: true) { client in
            try await client.post("/sequences", Self.expense)
            try await Self.createExpense(client, id: "r-1")
            _ = try await api.waitFor(client, "r-1", state: "waiting")
            func decide(_ id: String, _ type: JSONValue, _ payload: JSONValue) async throws -> TestClient.Reply {
                try await client.post("/instances/\(id)/signals", ["signal_type": type, "payload": payload])
            }
            #expect(try await decide("nobody", "human_input:manager-review", ["decision": "approved"]).status == .notFound)
            let unknownBlock = try await decide("r-1", "human_input:nope", ["decision": "approved"])
            #expect(unknownBlock.status == .unprocessableContent)
            #expect(unknownBlock.json["details"]?["field"] == "signal_type")
            #expect(try await decide("r-1", "human_input:prepare", ["decision": "approved"]).status == .unprocessableContent)
            let badValue = try await decide("r-1", "human_input:manager-review", ["decision": "maybe"])
            #expect(badValue.status == .unprocessableContent)
            #expect(badValue.json["error"]?.stringValue?.contains("approved, rejected, info_needed") == true)
            #expect(try await decide("r-1", "human_input:manager-review", ["value": 3]).status == .unprocessableContent)
            #expect(try await decide("r-1", "human_input:manager-review", "approved").status == .unprocessableContent)
            // Nothing changed on a 422.
            #expect(try await client.call(.get, "/approvals").json["total"] == 1)
            #expect(try await client.call(.get, "/instances/r-1").json["state"] == "waiting")

            // payload.value is the fallback when payload[store_as] is absent; the alias form works.
            let first = try await decide("r-1", ["custom": "human_input:manager-review"], ["value": "rejected"])
            #expect(first.status == .ok)
            let second = try await decide("r-1", "human_input:manager-review", ["decision": "approved"])
            #expect(second.status == .conflict)
            #expect(second.json["details"]?["value"] == "rejected")
            #expect(second.json["details"]?["signal_id"] == first.json["signal_id"])
            let done = try await api.waitFor(client, "r-1", state: "completed")
            #expect(done["context"]?["decision"] == "rejected")
            let outputs = try await client.call(.get, "/instances/r-1/outputs").json.arrayValue ?? []
            #expect(!outputs.contains { $0["block_id"] == "pay" })  // skipped: not approved
            #expect(try await decide("r-1", "human_input:manager-review", ["decision": "approved"]).status == .conflict)
        }
    }

    @Test func anEarlyDecisionIsQueuedAndAppliedWhenTheGateIsReached() async throws {
        let api = try await TestAPI.make()
        try await api.run(engine: true) { client in
            try await client.post("/sequences", ["id": "later", "blocks": [
                ["id": "wait", "type": "step", "handler": "sleep", "params": ["ms": 1500]],
                ["id": "ok", "type": "human_input", "prompt": "ok?"],
                ["id": "after", "type": "step", "handler": "noop"],
            ]])
            try await client.post("/instances", ["sequence_id": "later", "id": "early-1"])
            let queued = try await client.post("/instances/early-1/signals", ["signal_type": "human_input:ok", "payload": ["value": "yes"]])
            #expect(queued.status == .accepted)
            #expect(queued.json["status"] == "queued")
            let again = try await client.post("/instances/early-1/signals", ["signal_type": "human_input:ok", "payload": ["value": "no"]])
            #expect(again.status == .conflict)
            let invalid = try await client.post("/instances/early-1/signals", ["signal_type": "human_input:ok", "payload": ["value": "maybe"]])
            #expect(invalid.status == .unprocessableContent)
            let done = try await api.waitFor(client, "early-1", state: "completed")
            #expect(done["context"]?["ok"] == "yes")
            #expect(done["decisions"]?.arrayValue?.first?["signal_id"] == queued.json["signal_id"])
            #expect(try await client.call(.get, "/approvals").json["total"] == 0)
        }
    }

    /// A gate decided while its instance is paused: the decision and the move past the gate are
    /// recorded, the instance stays paused (not due), and it runs on when resumed.
    @Test func aDecisionWhilePausedIsKeptUntilTheInstanceResumes() async throws {
        let api = try await TestAPI.make()
        try await api.run(engine: true) { client in
            try await client.post("/sequences", ["id": "held", "blocks": [
                ["id": "ok", "type": "human_input", "prompt": "ok?", "store_as": "answer"],
                ["id": "after", "type": "step", "handler": "noop"],
            ]])
            try await client.post("/instances", ["sequence_id": "held", "id": "held-1"])
            _ = try await api.waitFor(client, "held-1", state: "waiting")
            #expect(try await client.post("/instances/held-1/signals", ["signal_type": "pause"]).status == .ok)
            let decided = try await client.post("/instances/held-1/signals", ["signal_type": "human_input:ok", "payload": ["value": "yes"]])
            #expect(decided.status == .ok)
            #expect(decided.json["status"] == "applied")
            let held = try await client.call(.get, "/instances/held-1").json
            #expect(held["state"] == "paused")
            #expect(held["current_block"] == "after")
            #expect(held["context"] == ["answer": "yes"])
            #expect(held["decisions"]?.arrayValue?.first?["value"] == "yes")
            #expect(try await client.call(.get, "/approvals").json["total"] == 0)
            let p = api.keys.partition(of: "held-1")
            #expect(try await api.redis.execute(RedisCommand("ZSCORE", api.keys.ready(p), "held-1")) == .null)
            #expect(try await api.redis.execute(RedisCommand("HGET", api.keys.instance("held-1"), "paused_from")).string == "scheduled")

            #expect(try await client.post("/instances/held-1/signals", ["signal_type": "resume"]).status == .ok)
            let done = try await api.waitFor(client, "held-1", state: "completed")
            let outputs = try await client.call(.get, "/instances/held-1/outputs").json.arrayValue ?? []
            #expect(outputs.map { $0["block_id"] } == ["ok", "after"])
            #expect(done["decisions"]?.arrayValue?.count == 1)
        }
    }

    @Test func idempotencyKeyReturnsTheFirstResponse() async throws {
        let api = try await TestAPI.make()
        try await api.run(engine: true) { client in
            try await client.post("/sequences", Self.expense)
            try await Self.createExpense(client, id: "idem-1")
            _ = try await api.waitFor(client, "idem-1", state: "waiting")
            let body: JSONValue = ["signal_type": "human_input:manager-review", "payload": ["decision": "approved"]]
            let key: HTTPFields = [HTTPField.Name("Idempotency-Key")!: "retry-7"]
            let first = try await client.post("/instances/idem-1/signals", body, headers: key)
            let retried = try await client.post("/instances/idem-1/signals", body, headers: key)
            #expect(first.status == .ok)
            #expect(retried.status == .ok)
            #expect(retried.json == first.json)
            // Control signals too: a retried pause does not fail as "already paused".
            try await client.post("/sequences", ["id": "nap", "blocks": [["id": "z", "type": "step", "handler": "sleep", "params": ["ms": 60_000]]]])
            try await client.post("/instances", ["sequence_id": "nap", "id": "idem-2"])
            let pauseKey: HTTPFields = [HTTPField.Name("Idempotency-Key")!: "pause-1"]
            let paused = try await client.post("/instances/idem-2/signals", ["signal_type": "pause"], headers: pauseKey)
            let pausedAgain = try await client.post("/instances/idem-2/signals", ["signal_type": "pause"], headers: pauseKey)
            #expect(paused.status == .ok)
            #expect(pausedAgain.json == paused.json)
            #expect(try await client.post("/instances/idem-2/signals", ["signal_type": "pause"]).status == .conflict)
            let badKey: HTTPFields = [HTTPField.Name("Idempotency-Key")!: String(repeating: "k", count: 201)]
            #expect(try await client.post("/instances/idem-2/signals", ["signal_type": "resume"], headers: badKey).status == .badRequest)
        }
    }

    /// Regression (issue 11): the key of a control signal reused for a decision (or the other
    /// way round) was a 500 (the two scripts stored different record formats). Now 422 naming the
    /// header, nothing changes, and the first signal still replays.
    @Test func anIdempotencyKeyReusedForAnotherSignalIs422() async throws {
        let api = try await TestAPI.make()
        try await api.run(engine: true) { client in
            try await client.post("/sequences", Self.expense)
            try await Self.createExpense(client, id: "reuse-1")
            _ = try await api.waitFor(client, "reuse-1", state: "waiting")
            let key: HTTPFields = [HTTPField.Name("Idempotency-Key")!: "k-1"]
            let decision: JSONValue = ["signal_type": "human_input:manager-review", "payload": ["decision": "approved"]]
            let context: JSONValue = ["signal_type": "update_context", "payload": ["x": 1]]

            let updated = try await client.post("/instances/reuse-1/signals", context, headers: key)
            #expect(updated.status == .ok)
            let reused = try await client.post("/instances/reuse-1/signals", decision, headers: key)
            #expect(reused.status == .unprocessableContent, "\(reused.json)")
            #expect(reused.json.lookup("details.field") == "Idempotency-Key")
            #expect(reused.json["error"]?.stringValue?.contains("update_context") == true, "\(reused.json)")
            #expect(try await client.call(.get, "/instances/reuse-1").json["state"] == "waiting")
            #expect(try await client.post("/instances/reuse-1/signals", context, headers: key).json == updated.json)

            let decisionKey: HTTPFields = [HTTPField.Name("Idempotency-Key")!: "k-2"]
            let decided = try await client.post("/instances/reuse-1/signals", decision, headers: decisionKey)
            #expect(decided.status == .ok)
            for other in [context, ["signal_type": "pause"], ["signal_type": "cancel"]] as [JSONValue] {
                let reply = try await client.post("/instances/reuse-1/signals", other, headers: decisionKey)
                #expect(reply.status == .unprocessableContent, "\(other): \(reply.json)")
            }
            #expect(try await client.post("/instances/reuse-1/signals", decision, headers: decisionKey).json == decided.json)
            #expect(try await client.call(.get, "/instances/reuse-1").json["state"] != "cancelled")
        }
    }

    @Test func cancelAndDeleteTakeTheItemOutOfTheQueue() async throws {
        let api = try await TestAPI.make()
        try await api.run(engine: true) { client in
            try await client.post("/sequences", Self.expense)
            try await Self.createExpense(client, id: "c-1")
            try await Self.createExpense(client, id: "c-2")
            _ = try await api.waitFor(client, "c-1", state: "waiting")
            _ = try await api.waitFor(client, "c-2", state: "waiting")
            #expect(try await client.call(.get, "/approvals").json["total"] == 2)
            #expect(try await client.post("/instances/c-1/signals", ["signal_type": "cancel"]).status == .ok)
            #expect(try await client.call(.delete, "/instances/c-2").status == .noContent)
            let page = try await client.call(.get, "/approvals").json
            #expect(page["total"] == 0)
            let p1 = api.keys.partition(of: "c-1"), p2 = api.keys.partition(of: "c-2")
            for (p, id) in [(p1, "c-1"), (p2, "c-2")] {
                let indexes = [api.keys.approvals(p), api.keys.approvals(p, tenant: "tenant-1"), api.keys.approvals(p, namespace: "production"),
                               api.keys.approvals(p, tenant: "tenant-1", namespace: "production"), api.keys.deadlines(p)]
                for index in indexes {
                    #expect(try await api.redis.execute(RedisCommand("ZSCORE", index, id)) == .null)
                }
                #expect(try await api.redis.execute(RedisCommand("HEXISTS", api.keys.approvalItems(p), id)) == .integer(0))
            }
            #expect(try await client.post("/instances/c-1/signals", ["signal_type": "human_input:manager-review", "payload": ["decision": "approved"]]).status == .conflict)
        }
    }

    @Test func restoringAWaitingInstanceClosesItsGateAndTheRunnerOpensItAgain() async throws {
        let api = try await TestAPI.make()
        try await api.run(engine: true) { client in
            try await client.post("/sequences", Self.expense)
            try await Self.createExpense(client, id: "rs-1")
            _ = try await api.waitFor(client, "rs-1", state: "waiting")
            let saved = try await client.post("/instances/rs-1/checkpoints", ["checkpoint_data": ["note": "at the gate"]])
            #expect(saved.status == .created)
            let cp = try #require(saved.json["id"]?.stringValue)
            let restored = try await client.post("/instances/rs-1/checkpoints/\(cp)/restore", [:])
            #expect(restored.status == .ok)
            // The runner reaches the gate again: one item, not two, and it can be decided.
            _ = try await api.waitFor(client, "rs-1", state: "waiting")
            let page = try await client.call(.get, "/approvals").json
            #expect(page["total"] == 1)
            let p = api.keys.partition(of: "rs-1")
            let events = try await api.redis.execute(RedisCommand("XRANGE", api.keys.approvalEvents(p), "-", "+")).array ?? []
            let kinds = events.compactMap { $0.array?[1].array?[1].string }
            #expect(kinds == ["added", "removed", "added"])
            #expect(try await client.post("/instances/rs-1/signals", ["signal_type": "human_input:manager-review", "payload": ["decision": "approved"]]).status == .ok)
            _ = try await api.waitFor(client, "rs-1", state: "completed")
        }
    }

    @Test func queryParametersAreChecked() async throws {
        let api = try await TestAPI.make()
        try await api.run { client in
            for query in ["limit=1001", "limit=-1", "limit=abc", "offset=-1", "offset=1.5", "offset=9950&limit=100", "cursor=zzz", "tenant_id=%20bad",
                          "cursor=12_", "namespace=a%7Cb"] {
                let reply = try await client.call(.get, "/approvals?\(query)")
                #expect(reply.status == .badRequest, "\(query)")
                #expect(reply.json["code"] == "bad_request")
            }
            let deep = try await client.call(.get, "/approvals?offset=9950&limit=100").json
            #expect(deep["error"]?.stringValue?.contains("cursor") == true)
            let zero = try await client.call(.get, "/approvals?limit=0&offset=10000")
            #expect(zero.status == .ok)
            #expect(zero.json == ["items": [], "total": 0, "next_cursor": .null])
        }
    }

    static func milliseconds(_ text: String) -> Int64? {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.date(from: text).map { Int64(($0.timeIntervalSince1970 * 1000).rounded()) }
    }
}

/// `sluice approvals` and `sluice approve` as a user runs them.
@Suite struct ApprovalCommandsTests {
    @Test func listAndDecideFromTheCommandLine() async throws {
        let api = try await TestAPI.make()
        try await api.run(engine: true, live: true) { client in
            let port = try #require(client.port)
            try await client.post("/sequences", ApprovalsTests.expense)
            try await ApprovalsTests.createExpense(client, id: "cli-1", tenant: "acme", namespace: "finance")
            try await ApprovalsTests.createExpense(client, id: "cli-2", tenant: "other", namespace: "finance")
            _ = try await api.waitFor(client, "cli-1", state: "waiting")
            _ = try await api.waitFor(client, "cli-2", state: "waiting")
            let server = "http://127.0.0.1:\(port)"

            let listing = ServeCommandTests.temporaryDirectory()
            let (approvals, _) = try await ServeCommandTests.launch(["approvals", "--tenant", "acme", "--server", server], environment: TestAuth.commandEnvironment, in: listing)
            #expect(await approvals.exitStatus(timeoutMilliseconds: 20_000) == 0)
            let table = try String(contentsOfFile: listing + "/stdout.log", encoding: .utf8).split(separator: "\n").map(String.init)
            #expect(table.count == 2, "\(table)")
            #expect(table.first?.hasPrefix("INSTANCE") == true)
            #expect(table.last?.hasPrefix("cli-1") == true)
            #expect(table.last?.contains("manager-review") == true)
            #expect(table.last?.contains("approved/rejected/info_needed") == true)
            #expect(table.last?.contains("Approve expense of $2500 for Q1 marketing?") == true)

            let bad = ServeCommandTests.temporaryDirectory()
            let (refused, _) = try await ServeCommandTests.launch(["approve", "cli-1", "manager-review", "maybe", "--server", server], environment: TestAuth.commandEnvironment, in: bad)
            #expect(await refused.exitStatus(timeoutMilliseconds: 20_000) == 1)
            #expect(try String(contentsOfFile: bad + "/stderr.log", encoding: .utf8).contains("approved, rejected, info_needed"))

            let deciding = ServeCommandTests.temporaryDirectory()
            let (approve, _) = try await ServeCommandTests.launch(
                ["approve", "cli-1", "manager-review", "approved", "--note", "fine by me", "--server", server], environment: TestAuth.commandEnvironment, in: deciding)
            #expect(await approve.exitStatus(timeoutMilliseconds: 20_000) == 0)
            #expect(try String(contentsOfFile: deciding + "/stdout.log", encoding: .utf8).contains("decided: cli-1 manager-review = approved"))
            let done = try await api.waitFor(client, "cli-1", state: "completed")
            #expect(done["context"]?["decision"] == "approved")
            let outputs = try await client.call(.get, "/instances/cli-1/outputs").json.arrayValue ?? []
            #expect(outputs.first { $0["block_id"] == "manager-review" }?["output"] == ["value": "approved", "note": "fine by me"])
        }
    }
}
