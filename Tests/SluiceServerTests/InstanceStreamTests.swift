import Foundation
import SluiceCore
import SluiceRedis
import SluiceTestSupport
import Testing

/// `GET /instances/{id}/stream` with a real SSE client over HTTP.
@Suite struct InstanceStreamTests {
    static let threeSteps: JSONValue = ["id": "three", "blocks": [
        ["id": "a", "type": "step", "handler": "noop", "params": ["n": 1]],
        ["id": "b", "type": "step", "handler": "noop", "params": ["n": 2]],
        ["id": "c", "type": "step", "handler": "noop", "params": ["n": 3]],
    ]]

    @Test func aCompletedInstanceStreamsEverythingThenDone() async throws {
        let api = try await TestAPI.make()
        try await api.run(engine: true, live: true) { client in
            let port = try #require(client.port)
            try await client.post("/sequences", Self.threeSteps)
            try await client.post("/instances", ["sequence_id": "three", "id": "sse-1"])
            _ = try await api.waitFor(client, "sse-1", state: "completed")
            let result = try await SSEClient.read(port: port, path: "/instances/sse-1/stream")
            #expect(result.status == 200)
            #expect(result.headers["content-type"] == "text/event-stream")
            #expect(result.headers["cache-control"] == "no-cache")
            #expect(result.headers["x-accel-buffering"] == "no")
            #expect(result.events.map(\.event) == ["state", "state", "output", "output", "output", "state", "done"])
            #expect(result.events.allSatisfy { $0.id != nil })
            #expect(result.events[0].data == #"{"instance_id":"sse-1","state":"scheduled"}"# || result.events[0].data.contains(#""state":"scheduled""#))
            let output = try JSONValue.parse(Array(result.events[2].data.utf8))
            #expect(output["block_id"] == "a" && output["output"] == ["n": 1] && output["created_at"] != nil)
            #expect(result.events.last?.data == #"{"state":"completed"}"#)

            // Resume after the third event: strictly after it, nothing twice.
            let resumeFrom = try #require(result.events[2].id)
            let resumed = try await SSEClient.read(port: port, path: "/instances/sse-1/stream", headers: ["Last-Event-ID": resumeFrom])
            #expect(resumed.events.map(\.id) == result.events[3...].map(\.id))
            let byQuery = try await SSEClient.read(port: port, path: "/instances/sse-1/stream?last_event_id=\(resumeFrom)")
            #expect(byQuery.events == resumed.events)
            // A reconnect after the end gets done again.
            let doneId = try #require(result.events.last?.id)
            let again = try await SSEClient.read(port: port, path: "/instances/sse-1/stream", headers: ["Last-Event-ID": doneId])
            #expect(again.events.map(\.event) == ["done"])
        }
    }

    /// The server closes a stream's connection when the stream ends, so the response says so: a
    /// proxy that pooled it (nginx's upstream keepalive) would send its next request on a
    /// connection being closed, and a POST sent that way fails with 502.
    @Test func aStreamResponseSaysConnectionCloseAndTheServerCloses() async throws {
        let api = try await TestAPI.make()
        try await api.run(engine: true, live: true) { client in
            let port = try #require(client.port)
            try await client.post("/sequences", Self.threeSteps)
            try await client.post("/instances", ["sequence_id": "three", "id": "sse-close"])
            _ = try await api.waitFor(client, "sse-close", state: "completed")
            let auth = TestAuth.headers.map { "\($0.0): \($0.1)\r\n" }.joined()
            // A keep-alive request (HTTP/1.1, no Connection header), as nginx sends it upstream.
            let answer = await SlowReaderTests.blocking {
                guard let socket = try? SlowReaderTests.SlowSocket(port: port) else { return "no connection" }
                socket.widen()
                socket.send("GET /instances/sse-close/stream HTTP/1.1\r\nHost: test\r\nAccept: text/event-stream\r\n\(auth)\r\n")
                var text = ""
                let deadline = Date().addingTimeInterval(20)
                while Date() < deadline {
                    guard let part = socket.receive(65536) else { return text + "<closed>" }
                    text += part
                }
                return text
            }
            let head = answer.components(separatedBy: "\r\n\r\n").first?.lowercased() ?? ""
            #expect(head.contains("\r\nconnection: close"))
            #expect(answer.contains("event: done"))
            #expect(answer.hasSuffix("<closed>"))
        }
    }

