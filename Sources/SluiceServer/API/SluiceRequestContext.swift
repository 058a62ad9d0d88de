import Hummingbird
import HummingbirdAuth
import NIOCore

/// The per-request context of every route: the authenticated principal and the body size limit.
public struct SluiceRequestContext: AuthRequestContext {
    public var coreContext: CoreRequestContextStorage
    /// Set by `APIKeyAuthenticator`: the key's principal, `anonymous` in open mode, nil when no
    /// key was sent (then only open routes are reachable: `AccessMiddleware`).
    public var identity: Principal?
    /// Largest request body read; bigger bodies get 413. Sized for the largest allowed payload
    /// (a checkpoint) plus its JSON envelope.
    public var maxUploadSize: Int { 8 * 1024 * 1024 }

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
    }

    /// Who is calling. Routes that need a key are only reached with one (`AccessMiddleware`).
    public var principal: Principal { identity ?? .anonymous }
}
