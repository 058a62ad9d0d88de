import Foundation
import Logging
import ServiceLifecycle
import SluiceCore
import SluiceEngine
import SluiceRedis
import SluiceTestSupport
import Testing

/// A runner or sweeper that stops hands back what it holds, so another process takes it at
/// once instead of after the lease (the process side is in `GracefulShutdownTests`).
@Suite struct ShutdownTests {
    static func runner(_ api: TestAPI, _ name: String) -> Runner {
        let storage = Storage(redis: api.redis, configuration: api.configuration)
        return Runner(
            engine: EngineStore(storage), sequences: SequenceStore(redis: api.redis, keys: api.keys), tasks: TaskStore(storage),
            approvals: ApprovalStore(storage), handlers: BuiltinHandlers(configuration: api.configuration),
            leaseMilliseconds: api.configuration.taskLeaseMilliseconds, doorbell: Doorbell(), logger: Logger(label: name), idleMilliseconds: 100)
    }

    static func score(_ api: TestAPI, _ key: String, _ member: String) async throws -> Int64? {
        RedisScore.int64(try await api.redis.execute("ZSCORE", key, member).string)
    }

    static func field(_ api: TestAPI, _ id: String, _ name: String) async throws -> String? {
        try await api.redis.execute("HGET", api.keys.instance(id), name).string
    }

    @Test func aRunnerStoppedMidStepHandsItsInstanceBackAndAnotherTakesItAtOnce() async throws {
        // The lease is the default 30 s: without the hand-back, the instance would stall that long.
        let api = try await TestAPI.make { $0.httpAllow = try! EgressPolicy(parsing: "127.0.0.1") }
        #expect(api.configuration.taskLeaseMilliseconds == 30_000)
        let silent = try SilentServer()
        let p = api.keys.partition(of: "s-1")
        try await api.run { client in
            try await client.post("/sequences", ["id": "slow", "blocks": [
                ["id": "call", "type": "step", "handler": "http_request",
                 "params": ["url": .string("http://127.0.0.1:\(silent.port)/"), "timeout_ms": 120_000]],
                ["id": "after", "type": "step", "handler": "noop"],
            ]])
            let first = ServiceGroup(configuration: .init(services: [Self.runner(api, "a")], logger: Logger(label: "a")))
            let running = Task { try await first.run() }
            try await client.post("/instances", ["sequence_id": "slow", "id": "s-1"])
            // Runner A holds s-1, in the middle of its HTTP call.
            #expect(await eventually(timeout: .seconds(20)) { try await Self.score(api, api.keys.leases(p), "s-1") != nil })
            let epoch = try #require(try await Self.field(api, "s-1", "epoch").flatMap(Int.init))
            try await Task.sleep(for: .milliseconds(200))

            let stopping = ContinuousClock.now
            await first.triggerGracefulShutdown()
            try await running.value
            let stopped = ContinuousClock.now - stopping
            #expect(stopped < .seconds(10), "the runner took \(stopped) to stop")
            // Back in the ready queue, due now, with no lease; the epoch moved on (A's late
            // commits are fenced); an interruption is not a failed attempt of the step.
            let due = try #require(try await Self.score(api, api.keys.ready(p), "s-1"))
            #expect(due <= Clock.nowMilliseconds())
            #expect(try await Self.score(api, api.keys.leases(p), "s-1") == nil)
            #expect(try await Self.field(api, "s-1", "epoch") == String(epoch + 1))
            #expect(try await Self.field(api, "s-1", "attempt") == "0")
            #expect(try await Self.field(api, "s-1", "last_error") == nil)
            #expect(try await client.call(.get, "/instances/s-1").json["state"] == "running")

            // Runner B takes it at once, far sooner than A's 30 s lease would have let it.
            let taking = ContinuousClock.now
            let second = ServiceGroup(configuration: .init(services: [Self.runner(api, "b")], logger: Logger(label: "b")))
            let other = Task { try await second.run() }
            let taken = await eventually(timeout: .seconds(10)) {
                let claimed = try await Self.field(api, "s-1", "epoch") == String(epoch + 2)
                let leased = try await Self.score(api, api.keys.leases(p), "s-1") != nil
                return claimed && leased
            }
            #expect(taken)
            #expect(ContinuousClock.now - taking < .seconds(10))
            await second.triggerGracefulShutdown()
            try await other.value
            // B handed it back too.
            #expect(try await Self.score(api, api.keys.ready(p), "s-1") != nil)
            #expect(try await Self.field(api, "s-1", "attempt") == "0")
        }
    }

