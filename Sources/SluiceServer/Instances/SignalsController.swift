import Hummingbird
import SluiceCore

/// `POST /instances/{id}/signals` `{"signal_type", "payload"}`.
struct SignalsController {
    let signals: SignalStore
    let instances: InstanceStore

    func addRoutes(to router: Router<SluiceRequestContext>) {
        router.post("/instances/{id}/signals", use: signal)
    }

    @Sendable func signal(_ request: Request, context: SluiceRequestContext) async throws -> Response {
        let id = try context.parameters.require("id")
        guard Identifier.isValid(id) else { throw APIError.notFound("instance not found") }
        let body = try await request.jsonBody(context: context)
        guard case .object(let object) = body else { throw SluiceError.invalid(field: "body", message: "body must be a JSON object") }
        let signal = try SignalType(object["signal_type"])
        let payload = object["payload"] ?? .object([:])
        if case .humanInput(let block) = signal {
            // Gates arrive with the approvals queue; until then no block can be decided.
            guard try await instances.get(id) != nil else { throw APIError.notFound("instance not found") }
            throw SluiceError.invalid(field: "signal_type", message: "block '\(block)' is not an open human_input gate of this instance")
        }
        _ = try await signals.apply(signal, to: id, payload: payload, nowMilliseconds: Clock.nowMilliseconds())
        return JSONValue.object(["signal_id": .string(InstanceID.generate()), "status": .string("applied")]).response(status: .ok)
    }
}
