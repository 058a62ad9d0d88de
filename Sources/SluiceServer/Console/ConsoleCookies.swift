import HTTPTypes
import Hummingbird

/// The console's two cookies. Both are HttpOnly (no script reads them), SameSite=Strict (no other
/// site's page can make the browser send them) and scoped to `/console`, so the JSON API never
/// sees them: the API authenticates with keys in headers only, and so has no CSRF surface.
enum ConsoleCookies {
    /// The session token (`ConsoleSessionStore`).
    static let session = "sluice_session"
    /// A token for forms sent before there is a session: the sign-in form, and every form in open
    /// mode (no keys, no sign-in). Checked as a double submit: the form's field must equal it.
    static let preSession = "sluice_csrf"
    static let path = "/console"
    static let forwardedProto = HTTPField.Name("X-Forwarded-Proto")!

    static func make(_ name: String, _ value: String, maxAge: Int?, secure: Bool) -> Cookie {
        Cookie(name: name, value: value, maxAge: maxAge, path: path, secure: secure, httpOnly: true, sameSite: .strict)
    }

    /// An expired cookie with the same name and scope: the browser drops it.
    static func clear(_ name: String, secure: Bool) -> Cookie { make(name, "", maxAge: 0, secure: secure) }

    /// `Secure` when the browser reached us over HTTPS (directly or through the proxy that says
    /// so, as deploy/nginx.conf does); a plain-HTTP development server could not set it otherwise.
    static func isSecure(_ request: Request) -> Bool {
        request.head.scheme == "https" || request.headers[forwardedProto]?.lowercased() == "https"
    }
}
