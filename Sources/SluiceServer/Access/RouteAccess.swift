import Hummingbird
import HummingbirdAuth

/// Who may call a route (api.md → Authentication and tenancy). Every route of the router has
/// exactly one entry in `RouteAccess.table`; a route without one is refused to everybody, and
/// the access matrix test fails for it.
public enum RouteAccess: Sendable, Equatable {
    /// No key needed: liveness, readiness, the OpenAPI document, the benchmark floor, the
    /// console's sign-in form and its static assets.
    case open
    /// `/metrics`: admins and operators bound to no tenant, or anybody with `SLUICE_METRICS_OPEN`.
    case metrics
    /// Admins and operators (the instance/sequence/checkpoint API).
    case operators
    /// Also approvers: the queue and the instances they decide on, read-only.
    case approverReads
    /// Also approvers, for `human_input:*` signals only (checked by the signals route).
    case signals
    /// Also workers (limited to their handlers and tenant by the workers routes).
    case workers

    /// The rule of each route, by `"<METHOD> <path>"` as the router names it.
    public static let table: [String: RouteAccess] = [
        "GET /healthz": .open,
        "GET /readyz": .open,
        "GET /openapi.yaml": .open,
        "GET /bench/noop": .open,
        "GET /metrics": .metrics,
        "POST /sequences": .operators,
        "GET /sequences/{id}": .operators,
        "POST /instances": .operators,
        "GET /instances": .operators,
        "GET /instances/{id}": .approverReads,
        "DELETE /instances/{id}": .operators,
        "GET /instances/{id}/outputs": .operators,
        "GET /instances/{id}/stream": .approverReads,
        "POST /instances/{id}/signals": .signals,
        "POST /instances/{id}/checkpoints": .operators,
        "GET /instances/{id}/checkpoints": .operators,
        "GET /instances/{id}/checkpoints/latest": .operators,
        "GET /instances/{id}/checkpoints/{checkpoint_id}": .operators,
        "POST /instances/{id}/checkpoints/prune": .operators,
        "POST /instances/{id}/checkpoints/{checkpoint_id}/restore": .operators,
        "GET /approvals": .approverReads,
        "GET /approvals/stream": .approverReads,
        "POST /workers/tasks/poll": .workers,
        "POST /workers/tasks/{task_id}/heartbeat": .workers,
        "POST /workers/tasks/{task_id}/complete": .workers,
        "POST /workers/tasks/{task_id}/fail": .workers,
        // The console (ConsoleController): the same rules by what a page shows or does. Its pages
        // are reached with the session cookie (ConsoleSessionAuthenticator) or a key header.
        "GET /console": .approverReads,
        "GET /console/sign-in": .open,
        "POST /console/sign-in": .open,
        "POST /console/sign-out": .approverReads,
        "GET /console/assets/{file}": .open,
        "GET /console/approvals": .approverReads,
        "GET /console/approvals/stream": .approverReads,
        "POST /console/approvals/{id}/{block_id}": .signals,
        "GET /console/instances": .operators,
        "GET /console/instances/{id}": .operators,
        "GET /console/instances/{id}/stream": .operators,
        "POST /console/instances/{id}/signals": .operators,
        "GET /console/instances/{id}/checkpoints": .operators,
        "POST /console/instances/{id}/checkpoints/{checkpoint_id}/restore": .operators,
    ]

    public static func rule(method: HTTPRequest.Method, path: String) -> RouteAccess? {
        table["\(method.rawValue) \(path)"]
    }

    /// Whether `principal` may call a route with this rule (before tenant checks).
    public func allows(_ principal: Principal, metricsOpen: Bool) -> Bool {
        switch (self, principal.role) {
        case (.open, _), (_, .admin): return true
        case (.metrics, .operator): return metricsOpen || principal.tenant == nil
        case (.metrics, _): return metricsOpen
        case (_, .operator): return true
        case (.approverReads, .approver), (.signals, .approver): return true
        case (.workers, .worker): return true
        case (.operators, _), (.approverReads, _), (.signals, _), (.workers, _): return false
        }
    }
}

/// Applies `RouteAccess` after authentication: 401 without a (known) key where one is needed,
/// 403 for a role the route does not allow. Tenant checks need the data and are the routes'.
struct AccessCheck: Sendable {
    /// No keys configured: every request is `anonymous` with every right.
    let openAPI: Bool
    let metricsOpen: Bool

    @inline(never)  // keeps RequestPipeline.handle's async frame small (see there)
    func check(_ request: Request, context: SluiceRequestContext) throws {
        // Unmatched paths have no endpoint: they answer 404 whoever asks (nothing to protect).
        guard !openAPI, let path = context.endpointPath else { return }
        guard let rule = RouteAccess.rule(method: request.method, path: path) else {
            throw APIError(.forbidden, "no access rule for \(request.method.rawValue) \(path)")
        }
        if rule == .open || (rule == .metrics && metricsOpen) { return }
        guard let principal = context.identity else {
            AuthMetrics.failure(.missingKey)
            throw APIError(.unauthorized, "an API key is required: send Authorization: Bearer <key> or X-API-Key: <key>")
        }
        guard rule.allows(principal, metricsOpen: metricsOpen) else {
            AuthMetrics.failure(.forbidden)
            throw APIError(.forbidden, "key \(principal.name) (role \(principal.role.rawValue)) may not call \(request.method.rawValue) \(path)")
        }
    }
}
