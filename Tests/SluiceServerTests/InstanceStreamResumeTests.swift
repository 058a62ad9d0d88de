import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import SluiceCore
import SluiceEngine
import SluiceRedis
import SluiceServer
import SluiceTestSupport
import Testing

/// Resuming on another server, trimmed history, and `sluice tail`.
@Suite struct InstanceStreamResumeTests {
    @Test func resumeOnASecondServerSeesEveryEventOnce() async throws {
        let api = try await TestAPI.make()
        let other = buildApplication(ServerDependencies(configuration: api.configuration, redis: api.redis, apiKeys: api.apiKeys), logger: Logger(label: "b"))
        try await api.run(engine: true, live: true) { client in
            let portA = try #require(client.port)
            try await client.post("/sequences", InstanceStreamTests.threeSteps)
            try await client.post("/instances", ["sequence_id": "three", "id": "two-servers"])
            _ = try await api.waitFor(client, "two-servers", state: "completed")
            let whole = try await SSEClient.read(port: portA, path: "/instances/two-servers/stream")
            let firstPart = try await SSEClient.read(port: portA, path: "/instances/two-servers/stream") { $0.events.count == 3 }
            let resumeFrom = try #require(firstPart.events.last?.id)
            try await other.test(.live) { clientB in
                let portB = try #require(clientB.port)
                let rest = try await SSEClient.read(port: portB, path: "/instances/two-servers/stream", headers: ["Last-Event-ID": resumeFrom])
                #expect(firstPart.events + rest.events == whole.events)
            }
        }
    }

    @Test func aClientBehindTheRetainedWindowGetsAGapComment() async throws {
        let api = try await TestAPI.make { $0.streamMaxLength = 10 }
        try await api.run(live: true) { client in
            let port = try #require(client.port)
            try await client.post("/sequences", ["id": "nap", "blocks": [["id": "z", "type": "step", "handler": "sleep", "params": ["ms": 60_000]]]])
            try await client.post("/instances", ["sequence_id": "nap", "id": "gap-1"])
            let first = try await SSEClient.read(port: port, path: "/instances/gap-1/stream", timeout: .seconds(5)) { $0.events.count == 1 }
            let firstId = try #require(first.events.first?.id)
            // 300 more events, written directly (the HTTP route is tested elsewhere).
            let signals = SignalStore(Storage(redis: api.redis, keys: api.keys, streamMaxLength: 10, retentionSeconds: 60))
            for _ in 0..<150 {
                _ = try await signals.apply(.pause, to: "gap-1", payload: .null, nowMilliseconds: Clock.nowMilliseconds())
                _ = try await signals.apply(.resume, to: "gap-1", payload: .null, nowMilliseconds: Clock.nowMilliseconds())
            }
            // The stream kept only the newest events (MAXLEN ~ 10): the client asks for what is gone.
            let length = try await api.redis.execute(RedisCommand("XLEN", api.keys.events("gap-1"))).int ?? 0
            #expect(length < 301)
            let behind = try await SSEClient.read(port: port, path: "/instances/gap-1/stream", headers: ["Last-Event-ID": firstId], timeout: .seconds(10)) {
                $0.events.count == length
            }
            #expect(behind.comments.contains("gap"))
            #expect(behind.events.count == length)
            #expect(behind.events.last?.data.contains("scheduled") == true)
            // A client that is not behind gets no gap.
            let current = try #require(behind.events.last?.id)
            let upToDate = try await SSEClient.read(port: port, path: "/instances/gap-1/stream", headers: ["Last-Event-ID": current], timeout: .seconds(2))
            #expect(!upToDate.comments.contains("gap"))
        }
    }

    @Test func tailPrintsEventsAndExitsWithTheTerminalState() async throws {
        let api = try await TestAPI.make()
        try await api.run(engine: true, live: true) { client in
            let port = try #require(client.port)
            try await client.post("/sequences", ["id": "tailed", "blocks": [
                ["id": "w", "type": "step", "handler": "remote"], ["id": "done", "type": "step", "handler": "noop", "params": ["ok": true]],
            ]])
            try await client.post("/instances", ["sequence_id": "tailed", "id": "tail-1"])
            let directory = ServeCommandTests.temporaryDirectory()
            let (tail, _) = try await ServeCommandTests.launch(
                ["tail", "tail-1", "--server", "http://127.0.0.1:\(port)", "--plain"], environment: TestAuth.commandEnvironment, in: directory)
            defer { tail.send(SIGKILL) }
            let task = try #require(try await client.post("/workers/tasks/poll", ["handler": "remote", "worker_id": "w", "wait_ms": 10_000]).json.arrayValue?.first)
            try await client.post("/workers/tasks/\(task["task_id"]!.stringValue!)/complete", ["worker_id": "w", "output": ["paid": 1]])
            #expect(await tail.exitStatus(timeoutMilliseconds: 20_000) == 0)
            let lines = try String(contentsOfFile: directory + "/stdout.log", encoding: .utf8).split(separator: "\n").map { String($0.dropFirst(14)) }
            #expect(lines.first == "state   scheduled" || lines.first == "state   running", "\(lines)")
            #expect(lines.contains("output  w  {\"paid\":1}"), "\(lines)")
            #expect(lines.last == "done    completed", "\(lines)")

            let (missing, _) = try await ServeCommandTests.launch(
                ["tail", "nope", "--server", "http://127.0.0.1:\(port)", "--plain"], environment: TestAuth.commandEnvironment, in: ServeCommandTests.temporaryDirectory())
            #expect(await missing.exitStatus(timeoutMilliseconds: 20_000) == 4)
        }
    }
}
