import HTTPTypes
import Hummingbird
import HummingbirdAuth
import Metrics

/// Finds the principal of a request from `Authorization: Bearer <key>` (hummingbird-auth's
/// `bearer`) or `X-API-Key: <key>`. `RequestPipeline` calls it within its own frame: not as a
/// middleware layer of its own, and not `async`, so it adds nothing to a connection's task
/// allocations. An unknown key is refused here (401); a missing one is left to `AccessCheck`,
/// which knows whether the route is open. Keys are never logged.
struct APIKeyAuthenticator: Sendable {
    let ring: APIKeyRing

    static var apiKeyHeader: HTTPField.Name { HTTPField.Name("X-API-Key")! }

    /// The key's principal, `anonymous` when the API is open, nil when no key was sent.
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
