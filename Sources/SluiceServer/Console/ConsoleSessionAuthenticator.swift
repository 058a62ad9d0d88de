import HTTPTypes
import Hummingbird
import SluiceCore

/// Turns a console session cookie into the request's principal, after `APIKeyAuthenticator`
/// (a key in a header wins) and before `AccessCheck`, which then applies `RouteAccess` to
/// console routes exactly as to the API's. Only `/console` requests are looked at: the API is
/// never authenticated by a cookie.
struct ConsoleSessionAuthenticator: Sendable {
    let sessions: ConsoleSessionStore
    let ring: APIKeyRing

    /// The session cookie to look up: only on a console path, with keys on and no key sent.
    /// Not async, so an API request never allocates `authenticate`'s frame.
    @inline(never)  // keeps RequestPipeline.handle's async frame small (see there)
    func token(_ request: Request, context: SluiceRequestContext) -> String? {
        guard ConsolePaths.contains(request.uri.path), !ring.isOpen, context.identity == nil,
              let token = request.cookies[ConsoleCookies.session]?.value, !token.isEmpty else { return nil }
        return token
    }

    /// The session of `token` (from `token(_:context:)`) as the request's principal. Never
    /// inlined: its Redis read would make the caller's async frame (`RequestPipeline`, which every
    /// request goes through and every idle connection keeps at its high-water mark) that much
    /// bigger.
    @inline(never)
    func authenticate(token: String, context: inout SluiceRequestContext) async throws {
        if let session = try await sessions.get(token: token), let principal = ring.principal(digest: session.keyDigest) {
            context.identity = principal
            context.consoleSession = session
        }
    }
}

enum ConsolePaths {
    static let root = "/console"

    static func contains(_ path: String) -> Bool { path == root || path.hasPrefix(root + "/") }
}
