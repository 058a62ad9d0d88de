import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import SluiceCore
import SluiceRedis
import SluiceServer
import SluiceTestSupport
import Testing

@Suite struct SequencesTests {
    static let body = #"{"id":"flow","name":"Flow","blocks":[{"id":"a","type":"step","handler":"noop","params":{"x":1}}]}"#

    func json(_ buffer: ByteBuffer) throws -> JSONValue { try JSONValue.parse(buffer.readableBytesView) }

    @Test func createVersionAndRead() async throws {
        let server = try await TestRedis.shared()
        let redis = RedisClient(configuration: server.clientConfiguration)
        defer { redis.shutdown() }
        let app = buildApplication(OperationsTests.dependencies(redis: redis), logger: Logger(label: "test"))
        try await app.test(.router) { client in
            try await client.execute(uri: "/sequences", method: .post, body: ByteBuffer(string: Self.body)) { response in
                #expect(response.status == .created)
                let parsed = try json(response.body)
                #expect(parsed == .object(["id": .string("flow"), "version": .number(1)]))
            }
            // Same body (keys in another order): no new version.
            let reordered = #"{"name":"Flow","blocks":[{"params":{"x":1},"handler":"noop","type":"step","id":"a"}],"id":"flow"}"#
            try await client.execute(uri: "/sequences", method: .post, body: ByteBuffer(string: reordered)) { response in
                #expect(response.status == .ok)
                let parsed = try json(response.body)
                #expect(parsed["version"] == .number(1))
            }
            let changed = Self.body.replacingOccurrences(of: #""x":1"#, with: #""x":2"#)
            try await client.execute(uri: "/sequences", method: .post, body: ByteBuffer(string: changed)) { response in
                #expect(response.status == .created)
                let parsed = try json(response.body)
                #expect(parsed["version"] == .number(2))
            }
            try await client.execute(uri: "/sequences/flow", method: .get) { response in
                #expect(response.status == .ok)
                let body = try json(response.body)
                #expect(body["version"] == .number(2))
                #expect(body.lookup("blocks.0.params.x") == .number(2))
            }
            try await client.execute(uri: "/sequences/flow?version=1", method: .get) { response in
                #expect(response.status == .ok)
                let parsed = try json(response.body)
                #expect(parsed.lookup("blocks.0.params.x") == .number(1))
            }
            for (uri, status) in [("/sequences/flow?version=3", HTTPResponse.Status.notFound), ("/sequences/nope", .notFound),
                                  ("/sequences/flow?version=abc", .badRequest), ("/sequences/flow?version=0", .badRequest)] {
                try await client.execute(uri: uri, method: .get) { response in
                    #expect(response.status == status, "\(uri)")
                    let parsed = try json(response.body)
                    #expect(parsed["code"] != nil)
                }
            }
        }
    }

    @Test func invalidDefinitionsAre422NamingTheField() async throws {
        let server = try await TestRedis.shared()
        let redis = RedisClient(configuration: server.clientConfiguration)
        defer { redis.shutdown() }
        let app = buildApplication(OperationsTests.dependencies(redis: redis), logger: Logger(label: "test"))
        try await app.test(.router) { client in
            let duplicate = #"{"id":"d","blocks":[{"id":"a","type":"step","handler":"noop"},{"id":"a","type":"step","handler":"noop"}]}"#
            try await client.execute(uri: "/sequences", method: .post, body: ByteBuffer(string: duplicate)) { response in
                #expect(response.status == .unprocessableContent)
                let body = try json(response.body)
                #expect(body["code"] == .string("unprocessable"))
                #expect(body.lookup("details.field") == .string("blocks[1].id"))
                #expect(body["error"]?.stringValue?.contains("duplicate block id 'a'") == true)
            }
            try await client.execute(uri: "/sequences", method: .post, body: ByteBuffer(string: "{oops")) { response in
                #expect(response.status == .badRequest)
            }
            try await client.execute(uri: "/sequences/d", method: .get) { response in
                #expect(response.status == .notFound)  // nothing was stored
            }
        }
    }

    /// An id has at most SequenceStore.maxVersions versions: one more is 409 and stores nothing;
    /// the identical body still answers 200; the versions kept are still readable.
    @Test func versionsPerIdAreCapped() async throws {
        let api = try await TestAPI.make()
        try await api.run { client in
            let first: JSONValue = ["id": "capped", "blocks": [["id": "a", "type": "step", "handler": "noop"]]]
            #expect(try await client.post("/sequences", first).status == .created)
            // As if the id had been versioned up to the cap (posting 1000 bodies would be slow).
            let key = api.keys.sequence("capped")
            let stored = try #require(try await api.redis.execute("HGET", key, "v1").string)
            let cap = String(SequenceStore.maxVersions)
            _ = try await api.redis.execute("HSET", key, "latest", cap, "v" + cap, stored).throwingServerError()
            let changed: JSONValue = ["id": "capped", "blocks": [["id": "b", "type": "step", "handler": "noop"]]]
            let refused = try await client.post("/sequences", changed)
            #expect(refused.status == .conflict, "\(refused.json)")
            #expect(refused.json["error"]?.stringValue?.contains("\(SequenceStore.maxVersions) versions") == true, "\(refused.json)")
            #expect(try await api.redis.execute("HGET", key, "latest").string == cap)
            let identical = try await client.post("/sequences", first)
            #expect(identical.status == .ok)
            #expect(identical.json["version"] == .number(Double(SequenceStore.maxVersions)))
            #expect(try await client.call(.get, "/sequences/capped?version=1").status == .ok)
        }
    }

    /// The per-process cache of versions is bounded; evicted versions are read again from Redis.
    @Test func theVersionCacheIsBounded() async throws {
        let api = try await TestAPI.make()
        defer { api.redis.shutdown() }
        let store = SequenceStore(redis: api.redis, keys: api.keys, cacheCapacity: 4)
        for n in 1...20 {
            let body: JSONValue = ["id": "cached", "blocks": [["id": .string("b\(n)"), "type": "step", "handler": "noop"]]]
            let (version, created) = try await store.put(body, definition: try SequenceParser.parse(body), nowMilliseconds: Clock.nowMilliseconds())
            #expect(version == n && created)
            #expect(store.cachedVersions <= 4)
        }
        for n in 1...20 {
            let stored = try #require(try await store.get("cached", version: n))
            #expect(stored.definition.blocks.first?.id == "b\(n)")
            #expect(store.cachedVersions <= 4)
        }
        #expect(try await store.get("cached")?.version == 20)
    }
}
