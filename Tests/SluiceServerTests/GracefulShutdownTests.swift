import AsyncHTTPClient
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import SluiceProcess
import SluiceRedis
import SluiceTestSupport
import Testing

/// SIGTERM on a real `sluice serve` (the built binary, on the shared test Redis with its own
/// prefix): open streams end at once with a `retry:` hint, long-polling workers get `[]`,
/// requests in flight finish, and nothing holds the exit past `SLUICE_SHUTDOWN_GRACE_MS`.
/// Times are compared with the grace and the waits they replace, not with tight bounds: the
/// suite must hold on a loaded 2-core machine.
@Suite(.serialized) struct GracefulShutdownTests {
    /// One `sluice serve` process and the URL it listens on.
    struct Node {
        let child: ChildProcess
        let port: Int
        let log: String

        static func start(prefix: String, grace: Int, extra: [String] = []) async throws -> Node {
            let server = try await TestRedis.shared()
            let directory = ServeCommandTests.temporaryDirectory()
            let (child, log) = try await ServeCommandTests.launch(["serve", "--port", "0"] + extra, environment: [
                "SLUICE_REDIS_URL": "unix://\(server.socketPath)", "SLUICE_KEY_PREFIX": prefix, "SLUICE_PARTITIONS": "8",
                "SLUICE_SHUTDOWN_GRACE_MS": String(grace),
            ], in: directory)
            guard let port = await ServeCommandTests.boundPort(log) else {
                child.send(SIGKILL)
                throw SluiceTestFailure("no port in the log: \((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
            }
            let node = Node(child: child, port: port, log: log)
            guard await eventually(timeout: .seconds(20), every: .milliseconds(100), { await ServeCommandTests.get(node.url + "/healthz")?.0 == 200 }) else {
                child.send(SIGKILL)
                throw SluiceTestFailure("not healthy: \(node.logText)")
            }
            return node
        }

        var url: String { "http://127.0.0.1:\(port)" }
        var logText: String { (try? String(contentsOfFile: log, encoding: .utf8)) ?? "" }

        /// One request; its status and body.
        func send(_ method: HTTPMethod, _ path: String, _ body: String? = nil, timeout: Duration = .seconds(10)) async throws -> (Int, String) {
            var request = HTTPClientRequest(url: url + path)
            request.method = method
            request.headers.add(name: "Content-Type", value: "application/json")
            for (name, value) in TestAuth.headers { request.headers.add(name: name, value: value) }
            if let body { request.body = .bytes(ByteBuffer(string: body)) }
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(timeout.components.seconds))
            return (Int(response.status.code), String(buffer: try await response.body.collect(upTo: 1 << 20)))
        }
    }

