import Hummingbird
import HummingbirdTesting
import Logging
import NIOConcurrencyHelpers
import SluiceEngine
import SluiceRedis
@testable import SluiceServer
import SluiceTestSupport
import Testing

/// Issue 12 (idle streams nearly free): while the wake-up subscription is live, every event
/// written rings its streams, so an idle stream reads only every SLUICE_SSE_SAFETY_POLL_MS; while
/// it is down, streams read every poll_ms again (api.md: events within poll_ms at worst).
@Suite struct IdleStreamTests {
    @Test func idleStreamsReadAtTheSafetyPollWhileWakeUpsAreLiveAndAtPollMsOtherwise() async throws {
        let wakes = WakeRegistry()
        let reads = NIOLockedValueBox(0)
        let redis = RedisClient(configuration: try await TestRedis.sharedConfiguration())
        defer { redis.shutdown() }
        /// Counts its reads; sends nothing.
        struct Counting: SSESource {
            let reads: NIOLockedValueBox<Int>
            func commands(_ state: Int, woken: Bool) -> [RedisCommand] { [RedisCommand("PING")] }
            func step(_ state: inout Int, replies: [RedisReply], woken: Bool) -> SSEStep {
                #expect(replies == [.status("PONG")])
                reads.withLockedValue { $0 += 1 }
                return SSEStep(text: "")
            }
        }
        let router = Router(context: SluiceRequestContext.self)
        router.get("/idle") { request, context in
            try SSEStream.response(
                request, channel: context.channel, limiter: StreamLimiter(maximum: 10), wakes: wakes, wakeKey: "idle", pollMilliseconds: 100,
                safetyPollMilliseconds: 60_000, keepaliveSeconds: 3600, redis: redis, initial: 0, source: Counting(reads: reads))
        }
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)), logger: Logger(label: "idle"))
        try await app.test(.live) { client in
            let port = try #require(client.port)
            let stream = Task { try await SSEClient.read(port: port, path: "/idle", timeout: .seconds(20)) }
            defer { stream.cancel() }
            func readsDuring(_ window: Duration) async throws -> Int {
                let before = reads.withLockedValue { $0 }
                try await Task.sleep(for: window)
                return reads.withLockedValue { $0 } - before
            }
            // No subscription yet: wake-ups could be missed, so the stream polls every 100 ms.
            try await Task.sleep(for: .milliseconds(300))
            // (30 due in 3 s; a loaded machine, with the other suites running in the same process,
            // runs them late, so 2 is the bar: the point is that it reads at all, against 0 below.)
            let polling = try await readsDuring(.seconds(3))
            #expect(polling >= 2, "reads in 3 s at poll_ms=100 without a live subscription: \(polling)")

            // Live: one read for the wake-up of the (re)subscription, then none for a minute.
            let beforeLive = reads.withLockedValue { $0 }
            wakes.subscribed()
            let liveDeadline = ContinuousClock.now + .seconds(5)
            while reads.withLockedValue({ $0 }) == beforeLive && ContinuousClock.now < liveDeadline { try await Task.sleep(for: .milliseconds(20)) }
            try await Task.sleep(for: .milliseconds(300))
            let live = try await readsDuring(.seconds(3))
            #expect(live == 0, "reads in 3 s of an idle stream with a live subscription: \(live)")

            // A wake-up for the stream's key still reads at once.
            let beforeWake = reads.withLockedValue { $0 }
            wakes.wake("idle")
            let deadline = ContinuousClock.now + .seconds(5)
            while reads.withLockedValue({ $0 }) == beforeWake && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
            try await Task.sleep(for: .milliseconds(300))
            #expect(reads.withLockedValue { $0 } - beforeWake == 1)

            // Lost: the stream is woken and polls every poll_ms again.
            wakes.lost()
            try await Task.sleep(for: .milliseconds(300))
            let lost = try await readsDuring(.seconds(3))
            #expect(lost >= 2, "reads in 3 s after the subscription was lost: \(lost)")
        }
    }

    @Test func theRegistryIsLiveOnlyBetweenSubscribedAndLost() {
        let wakes = WakeRegistry()
        #expect(!wakes.isLive)
        wakes.subscribed()
        #expect(wakes.isLive)
        wakes.lost()
        #expect(!wakes.isLive)
    }
}
