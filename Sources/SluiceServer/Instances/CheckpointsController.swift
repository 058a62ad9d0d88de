import Hummingbird
import NIOCore
import SluiceCore

/// `/instances/{id}/checkpoints`: save, list, latest, get one, prune, restore.
struct CheckpointsController {
    let checkpoints: CheckpointStore
    let checkpointMaxBytes: Int

    func addRoutes(to routes: APIRoutes) {
        routes.post("/instances/{id}/checkpoints", use: save)
        routes.get("/instances/{id}/checkpoints", use: list)
        routes.get("/instances/{id}/checkpoints/latest", use: latest)
        routes.get("/instances/{id}/checkpoints/{checkpoint_id}", use: get)
        routes.post("/instances/{id}/checkpoints/prune", use: prune)
        routes.post("/instances/{id}/checkpoints/{checkpoint_id}/restore", use: restore)
    }

    @Sendable func save(_ request: Request, context: SluiceRequestContext) async throws -> Response {
        let id = try instanceID(context)
        let body = try await request.jsonBody(context: context)
        guard case .object(let object) = body else { throw SluiceError.invalid(field: "body", message: "body must be a JSON object") }
        guard let data = object["checkpoint_data"] else {
            throw SluiceError.invalid(field: "checkpoint_data", message: "checkpoint_data is required (any JSON value)")
        }
        let encoded = data.encoded()
        guard encoded.count <= checkpointMaxBytes else {
            throw APIError(.payloadTooLarge, "checkpoint_data is \(encoded.count) bytes; the limit is \(checkpointMaxBytes) (SLUICE_CHECKPOINT_MAX_BYTES)")
        }
        let checkpointId = try await checkpoints.save(id, data: encoded, by: context.principal.caller, nowMilliseconds: Clock.nowMilliseconds())
        return JSONValue.object(["id": .string(checkpointId)]).response(status: .created)
    }

    @Sendable func list(_ request: Request, context: SluiceRequestContext) async throws -> Response {
        guard let list = try await checkpoints.listJSON(try instanceID(context), for: context.principal.caller) else {
            throw APIError.notFound("instance not found")
        }
        return ByteBuffer.jsonResponse(list)
    }

    @Sendable func latest(_ request: Request, context: SluiceRequestContext) async throws -> Response {
        guard let checkpoint = try await checkpoints.getJSON(try instanceID(context), for: context.principal.caller) else {
            throw APIError.notFound("no checkpoints")
        }
        return ByteBuffer.jsonResponse(checkpoint)
    }

    @Sendable func get(_ request: Request, context: SluiceRequestContext) async throws -> Response {
        let id = try instanceID(context)
        let checkpointId = try self.checkpointID(context)
        guard let checkpoint = try await checkpoints.getJSON(id, checkpointId: checkpointId, for: context.principal.caller) else {
            throw APIError.notFound("checkpoint not found")
        }
        return ByteBuffer.jsonResponse(checkpoint)
    }

    @Sendable func prune(_ request: Request, context: SluiceRequestContext) async throws -> Response {
        let id = try instanceID(context)
        let body = try await request.jsonBody(context: context)
        guard case .object(let object) = body else { throw SluiceError.invalid(field: "body", message: "body must be a JSON object") }
        guard case .number(let number)? = object["keep"], let keep = Int(exactly: number), keep >= 0 else {
            throw APIError.unprocessable(
                "keep is required: a non-negative integer, how many of the newest checkpoints to keep", field: "keep", reason: "must be an integer >= 0")
        }
        let deleted = try await checkpoints.prune(id, keep: keep, by: context.principal.caller)
        return JSONValue.object(["count": .number(Double(deleted))]).response(status: .ok)
    }

    @Sendable func restore(_ request: Request, context: SluiceRequestContext) async throws -> Response {
        let id = try instanceID(context)
        let checkpointId = try self.checkpointID(context)
        let (state, block) = try await checkpoints.restore(id, checkpointId: checkpointId, by: context.principal.caller, nowMilliseconds: Clock.nowMilliseconds())
        return JSONValue.object([
            "id": .string(id), "checkpoint_id": .string(checkpointId), "state": .string(state.rawValue),
            "current_block": block.map(JSONValue.string) ?? .null,
        ]).response(status: .ok)
    }

    private func instanceID(_ context: SluiceRequestContext) throws -> String {
        let id = try context.parameters.require("id")
        guard Identifier.isValid(id) else { throw APIError.notFound("instance not found") }
        return id
    }

    /// Checked after the instance id: an id that cannot exist is simply not found.
    private func checkpointID(_ context: SluiceRequestContext) throws -> String {
        let id = try context.parameters.require("checkpoint_id")
        guard Identifier.isValid(id) else { throw APIError.notFound("checkpoint not found") }
        return id
    }
}
