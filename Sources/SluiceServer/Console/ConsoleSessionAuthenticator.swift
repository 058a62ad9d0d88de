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

    func authenticate(_ request: Request, context: inout SluiceRequestContext) async throws {
        guard ConsolePaths.contains(request.uri.path), !ring.isOpen, context.identity == nil,
              let token = request.cookies[ConsoleCookies.session]?.value, !token.isEmpty else { return }
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