    @Test func liveEventsArriveWhileRunningAndWakeUpsBeatThePollInterval() async throws {
        let api = try await TestAPI.make()
        try await api.run(engine: true, live: true) { client in
            let port = try #require(client.port)
            try await client.post("/sequences", ["id": "gated", "blocks": [
                ["id": "work", "type": "step", "handler": "remote"],
                ["id": "after", "type": "step", "handler": "noop"],
            ]])
            try await client.post("/instances", ["sequence_id": "gated", "id": "sse-2"])
            let reader = Task { try await SSEClient.read(port: port, path: "/instances/sse-2/stream?poll_ms=5000") }
            let task = try #require(try await client.post("/workers/tasks/poll", ["handler": "remote", "worker_id": "w", "wait_ms": 10_000]).json.arrayValue?.first)
            try await Task.sleep(for: .milliseconds(300))
            let completedAt = ContinuousClock.now
            #expect(try await client.post("/workers/tasks/\(task["task_id"]!.stringValue!)/complete", ["worker_id": "w", "output": ["ok": true]]).status == .ok)
            let result = try await reader.value
            // With poll_ms=5000 the remaining events arrived by wake-up, not by polling (below 5 s,
            // with room for a loaded machine).
            #expect(ContinuousClock.now - completedAt < .milliseconds(4500))
            #expect(result.events.map(\.event) == ["state", "state", "output", "state", "state", "output", "state", "done"])
        }
    }

    @Test func unknownAndDeletedInstancesGetAnErrorEvent() async throws {
        let api = try await TestAPI.make()
        try await api.run(engine: true, live: true) { client in
            let port = try #require(client.port)
            let unknown = try await SSEClient.read(port: port, path: "/instances/nope/stream")
            #expect(unknown.status == 200)
            #expect(unknown.events == [SSEClient.Event(id: nil, event: "error", data: #"{"error":"instance not found"}"#)])

            try await client.post("/sequences", ["id": "nap", "blocks": [["id": "z", "type": "step", "handler": "sleep", "params": ["ms": 60_000]]]])
            try await client.post("/instances", ["sequence_id": "nap", "id": "sse-3"])
            let reader = Task { try await SSEClient.read(port: port, path: "/instances/sse-3/stream?poll_ms=5000") }
            try await Task.sleep(for: .milliseconds(500))
            #expect(try await client.call(.delete, "/instances/sse-3").status == .noContent)
            let result = try await reader.value
            #expect(result.events.last?.event == "error")
            #expect(result.events.first?.event == "state")
        }
    }

    @Test func pollIntervalValidationAndKeepalive() async throws {
        let api = try await TestAPI.make { $0.sseKeepaliveSeconds = 1 }
        try await api.run(live: true) { client in
            let port = try #require(client.port)
            let bad = try await client.call(.get, "/instances/x/stream?poll_ms=fast")
            #expect(bad.status == .badRequest)
            #expect(bad.json["code"] == "bad_request")
            #expect(try await client.call(.get, "/instances/x/stream?last_event_id=abc").status == .badRequest)

            try await client.post("/sequences", ["id": "nap", "blocks": [["id": "z", "type": "step", "handler": "sleep", "params": ["ms": 60_000]]]])
            try await client.post("/instances", ["sequence_id": "nap", "id": "ka-1"])
            let started = ContinuousClock.now
            let result = try await SSEClient.read(port: port, path: "/instances/ka-1/stream?poll_ms=100", timeout: .seconds(10)) {
                $0.comments.contains("keepalive")
            }
            #expect(result.comments.contains("keepalive"))
            #expect(ContinuousClock.now - started < .seconds(5))
            #expect(result.events.map(\.event) == ["state"])  // created; nothing runs it here
        }
    }

    @Test func openStreamsAreCappedPerProcess() async throws {
        let api = try await TestAPI.make { $0.sseMaxStreams = 1; $0.sseKeepaliveSeconds = 1 }
        try await api.run(live: true) { client in
            let port = try #require(client.port)
            try await client.post("/sequences", ["id": "nap", "blocks": [["id": "z", "type": "step", "handler": "sleep", "params": ["ms": 60_000]]]])
            try await client.post("/instances", ["sequence_id": "nap", "id": "cap-1"])
            let first = Task { try await SSEClient.read(port: port, path: "/instances/cap-1/stream") { $0.comments.contains("keepalive") } }
            try await Task.sleep(for: .milliseconds(500))
            let second = try await client.call(.get, "/instances/cap-1/stream")
            #expect(second.status == .serviceUnavailable)
            #expect(second.json["code"] == "unavailable")
            _ = try await first.value
        }
    }
}
