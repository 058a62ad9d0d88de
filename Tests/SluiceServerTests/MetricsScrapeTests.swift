import AsyncHTTPClient
import Foundation
import NIOCore
import SluiceCore
import SluiceRedis
import SluiceTestSupport
import Testing

/// Every figure api.md → Operations names, read from `/metrics` of a real `sluice serve` (its own
/// process, so its counters hold this workload alone) after a scripted workload: request counts
/// and latency per route, open SSE streams, events sent, gaps, approvals pending, escalations,
/// tasks leased and expired, Redis round-trip latency and errors.
@Suite(.serialized) struct MetricsScrapeTests {
    struct Answer {
        var status: Int
        var text: String
        var json: JSONValue? { try? JSONDecoder().decode(JSONValue.self, from: Data(text.utf8)) }
    }

    /// GET, or POST with `json`.
    static func call(_ url: String, json: String? = nil, headers: [(String, String)] = []) async throws -> Answer {
        var request = HTTPClientRequest(url: url)
        request.method = json == nil ? .GET : .POST
        if let json {
            request.headers.add(name: "content-type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: json))
        }
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        // A connection per request: a pooled one that the server has just closed fails the next
        // request sent on it ("I/O on closed channel"), which is not what this test measures.
        request.headers.add(name: "connection", value: "close")
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(40))
        let body = try await response.body.collect(upTo: 8 << 20)
        return Answer(status: Int(response.status.code), text: String(buffer: body))
    }

