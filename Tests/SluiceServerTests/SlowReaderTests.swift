import Foundation
import Logging
import SluiceCore
import SluiceRedis
import SluiceServer
import SluiceTestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Backpressure: a client that reads slowly never makes the server buffer more than one batch
/// (32 events); it continues from the durable stream as it drains, and what was trimmed in the
/// meantime is reported as a gap.
@Suite struct SlowReaderTests {
    /// A blocking TCP client with a tiny receive buffer, so that the server's writes stall.
    final class SlowSocket: @unchecked Sendable {
        let fd: Int32

        init(port: Int) throws {
            fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var size: Int32 = 2048
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(port).bigEndian)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard connected == 0 else { throw SluiceError.notFound("connect failed") }
            var timeout = timeval(tv_sec: 2, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        }

        func send(_ text: String) {
            _ = text.withCString { Glibc.send(fd, $0, strlen($0), 0) }
        }

        /// A bigger receive window for draining (the small one only served to stall the server).
        func widen() {
            var size: Int32 = 1 << 20
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        }

        /// Closing sends a reset (SO_LINGER 0) instead of a clean FIN: a client that vanishes.
        func resetOnClose() {
            var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
            setsockopt(fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
        }

        /// Up to `count` bytes: empty when nothing came within the receive timeout, nil when the
        /// server closed the connection.
        func receive(_ count: Int) -> String? {
            var buffer = [UInt8](repeating: 0, count: count)
            let n = recv(fd, &buffer, count, 0)
            if n == 0 { return nil }
            return n > 0 ? String(decoding: buffer[0..<n], as: UTF8.self) : ""
        }

        deinit { close(fd) }
    }

    /// Runs blocking socket calls on a thread of their own, never on the cooperative pool (the
    /// server under test needs those threads).
    static func blocking(_ work: @escaping @Sendable () -> String) async -> String {
        await withCheckedContinuation { continuation in
            Thread { continuation.resume(returning: work()) }.start()
        }
    }

    @Test func aSlowReaderOfAThousandEventsGetsAGapAndTheServerBuffersAtMost32() async throws {
        let api = try await TestAPI.make { $0.streamMaxLength = 50 }
        try await api.run(live: true) { client in
            let port = try #require(client.port)
            try await client.post("/sequences", ["id": "nap", "blocks": [["id": "z", "type": "step", "handler": "sleep", "params": ["ms": 600_000]]]])
            try await client.post("/instances", ["sequence_id": "nap", "id": "slow-1"])
            let socket = try SlowSocket(port: port)
            let auth = TestAuth.headers.map { "\($0.0): \($0.1)\r\n" }.joined()
            socket.send("GET /instances/slow-1/stream?poll_ms=100 HTTP/1.1\r\nHost: test\r\nAccept: text/event-stream\r\n\(auth)\r\n")
            var received = await Self.blocking { socket.receive(512) ?? "" }  // the head, then the reader stops reading

            // 1,000 output events of 16 KiB while the client reads nothing; the stream keeps only
            // about 50. 16 MiB is far more than the kernel's socket buffers (4 MiB at most here),
            // so the server's writes block and it must stop reading ahead: whatever is trimmed
            // meanwhile is a gap, however fast or slow the machine is. (Written straight to the
            // stream the way the engine's scripts write outputs; the routes are tested elsewhere.)
            let pad = String(repeating: "x", count: 16 * 1024)
            for batch in 0..<10 {
                _ = try await api.redis.pipeline((0..<100).map { n in
                    RedisCommand("XADD", api.keys.events("slow-1"), "MAXLEN", "~", "50", "*", "type", "output",
                                 "data", #"{"block_id":"z","output":{"n":\#(batch * 100 + n),"pad":"\#(pad)"},"created_at":"2026-01-01T00:00:00.000Z"}"#)
                })
            }
            let last = try #require(try await api.redis.execute(RedisCommand("XREVRANGE", api.keys.events("slow-1"), "+", "-", "COUNT", "1"))
                .array?.first?.array?.first?.string)
            try await Task.sleep(for: .milliseconds(500))

            // Now drain until the newest event arrives.
            received += await Self.blocking {
                socket.widen()
                var text = ""
                let deadline = Date().addingTimeInterval(120)  // a busy machine may be slow; no hang
                while !text.contains("id: \(last)\n") && Date() < deadline {
                    guard let chunk = socket.receive(64 * 1024) else { break }
                    text += chunk
                }
                return text
            }
            #expect(received.contains("id: \(last)\n"))
            #expect(received.contains(": gap\n"))
            let ids = received.split(separator: "\n").filter { $0.hasPrefix("id: ") }.map { String($0.dropFirst(4)) }
            #expect(Set(ids).count == ids.count, "an event was sent twice")
            #expect(ids.count < 1001)  // the trimmed ones were skipped, not buffered
            #expect(StreamStatistics.mostBufferedEvents <= 32)
            #expect(StreamStatistics.mostBufferedEvents > 0)
        }
    }
}
