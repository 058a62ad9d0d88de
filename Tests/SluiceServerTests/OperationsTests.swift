import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import SluiceCore
import SluiceRedis
import SluiceServer
import SluiceTestSupport
import Testing

@Suite struct OperationsTests {
    static func dependencies(redis: RedisClient, benchRoutes: Bool = false) -> ServerDependencies {
        var configuration = SluiceConfiguration()
        configuration.keyPrefix = TestRedis.uniquePrefix("srv")
        return ServerDependencies(configuration: configuration, redis: redis, benchRoutes: benchRoutes)
    }

    static func errorBody(_ buffer: ByteBuffer) throws -> [String: JSONValue] {
        guard case .object(let object) = try JSONDecoder().decode(JSONValue.self, from: Data(buffer.readableBytesView)) else {
            throw RedisClientError(.unexpectedReply, "not an object")
        }
        return object
    }

    @Test func healthAndReadinessWithRedisUp() async throws {
        let server = try await TestRedis.shared()
        let redis = RedisClient(configuration: server.clientConfiguration)
        defer { redis.shutdown() }
        let app = buildApplication(Self.dependencies(redis: redis), logger: Logger(label: "test"))
        try await app.test(.router) { client in
            try await client.execute(uri: "/healthz", method: .get) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType] == "application/json; charset=utf-8")
                #expect(String(buffer: response.body) == #"{"status":"ok"}"#)
            }
            try await client.execute(uri: "/readyz", method: .get) { response in
                #expect(response.status == .ok)
                #expect(String(buffer: response.body) == #"{"status":"ready"}"#)
            }
        }
    }

    @Test func readinessIs503WithAJSONErrorWhenRedisIsUnreachable() async throws {
        let redis = RedisClient(configuration: RedisConfiguration(address: .unix(path: "/tmp/sluice-missing-\(UUID().uuidString.prefix(6)).sock")))
        defer { redis.shutdown() }
        let app = buildApplication(Self.dependencies(redis: redis), logger: Logger(label: "test"))
        try await app.test(.router) { client in
            try await client.execute(uri: "/readyz", method: .get) { response in
                #expect(response.status == .serviceUnavailable)
                let body = try Self.errorBody(response.body)
                #expect(body["code"] == .string("unavailable"))
                #expect(body["error"]?.stringValue?.contains("redis") == true)
            }
            // The process itself is still healthy.
            try await client.execute(uri: "/healthz", method: .get) { response in
                #expect(response.status == .ok)
            }
        }
    }

    @Test func readinessFollowsRedisGoingAwayAndComingBack() async throws {
        let server = try await TestRedis.start()
        var configuration = server.clientConfiguration
        configuration.commandTimeout = .milliseconds(500)
        let redis = RedisClient(configuration: configuration)
        defer { redis.shutdown() }
        let app = buildApplication(Self.dependencies(redis: redis), logger: Logger(label: "test"))
        try await app.test(.router) { client in
            try await client.execute(uri: "/readyz", method: .get) { #expect($0.status == .ok) }
            await server.kill()
            let started = ContinuousClock.now
            try await client.execute(uri: "/readyz", method: .get) { #expect($0.status == .serviceUnavailable) }
            #expect(ContinuousClock.now - started < .seconds(5))  // an answer, not a hang
            try await server.start()
            let back = await eventually(timeout: .seconds(5)) {
                try await client.execute(uri: "/readyz", method: .get) { $0.status == .ok }
            }
            #expect(back)
        }
    }

    @Test func unknownRoutesAndWrongMethodsGetTheJSONErrorBody() async throws {
        let server = try await TestRedis.shared()
        let redis = RedisClient(configuration: server.clientConfiguration)
        defer { redis.shutdown() }
        let app = buildApplication(Self.dependencies(redis: redis), logger: Logger(label: "test"))
        try await app.test(.router) { client in
            for (uri, method) in [("/no/such/route", HTTPRequest.Method.get), ("/healthz", .delete), ("/bench/noop", .get)] {
                try await client.execute(uri: uri, method: method) { response in
                    #expect(response.status == .notFound, "\(method) \(uri)")
                    #expect(response.headers[.contentType] == "application/json; charset=utf-8")
                    let body = try Self.errorBody(response.body)
                    #expect(body["code"] == .string("not_found"))
                    #expect(body["error"]?.stringValue?.isEmpty == false)
                }
            }
        }
    }

    @Test func benchRouteOnlyWhenAsked() async throws {
        let server = try await TestRedis.shared()
        let redis = RedisClient(configuration: server.clientConfiguration)
        defer { redis.shutdown() }
        let app = buildApplication(Self.dependencies(redis: redis, benchRoutes: true), logger: Logger(label: "test"))
        try await app.test(.router) { client in
            try await client.execute(uri: "/bench/noop", method: .get) { #expect($0.status == .ok) }
        }
    }

    @Test func metricsArePrometheusTextWithPerRouteRequestCounts() async throws {
        let server = try await TestRedis.shared()
        let redis = RedisClient(configuration: server.clientConfiguration)
        defer { redis.shutdown() }
        let app = buildApplication(Self.dependencies(redis: redis), logger: Logger(label: "test"))
        try await app.test(.router) { client in
            try await client.execute(uri: "/healthz", method: .get) { _ in }
            try await client.execute(uri: "/metrics", method: .get) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType]?.hasPrefix("text/plain; version=0.0.4") == true)
                let text = String(buffer: response.body)
                #expect(text.contains("# TYPE http_server_request_duration histogram"))
                #expect(text.contains(#"http_route="/healthz""#))
                #expect(text.contains("hb_requests_total") || text.contains("hb_requests"))
                #expect(text.contains("sluice_approvals_pending"))
            }
        }
    }
}
