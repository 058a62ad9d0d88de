import Hummingbird
import HummingbirdAuth
import NIOCore
import SluiceCore

/// The per-request context of every route: the authenticated principal, the body size limit and
/// the connection.
public struct SluiceRequestContext: AuthRequestContext {
    public var coreContext: CoreRequestContextStorage
    /// Set by `APIKeyAuthenticator`: the key's principal, `anonymous` in open mode, nil when no
    /// key was sent (then only open routes are reachable: `AccessCheck`).
    public var identity: Principal?
    /// Largest request body read; bigger bodies get 413. Set from the configured limits by
    /// `RequestPipeline` (`Limits.bodyBytes`).
    public var maxUploadSize: Int = Limits().bodyBytes
    /// Set by `ConsoleSessionAuthenticator` on console requests signed in with a session cookie
    /// (its CSRF token guards the console's writes).
    public var consoleSession: ConsoleSession?
    /// The request's connection: a stream watches it for its client leaving
    /// (`StreamWatch`).
    public let channel: any Channel

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.channel = source.channel
    }

    /// Who is calling. Routes that need a key are only reached with one (`AccessCheck`);
    /// in open mode the authenticator sets `anonymous`. Without an identity (an open route with
    /// keys on) this falls back to `anonymous`, which has every right: an open route must not act
    /// on the principal.
    public var principal: Principal { identity ?? .anonymous }
}
