import HTTPTypes
import Hummingbird
import SluiceCore

/// Sign-in: an API key typed into a form is exchanged for a session cookie. The key travels
/// once, in a POST body; it is never put in a URL, a cookie or the page, and the browser's
/// scripts never see the session token (HttpOnly).
extension ConsoleController {
    /// Keys are 16+ characters in practice; anything near this is not a key.
    static let maximumKeyLength = 512

    @Sendable func signInForm(_ request: Request, context: SluiceRequestContext) async throws -> Response {
        if ring.isOpen || context.consoleSession != nil { return Self.redirect("/console") }
        let (token, cookie) = formToken(request, context)
        return try Self.page("sign-in", SignInPage(chrome: chrome("Sign in", context, csrf: nil), csrf: token, error: nil), cookie: cookie)
    }

    @Sendable func signIn(_ request: Request, context: SluiceRequestContext) async throws -> Response {
        if ring.isOpen { return Self.redirect("/console") }
        let form = try await ConsoleForm.read(request, allowed: [ConsoleCSRF.field, "key"])
        try ConsoleCSRF.verify(form, request, context)
        let key = try form.required("key", maxLength: Self.maximumKeyLength)
        func refuse(_ message: String, _ status: HTTPResponse.Status) throws -> Response {
            let (token, cookie) = formToken(request, context)
            return try Self.page("sign-in", SignInPage(chrome: chrome("Sign in", context, csrf: nil), csrf: token, error: message), status: status, cookie: cookie)
        }
        let digest = APIKey.digest(of: key.utf8)
        guard let principal = ring.principal(digest: digest) else {
            AuthMetrics.failure(.unknownKey)
            return try refuse("That API key is not known to this server.", .unauthorized)
        }
        guard principal.role != .worker else {
            AuthMetrics.failure(.forbidden)
            return try refuse("Key \(principal.name) is a worker key: workers have no console. Sign in with an approver, operator or admin key.", .forbidden)
        }
        let (sessionToken, _) = try await sessions.create(keyDigest: digest, nowMilliseconds: Clock.nowMilliseconds())
        let secure = ConsoleCookies.isSecure(request)
        return Self.redirect("/console", cookies: [
            ConsoleCookies.make(ConsoleCookies.session, sessionToken, maxAge: ConsoleSessionStore.ttlSeconds, secure: secure),
            ConsoleCookies.clear(ConsoleCookies.preSession, secure: secure),
        ])
    }

    @Sendable func signOut(_ request: Request, context: SluiceRequestContext) async throws -> Response {
        let form = try await ConsoleForm.read(request, allowed: [ConsoleCSRF.field])
        try ConsoleCSRF.verify(form, request, context)
        if let token = request.cookies[ConsoleCookies.session]?.value { try await sessions.delete(token: token) }
        return Self.redirect("/console/sign-in", cookies: [ConsoleCookies.clear(ConsoleCookies.session, secure: ConsoleCookies.isSecure(request))])
    }
}
