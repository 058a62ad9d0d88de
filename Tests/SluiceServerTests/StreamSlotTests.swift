import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import SluiceCore
import SluiceEngine
@testable import SluiceServer
import SluiceRedis
import SluiceTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Issue 11: a stream slot was taken before the response head was written and released only
/// inside the body, so a client that left before the head (the body never ran) kept its slot
/// for good; enough of them and every stream answered 503.
@Suite struct StreamSlotTests {
    static func request() -> Request {
        Request(head: HTTPRequest(method: .get, scheme: "http", authority: "localhost", path: "/instances/x/stream"), body: RequestBody(buffer: ByteBuffer()))
    }

    /// The exact case, deterministically: the response is made (slot taken) and dropped unsent.
    @Test func aResponseDroppedBeforeItsBodyRunsGivesTheSlotBack() async throws {
        let limiter = StreamLimiter(maximum: 1)
        let redis = RedisClient(configuration: try await TestRedis.sharedConfiguration())
        defer { redis.shutdown() }
        struct Ends: SSESource {
            func commands(_ state: Int, woken: Bool) -> [RedisCommand] { [RedisCommand("PING")] }
            func step(_ state: inout Int, replies: [RedisReply], woken: Bool) -> SSEStep { SSEStep(text: "", finished: true) }
        }
        func makeResponse() throws -> Response {
            try SSEStream.response(
                Self.request(), channel: nil, limiter: limiter, wakes: WakeRegistry(), wakeKey: "x", pollMilliseconds: 100, safetyPollMilliseconds: 10_000,
                keepaliveSeconds: 1, redis: redis, initial: 0, source: Ends())
        }
        for _ in 0..<3 {
            var response: Response? = try makeResponse()
            #expect(limiter.count == 1)
            #expect(throws: APIError.self) { try makeResponse() }
            #expect(response != nil)
            response = nil  // the client left: the server drops the response without writing it
            #expect(limiter.count == 0)
        }
    }

    @Test func releasingTwiceCountsOnce() {
        let limiter = StreamLimiter(maximum: 2)
        let slot = limiter.acquire()
        _ = limiter.acquire()  // dropped at once: released
        #expect(limiter.count == 1)
        slot?.release()
        slot?.release()
        #expect(limiter.count == 0)
    }

    /// Over the network: clients that connect, ask for a stream and reset the connection at once
    /// leave no slot behind; with a cap of 2, two streams still open afterwards.
    @Test func clientsThatLeaveAtOnceDoNotUseUpTheCap() async throws {
        let api = try await TestAPI.make { $0.sseMaxStreams = 2; $0.sseKeepaliveSeconds = 1 }
        try await api.run(live: true) { client in
            let port = try #require(client.port)
            try await client.post("/sequences", ["id": "nap", "blocks": [["id": "z", "type": "step", "handler": "sleep", "params": ["ms": 60_000]]]])
            try await client.post("/instances", ["sequence_id": "nap", "id": "slot-1"])
            for _ in 0..<40 { Self.connectAndReset(port: port, path: "/instances/slot-1/stream") }
            // Every slot comes back once the server has noticed the departures.
            let deadline = ContinuousClock.now + .seconds(20)
            var opened: [SSEClient.Result] = []
            while ContinuousClock.now < deadline {
                async let first = SSEClient.read(port: port, path: "/instances/slot-1/stream", timeout: .seconds(3)) { $0.comments.contains("keepalive") }
                async let second = SSEClient.read(port: port, path: "/instances/slot-1/stream", timeout: .seconds(3)) { $0.comments.contains("keepalive") }
                opened = try await [first, second]
                if opened.allSatisfy({ $0.status == 200 }) { break }
                try await Task.sleep(for: .milliseconds(200))
            }
            #expect(opened.map(\.status) == [200, 200])
        }
    }

    /// A client that closes its stream is noticed at once, not at the next keepalive write: with
    /// one slot and a keepalive of a minute, a second stream opens within seconds of the first
    /// client leaving, whether it closed cleanly (FIN) or reset the connection.
    @Test(arguments: [false, true])
    func aClosedStreamFreesItsSlotBeforeAnyKeepalive(reset: Bool) async throws {
        let api = try await TestAPI.make { $0.sseMaxStreams = 1; $0.sseKeepaliveSeconds = 60 }
        try await api.run(live: true) { client in
            let port = try #require(client.port)
            try await client.post("/sequences", ["id": "nap", "blocks": [["id": "z", "type": "step", "handler": "sleep", "params": ["ms": 60_000]]]])
            try await client.post("/instances", ["sequence_id": "nap", "id": "slot-2"])
            let auth = TestAuth.headers.map { "\($0.0): \($0.1)\r\n" }.joined()
            let opened = await SlowReaderTests.blocking {
                guard let socket = try? SlowReaderTests.SlowSocket(port: port) else { return "no connection" }
                socket.send("GET /instances/slot-2/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\(auth)\r\n")
                var text = ""
                while !text.contains(": stream open"), let more = socket.receive(4096), !more.isEmpty { text += more }
                if reset { socket.resetOnClose() }
                return text  // the socket closes as the closure returns
            }
            #expect(opened.contains(": stream open"))
            let deadline = ContinuousClock.now + .seconds(10)
            var second = SSEClient.Result(status: 0, headers: [:], events: [], comments: [])
            while ContinuousClock.now < deadline {
                second = try await SSEClient.read(port: port, path: "/instances/slot-2/stream", timeout: .seconds(2)) { $0.comments.contains("stream open") }
                if second.status == 200 { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(second.status == 200)
        }
    }

    /// A raw TCP client: sends the request and closes with a reset (SO_LINGER 0).
    static func connectAndReset(port: Int, path: String) {
        guard let socket = try? SlowReaderTests.SlowSocket(port: port) else { return }
        socket.send("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n")
        socket.resetOnClose()
    }
}
