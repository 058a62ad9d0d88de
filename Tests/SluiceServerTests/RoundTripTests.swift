import Foundation
import Hummingbird
import SluiceCore
import SluiceRedis
import SluiceTestSupport
import Testing

/// targets.md S7: each write endpoint is one script call in one round trip, each read at most
/// two commands. Redis counts the script calls (INFO commandstats, on a server of the test's
/// own: commands run inside scripts are listed there too, so only EVALSHA/EVAL are compared);
/// the client counts round trips and commands sent.
@Suite(.serialized) struct RoundTripTests {
    /// Commands Redis executed while `body` ran, by name (INFO/CONFIG of the counting excluded).
    struct Counts: Equatable, CustomStringConvertible {
        var scriptCalls: Int
        var roundTrips: Int
        var commands: Int
        var description: String { "scripts=\(scriptCalls) roundTrips=\(roundTrips) commands=\(commands)" }
    }

    static func count(_ redis: RedisClient, api: RedisClient, _ body: () async throws -> Void) async throws -> Counts {
        try await redis.execute("CONFIG", "RESETSTAT")
        let before = api.sent
        try await body()
        let after = api.sent
        let info = try await redis.execute("INFO", "commandstats").string ?? ""
        var calls: [String: Int] = [:]
        for line in info.split(separator: "\r\n") where line.hasPrefix("cmdstat_") {
            let name = line.dropFirst("cmdstat_".count).split(separator: ":")[0]
            guard let field = line.split(separator: ",").first(where: { $0.contains("calls=") }),
                  let value = Int(field.split(separator: "=")[1]) else { continue }
            calls[String(name)] = value
        }
        return Counts(
            scriptCalls: (calls["evalsha"] ?? 0) + (calls["eval"] ?? 0),
            roundTrips: after.roundTrips - before.roundTrips, commands: after.commands - before.commands)
    }

    @Test func writeEndpointsAreOneScriptCallAndReadsAtMostTwoCommands() async throws {
        let server = try await TestRedis.start()
        let api = try await TestAPI.make(server: server)
        let counter = RedisClient(configuration: server.clientConfiguration)
        defer { counter.shutdown() }
        try await api.run { client in
            let sequence: JSONValue = ["id": "s7", "blocks": [["id": "a", "type": "step", "handler": "ext"]]]
            // Warm the script cache so EVALSHA hits (a NOSCRIPT fallback only happens once per server).
            try await client.post("/sequences", sequence)
            try await client.post("/instances", ["sequence_id": "s7", "id": "warm"])
            try await client.post("/instances/warm/signals", ["signal_type": "pause"])
            let warm = try await client.post("/instances/warm/checkpoints", ["checkpoint_data": 1]).json["id"]?.stringValue ?? ""
            try await client.call(.get, "/instances/warm/checkpoints/latest")
            try await client.post("/instances/warm/checkpoints/\(warm)/restore", [:])
            try await client.post("/instances/warm/checkpoints/prune", ["keep": 0])
            try await client.call(.delete, "/instances/warm")

            let writes: [(String, () async throws -> Void)] = [
                ("POST /sequences", { try await client.post("/sequences", sequence) }),
                ("POST /instances/{id}/signals", { try await client.post("/instances/one/signals", ["signal_type": "pause"]) }),
                ("DELETE /instances/{id}", { try await client.call(.delete, "/instances/one") }),
            ]
            try await client.post("/instances", ["sequence_id": "s7", "id": "one"])
            for (name, call) in writes {
                let counts = try await Self.count(counter, api: api.redis, call)
                #expect(counts == Counts(scriptCalls: 1, roundTrips: 1, commands: 1), "\(name): \(counts)")
            }
            // Creating an instance takes the sequence from the process's cache and the script
            // checks it is still the latest version (single Redis: the sequence's key may be
            // declared although it is in another hash slot).
            let create = try await Self.count(counter, api: api.redis) { try await client.post("/instances", ["sequence_id": "s7", "id": "two"]) }
            #expect(create == Counts(scriptCalls: 1, roundTrips: 1, commands: 1), "POST /instances: \(create)")

            // A decision (queued here: no runner has opened the gate yet) is one script too.
            try await client.post("/sequences", ["id": "gated", "blocks": [["id": "g", "type": "human_input", "prompt": "?"]]])
            try await client.post("/instances", ["sequence_id": "gated", "id": "gate-1"])
            try await client.post("/instances", ["sequence_id": "gated", "id": "gate-0"])
            try await client.post("/instances/gate-0/signals", ["signal_type": "human_input:g", "payload": ["value": "yes"]])
            try await client.call(.get, "/approvals")
            let decide = try await Self.count(counter, api: api.redis) {
                let reply = try await client.post("/instances/gate-1/signals", ["signal_type": "human_input:g", "payload": ["value": "yes"]])
                #expect(reply.status == .accepted)
            }
            #expect(decide == Counts(scriptCalls: 1, roundTrips: 1, commands: 1), "POST /instances/{id}/signals human_input: \(decide)")
            // The approvals listing fans out over the partitions: one pipelined round trip for
            // the positions (a read-only script per partition), one for the page's items.
            let listing = try await Self.count(counter, api: api.redis) { try await client.call(.get, "/approvals?limit=50") }
            #expect(listing.roundTrips <= 2, "GET /approvals: \(listing)")

            let reads: [(String, String)] = [("GET /instances/{id}", "/instances/two"), ("GET /instances/{id}/outputs", "/instances/two/outputs"),
                                             ("GET /sequences/{id}", "/sequences/s7?version=1")]
            for (name, uri) in reads {
                let counts = try await Self.count(counter, api: api.redis) { try await client.call(.get, uri) }
                #expect(counts.scriptCalls == 0 && counts.roundTrips <= 1 && counts.commands <= 2, "\(name): \(counts)")
            }

            // Checkpoints: each write is one script call; each read one round trip of at most two
            // commands (the list is pipelined; one checkpoint, or the newest, is a read-only script).
            var checkpoint = ""
            let save = try await Self.count(counter, api: api.redis) {
                checkpoint = try await client.post("/instances/two/checkpoints", ["checkpoint_data": ["cursor": 1]]).json["id"]?.stringValue ?? ""
            }
            #expect(save == Counts(scriptCalls: 1, roundTrips: 1, commands: 1), "POST /instances/{id}/checkpoints: \(save)")
            let checkpointReads: [(String, String)] = [
                ("GET /instances/{id}/checkpoints", "/instances/two/checkpoints"),
                ("GET /instances/{id}/checkpoints/latest", "/instances/two/checkpoints/latest"),
                ("GET /instances/{id}/checkpoints/{cp}", "/instances/two/checkpoints/\(checkpoint)"),
            ]
            for (name, uri) in checkpointReads {
                var status = HTTPResponse.Status.ok
                let counts = try await Self.count(counter, api: api.redis) { status = try await client.call(.get, uri).status }
                #expect(status == .ok, "\(name)")
                #expect(counts.scriptCalls <= 1 && counts.roundTrips == 1 && counts.commands <= 2, "\(name): \(counts)")
            }
            let checkpointWrites: [(String, String, JSONValue, JSONValue)] = [
                ("POST /instances/{id}/checkpoints/{cp}/restore", "/instances/two/checkpoints/\(checkpoint)/restore", [:], "scheduled"),
                ("POST /instances/{id}/checkpoints/prune", "/instances/two/checkpoints/prune", ["keep": 0], ["count": 1]),
            ]
            for (name, uri, body, expected) in checkpointWrites {
                var reply = JSONValue.null
                let counts = try await Self.count(counter, api: api.redis) { reply = try await client.post(uri, body).json }
                #expect(reply["state"] ?? reply == expected, "\(name): \(reply)")
                #expect(counts == Counts(scriptCalls: 1, roundTrips: 1, commands: 1), "\(name): \(counts)")
            }
        }
    }

