import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import SluiceCore
import SluiceRedis
import SluiceServer
import SluiceTestSupport
import Testing

/// Every failure renders as `{"error", "code"}` with the right status: malformed JSON, wrong
/// types, bodies over the limit, Redis outages and unexpected errors (without leaking them).
@Suite struct ErrorBodyTests {
    struct Probe: Decodable { var count: Int }
    struct Boom: Error {}

    static func app(redis: RedisClient) -> some ApplicationProtocol {
        let router = buildRouter(ServerDependencies(configuration: SluiceConfiguration(), redis: redis))
        router.post("/probe") { request, context -> String in
            let probe = try await request.decode(as: Probe.self, context: context)
            return "\(probe.count)"
        }
        router.get("/probe/redis") { _, _ -> String in
            _ = try await redis.execute("PING")
            return "pong"
        }
        router.get("/probe/boom") { _, _ -> String in throw Boom() }
        // What a restarted Redis answers every command while it replays its AOF.
        router.get("/probe/loading") { _, _ -> String in
            throw RedisClientError.server("LOADING Redis is loading the dataset in memory")
        }
        router.get("/probe/wrongtype") { _, _ -> String in
            throw RedisClientError.server("WRONGTYPE Operation against a key holding the wrong kind of value")
        }
        router.get("/probe/api") { _, _ -> String in
            throw APIError.unprocessable("keep must be >= 0", field: "keep", reason: "must be >= 0")
        }
        return Application(router: router, logger: Logger(label: "test"))
    }

    func body(_ buffer: ByteBuffer) throws -> JSONValue {
        try JSONDecoder().decode(JSONValue.self, from: Data(buffer.readableBytesView))
    }

    @Test func malformedJSONIs400() async throws {
        let redis = RedisClient(configuration: try await TestRedis.shared().clientConfiguration)
        defer { redis.shutdown() }
        try await Self.app(redis: redis).test(.router) { client in
            for payload in ["{not json", #"{"count": "seven"}"#, "{}", "[]"] {
                try await client.execute(uri: "/probe", method: .post, body: ByteBuffer(string: payload)) { response in
                    #expect(response.status == .badRequest, "\(payload)")
                    let json = try body(response.body)
                    #expect(json["code"] == .string("bad_request"))
                    #expect(json["error"]?.stringValue?.contains("Swift") == false)
                }
            }
            try await client.execute(uri: "/probe", method: .post, body: ByteBuffer(string: #"{"count": 7}"#)) { response in
                #expect(response.status == .ok)
            }
        }
    }

    @Test func oversizedBodyIs413() async throws {
        let redis = RedisClient(configuration: try await TestRedis.shared().clientConfiguration)
        defer { redis.shutdown() }
        try await Self.app(redis: redis).test(.router) { client in
            let huge = ByteBuffer(string: #"{"count": 1, "pad": ""# + String(repeating: "x", count: 9 * 1024 * 1024) + #""}"#)
            try await client.execute(uri: "/probe", method: .post, body: huge) { response in
                #expect(response.status == .contentTooLarge)
                let json = try body(response.body)
                #expect(json["code"] == .string("payload_too_large"))
            }
        }
    }

    @Test func redisOutageIs503AndUnexpectedErrorsAre500WithoutDetails() async throws {
        let redis = RedisClient(configuration: RedisConfiguration(address: .unix(path: "/tmp/sluice-nowhere.sock")))
        defer { redis.shutdown() }
        try await Self.app(redis: redis).test(.router) { client in
            try await client.execute(uri: "/probe/redis", method: .get) { response in
                #expect(response.status == .serviceUnavailable)
                #expect(response.headers[.retryAfter] == "1")
                let json = try body(response.body)
                #expect(json["code"] == .string("unavailable"))
                #expect(json["error"]?.stringValue?.contains("sluice-nowhere") == false)
            }
            // A Redis still loading its AOF is an outage too (found by make faults, R2).
            try await client.execute(uri: "/probe/loading", method: .get) { response in
                #expect(response.status == .serviceUnavailable)
                let json = try body(response.body)
                #expect(json["code"] == .string("unavailable"))
            }
            // Any other error reply is a bug of ours, not an outage.
            try await client.execute(uri: "/probe/wrongtype", method: .get) { response in
                #expect(response.status == .internalServerError)
            }
            try await client.execute(uri: "/probe/boom", method: .get) { response in
                #expect(response.status == .internalServerError)
                let json = try body(response.body)
                #expect(json == .object(["error": .string("internal error"), "code": .string("internal")]))
            }
            try await client.execute(uri: "/probe/api", method: .get) { response in
                #expect(response.status == .unprocessableContent)
                let json = try body(response.body)
                #expect(json == .object([
                    "error": .string("keep must be >= 0"), "code": .string("unprocessable"),
                    "details": .object(["field": .string("keep"), "reason": .string("must be >= 0")]),
                ]))
            }
        }
    }
}
