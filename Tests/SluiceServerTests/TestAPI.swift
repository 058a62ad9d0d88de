import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import SluiceCore
import SluiceRedis
import SluiceServer
import SluiceTestSupport

/// A test's own API: the real application over the shared test Redis, with a unique key prefix.
struct TestAPI {
    let redis: RedisClient
    let configuration: SluiceConfiguration

    static func make(_ adjust: (inout SluiceConfiguration) -> Void = { _ in }) async throws -> TestAPI {
        let server = try await TestRedis.shared()
        var configuration = SluiceConfiguration()
        configuration.keyPrefix = TestRedis.uniquePrefix("api")
        configuration.partitions = 8
        adjust(&configuration)
        return TestAPI(redis: RedisClient(configuration: server.clientConfiguration), configuration: configuration)
    }

    var keys: KeySchema { configuration.keys }

    func run(_ body: @Sendable (TestClient) async throws -> Void) async throws {
        let app = buildApplication(ServerDependencies(configuration: configuration, redis: redis), logger: Logger(label: "test"))
        defer { redis.shutdown() }
        try await app.test(.router) { client in try await body(TestClient(client: client)) }
    }
}

/// Thin JSON helpers over HummingbirdTesting's client.
struct TestClient: Sendable {
    let client: any TestClientProtocol

    struct Reply: Sendable {
        var status: HTTPResponse.Status
        var json: JSONValue
    }

    @discardableResult
    func call(_ method: HTTPRequest.Method, _ uri: String, _ body: String? = nil) async throws -> Reply {
        try await client.execute(uri: uri, method: method, body: body.map { ByteBuffer(string: $0) }) { response in
            let json = response.body.readableBytes == 0 ? JSONValue.null : try JSONValue.parse(response.body.readableBytesView)
            return Reply(status: response.status, json: json)
        }
    }

    @discardableResult
    func post(_ uri: String, _ body: JSONValue) async throws -> Reply {
        try await call(.post, uri, body.jsonString)
    }
}

extension JSONValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByDictionaryLiteral, ExpressibleByArrayLiteral, ExpressibleByBooleanLiteral {
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int) { self = .number(Double(value)) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(dictionaryLiteral elements: (String, JSONValue)...) { self = .object(Dictionary(uniqueKeysWithValues: elements)) }
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
}