    @Test func aReleaseNeverUndoesANewerClaim() async throws {
        let api = try await TestAPI.make()
        let engine = EngineStore(Storage(redis: api.redis, configuration: api.configuration))
        let p = api.keys.partition(of: "r-1")
        let now: @Sendable () -> Int64 = { Clock.nowMilliseconds() }
        try await api.run { client in
            try await client.post("/sequences", ["id": "one", "blocks": [["id": "a", "type": "step", "handler": "noop"]]])
            try await client.post("/instances", ["sequence_id": "one", "id": "r-1"])
            let first = try #require(try await engine.claim("r-1", nowMilliseconds: now(), leaseMilliseconds: 30_000))
            #expect(try await engine.release("r-1", epoch: first.epoch, nowMilliseconds: now()))
            #expect(try await Self.score(api, api.keys.ready(p), "r-1") != nil)
            #expect(try await Self.score(api, api.keys.leases(p), "r-1") == nil)
            // The released runner's late commit is refused.
            await #expect(throws: SluiceError.self) {
                try await engine.commit("r-1", epoch: first.epoch, .init(mode: .complete, nextIndex: 1, nextBlock: nil),
                                        nowMilliseconds: now(), leaseMilliseconds: 30_000)
            }
            // Another runner claims it; the first runner's (repeated) release leaves that claim alone.
            let second = try #require(try await engine.claim("r-1", nowMilliseconds: now(), leaseMilliseconds: 30_000))
            #expect(second.epoch > first.epoch)
            #expect(try await engine.release("r-1", epoch: first.epoch, nowMilliseconds: now()) == false)
            #expect(try await Self.score(api, api.keys.leases(p), "r-1") != nil)
            #expect(try await Self.score(api, api.keys.ready(p), "r-1") == nil)
            #expect(try await Self.field(api, "r-1", "epoch") == String(second.epoch))

            // Paused while held: only the lease goes; `resume` puts it back in the ready queue.
            #expect(try await client.post("/instances/r-1/signals", ["signal_type": "pause"]).status == .ok)
            #expect(try await engine.release("r-1", epoch: second.epoch, nowMilliseconds: now()))
            #expect(try await Self.score(api, api.keys.leases(p), "r-1") == nil)
            #expect(try await Self.score(api, api.keys.ready(p), "r-1") == nil)
            #expect(try await client.call(.get, "/instances/r-1").json["state"] == "paused")
            #expect(try await client.post("/instances/r-1/signals", ["signal_type": "resume"]).status == .ok)
            #expect(try await Self.score(api, api.keys.ready(p), "r-1") != nil)
        }
    }

    @Test func aSweeperStoppedMidEscalationHandsItBackAndAnotherRunsItAtOnce() async throws {
        let api = try await TestAPI.make { $0.httpAllow = try! EgressPolicy(parsing: "127.0.0.1") }
        let silent = try SilentServer()
        let storage = Storage(redis: api.redis, configuration: api.configuration)
        let p = api.keys.partition(of: "e-0")
        @Sendable func sweeper(_ name: String) -> ServiceGroup {
            let sweeper = Sweeper(
                tasks: TaskStore(storage), approvals: ApprovalStore(storage), handlers: BuiltinHandlers(configuration: api.configuration),
                intervalMilliseconds: 50, logger: Logger(label: name))
            return ServiceGroup(configuration: .init(services: [sweeper], logger: Logger(label: name)))
        }
        try await api.run { client in
            try await client.post("/sequences", ["id": "esc", "blocks": [
                ["id": "g", "type": "human_input", "prompt": "go?", "timeout_seconds": 1, "escalation_handler": "http_request",
                 "escalation_params": ["url": .string("http://127.0.0.1:\(silent.port)/hook"), "timeout_ms": 120_000]],
            ]])
            #expect(try await ApprovalSweeperTests.openGates(api, sequence: "esc", prefix: "e", count: 1) == ["e-0"])
            // Sweeper A escalates and runs the webhook, which never answers.
            let first = sweeper("a")
            let running = Task { try await first.run() }
            #expect(await eventually(timeout: .seconds(20)) {
                try await Self.field(api, "e-0", "esc_worker").map { !$0.isEmpty } ?? false
            })
            let task = try #require(try await Self.field(api, "e-0", "esc_task"))
            let holder = try await Self.field(api, "e-0", "esc_worker")
            #expect(try await Self.score(api, api.keys.taskLeases(p), task) != nil)

            await first.triggerGracefulShutdown()
            try await running.value
            // Queued again, due now, with no lease and no attempt counted.
            let due = try #require(try await Self.score(api, api.keys.builtinEscalations(p), task))
            #expect(due <= Clock.nowMilliseconds())
            #expect(try await Self.score(api, api.keys.taskLeases(p), task) == nil)
            #expect(try await Self.field(api, "e-0", "esc_worker") == "")
            #expect(try await Self.field(api, "e-0", "esc_attempt") == "1")

            // Sweeper B runs it at once (the task lease is 30 s).
            let second = sweeper("b")
            let other = Task { try await second.run() }
            let taken = await eventually(timeout: .seconds(10)) {
                let worker = try await Self.field(api, "e-0", "esc_worker")
                return worker != nil && worker != "" && worker != holder
            }
            #expect(taken)
            await second.triggerGracefulShutdown()
            try await other.value
        }
    }
}
