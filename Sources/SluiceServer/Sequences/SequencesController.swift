import Foundation
import Hummingbird
import SluiceCore

/// `POST /sequences` (create or new version) and `GET /sequences/{id}[?version=N]`.
struct SequencesController {
    let store: SequenceStore

    func addRoutes(to routes: APIRoutes) {
        routes.post("/sequences", use: put)
        routes.get("/sequences/{id}", use: get)
    }

    @Sendable func put(_ request: Request, context: SluiceRequestContext) async throws -> Response {
        var body = try await request.jsonBody(context: context)
        // A tenant-bound key's sequences are its tenant's (it may not name another).
        let principal = context.principal
        if let tenant = principal.tenant, case .object(var object) = body {
            let named: String? = if case .string(let value)? = object["tenant_id"] { value } else { nil }
            _ = try principal.tenantFilter(named)
            object["tenant_id"] = .string(tenant)
            body = .object(object)
        }
        let definition = try SequenceParser.parse(body)
        let (version, created) = try await store.put(body, definition: definition, by: principal.caller, nowMilliseconds: Clock.nowMilliseconds())
        return JSONValue.object(["id": .string(definition.id), "version": .number(Double(version))])
            .response(status: created ? .created : .ok)
    }

    @Sendable func get(_ request: Request, context: SluiceRequestContext) async throws -> Response {
        let id = try context.parameters.require("id")
        let version = try request.positiveIntegerQuery("version")
        // Sequences without a tenant are everybody's; another tenant's are not found.
        guard Identifier.isValid(id), let stored = try await store.get(id, version: version),
              stored.definition.tenantId == nil || context.principal.caller.sees(tenant: stored.definition.tenantId) else {
            throw APIError.notFound(version.map { "sequence \(id) has no version \($0)" } ?? "sequence not found")
        }
        var object = stored.json.objectValue ?? [:]
        object["version"] = .number(Double(stored.version))
        return JSONValue.object(object).response(status: .ok)
    }
}
