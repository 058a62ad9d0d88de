import Foundation
import SluiceCore
import SluiceRedis
import SluiceTestSupport
import Testing

/// Instances moving through built-in steps, driven by a real runner over the HTTP API.
@Suite struct EngineTests {
    @Test func threeStepsWithTemplatesAndWhenComplete() async throws {
        let api = try await TestAPI.make()
        try await api.run(engine: true) { client in
            let sequence: JSONValue = ["id": "three", "blocks": [
                ["id": "first", "type": "step", "handler": "set_context", "params": ["greeting": "hello {{context.name}}", "copy": "{{context.amount}}"]],
                ["id": "skipped", "type": "step", "handler": "fail", "when": ["path": "context.amount", "equals": 1]],
                ["id": "last", "type": "step", "handler": "noop", "params": ["said": "{{outputs.first.greeting}} #{{instance.id}}", "by": "{{metadata.who}}", "missing": "[{{context.nope}}]"]],
            ]]
            #expect(try await client.post("/sequences", sequence).status == .created)
            #expect(try await client.post("/instances", ["sequence_id": "three", "id": "run-1", "context": ["name": "ada", "amount": 2500], "metadata": ["who": "bob"]]).status == .created)
            let done = try await api.waitFor(client, "run-1", state: "completed")
            #expect(done["state"] == "completed")
            #expect(done.lookup("context.greeting") == "hello ada")
            #expect(done.lookup("context.copy") == 2500)  // a lone template keeps the JSON type
            #expect(done["current_block"] == .null)

            let outputs = try await client.call(.get, "/instances/run-1/outputs").json.arrayValue ?? []
            #expect(outputs.compactMap { $0["block_id"]?.stringValue } == ["first", "last"])  // skipped has no output
            #expect(outputs.last?["output"] == ["said": "hello ada #run-1", "by": "bob", "missing": "[]"])
            #expect(outputs.first?["created_at"]?.stringValue?.hasSuffix("Z") == true)

            // Every state change and output is in the event stream, in order.
            let events = try await api.redis.execute(RedisCommand("XRANGE", api.keys.events("run-1"), "-", "+")).array ?? []
            let summary = events.compactMap { entry -> String? in
                guard let fields = entry.array?[1].array, fields.count == 4, let type = fields[1].string,
                      let data = fields[3].string.flatMap({ try? JSONValue.parse(Array($0.utf8)) }) else { return nil }
                return type == "state" ? "state:\(data["state"]?.stringValue ?? "")" : "output:\(data["block_id"]?.stringValue ?? "")"
            }
            #expect(summary == ["state:scheduled", "state:running", "output:first", "output:last", "state:completed"])
            // Finished instances expire together after the retention period.
            let ttl = try await api.redis.execute(RedisCommand("PTTL", api.keys.instance("run-1"))).int ?? -1
            #expect(ttl > 0 && ttl <= api.configuration.retentionSeconds * 1000)
            #expect(try await api.redis.execute(RedisCommand("PTTL", api.keys.outputs("run-1"))).int ?? -1 > 0)
        }
    }

    @Test func sleepParksTheInstanceInTheReadyQueueThenResumes() async throws {
        let api = try await TestAPI.make()
        try await api.run(engine: true) { client in
            try await client.post("/sequences", ["id": "nap", "blocks": [
                ["id": "zz", "type": "step", "handler": "sleep", "params": ["ms": 6000]],
                ["id": "after", "type": "step", "handler": "noop"],
            ]])
            let posted = Clock.nowMilliseconds()
            try await client.post("/instances", ["sequence_id": "nap", "id": "sleeper"])
            let parked = try await api.waitUntil(client, "sleeper") { $0["current_block"] == "after" }
            #expect(parked["state"] == "scheduled")
            #expect(parked["current_block"] == "after")
            // While it sleeps nobody holds it: it is only a due time in the ready queue.
            let p = api.keys.partition(of: "sleeper")
            let due = try await api.redis.execute(RedisCommand("ZSCORE", api.keys.ready(p), "sleeper")).string.flatMap(Double.init) ?? 0
            // (6 s so that a loaded machine still looks while it sleeps; the due time is the sleep's.)
            #expect(due >= Double(posted + 6000))
            #expect(due > Double(Clock.nowMilliseconds()))
            #expect(try await api.redis.execute(RedisCommand("ZSCORE", api.keys.leases(p), "sleeper")) == .null)
            let done = try await api.waitFor(client, "sleeper", state: "completed")
            #expect(done["state"] == "completed")
        }
    }