    struct SluiceTestFailure: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }

    /// Reads a stream in the background; `opened` once the server has sent its first comment.
    static func follow(_ node: Node, _ path: String, headers: [String: String] = [:]) -> (Task<SSEClient.Result, any Error>, NIOLockedValueBox<Bool>) {
        let opened = NIOLockedValueBox(false)
        let task = Task {
            try await SSEClient.read(port: node.port, path: path, headers: headers, timeout: .seconds(120)) { result in
                if result.comments.contains("stream open") { opened.withLockedValue { $0 = true } }
                return false
            }
        }
        return (task, opened)
    }

    @Test func sigtermEndsEveryOpenStreamAtOnceWithARetryHintAndTheClientResumesElsewhere() async throws {
        let prefix = TestRedis.uniquePrefix("shut-sse")
        let grace = 30_000
        let node = try await Node.start(prefix: prefix, grace: grace)
        defer { node.child.send(SIGKILL) }
        #expect(try await node.send(.POST, "/sequences", #"{"id":"g","blocks":[{"id":"ask","type":"human_input","prompt":"ok?"},{"id":"after","type":"step","handler":"noop"}]}"#).0 == 201)
        #expect(try await node.send(.POST, "/instances", #"{"sequence_id":"g","id":"g-1"}"#).0 == 201)
        #expect(await eventually(timeout: .seconds(20)) { try await node.send(.GET, "/instances/g-1").1.contains(#""state":"waiting""#) })

        let (instanceStream, instanceOpen) = Self.follow(node, "/instances/g-1/stream")
        let (approvalStream, approvalOpen) = Self.follow(node, "/approvals/stream")
        #expect(await eventually(timeout: .seconds(20)) { instanceOpen.withLockedValue { $0 } && approvalOpen.withLockedValue { $0 } })

        let signalled = ContinuousClock.now
        node.child.send(SIGTERM)
        let instance = try await instanceStream.value
        let approvals = try await approvalStream.value
        let streamsEnded = ContinuousClock.now - signalled
        let status = await node.child.exitStatus(timeoutMilliseconds: grace + 10_000)
        let exited = ContinuousClock.now - signalled
        print("graceful shutdown: streams ended \(streamsEnded) after SIGTERM, process exited after \(exited) (grace \(grace) ms)")

        for stream in [instance, approvals] {
            #expect(stream.retry == 1000, "\(stream.comments)")
            #expect(stream.comments.last == "server shutting down, reconnect")
        }
        #expect(instance.events.map(\.event) == ["state", "state", "state"])  // scheduled, running, waiting: no done
        // At once: far inside the grace, which is what would end them otherwise.
        #expect(streamsEnded < .milliseconds(grace / 3), "streams took \(streamsEnded)")
        #expect(status == 0, "\(node.logText)")
        #expect(exited < .milliseconds(grace / 3), "exit took \(exited)")

        // The client resumes on another process from its Last-Event-ID: nothing again, nothing lost.
        let other = try await Node.start(prefix: prefix, grace: grace)
        defer { other.child.send(SIGKILL) }
        let last = try #require(instance.events.last?.id)
        let (resumed, resumedOpen) = Self.follow(other, "/instances/g-1/stream", headers: ["Last-Event-ID": last])
        #expect(await eventually(timeout: .seconds(20)) { resumedOpen.withLockedValue { $0 } })
        #expect(try await other.send(.POST, "/instances/g-1/signals", #"{"signal_type":"human_input:ask","payload":{"value":"yes"}}"#).0 == 200)
        let rest = try await resumed.value
        #expect(rest.events.map(\.event).last == "done")
        #expect(Set(rest.events.compactMap(\.id)).isDisjoint(with: instance.events.compactMap(\.id)))
        #expect(rest.events.contains { $0.event == "output" && $0.data.contains(#""block_id":"after""#) })
        other.child.send(SIGTERM)
        #expect(await other.child.exitStatus(timeoutMilliseconds: grace + 10_000) == 0)
    }

    @Test func sigtermAnswersALongPollingWorkerWithAnEmptyListAtOnce() async throws {
        let grace = 30_000
        let node = try await Node.start(prefix: TestRedis.uniquePrefix("shut-poll"), grace: grace)
        defer { node.child.send(SIGKILL) }
        let started = NIOLockedValueBox<ContinuousClock.Instant?>(nil)
        let poll = Task {
            started.withLockedValue { $0 = .now }
            return try await node.send(.POST, "/workers/tasks/poll", #"{"handler":"remote","worker_id":"w-1","wait_ms":30000}"#, timeout: .seconds(60))
        }
        // Let the poll reach the server and start waiting.
        #expect(await eventually(timeout: .seconds(10)) { started.withLockedValue { $0 } != nil })
        try await Task.sleep(for: .seconds(1))

        let signalled = ContinuousClock.now
        node.child.send(SIGTERM)
        let (status, body) = try await poll.value
        let answered = ContinuousClock.now - signalled
        let exit = await node.child.exitStatus(timeoutMilliseconds: grace + 10_000)
        let exited = ContinuousClock.now - signalled
        print("graceful shutdown: long poll answered \(answered) after SIGTERM (wait_ms 30000), process exited after \(exited)")
        #expect(status == 200)
        #expect(body == "[]")
        #expect(answered < .seconds(10), "the poll took \(answered); it asked to wait 30 s")
        #expect(exit == 0, "\(node.logText)")
        #expect(exited < .seconds(10))
    }

    @Test func requestsInFlightFinishWithinTheGraceAndAHungOneDoesNotHoldTheExitPastIt() async throws {
        let grace = 3000
        let node = try await Node.start(prefix: TestRedis.uniquePrefix("shut-grace"), grace: grace)
        defer { node.child.send(SIGKILL) }
        let body = #"{"id":"seq","blocks":[{"id":"a","type":"step","handler":"noop"}]}"#
        let half = body.utf8.count / 2

        /// A request whose body is sent in two parts, the second when the test says so (or never).
        func upload(_ parts: AsyncStream<ByteBuffer>) -> Task<Int, any Error> {
            Task {
                var request = HTTPClientRequest(url: node.url + "/sequences")
                request.method = .POST
                request.headers.add(name: "Content-Type", value: "application/json")
                for (name, value) in TestAuth.headers { request.headers.add(name: name, value: value) }
                request.body = .stream(parts, length: .known(Int64(body.utf8.count)))
                return Int(try await HTTPClient.shared.execute(request, timeout: .seconds(60)).status.code)
            }
        }
        let (slowParts, slow) = AsyncStream.makeStream(of: ByteBuffer.self)
        let (hungParts, hung) = AsyncStream.makeStream(of: ByteBuffer.self)
        let finishing = upload(slowParts)
        let hanging = upload(hungParts)
        slow.yield(ByteBuffer(string: String(body.prefix(half))))
        hung.yield(ByteBuffer(string: String(body.prefix(half))))
        try await Task.sleep(for: .seconds(1))

        let signalled = ContinuousClock.now
        node.child.send(SIGTERM)
        try await Task.sleep(for: .milliseconds(500))
        // Started before SIGTERM, completed during the shutdown: answered normally.
        slow.yield(ByteBuffer(string: String(body.dropFirst(half))))
        slow.finish()
        #expect(try await finishing.value == 201)

        // The other never completes: the process exits anyway, once the grace has passed.
        let status = await node.child.exitStatus(timeoutMilliseconds: grace + 20_000)
        let exited = ContinuousClock.now - signalled
        print("graceful shutdown: with a hung request, exited with \(status.map(String.init) ?? "nothing") after \(exited) (grace \(grace) ms)")
        #expect(status != nil, "still running \(exited) after SIGTERM")
        #expect(exited >= .milliseconds(grace - 500), "it did not wait for the request in flight")
        #expect(exited < .milliseconds(grace) + .seconds(10))
        hung.finish()
        _ = try? await hanging.value
    }
}