    /// The cached sequence is only a guess: a version posted through another process is used by
    /// the next creation here, which then pays for reading it.
    @Test func aCreationSeesAVersionPostedThroughAnotherProcess() async throws {
        let server = try await TestRedis.start()
        let api = try await TestAPI.make(server: server)
        let other = try await TestAPI.make(server: server) { $0.keyPrefix = api.configuration.keyPrefix }
        let counter = RedisClient(configuration: server.clientConfiguration)
        defer { counter.shutdown() }
        try await api.run { client in
            try await client.post("/sequences", ["id": "moving", "blocks": [["id": "a", "type": "step", "handler": "ext"]]])
            try await client.post("/instances", ["sequence_id": "moving", "id": "on-1"])
            try await client.call(.get, "/sequences/moving")  // get_sequence is in Redis's script cache
            try await other.run { elsewhere in
                let posted = try await elsewhere.post("/sequences", ["id": "moving", "name": "second", "blocks": [["id": "b", "type": "step", "handler": "ext"]]])
                #expect(posted.json["version"] == 2)
            }
            // The stale guess changes nothing; the version is read and the creation sent again.
            var status = HTTPResponse.Status.ok
            let create = try await Self.count(counter, api: api.redis) {
                status = try await client.post("/instances", ["sequence_id": "moving", "id": "on-2"]).status
            }
            #expect(status == .created)
            #expect(create == Counts(scriptCalls: 3, roundTrips: 3, commands: 3), "\(create)")
            let second = try await client.call(.get, "/instances/on-2").json
            #expect(second["sequence_version"] == 2)
            #expect(second["current_block"] == "b")
            #expect(second["sequence_name"] == "second")
            #expect(try await client.call(.get, "/instances/on-1").json["sequence_version"] == 1)
            // Then the new version is the cached one: one round trip again.
            let again = try await Self.count(counter, api: api.redis) { try await client.post("/instances", ["sequence_id": "moving", "id": "on-3"]) }
            #expect(again == Counts(scriptCalls: 1, roundTrips: 1, commands: 1), "\(again)")
            #expect(try await client.call(.get, "/instances/on-3").json["sequence_version"] == 2)
        }
    }
}
