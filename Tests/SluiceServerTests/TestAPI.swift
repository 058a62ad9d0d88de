import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import SluiceCore
import SluiceEngine
import SluiceProcess
import SluiceRedis
import SluiceServer
import SluiceTestSupport

/// How the suite authenticates. `make test` runs the server tests twice: open (no keys) and with
/// `SLUICE_TEST_AUTH=1`, where every test's application requires a key and its clients send
/// an admin key, so every behaviour is also proven with authentication on.
enum TestAuth {
    static let enabled = ProcessInfo.processInfo.environment["SLUICE_TEST_AUTH"] == "1"
    static let adminKey = "test-admin-key-0123456789abcdef"

    /// The keys of a test's application: one admin key with auth on, none (open) otherwise.
    static func ring() -> APIKeyRing {
        guard enabled else { return .open() }
        return APIKeyRing(path: "(test suite)", keys: [APIKey(principal: Principal(name: "test-admin", role: .admin), digest: APIKey.digest(of: adminKey.utf8))])
    }

    /// The name recorded as `by` / `decided_by` for a default test client's calls.
    static var principal: String { enabled ? "test-admin" : "anonymous" }

    /// The header a default test client sends.
    static var headers: [(String, String)] { enabled ? [("Authorization", "Bearer \(adminKey)")] : [] }

    /// The environment of a client command (`sluice tail`, `approvals`, `approve`): the admin key.
    static var commandEnvironment: [String: String] { enabled ? ["SLUICE_API_KEY": adminKey] : [:] }
}

/// A test's own API: the real application over the shared test Redis, with a unique key prefix.
struct TestAPI {
    let redis: RedisClient
    let configuration: SluiceConfiguration
    var apiKeys: APIKeyRing = TestAuth.ring()
    /// What the test's client sends when a call names no key of its own.
    var defaultHeaders: [(String, String)] = TestAuth.headers

    /// Over `server` when given (tests that stop or count a server of their own), else over the
    /// suite's shared Redis: the single server, or the cluster with `SLUICE_TEST_REDIS=cluster`.
    static func make(server: RedisServerProcess? = nil, _ adjust: (inout SluiceConfiguration) -> Void = { _ in }) async throws -> TestAPI {
        let redisConfiguration: RedisConfiguration
        if let server { redisConfiguration = server.clientConfiguration } else { redisConfiguration = try await TestRedis.sharedConfiguration() }
        return make(redis: redisConfiguration, adjust)
    }

    /// Over the Redis (or Redis Cluster) that `redisConfiguration` reaches.
    static func make(redis redisConfiguration: RedisConfiguration, _ adjust: (inout SluiceConfiguration) -> Void = { _ in }) -> TestAPI {
        var configuration = SluiceConfiguration()
        configuration.keyPrefix = TestRedis.uniquePrefix("api")
        configuration.partitions = 8
        adjust(&configuration)
        var redisConfiguration = redisConfiguration
        redisConfiguration.commandTimeout = .seconds(10)  // tests run in parallel on 2 cores
        return TestAPI(redis: RedisClient(configuration: redisConfiguration), configuration: configuration)
    }

    var keys: KeySchema { configuration.keys }

    /// Runs `body` against the router; with `engine`, a runner and the wake-up subscription
    /// run alongside, as in `sluice serve`.
    func run(
        engine: Bool = false, live: Bool = false, benchRoutes: Bool = false, console: Bool = false, _ body: @Sendable (TestClient) async throws -> Void
    ) async throws {
        let wakes = WakeRegistry()
        let app = buildApplication(
            ServerDependencies(configuration: configuration, redis: redis, benchRoutes: benchRoutes, wakes: wakes, apiKeys: apiKeys, console: console),
            logger: Logger(label: "test"))
        defer { redis.shutdown() }
        let services = engine
            ? EngineServices.make(
                configuration: configuration, redisConfiguration: redis.configuration, redis: redis, runner: true, sweeper: true,
                wakes: wakes, logger: Logger(label: "test")).services
            : []
        let background = Task {
            await withTaskGroup(of: Void.self) { group in
                for service in services { group.addTask { try? await service.run() } }
            }
        }
        defer { background.cancel() }
        let defaultHeaders = self.defaultHeaders
        try await app.test(live ? .live : .router) { client in try await body(TestClient(client: client, defaultHeaders: defaultHeaders)) }
    }

    /// Polls the instance until it is in `state` (or `timeout`); returns its last JSON.
    func waitFor(_ client: TestClient, _ id: String, state: String, timeout: Duration = .seconds(30)) async throws -> JSONValue {
        try await waitUntil(client, id, timeout: timeout) { $0["state"] == .string(state) }
    }

    func waitUntil(_ client: TestClient, _ id: String, timeout: Duration = .seconds(30), _ condition: (JSONValue) -> Bool) async throws -> JSONValue {
        let deadline = ContinuousClock.now + timeout
        var last = JSONValue.null
        while ContinuousClock.now < deadline {
            last = try await client.call(.get, "/instances/\(id)").json
            if condition(last) { return last }
            try await Task.sleep(for: .milliseconds(20))
        }
        return last
    }
}

/// Thin JSON helpers over HummingbirdTesting's client.
struct TestClient: Sendable {
    let client: any TestClientProtocol
    var defaultHeaders: [(String, String)] = TestAuth.headers
    var port: Int? { client.port }

    struct Reply: Sendable {
        var status: HTTPResponse.Status
        var json: JSONValue
    }

    @discardableResult
    func call(_ method: HTTPRequest.Method, _ uri: String, _ body: String? = nil, headers: HTTPFields = [:]) async throws -> Reply {
        var headers = headers
        if headers[.authorization] == nil, headers[HTTPField.Name("X-API-Key")!] == nil {
            for (name, value) in defaultHeaders { headers[HTTPField.Name(name)!] = value }
        }
        return try await client.execute(uri: uri, method: method, headers: headers, body: body.map { ByteBuffer(string: $0) }) { response in
            let json = response.body.readableBytes == 0 ? JSONValue.null : try JSONValue.parse(response.body.readableBytesView)
            return Reply(status: response.status, json: json)
        }
    }

    @discardableResult
    func post(_ uri: String, _ body: JSONValue, headers: HTTPFields = [:]) async throws -> Reply {
        try await call(.post, uri, body.jsonString, headers: headers)
    }
}

extension JSONValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByDictionaryLiteral, ExpressibleByArrayLiteral, ExpressibleByBooleanLiteral {
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int) { self = .number(Double(value)) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(dictionaryLiteral elements: (String, JSONValue)...) { self = .object(Dictionary(uniqueKeysWithValues: elements)) }
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
}
