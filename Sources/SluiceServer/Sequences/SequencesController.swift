import Foundation
import Hummingbird
import SluiceCore

/// `POST /sequences` (create or new version) and `GET /sequences/{id}[?version=N]`.
struct SequencesController {
    let store: SequenceStore

    func addRoutes(to router: Router<SluiceRequestContext>) {
        router.post("/sequences", use: put)
        router.get("/sequences/{id}", use: get)
    }

    @Sendable func put(_ request: Request, context: SluiceRequestContext) async throws -> Response {
        let body = try await request.jsonBody(context: context)
        let definition = try SequenceParser.parse(body)
        let (version, created) = try await store.put(body, definition: definition, nowMilliseconds: Clock.nowMilliseconds())
        return JSONValue.object(["id": .string(definition.id), "version": .number(Double(version))])
            .response(status: created ? .created : .ok)
    }

    @Sendable func get(_ request: Request, context: SluiceRequestContext) async throws -> Response {
        let id = try context.parameters.require("id")
        let version = try request.positiveIntegerQuery("version")
        guard Identifier.isValid(id), let stored = try await store.get(id, version: version) else {
            throw APIError.notFound(version.map { "sequence \(id) has no version \($0)" } ?? "sequence not found")
        }
        var object = stored.json.objectValue ?? [:]
        object["version"] = .number(Double(stored.version))
        return JSONValue.object(object).response(status: .ok)
    }
}
