import Hummingbird
import SluiceCore

/// Sluice's own steps around every route, in one middleware frame, outermost first:
///
/// 1. while the process drains (`ShutdownDrain`), every response, errors included, carries
///    `Connection: close`, so a client or load balancer sends no other request on it;
/// 2. every error becomes the API's JSON error body (`APIError.from`);
/// 3. a failed console page is answered with a page instead (`ConsoleErrorPages`);
/// 4. the body limit comes from the configured limits (`Limits.bodyBytes`): a body that cannot
///    fit any allowed request is refused (413) before it is read, and raising
///    `SLUICE_CONTEXT_MAX_BYTES` or `SLUICE_CHECKPOINT_MAX_BYTES` raises it with them;
/// 5. who is calling: an API key header (`APIKeyAuthenticator`), else a console session cookie
///    on console paths (`ConsoleSessionAuthenticator`);
/// 6. whether that principal may call the route (`AccessCheck`); tenant checks are the routes'.
///
/// These were seven middlewares. Each Hummingbird middleware layer adds about 0.9 KiB of
/// responder closures and thunks to the connection task's allocations besides its own frame, and
/// ~2k instructions to every request: an SSE stream's connection task peaked at 22.8 KiB during
/// its request (11.4 KiB of it those seven layers), 13.2 KiB with one; every route costs ~15k
/// instructions less (bench/README.md → S5 and bench/cost).
struct RequestPipeline: RouterMiddleware {
    typealias Context = SluiceRequestContext
    let drain: ShutdownDrain
    let limits: Limits
    let apiKeys: APIKeyAuthenticator<Context>
    /// nil without the console.
    let consoleSessions: ConsoleSessionAuthenticator?
    let access: AccessCheck

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response: Response
        do {
            do {
                var context = context
                context.maxUploadSize = limits.bodyBytes
                if let principal = try await apiKeys.authenticate(request: request, context: context) { context.identity = principal }
                if let consoleSessions { try await consoleSessions.authenticate(request, context: &context) }
                try access.check(request, context: context)
                response = try await next(request, context)
            } catch where consoleSessions != nil && ConsoleErrorPages.answers(request) {
                // The context as the request came in: a page must not show a session the failure
                // may have been about.
                response = try ConsoleErrorPages.response(for: error, request: request, context: context)
            }
        } catch {
            response = try APIError.from(error, logger: context.logger).response(from: request, context: context)
        }
        if drain.isDraining { response.headers[.connection] = "close" }
        return response
    }
}
