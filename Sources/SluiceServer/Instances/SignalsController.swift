import HTTPTypes
import Hummingbird
import SluiceCore

/// `POST /instances/{id}/signals` `{"signal_type", "payload"}`: control signals, and decisions
/// of approval gates (`human_input:<block_id>`). Each is one script.
struct SignalsController {
    let signals: SignalStore
    let approvals: ApprovalStore

    static let idempotencyKey = HTTPField.Name("Idempotency-Key")!

    func addRoutes(to routes: APIRoutes) {
        routes.post("/instances/{id}/signals", use: signal)
    }

    @Sendable func signal(_ request: Request, context: SluiceRequestContext) async throws -> Response {
        let id = try context.parameters.require("id")
        guard Identifier.isValid(id) else { throw APIError.notFound("instance not found") }
        let idempotencyKey = try Self.idempotencyKey(request)
        let body = try await request.jsonBody(context: context)
        guard case .object(let object) = body else { throw SluiceError.invalid(field: "body", message: "body must be a JSON object") }
        let signal = try SignalType(object["signal_type"])
        let payload = object["payload"] ?? .object([:])
        let now = Clock.nowMilliseconds()
        let principal = context.principal
        guard case .humanInput(let block) = signal else {
            guard principal.role != .approver else {
                AuthMetrics.failure(.forbidden)
                throw APIError(.forbidden, "key \(principal.name) (role approver) may only send human_input:<block_id> signals")
            }
            let applied = try await signals.apply(
                signal, to: id, payload: payload, idempotencyKey: idempotencyKey, by: principal.caller, nowMilliseconds: now)
            return Self.answer(applied.signalId, "applied", .ok)
        }
        guard case .object(let fields) = payload else {
            throw SluiceError.invalid(field: "payload", message: "a human_input decision needs payload to be a JSON object, e.g. {\"value\": \"yes\"}")
        }
        switch try await approvals.decide(
            id, blockId: block, payload: fields, by: principal.caller, idempotencyKey: idempotencyKey, nowMilliseconds: now) {
        case .applied(let signalId):
            return Self.answer(signalId, "applied", .ok)
        case .queued(let signalId):
            return Self.answer(signalId, "queued", .accepted)
        case .alreadyDecided(let decision):
            throw APIError(.conflict, "gate \(block) was already decided", details: decision)
        case .alreadyQueued(let signalId):
            throw APIError(.conflict, "a decision for gate \(block) is already queued until the instance reaches it",
                           details: .object(["signal_id": .string(signalId)]))
        }
    }

    static func answer(_ signalId: String, _ status: String, _ code: HTTPResponse.Status) -> Response {
        JSONValue.object(["signal_id": .string(signalId), "status": .string(status)]).response(status: code)
    }

    /// `Idempotency-Key`: up to 200 visible ASCII characters; 400 otherwise.
    static func idempotencyKey(_ request: Request) throws -> String? {
        guard let key = request.headers[idempotencyKey] else { return nil }
        guard !key.isEmpty, key.utf8.count <= 200, key.utf8.allSatisfy({ $0 > 32 && $0 < 127 }) else {
            throw APIError.badRequest("Idempotency-Key must be 1-200 visible ASCII characters", field: "Idempotency-Key")
        }
        return key
    }
}
