import SluiceCore

/// What a key may do (api.md → Authentication and tenancy).
public enum Role: String, Sendable, CaseIterable, Codable {
    /// Everything, every tenant.
    case admin
    /// Everything within its tenant, or all tenants when bound to none.
    case `operator`
    /// Reads the approvals queue and instances, and decides gates (`human_input:*` signals).
    case approver
    /// Only the workers protocol (`/workers/tasks/*`), optionally for some handlers only.
    case worker
}

/// Who is making a request: the API key that authenticated it (or `anonymous` when the API is
/// open), its role, the tenant it is bound to and, for workers, the handlers it serves.
///
/// An immutable class rather than a struct: every request's context holds one, and a context is
/// copied into several async frames of every request, which an idle connection's task keeps at
/// their high-water mark; a reference is 8 bytes there instead of 56 (bench/README.md → S5).
/// Made once per API key (and once for `anonymous`), never per request.
public final class Principal: Sendable, Equatable {
    public let name: String
    public let role: Role
    public let tenant: String?
    /// nil: every handler.
    public let handlers: Set<String>?

    public init(name: String, role: Role, tenant: String? = nil, handlers: Set<String>? = nil) {
        self.name = name
        self.role = role
        self.tenant = tenant
        self.handlers = handlers
    }

    /// Every request of an API without keys (development).
    public static let anonymous = Principal(name: Caller.anonymous.name, role: .admin)

    /// The principal as the stores see it: the name recorded as `by`, the tenant scope.
    public var caller: Caller { Caller(name: name, tenant: tenant) }

    /// The tenant a listing is filtered by: a tenant-bound key always sees only its own, and
    /// naming another is refused (403); others see what they ask for.
    public func tenantFilter(_ requested: String?, field: String = "tenant_id") throws -> String? {
        guard let tenant else { return requested }
        if let requested, requested != tenant {
            throw APIError(.forbidden, "this key is bound to tenant \(tenant); \(field) \(requested) is not allowed",
                           details: .object(["field": .string(field)]))
        }
        return tenant
    }

    public static func == (a: Principal, b: Principal) -> Bool {
        a.name == b.name && a.role == b.role && a.tenant == b.tenant && a.handlers == b.handlers
    }

    /// Whether a worker key may serve `handler`.
    public func serves(handler: String) -> Bool {
        handlers?.contains(handler) ?? true
    }
}
