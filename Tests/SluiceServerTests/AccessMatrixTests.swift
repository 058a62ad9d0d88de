import AsyncHTTPClient
import Foundation
import Hummingbird
import NIOCore
import NIOHTTP1
import SluiceCore
import SluiceServer
import SluiceTestSupport
import Testing

/// The keys of the access tests: every role, bound to tenant `acme`, to `globex`, or to none.
enum AccessKeys {
    struct Key: Sendable {
        var name: String
        var role: Role
        var tenant: String?
        var handlers: Set<String>? = nil
        var secret: String { "\(name)-secret-key-0123456789" }
    }

    static let all: [Key] = [
        Key(name: "admin", role: .admin),
        Key(name: "ops", role: .operator),
        Key(name: "ops-acme", role: .operator, tenant: "acme"),
        Key(name: "ops-globex", role: .operator, tenant: "globex"),
        Key(name: "approver-acme", role: .approver, tenant: "acme"),
        Key(name: "approver-globex", role: .approver, tenant: "globex"),
        Key(name: "approver", role: .approver),
        Key(name: "worker-acme", role: .worker, tenant: "acme", handlers: ["job"]),
        Key(name: "worker-globex", role: .worker, tenant: "globex"),
        Key(name: "worker", role: .worker),
        Key(name: "worker-other-handler", role: .worker, handlers: ["not-job"]),
    ]

    static func key(_ name: String) -> Key { all.first { $0.name == name }! }

    static func ring() -> APIKeyRing {
        APIKeyRing(path: "(access tests)", keys: all.map {
            APIKey(principal: Principal(name: $0.name, role: $0.role, tenant: $0.tenant, handlers: $0.handlers), digest: APIKey.digest(of: $0.secret.utf8))
        })
    }

    static func api(_ adjust: (inout SluiceConfiguration) -> Void = { _ in }) async throws -> TestAPI {
        var api = try await TestAPI.make(adjust)
        api.apiKeys = ring()
        api.defaultHeaders = [("Authorization", "Bearer \(key("admin").secret)")]
        return api
    }
}

/// Every route × every role × every tenant relation gets the status api.md specifies. The
/// routes come from the router itself: a route added without an access rule, or without a case
/// here, fails this test.
@Suite struct AccessMatrixTests {
    /// What a request to one route needs, and who may make it according to the spec.
    struct Case: Sendable {
        /// Roles allowed (before tenant checks).
        var roles: Set<Role>
        /// The request reaches one instance (or sequence, or task) of tenant `acme`: a key bound
        /// to another tenant gets 404.
        var scoped: Bool
        var path: @Sendable (Subject) -> String
        var body: @Sendable (Subject) -> String? = { _ in nil }
    }

    /// One fresh instance of tenant acme per request (requests change it), with a checkpoint.
    struct Subject {
        var id: String
        var checkpoint: String
        var task: String { "\(id)~1~job~acme" }
    }

    static let everyone: Set<Role> = Set(Role.allCases)
    static let operators: Set<Role> = [.admin, .operator]