    /// The sum of every sample of `name` (with or without `_total`) whose labels contain each of `labels`.
    static func sample(_ text: String, _ name: String, _ labels: [String] = []) -> Double? {
        var total: Double?
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            let head = line.prefix { $0 != "{" && $0 != " " }
            guard head == name || head == name + "_total" else { continue }
            guard labels.allSatisfy({ line.contains($0) }), let value = line.split(separator: " ").last.flatMap({ Double($0) }) else { continue }
            total = (total ?? 0) + value
        }
        return total
    }

    /// Polls `handler` until it hands out a task; every task handed out is counted in `handouts`.
    static func lease(_ base: String, _ handler: String, worker: String, handouts: inout [JSONValue]) async throws -> JSONValue? {
        for _ in 0..<10 {
            let answer = try await call(base + "/workers/tasks/poll",
                json: #"{"handler":"\#(handler)","worker_id":"\#(worker)","limit":1,"wait_ms":5000}"#)
            guard answer.status == 200, case .array(let tasks)? = answer.json else { continue }
            handouts += tasks
            if let task = tasks.first { return task }
        }
        return nil
    }

    /// Completes `task`, or (its lease lost meanwhile: 409) leases it again and retries.
    static func complete(_ base: String, _ handler: String, _ first: JSONValue, worker: String, handouts: inout [JSONValue]) async throws -> Bool {
        var task = first
        for _ in 0..<10 {
            guard let id = task["task_id"]?.stringValue else { return false }
            let answer = try await call(base + "/workers/tasks/\(id)/complete", json: #"{"worker_id":"\#(worker)","output":{"ok":true}}"#)
            if answer.status == 200 { return true }
            guard let again = try await lease(base, handler, worker: worker, handouts: &handouts) else { return false }
            task = again
        }
        return false
    }

    @Test func everyOperationsFigureIsScrapedWithTheWorkloadsValues() async throws {
        let redisServer = try await TestRedis.start()
        let directory = ServeCommandTests.temporaryDirectory()
        let (child, stderr) = try await ServeCommandTests.launch(
            ["serve", "--port", "0"],
            environment: [
                "SLUICE_REDIS_URL": "unix://\(redisServer.socketPath)", "SLUICE_KEY_PREFIX": TestRedis.uniquePrefix("metrics"),
                "SLUICE_PARTITIONS": "4", "SLUICE_TASK_LEASE_MS": "1500", "SLUICE_SWEEP_INTERVAL_MS": "50",
                "SLUICE_METRICS_OPEN": "true", "SLUICE_REDIS_TIMEOUT_MS": "1000",
            ],
            in: directory)
        defer { child.send(SIGKILL) }
        let port = try #require(await ServeCommandTests.boundPort(stderr), "\((try? String(contentsOfFile: stderr, encoding: .utf8)) ?? "")")
        let base = "http://127.0.0.1:\(port)"
        #expect(await eventually(timeout: .seconds(20), every: .milliseconds(100)) { try await Self.call(base + "/readyz").status == 200 })

        // Sequences: a worker step, a gate that escalates after 1 s, a gate without a deadline.
        let sequences = [
            #"{"id":"work","name":"w","blocks":[{"id":"w","type":"step","handler":"metrics-work"}]}"#,
            #"{"id":"esc","name":"e","blocks":[{"id":"g","type":"human_input","prompt":"?","timeout_seconds":1,"escalation_handler":"metrics-esc","choices":[{"label":"Y","value":"y"}]}]}"#,
            #"{"id":"open","name":"o","blocks":[{"id":"g","type":"human_input","prompt":"?","choices":[{"label":"Y","value":"y"}]}]}"#,
        ]
        for sequence in sequences { #expect(try await Self.call(base + "/sequences", json: sequence).status == 201) }
        for (id, sequence) in [("work-1", "work"), ("esc-1", "esc"), ("open-1", "open")] {
            #expect(try await Self.call(base + "/instances", json: #"{"sequence_id":"\#(sequence)","id":"\#(id)"}"#).status == 201)
        }

        // The worker step: leased, left to expire (the sweeper hands it back), leased again, completed.
        var handouts: [JSONValue] = []
        let leasedFirst = try await Self.lease(base, "metrics-work", worker: "w1", handouts: &handouts)
        let first = try #require(leasedFirst)
        let leasedAgain = try await Self.lease(base, "metrics-work", worker: "w2", handouts: &handouts)
        let second = try #require(leasedAgain)
        #expect(second["task_id"] == first["task_id"])
        let workDone = try await Self.complete(base, "metrics-work", second, worker: "w2", handouts: &handouts)
        #expect(workDone)
        // The escalation: one task for the escalation handler, completed.
        let leasedEscalation = try await Self.lease(base, "metrics-esc", worker: "w3", handouts: &handouts)
        let escalation = try #require(leasedEscalation)
        let escalationDone = try await Self.complete(base, "metrics-esc", escalation, worker: "w3", handouts: &handouts)
        #expect(escalationDone)
        #expect(await eventually(timeout: .seconds(20), every: .milliseconds(50)) {
            try await Self.call(base + "/instances/work-1").json?["state"] == .string("completed")
        })

        // Two reads of the finished instance's stream: from the start, and resumed after an id that
        // is not in it (a client that was away too long: a gap).
        let full = try await Self.call(base + "/instances/work-1/stream")
        let resumed = try await Self.call(base + "/instances/work-1/stream", headers: [("Last-Event-ID", "1-0")])
        func stored(_ text: String) -> Int { text.components(separatedBy: "\nevent: ").count - 1 - text.components(separatedBy: "\nevent: done").count + 1 }
        let eventsSent = stored(full.text) + stored(resumed.text)
        #expect(eventsSent >= 4)  // scheduled, running, the output, completed at least
        #expect(resumed.text.contains(": gap"))

        // A request answered with an error is counted with its route and final status.
        #expect(try await Self.call(base + "/instances/no-such-instance").status == 404)

        let metrics = try await Self.call(base + "/metrics")
        #expect(metrics.status == 200)
        let text = metrics.text
        // Requests per route, by method and status, and their latency.
        #expect(Self.sample(text, "hb_requests", [#"http_route="/instances""#, #"http_request_method="POST""#, #"http_response_status_code="201""#]) == 3)
        #expect(Self.sample(text, "hb_requests", [#"http_route="/sequences""#, #"http_response_status_code="201""#]) == 3)
        #expect(Self.sample(text, "http_server_request_duration_count", [#"http_route="/instances""#, #"http_request_method="POST""#]) == 3)
        #expect(Self.sample(text, "hb_requests", [#"http_route="/instances/{id}""#, #"http_response_status_code="404""#]) == 1)
        #expect(Self.sample(text, "http_server_request_duration_count", [#"http_route="/instances/{id}""#, #"http_response_status_code="404""#]) == 1)
        // In flight: only the scrape itself once every stream above has been counted out (a
        // stream is counted when its body ends, which the client may see a moment earlier).
        #expect(Self.sample(text, "http_server_active_requests", [#"http_request_method="POST""#]) == 0)
        #expect(await eventually(timeout: .seconds(5), every: .milliseconds(50)) {
            Self.sample(try await Self.call(base + "/metrics").text, "http_server_active_requests", [#"http_request_method="GET""#]) == 1
        })
        // The two stream requests, counted when their bodies ended (`RequestMetrics.Ongoing`),
        // with their duration.
        #expect(await eventually(timeout: .seconds(5), every: .milliseconds(50)) {
            let now = try await Self.call(base + "/metrics").text
            return Self.sample(now, "hb_requests", [#"http_route="/instances/{id}/stream""#, #"http_response_status_code="200""#]) == 2
                && Self.sample(now, "http_server_request_duration_count", [#"http_route="/instances/{id}/stream""#]) == 2
        })
        // Streams: none open now, every stored event sent counted, one gap.
        #expect(Self.sample(text, "sluice_sse_open_streams") == 0)
        #expect(Self.sample(text, "sluice_sse_events_sent") == Double(eventsSent))
        #expect(Self.sample(text, "sluice_sse_gaps") == 1)
        // Approvals: the two gates are still queued (the escalated one stays); one escalation.
        #expect(Self.sample(text, "sluice_approvals_pending") == 2)
        #expect(Self.sample(text, "sluice_approval_escalations") == 1)
        // Tasks: every hand-out counted; each hand-out beyond a task's first followed an expiry.
        let distinctTasks = Set(handouts.compactMap { $0["task_id"]?.stringValue }).count
        #expect(distinctTasks == 2)
        #expect(Self.sample(text, "sluice_tasks_leased") == Double(handouts.count))
        #expect(Self.sample(text, "sluice_tasks_expired") == Double(handouts.count - distinctTasks))
        #expect((Self.sample(text, "sluice_tasks_expired") ?? 0) >= 1)
        // Redis: round trips timed, none failed yet.
        #expect((Self.sample(text, "sluice_redis_round_trip_seconds_count") ?? 0) > 10)
        #expect((Self.sample(text, "sluice_redis_round_trip_seconds_sum") ?? 0) > 0)
        #expect((Self.sample(text, "sluice_redis_errors") ?? 0) == 0)

        // Redis goes away: the failures are counted by what went wrong.
        await redisServer.stop()
        #expect(try await Self.call(base + "/readyz").status == 503)
        let after = try await Self.call(base + "/metrics").text
        #expect((Self.sample(after, "sluice_redis_errors") ?? 0) >= 1)
        #expect(Self.sample(after, "hb_requests", [#"http_route="/readyz""#, #"http_response_status_code="503""#]) == 1)
    }
}
