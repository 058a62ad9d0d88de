import Foundation
import Logging
import SluiceCore
import SluiceEngine
import SluiceRedis
import SluiceTestSupport
import Testing

/// What the engine path costs in Redis (issue 12, S6): an instance of built-in steps is claimed
/// once and committed once for each run of steps without side effects, counted on the runner's
/// own client.
@Suite struct EngineCostTests {
    /// Runs `sequence` for one instance with a runner whose client counts what it sends; the
    /// runner finds the instance by one scan (no hints, no timer scans within the test).
    static func runnerCost(_ blocks: JSONValue, context: JSONValue = [:]) async throws -> (sent: (roundTrips: Int, commands: Int), instance: Instance, events: [String], outputs: [String]) {
        let api = try await TestAPI.make()
        let storage = Storage(redis: api.redis, configuration: api.configuration)
        let runnerRedis = RedisClient(configuration: api.redis.configuration)
        defer { runnerRedis.shutdown() }
        let runnerStorage = Storage(redis: runnerRedis, configuration: api.configuration)
        let definition = try SequenceParser.parse(["id": "cost", "blocks": blocks])
        let sequences = SequenceStore(redis: api.redis, keys: api.keys)
        _ = try await sequences.put(["id": "cost", "blocks": blocks], definition: definition, nowMilliseconds: Clock.nowMilliseconds())
        let stored = try #require(try await sequences.get("cost"))
        _ = try await InstanceStore(storage).create(
            .init(id: "c-1", tenantId: nil, namespace: nil, sequence: stored, context: context, metadata: [:]), nowMilliseconds: Clock.nowMilliseconds())
        // The runner's sequence store holds the version already (as after its first instance).
        let runnerSequences = SequenceStore(redis: runnerRedis, keys: api.keys)
        _ = try await runnerSequences.get("cost", version: 1)
        // Loaded in Redis's script cache (as on any server that ran an instance before), on every
        // primary: on Redis Cluster a keyless SCRIPT LOAD reaches one node, and where the
        // instance's node had not run the script yet (it depends on the other tests), the EVALSHA
        // came back NOSCRIPT and the EVAL after it was a fourth round trip.
        for script in [LuaScripts.claimInstance, LuaScripts.commitBlock] {
            _ = try await api.redis.sendToEachPrimary(RedisCommand("SCRIPT", "LOAD", script.source))
        }
        let before = runnerRedis.sent
        let runner = Runner(
            engine: EngineStore(runnerStorage), sequences: runnerSequences, tasks: TaskStore(runnerStorage), approvals: ApprovalStore(runnerStorage),
            leaseMilliseconds: 30_000, doorbell: Doorbell(), logger: Logger(label: "runner"), idleMilliseconds: 60_000)
        let running = Task { try await runner.run() }
        defer { running.cancel() }
        let deadline = ContinuousClock.now + .seconds(20)
        var instance: Instance?
        while ContinuousClock.now < deadline {
            instance = try await InstanceStore(storage).get("c-1")
            // Finished, or released to the ready queue further on (a sleep).
            if let found = instance, found.state == .completed || found.state == .failed || (found.state == .scheduled && found.blockIndex > 0) { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        let after = runnerRedis.sent
        let entries = try await api.redis.execute(RedisCommand("XRANGE", api.keys.events("c-1"), "-", "+")).array ?? []
        let events = entries.compactMap { entry -> String? in
            guard let fields = entry.array?[1].array, fields.count == 4, let type = fields[1].string,
                  let data = fields[3].string.flatMap({ try? JSONValue.parse(Array($0.utf8)) }) else { return nil }
            return type == "state" ? "state:\(data["state"]?.stringValue ?? "")" : "output:\(data["block_id"]?.stringValue ?? "")"
        }
        // The stored outputs by their order numbers (`n`): the block ids, in that order.
        let records = try await api.redis.execute(RedisCommand("HGETALL", api.keys.outputs("c-1"))).fields ?? [:]
        let numbered: [(number: Double, block: String)] = records.compactMap { block, record in
            (try? JSONValue.parse(Array(record.utf8)))?["n"]?.numberValue.map { (number: $0, block: block) }
        }
        #expect(Set(numbered.map { $0.number }).count == numbered.count, "order numbers repeat: \(numbered)")
        let outputs = numbered.sorted { $0.number < $1.number }.map { $0.block }
        return ((after.roundTrips - before.roundTrips, after.commands - before.commands), try #require(instance), events, outputs)
    }

    /// S6's sequence: one scan, one claim, one commit; every output and state change still in
    /// the event stream, in order, and the context patched.
    @Test func threeBuiltinStepsAreOneClaimAndOneCommit() async throws {
        let (sent, instance, events, outputs) = try await Self.runnerCost([
            ["id": "a", "type": "step", "handler": "noop", "params": ["x": 1]],
            ["id": "b", "type": "step", "handler": "set_context", "params": ["y": 2, "from": "{{outputs.a.x}}"]],
            ["id": "skipped", "type": "step", "handler": "noop", "when": ["path": "context.y", "equals": 3]],
            ["id": "c", "type": "step", "handler": "noop", "params": ["seen": "{{context.y}}"]],
        ])
        #expect(instance.state == .completed)
        #expect(instance.context == ["y": 2, "from": 1])
        #expect(events == ["state:scheduled", "state:running", "output:a", "output:b", "output:c", "state:completed"])
        #expect(outputs == ["a", "b", "c"])
        // scan (1 pipelined round trip) + claim + commit
        #expect(sent.roundTrips == 3, "\(sent)")
        #expect(sent.commands == 2 * 8 + 2, "\(sent)")  // 8 partitions × (ready, leases) + 2 scripts
    }

    /// A step with side effects is committed before the next one runs; the steps before it go
    /// with its commit.
    @Test func aStepWithSideEffectsIsCommittedWithThePendingOnes() async throws {
        let (sent, instance, events, outputs) = try await Self.runnerCost([
            ["id": "a", "type": "step", "handler": "noop"],
            ["id": "nap", "type": "step", "handler": "sleep", "params": ["ms": 1]],
            ["id": "b", "type": "step", "handler": "set_context", "params": ["done": true]],
        ])
        // The sleep schedules the instance (its commit carries a's output); the next claim comes
        // from a later scan (the timer), which this test's runner only makes after 60 s.
        #expect(instance.state == .scheduled)
        #expect(instance.blockIndex == 2)
        #expect(events == ["state:scheduled", "state:running", "output:a", "output:nap", "state:scheduled"])
        #expect(outputs == ["a", "nap"])
        #expect(sent.roundTrips == 3, "\(sent)")
    }

    /// A failure after side-effect-free steps: their results are stored, then the failure at
    /// the failing block.
    @Test func aFailureStoresThePendingResultsFirst() async throws {
        let (_, instance, events, outputs) = try await Self.runnerCost([
            ["id": "a", "type": "step", "handler": "set_context", "params": ["kept": true]],
            ["id": "boom", "type": "step", "handler": "fail", "params": ["message": "no"]],
        ])
        #expect(instance.state == .failed)
        #expect(instance.currentBlock == "boom")
        #expect(instance.context == ["kept": true])
        #expect(events == ["state:scheduled", "state:running", "output:a", "state:failed"])
        #expect(outputs == ["a"])
    }
}
