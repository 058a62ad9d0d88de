import Hummingbird
import NIOCore
import SluiceCore
import SluiceRedis

/// `POST /instances`, `GET /instances[/{id}]`, `GET /instances/{id}/outputs`, `DELETE /instances/{id}`.
struct InstancesController {
    let instances: InstanceStore
    let sequences: SequenceStore
    let contextMaxBytes: Int

    func addRoutes(to routes: APIRoutes) {
        routes.post("/instances", use: create)
        routes.get("/instances", use: list)
        routes.get("/instances/{id}", use: get)
        routes.get("/instances/{id}/outputs", use: outputs)
        routes.delete("/instances/{id}", use: delete)
    }

    @Sendable func create(_ request: Request, context: SluiceRequestContext) async throws -> Response {
        let body = try await request.jsonBody(context: context)
        var input = try CreateInstanceRequest(body)
        // A tenant-bound key creates in its tenant (and may not name another).
        input.tenantId = try context.principal.tenantFilter(input.tenantId)
        let size = input.context.encoded().count
        guard size <= contextMaxBytes else {
            throw APIError(.payloadTooLarge, "context is \(size) bytes; the limit is \(contextMaxBytes) (SLUICE_CONTEXT_MAX_BYTES)")
        }
        try instances.storage.limits.checkContextSized(input.metadata, "metadata")
        let id = input.id ?? InstanceID.generate()
        // The latest version this process holds is used as is, and the creating script checks it
        // is still the latest (one round trip); otherwise, or when it is not, it is read first.
        if instances.checksLatest, let cached = sequences.cachedLatest(input.sequenceId),
           case .done(let created, let state) = try await insert(id: id, input, sequence: cached, checkLatest: true, context: context) {
            return Self.created(id: id, created: created, state: state)
        }
        guard let sequence = try await sequences.get(input.sequenceId) else { throw APIError.notFound("sequence not found") }
        switch try await insert(id: id, input, sequence: sequence, checkLatest: false, context: context) {
        case .done(let created, let state): return Self.created(id: id, created: created, state: state)
        case .staleSequence: throw RedisClientError(.unexpectedReply, "create_instance checked a version it was not asked to")
        }
    }

    /// Creates the instance from `sequence` (404 when another tenant's).
    private func insert(
        id: String, _ input: CreateInstanceRequest, sequence: SequenceStore.Stored, checkLatest: Bool, context: SluiceRequestContext
    ) async throws -> InstanceStore.Created {
        guard input.tenantId == nil || sequence.definition.tenantId == nil || sequence.definition.tenantId == input.tenantId else {
            throw APIError.notFound("sequence not found")
        }
        let new = InstanceStore.NewInstance(
            id: id, tenantId: input.tenantId ?? sequence.definition.tenantId,
            namespace: input.namespace ?? sequence.definition.namespace,
            sequence: sequence, context: input.context, metadata: input.metadata)
        return try await instances.create(new, checkLatest: checkLatest, by: context.principal.caller, nowMilliseconds: Clock.nowMilliseconds())
    }

    private static func created(id: String, created: Bool, state: InstanceState) -> Response {
        JSONValue.object(["id": .string(id), "state": .string(state.rawValue)]).response(status: created ? .created : .ok)
    }

    @Sendable func get(_ request: Request, context: SluiceRequestContext) async throws -> Response {
        let id = try context.parameters.require("id")
        // Another tenant's instance is not found (never forbidden: ids cannot be probed).
        guard Identifier.isValid(id), let json = try await instances.getJSON(id, for: context.principal.caller) else {
            throw APIError.notFound("instance not found")
        }
        return ByteBuffer.jsonResponse(json)
    }

    @Sendable func outputs(_ request: Request, context: SluiceRequestContext) async throws -> Response {
        let id = try context.parameters.require("id")
        guard Identifier.isValid(id), let outputs = try await instances.outputs(id, for: context.principal.caller) else { throw APIError.notFound("instance not found") }
        return JSONValue.array(outputs).response(status: .ok)
    }

    @Sendable func delete(_ request: Request, context: SluiceRequestContext) async throws -> Response {
        let id = try context.parameters.require("id")
        guard Identifier.isValid(id), try await instances.delete(id, by: context.principal.caller) else { throw APIError.notFound("instance not found") }
        return Response(status: .noContent)
    }

    @Sendable func list(_ request: Request, context: SluiceRequestContext) async throws -> Response {
        let query = request.uri.queryParameters
        var listQuery = InstanceStore.ListQuery()
        for name in ["tenant_id", "namespace"] {
            if let value = query[Substring(name)], !Identifier.isValid(String(value)) {
                throw APIError.badRequest("query parameter \(name) must be \(Identifier.rule)", field: name)
            }
        }
        listQuery.tenantId = try context.principal.tenantFilter(query["tenant_id"].map(String.init))
        listQuery.namespace = query["namespace"].map(String.init)
        if let state = query["state"] {
            guard let parsed = InstanceState(rawValue: String(state)) else {
                throw APIError.badRequest(
                    "query parameter state must be one of \(InstanceState.allCases.map(\.rawValue).joined(separator: ", "))", field: "state")
            }
            listQuery.state = parsed
        }
        if let limit = query["limit"] {
            guard let value = Int(limit), (1...1000).contains(value) else {
                throw APIError.badRequest("query parameter limit must be an integer from 1 to 1000", field: "limit")
            }
            listQuery.limit = value
        }
        if let cursor = query["cursor"] {
            guard let parsed = InstanceStore.ListCursor(String(cursor)) else {
                throw APIError.badRequest("query parameter cursor is not a cursor returned by this endpoint", field: "cursor")
            }
            listQuery.cursor = parsed
        }
        let (items, next) = try await instances.list(listQuery)
        return JSONValue.object([
            "items": .array(items.map(\.json)), "next_cursor": next.map { .string($0.text) } ?? .null,
        ]).response(status: .ok)
    }
}

/// The body of `POST /instances`.
struct CreateInstanceRequest {
    var sequenceId: String
    var tenantId: String?
    var namespace: String?
    var id: String?
    var context: JSONValue
    var metadata: JSONValue

    static let fields: Set<String> = ["sequence_id", "tenant_id", "namespace", "id", "context", "metadata"]

    init(_ body: JSONValue) throws {
        guard case .object(let object) = body else { throw SluiceError.invalid(field: "body", message: "body must be a JSON object") }
        if let unknown = object.keys.sorted().first(where: { !Self.fields.contains($0) }) {
            throw SluiceError.invalid(field: unknown, message: "unknown field '\(unknown)' (allowed: \(Self.fields.sorted().joined(separator: ", ")))")
        }
        func identifier(_ name: String, required: Bool = false) throws -> String? {
            switch object[name] {
            case nil, .null?:
                if required { throw SluiceError.invalid(field: name, message: "\(name) is required") }
                return nil
            case .string(let value)? where Identifier.isValid(value): return value
            default: throw SluiceError.invalid(field: name, message: "\(name) must be \(Identifier.rule)")
            }
        }
        func jsonObject(_ name: String) throws -> JSONValue {
            switch object[name] {
            case nil, .null?: return .object([:])
            case .object(let value)?: return .object(value)
            default: throw SluiceError.invalid(field: name, message: "\(name) must be a JSON object")
            }
        }
        sequenceId = try identifier("sequence_id", required: true)!
        tenantId = try identifier("tenant_id")
        namespace = try identifier("namespace")
        id = try identifier("id")
        context = try jsonObject("context")
        metadata = try jsonObject("metadata")
    }
}