    @Test func failHandlerFailsTheInstanceWithItsError() async throws {
        let api = try await TestAPI.make()
        try await api.run(engine: true) { client in
            try await client.post("/sequences", ["id": "boom", "blocks": [["id": "b", "type": "step", "handler": "fail", "params": ["message": "no budget"]]]])
            try await client.post("/instances", ["sequence_id": "boom", "id": "f-1"])
            let failed = try await api.waitFor(client, "f-1", state: "failed")
            #expect(failed["error"] == ["error": "no budget", "block_id": "b", "attempts": 1])
        }
    }

    @Test func retryableFailuresBackOffThenFailTheInstance() async throws {
        let api = try await TestAPI.make { $0.httpAllow = try! EgressPolicy(parsing: "127.0.0.1") }
        try await api.run(engine: true) { client in
            // Nothing listens on this port: a transport error, which is retryable.
            let port = try TestRedisPort.unused()
            try await client.post("/sequences", ["id": "flaky", "blocks": [[
                "id": "call", "type": "step", "handler": "http_request",
                "params": ["method": "GET", "url": .string("http://127.0.0.1:\(port)/x"), "timeout_ms": 500],
                "retry": ["max_attempts": 3, "backoff_ms": 150, "multiplier": 2],
            ]]])
            let started = ContinuousClock.now
            try await client.post("/instances", ["sequence_id": "flaky", "id": "r-1"])
            // (The wait is generous for a loaded machine; what is checked is the attempts and backoff.)
            let failed = try await api.waitFor(client, "r-1", state: "failed", timeout: .seconds(30))
            let elapsed = ContinuousClock.now - started
            #expect(failed.lookup("error.attempts") == 3)
            #expect(failed.lookup("error.block_id") == "call")
            // Waited 150 ms then 300 ms between the three attempts.
            #expect(elapsed >= .milliseconds(450), "\(elapsed)")
            let events = try await api.redis.execute(RedisCommand("XRANGE", api.keys.events("r-1"), "-", "+")).array ?? []
            let scheduledCount = events.filter { $0.description.contains(#"scheduled"#) }.count
            #expect(scheduledCount == 3)  // created, then two retries
        }
    }
}

extension EngineTests {
    @Test func stepTimeoutFailsASlowStep() async throws {
        let api = try await TestAPI.make { $0.httpAllow = try! EgressPolicy(parsing: "127.0.0.1") }
        let silent = try SilentServer()
        try await api.run(engine: true) { client in
            try await client.post("/sequences", ["id": "slow", "blocks": [[
                "id": "call", "type": "step", "handler": "http_request", "timeout_ms": 300,
                "params": ["url": .string("http://127.0.0.1:\(silent.port)/"), "timeout_ms": 60_000],
                "retry": ["max_attempts": 2, "backoff_ms": 10],
            ]]])
            let started = ContinuousClock.now
            try await client.post("/instances", ["sequence_id": "slow", "id": "t-1"])
            let failed = try await api.waitFor(client, "t-1", state: "failed")
            #expect(failed.lookup("error.error") == "step timed out after 300 ms")
            #expect(failed.lookup("error.attempts") == 2)
            // Not the 60 s of the HTTP call (the margin is for a loaded machine: two 300 ms attempts).
            #expect(ContinuousClock.now - started < .seconds(30))
        }
    }
}

enum TestRedisPort {
    /// A loopback port with nothing listening.
    static func unused() throws -> Int { try SluiceTestSupport.TestRedis.freePort() }
}
