import Hummingbird
import NIOCore

/// Who is making a request. API keys arrive with the authentication issue; until then, and
/// whenever no keys are configured, every request is `anonymous`.
public struct Principal: Sendable, Equatable {
    public var name: String
    public static let anonymous = Principal(name: "anonymous")
}

/// The per-request context of every route: the principal and the body size limit.
public struct SluiceRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public var principal: Principal = .anonymous
    /// Largest request body read; bigger bodies get 413. Sized for the largest allowed payload
    /// (a checkpoint) plus its JSON envelope.
    public var maxUploadSize: Int { 8 * 1024 * 1024 }

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
    }
}
