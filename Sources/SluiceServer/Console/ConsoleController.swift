import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import SluiceCore

/// The Sluice Console: server-rendered pages over the same stores (and so the same scripts and
/// tenant checks) as the JSON API, with a little plain JavaScript for the live parts. Every
/// route is under `/console`, has its rule in `RouteAccess.table`, and is not part of the JSON
/// API (`openapi.yaml`): its pages are HTML and its writes are forms guarded by `ConsoleCSRF`.
struct ConsoleController {
    let instances: InstanceStore
    let approvals: ApprovalStore
    let signals: SignalStore
    let checkpoints: CheckpointStore
    let events: EventStreamReader
    let sessions: ConsoleSessionStore
    let ring: APIKeyRing
    /// The API's stream handlers, served again under `/console` so that the page's EventSource
    /// is authenticated by the session cookie (which the API never reads).
    /// Not async, as the streams' routes are not (`InstanceStreamController.addRoutes`).
    let approvalStream: @Sendable (Request, SluiceRequestContext) throws -> Response
    let instanceStream: @Sendable (Request, SluiceRequestContext) throws -> Response

    func addRoutes(to routes: APIRoutes) {
        routes.get("/console", use: home)
        routes.get("/console/sign-in", use: signInForm)
        routes.post("/console/sign-in", use: signIn)
        routes.post("/console/sign-out", use: signOut)
        routes.get("/console/assets/{file}", use: asset)
        routes.get("/console/approvals", use: inbox)
        routes.get("/console/approvals/stream") { try approvalStream($0, $1) }
        routes.post("/console/approvals/{id}/{block_id}", use: decide)
        routes.get("/console/instances", use: instanceList)
        routes.get("/console/instances/{id}", use: instancePage)
        routes.get("/console/instances/{id}/stream") { try instanceStream($0, $1) }
        routes.post("/console/instances/{id}/signals", use: signal)
        routes.get("/console/instances/{id}/checkpoints", use: checkpointList)
        routes.post("/console/instances/{id}/checkpoints/{checkpoint_id}/restore", use: restore)
    }

    /// Approvers land on their inbox, everybody else on the instances.
    @Sendable func home(_ request: Request, context: SluiceRequestContext) async throws -> Response {
        let role = context.principal.role
        return Self.redirect(role == .admin || role == .operator ? "/console/instances" : "/console/approvals")
    }

    /// `console.js` and `console.css`, compiled into the binary. Their names are fixed, so a
    /// changed file needs a new build anyway: cached briefly, revalidated by the browser.
    @Sendable func asset(_ request: Request, context: SluiceRequestContext) async throws -> Response {
        let file = try context.parameters.require("file")
        let types = ["js": "text/javascript; charset=utf-8", "css": "text/css; charset=utf-8"]
        guard let text = EmbeddedConsoleFiles.all["assets/" + file], let type = file.split(separator: ".").last.flatMap({ types[String($0)] }) else {
            throw APIError.notFound("no such console asset")
        }
        return Response(
            status: .ok,
            headers: [.contentType: type, .cacheControl: "no-cache", Self.noSniff: "nosniff"],
            body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    // MARK: shared by the pages

    static let noSniff = HTTPField.Name("X-Content-Type-Options")!

    static func redirect(_ location: String, cookies: [Cookie] = []) -> Response {
        var response = Response(status: .seeOther, headers: [.location: location, .cacheControl: "no-store"])
        for cookie in cookies { response.setCookie(cookie) }
        return response
    }

    /// The token a page's forms carry: the session's, or else the pre-session cookie's (made
    /// when missing; the returned cookie must then be set on the response).
    func formToken(_ request: Request, _ context: SluiceRequestContext) -> (token: String, cookie: Cookie?) {
        if let session = context.consoleSession { return (session.csrf, nil) }
        if let existing = request.cookies[ConsoleCookies.preSession]?.value, ConsoleSessionStore.isWellFormed(existing) { return (existing, nil) }
        let token = ConsoleSessionStore.randomToken()
        return (token, ConsoleCookies.make(ConsoleCookies.preSession, token, maxAge: nil, secure: ConsoleCookies.isSecure(request)))
    }

    func chrome(_ title: String, _ context: SluiceRequestContext, csrf: String?, section: String = "") -> ConsoleChrome {
        ConsoleChrome(title: title, context: context, csrf: csrf, section: section, openMode: ring.isOpen)
    }

    static func page(_ name: String, _ page: Any, status: HTTPResponse.Status = .ok, cookie: Cookie?) throws -> Response {
        var response = try ConsoleTemplates.page(name, page, status: status)
        if let cookie { response.setCookie(cookie) }
        return response
    }

    /// A path id that cannot exist is not found, like the API's.
    static func pathID(_ context: SluiceRequestContext, _ name: String, missing: String) throws -> String {
        let id = try context.parameters.require(name)
        guard Identifier.isValid(id) else { throw APIError.notFound(missing) }
        return id
    }

    /// A query filter that must be an identifier (empty means no filter); 400 otherwise.
    static func filter(_ request: Request, _ name: String) throws -> String? {
        guard let value = request.uri.queryParameters[Substring(name)].map(String.init), !value.isEmpty else { return nil }
        guard Identifier.isValid(value) else { throw APIError.badRequest("\(name) must be \(Identifier.rule)", field: name) }
        return value
    }

    /// RFC 3986's unreserved characters (ASCII only; `.alphanumerics` would pass other letters).
    static let unreserved = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")

    /// `?a=b&c=d` from the given pairs (nil values left out), percent-encoded.
    static func query(_ pairs: [(String, String?)]) -> String {
        let encoded = pairs.compactMap { name, value in
            value.map { "\(name)=\($0.addingPercentEncoding(withAllowedCharacters: unreserved) ?? "")" }
        }
        return encoded.isEmpty ? "" : "?" + encoded.joined(separator: "&")
    }
}
