import Hummingbird
import NIOCore
import SluiceCore

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
    /// Largest request body read; bigger bodies get 413. Set from the configured limits by
    /// `BodyLimitMiddleware` (`Limits.bodyBytes`).
    public var maxUploadSize: Int = Limits().bodyBytes

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
    }
}