    static let cases: [String: Case] = [
        "GET /healthz": Case(roles: everyone, scoped: false, path: { _ in "/healthz" }),
        "GET /readyz": Case(roles: everyone, scoped: false, path: { _ in "/readyz" }),
        "GET /openapi.yaml": Case(roles: everyone, scoped: false, path: { _ in "/openapi.yaml" }),
        "GET /bench/noop": Case(roles: everyone, scoped: false, path: { _ in "/bench/noop" }),
        "GET /metrics": Case(roles: operators, scoped: false, path: { _ in "/metrics" }),
        "POST /sequences": Case(roles: operators, scoped: false, path: { _ in "/sequences" }, body: { s in
            #"{"id": "seq-\#(s.id)", "blocks": [{"id": "a", "type": "step", "handler": "noop"}]}"# }),
        "GET /sequences/{id}": Case(roles: operators, scoped: true, path: { _ in "/sequences/acl-seq" }),
        "POST /instances": Case(roles: operators, scoped: true, path: { _ in "/instances" }, body: { s in
            #"{"sequence_id": "acl-seq", "id": "new-\#(s.id)"}"# }),
        "GET /instances": Case(roles: operators, scoped: false, path: { _ in "/instances" }),
        "GET /instances/{id}": Case(roles: [.admin, .operator, .approver], scoped: true, path: { "/instances/\($0.id)" }),
        "DELETE /instances/{id}": Case(roles: operators, scoped: true, path: { "/instances/\($0.id)" }),
        "GET /instances/{id}/outputs": Case(roles: operators, scoped: true, path: { "/instances/\($0.id)/outputs" }),
        "GET /instances/{id}/stream": Case(roles: [.admin, .operator, .approver], scoped: true, path: { "/instances/\($0.id)/stream" }),
        "POST /instances/{id}/signals": Case(roles: [.admin, .operator, .approver], scoped: true, path: { "/instances/\($0.id)/signals" }, body: { _ in
            #"{"signal_type": "human_input:review", "payload": {"value": "yes"}}"# }),
        "POST /instances/{id}/checkpoints": Case(roles: operators, scoped: true, path: { "/instances/\($0.id)/checkpoints" }, body: { _ in
            #"{"checkpoint_data": {"cursor": 1}}"# }),
        "GET /instances/{id}/checkpoints": Case(roles: operators, scoped: true, path: { "/instances/\($0.id)/checkpoints" }),
        "GET /instances/{id}/checkpoints/latest": Case(roles: operators, scoped: true, path: { "/instances/\($0.id)/checkpoints/latest" }),
        "GET /instances/{id}/checkpoints/{checkpoint_id}": Case(roles: operators, scoped: true, path: { "/instances/\($0.id)/checkpoints/\($0.checkpoint)" }),
        "POST /instances/{id}/checkpoints/prune": Case(roles: operators, scoped: true, path: { "/instances/\($0.id)/checkpoints/prune" }, body: { _ in
            #"{"keep": 5}"# }),
        "POST /instances/{id}/checkpoints/{checkpoint_id}/restore": Case(roles: operators, scoped: true, path: {
            "/instances/\($0.id)/checkpoints/\($0.checkpoint)/restore" }),
        "GET /approvals": Case(roles: [.admin, .operator, .approver], scoped: false, path: { _ in "/approvals" }),
        "GET /approvals/stream": Case(roles: [.admin, .operator, .approver], scoped: false, path: { _ in "/approvals/stream" }),
        "POST /workers/tasks/poll": Case(roles: [.admin, .operator, .worker], scoped: false, path: { _ in "/workers/tasks/poll" }, body: { _ in
            #"{"handler": "job", "worker_id": "w-1"}"# }),
        "POST /workers/tasks/{task_id}/heartbeat": Case(roles: [.admin, .operator, .worker], scoped: true, path: { "/workers/tasks/\($0.task)/heartbeat" },
            body: { _ in #"{"worker_id": "w-1"}"# }),
        "POST /workers/tasks/{task_id}/complete": Case(roles: [.admin, .operator, .worker], scoped: true, path: { "/workers/tasks/\($0.task)/complete" },
            body: { _ in #"{"worker_id": "w-1", "output": {}}"# }),
        "POST /workers/tasks/{task_id}/fail": Case(roles: [.admin, .operator, .worker], scoped: true, path: { "/workers/tasks/\($0.task)/fail" },
            body: { _ in #"{"worker_id": "w-1", "error": "no"}"# }),
    ]

    enum Outcome: Equatable, CustomStringConvertible {
        case unauthorized, forbidden, notFound
        /// Reached the route's own logic (2xx, or a 409/422 of the route itself).
        case passed

        var description: String {
            switch self {
            case .unauthorized: "401"
            case .forbidden: "403"
            case .notFound: "404"
            case .passed: "passed"
            }
        }
    }

    /// What api.md says for `key` (nil: no key) on a route of `rule`.
    static func expected(_ route: String, _ rule: Case, _ key: AccessKeys.Key?) -> Outcome {
        if ["GET /healthz", "GET /readyz", "GET /openapi.yaml", "GET /bench/noop"].contains(route) { return .passed }
        guard let key else { return .unauthorized }
        guard rule.roles.contains(key.role) else { return .forbidden }
        if route == "GET /metrics", key.tenant != nil { return .forbidden }
        // A worker key with `handlers` serves only those (every worker case is for handler "job").
        if route.contains("/workers/"), let handlers = key.handlers, !handlers.contains("job") { return .forbidden }
        if rule.scoped, let tenant = key.tenant, tenant != "acme" { return .notFound }
        return .passed
    }

    @Test func everyRouteEveryRoleEveryTenant() async throws {
        let api = try await AccessKeys.api()
        let dependencies = ServerDependencies(configuration: api.configuration, redis: api.redis, benchRoutes: true, apiKeys: api.apiKeys)
        let routes = buildRouter(dependencies).routes.map { "\($0.method.rawValue) \($0.path)" }
        #expect(routes.count >= 25)
        for route in routes {
            #expect(RouteAccess.table[route] != nil, "no access rule for \(route) in RouteAccess.table")
            #expect(Self.cases[route] != nil, "no access case for \(route) in AccessMatrixTests.cases")
        }
        try await api.run(live: true, benchRoutes: true) { client in
            let port = try #require(client.port)
            try await Self.setUp(client)
            var counter = 0
            var failures: [String] = []
            for route in routes.sorted() {
                guard let rule = Self.cases[route] else { continue }
                for key in [nil] + AccessKeys.all.map(Optional.some) {
                    counter += 1
                    let subject = try await Self.subject(client, "s\(counter)", terminal: route.hasSuffix("/stream"))
                    let method = HTTPMethod(rawValue: String(route.prefix { $0 != " " }))
                    let outcome = try await Self.call(port: port, method: method, path: rule.path(subject), body: rule.body(subject), key: key?.secret)
                    let want = Self.expected(route, rule, key)
                    if outcome != want { failures.append("\(route) as \(key?.name ?? "no key"): got \(outcome), want \(want)") }
                }
            }
            #expect(failures.isEmpty, "\(failures.joined(separator: "\n"))")
        }
    }

    /// A sequence of tenant acme: a gate, then a step served by workers.
    static func setUp(_ client: TestClient) async throws {
        let sequence = try await client.post("/sequences", [
            "id": "acl-seq", "tenant_id": "acme",
            "blocks": [["id": "review", "type": "human_input", "prompt": "ok?"], ["id": "work", "type": "step", "handler": "job"]],
        ])
        #expect(sequence.status == .created)
    }

    static func subject(_ client: TestClient, _ id: String, terminal: Bool) async throws -> Subject {
        #expect(try await client.post("/instances", ["sequence_id": "acl-seq", "id": .string(id)]).status == .created)
        let checkpoint = try await client.post("/instances/\(id)/checkpoints", ["checkpoint_data": ["n": 1]])
        // A finished instance's stream ends (done), so the matrix can read it whole.
        if terminal { #expect(try await client.post("/instances/\(id)/signals", ["signal_type": "cancel"]).status == .ok) }
        return Subject(id: id, checkpoint: checkpoint.json["id"]?.stringValue ?? "")
    }

    /// One request over HTTP; streams are read until they end (instance streams of finished
    /// instances) or only to their head (the approvals stream never ends).
    static func call(port: Int, method: HTTPMethod, path: String, body: String?, key: String?) async throws -> Outcome {
        if path.hasPrefix("/approvals/stream") { return try await streamHead(port: port, path: path, key: key) }
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)")
        request.method = method
        if let key { request.headers.add(name: "Authorization", value: "Bearer \(key)") }
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: body))
        }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        let status = Int(response.status.code)
        let text = String(buffer: try await response.body.collect(upTo: 1 << 22))
        #expect(status < 500, "\(method) \(path): \(status) \(text)")
        if status >= 400 {
            let json = try JSONValue.parse(Array(text.utf8))
            #expect(json["error"]?.stringValue != nil && json["code"]?.stringValue != nil, "\(path): error body \(text)")
        }
        return outcome(status, text)
    }

    /// The approvals stream never ends: its status line says enough. A plain socket reads the
    /// head and closes (an HTTP client would keep the endless response, and its connection).
    static func streamHead(port: Int, path: String, key: String?) async throws -> Outcome {
        let socket = try SlowReaderTests.SlowSocket(port: port)
        socket.widen()
        let auth = key.map { "Authorization: Bearer \($0)\r\n" } ?? ""
        socket.send("GET \(path) HTTP/1.1\r\nHost: test\r\nAccept: text/event-stream\r\n\(auth)\r\n")
        let head = await SlowReaderTests.blocking { socket.receive(4096) ?? "" }
        let status = Int(head.dropFirst("HTTP/1.1 ".count).prefix(3)) ?? 0
        #expect(status != 0, "no status line from \(path): \(head)")
        return outcome(status, head)
    }

    static func outcome(_ status: Int, _ text: String) -> Outcome {
        switch status {
        case 401: return .unauthorized
        case 403: return .forbidden
        case 404: return .notFound
        // Streams report an unknown (or another tenant's) instance inside the stream.
        case 200 where text.contains("event: error") && text.contains("instance not found"): return .notFound
        default: return .passed
        }
    }
}
