import Foundation
import HTTPTypes
import Hummingbird
import OpenAPIKit
import SluiceCore
import SluiceRedis
import SluiceServer
import SluiceTestSupport
import Testing
import Yams

/// `openapi.yaml` and the server agree: the same routes, a valid OpenAPI 3.1 document, the error
/// schema on every 4xx/5xx, auth responses on every route but the open ones, and real error
/// bodies that match the schema. The document checked is the one built into the binary.
@Suite struct OpenAPIContractTests {
    /// Routes that need no key (api.md → Authentication; `/metrics` is documented with 401/403
    /// because it needs one unless `SLUICE_METRICS_OPEN=true`).
    static let openRoutes: Set<String> = ["GET /healthz", "GET /readyz", "GET /openapi.yaml"]

    static func document() throws -> OpenAPI.Document {
        try YAMLDecoder().decode(OpenAPI.Document.self, from: OpenAPIDocument.yaml)
    }

    /// "METHOD /path/{param}" for every operation of the document.
    static func documentedRoutes(_ document: OpenAPI.Document) -> Set<String> {
        var routes: Set<String> = []
        for (path, item) in document.paths {
            guard let item = item.pathItemValue else { continue }
            for endpoint in item.endpoints { routes.insert("\(endpoint.method.rawValue) \(path.rawValue)") }
        }
        return routes
    }

    static func operation(_ document: OpenAPI.Document, _ route: String) -> OpenAPI.Operation? {
        let parts = route.split(separator: " ", maxSplits: 1).map(String.init)
        guard let item = document.paths[OpenAPI.Path(rawValue: parts[1])]?.pathItemValue else { return nil }
        return item.endpoints.first { $0.method.rawValue == parts[0] }?.operation
    }

    @Test func documentIsValidOpenAPI31() throws {
        let document = try Self.document()
        #expect(document.openAPIVersion.rawValue.hasPrefix("3.1"))
        try document.validate()
        // Every $ref resolves.
        _ = try document.locallyDereferenced()
    }

    @Test func routerAndDocumentHaveTheSameRoutes() async throws {
        let api = try await TestAPI.make()
        defer { api.redis.shutdown() }
        let router = buildRouter(ServerDependencies(configuration: api.configuration, redis: api.redis))
        let served = Set(router.routes.map { "\($0.method.rawValue) \($0.path.description)" })
        let documented = Self.documentedRoutes(try Self.document())
        #expect(served.subtracting(documented).sorted() == [], "routes missing from openapi.yaml")
        #expect(documented.subtracting(served).sorted() == [], "documented routes the server does not have")
        #expect(served.count > 20)

        // The benchmark route exists only with bench routes, and is not part of the API.
        let bench = buildRouter(ServerDependencies(configuration: api.configuration, redis: api.redis, benchRoutes: true))
        let benchOnly = Set(bench.routes.map { "\($0.method.rawValue) \($0.path.description)" }).subtracting(served)
        #expect(benchOnly == ["GET /bench/noop"])

        // The console is HTML for people, not the JSON API: it adds routes under /console only,
        // and with it the API's routes are still exactly the documented ones.
        let console = buildRouter(ServerDependencies(configuration: api.configuration, redis: api.redis, console: true))
        let consoleRoutes = Set(console.routes.map { "\($0.method.rawValue) \($0.path.description)" })
        let consoleOnly = consoleRoutes.subtracting(served)
        #expect(consoleOnly.count > 10)
        #expect(consoleOnly.filter { !$0.split(separator: " ")[1].hasPrefix("/console") }.sorted() == [])
        #expect(consoleRoutes.subtracting(consoleOnly) == documented)
    }

    @Test func everyErrorResponseUsesTheErrorSchemaAndAuthIsDocumented() throws {
        let document = try Self.document()
        for route in Self.documentedRoutes(document).sorted() {
            let operation = try #require(Self.operation(document, route))
            var statuses: Set<Int> = []
            for (status, response) in operation.responses {
                guard let code = Int(status.rawValue) else { continue }
                statuses.insert(code)
                guard code >= 400 else { continue }
                let resolved = try document.components.lookup(response)
                let schema = resolved.content[.json]?.contentValue?.schema?.reference?.name
                #expect(schema == "Error", "\(route) \(code) must have the Error body")
            }
            #expect(statuses.contains(500), "\(route) documents 500")
            if Self.openRoutes.contains(route) {
                #expect(operation.security?.isEmpty == true, "\(route) is open")
                #expect(!statuses.contains(401) && !statuses.contains(403), "\(route) is open")
            } else {
                #expect(operation.security == nil, "\(route) uses the document's security")
                #expect(statuses.isSuperset(of: [401, 403]), "\(route) documents 401 and 403")
            }
        }
        let schemes = Set(document.components.securitySchemes.keys.map(\.rawValue))
        #expect(schemes == ["bearerAuth", "apiKey"])
        #expect(document.security.count == 2)
    }

