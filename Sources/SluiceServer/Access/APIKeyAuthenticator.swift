import HTTPTypes
import Hummingbird
import HummingbirdAuth
import Metrics

/// Finds the principal of a request from `Authorization: Bearer <key>` or `X-API-Key: <key>`
/// (hummingbird-auth's authenticator protocol; `RequestPipeline` calls `authenticate` within its
/// own frame rather than adding one more middleware layer). An unknown key is
/// refused here (401); a missing one is left to `AccessCheck`, which knows whether the
/// route is open. Keys are never logged.
struct APIKeyAuthenticator<Context: AuthRequestContext<Principal>>: AuthenticatorMiddleware {
    typealias Identity = Principal
    let ring: APIKeyRing

    static var apiKeyHeader: HTTPField.Name { HTTPField.Name("X-API-Key")! }

    func authenticate(request: Request, context: Context) async throws -> Principal? {
        try principal(of: request)
    }

    /// What `authenticate` answers, without an async frame (`RequestPipeline` calls this).
    func principal(of request: Request) throws -> Principal? {
        if ring.isOpen { return .anonymous }
        guard let presented = request.headers.bearer?.token ?? request.headers[Self.apiKeyHeader] else { return nil }
        guard let principal = ring.authenticate(presented.utf8) else {
            AuthMetrics.failure(.unknownKey)
            throw APIError(.unauthorized, "unknown API key")
        }
        return principal
    }
}

enum AuthMetrics {
    enum Reason: String {
        case missingKey = "missing_key"
        case unknownKey = "unknown_key"
        case forbidden
    }

    static func failure(_ reason: Reason) {
        Counter(label: "sluice_auth_failures_total", dimensions: [("reason", reason.rawValue)]).increment()
    }
}
