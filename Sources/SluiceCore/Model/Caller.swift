/// Who makes a change, as the stores see it: the name recorded on what the change causes
/// (`by` on events, `decided_by` on decisions) and the tenant the caller is confined to.
///
/// A caller bound to a tenant acts only on that tenant's instances; scripts report anything
/// else exactly like a missing instance, so ids of other tenants cannot be probed.
public struct Caller: Sendable, Equatable {
    public var name: String
    /// nil: any tenant (admins, operators bound to none, open mode).
    public var tenant: String?

    public init(name: String, tenant: String? = nil) {
        self.name = name
        self.tenant = tenant
    }

    /// The unauthenticated caller of an API without keys (development).
    public static let anonymous = Caller(name: "anonymous")

    /// The scope argument of the scripts: the tenant, or '' for any.
    var scope: String { tenant ?? "" }

    /// Whether an instance of `tenant` is visible to this caller.
    public func sees(tenant instanceTenant: String?) -> Bool {
        guard let tenant else { return true }
        return instanceTenant == tenant
    }
}