    @Test func servedDocumentIsTheEmbeddedOne() async throws {
        let api = try await TestAPI.make()
        try await api.run { client in
            try await client.client.execute(uri: "/openapi.yaml", method: .get) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType]?.hasPrefix("application/yaml") == true)
                #expect(String(buffer: response.body) == OpenAPIDocument.yaml)
            }
        }
        // What is served is what the repository holds (the build plugin embedded this file).
        let file = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appending(path: "openapi.yaml")
        #expect(try String(contentsOf: file, encoding: .utf8) == OpenAPIDocument.yaml)
    }

    /// Real errors of each kind the tests can provoke: the status is documented for the route and
    /// the body matches the document's `Error` schema.
    @Test func realErrorBodiesMatchTheErrorSchema() async throws {
        let document = try Self.document()
        let errorSchema = try #require(document.components.schemas["Error"])
        let api = try await TestAPI.make { $0.contextMaxBytes = 1024 }
        try await api.run { client in
            let sequence: JSONValue = ["id": "contract", "blocks": [["id": "wait", "type": "human_input", "prompt": "ok?"]]]
            #expect(try await client.post("/sequences", sequence).status == .created)
            #expect(try await client.post("/instances", ["sequence_id": "contract", "id": "c-1"]).status == .created)

            let cases: [(route: String, uri: String, body: String?, status: HTTPResponse.Status)] = [
                ("POST /instances", "/instances", "{not json", .badRequest),
                ("GET /approvals", "/approvals?limit=-1", nil, .badRequest),
                ("GET /instances/{id}", "/instances/nope", nil, .notFound),
                ("GET /instances/{id}/checkpoints/latest", "/instances/c-1/checkpoints/latest", nil, .notFound),
                ("POST /instances", "/instances", #"{"sequence_id": "contract", "id": "c-1", "context": {"a": 1}}"#, .conflict),
                ("POST /instances", "/instances",
                 #"{"sequence_id": "contract", "context": {"pad": "\#(String(repeating: "x", count: 2048))"}}"#, .contentTooLarge),
                ("POST /instances", "/instances", #"{"context": {}}"#, .unprocessableContent),
                ("POST /instances/{id}/checkpoints/prune", "/instances/c-1/checkpoints/prune", #"{"keep": -1}"#, .unprocessableContent),
            ]
            for testCase in cases {
                let method = HTTPRequest.Method(String(testCase.route.split(separator: " ")[0]))!
                let reply = try await client.call(method, testCase.uri, testCase.body)
                #expect(reply.status == testCase.status, "\(testCase.uri)")
                let operation = try #require(Self.operation(document, testCase.route))
                #expect(operation.responses[.status(code: reply.status.code)] != nil, "\(testCase.route) documents \(reply.status.code)")
                let problems = ErrorSchemaCheck(errorSchema).problems(reply.json)
                #expect(problems == [], "\(testCase.uri): \(reply.json.jsonString)")
            }
        }
    }
}

/// The few JSON Schema rules the `Error` schema uses (object, required, properties with their
/// types, a closed enum, no additional properties), read from the document rather than restated,
/// so a change to either side fails the test.
struct ErrorSchemaCheck {
    let schema: JSONSchema

    init(_ schema: JSONSchema) { self.schema = schema }

    func problems(_ value: JSONValue) -> [String] {
        guard let object = schema.objectContext else { return ["Error is not an object schema"] }
        guard case .object(let fields) = value else { return ["body is not a JSON object"] }
        var problems: [String] = []
        for name in object.requiredProperties where fields[name] == nil { problems.append("missing \(name)") }
        for (name, field) in fields {
            guard let property = object.properties[name] else {
                if case .a(false)? = object.additionalProperties { problems.append("unexpected field \(name)") }
                continue
            }
            switch (property.jsonType, field) {
            case (.string?, .string(let text)):
                if let allowed = property.allowedValues?.compactMap({ $0.value as? String }), !allowed.contains(text) {
                    problems.append("\(name) '\(text)' is not one of \(allowed)")
                }
            case (.object?, .object): break
            default: problems.append("\(name) has the wrong type")
            }
        }
        return problems
    }
}
