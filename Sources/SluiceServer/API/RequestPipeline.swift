import Hummingbird
import SluiceCore

/// Sluice's own steps around every route, in one frame, outermost first:
///
/// 1. the request's HTTP metrics (`RequestMetrics`: Hummingbird's names and labels);
/// 2. while the process drains (`ShutdownDrain`), every response, errors included, carries
///    `Connection: close`, so a client or load balancer sends no other request on it;
/// 3. every error becomes the API's JSON error body (`APIError.from`);
/// 4. a failed console page is answered with a page instead (`ConsoleErrorPages`);
/// 5. the body limit comes from the configured limits (`Limits.bodyBytes`): a body that cannot
///    fit any allowed request is refused (413) before it is read, and raising
///    `SLUICE_CONTEXT_MAX_BYTES` or `SLUICE_CHECKPOINT_MAX_BYTES` raises it with them;
/// 6. who is calling: an API key header (`APIKeyAuthenticator`), else a console session cookie
///    on console paths (`ConsoleSessionAuthenticator`);
/// 7. whether that principal may call the route (`AccessCheck`); tenant checks are the routes'.
///
/// These were eight middlewares. Each Hummingbird middleware layer adds about 0.9 KiB of
/// responder closures and thunks to the connection task's allocations besides its own frame, and
/// ~2k instructions to every request, and the task allocator keeps its high-water mark for the
/// connection's life: an SSE stream's connection task peaked at 22.8 KiB during its request
/// (11.4 KiB of it seven layers), 13.2 KiB with one; every route costs ~15k instructions less
/// (bench/README.md → S5 and bench/cost). The error answers are made in functions that are not
/// async, so their values are not part of this async frame either.
///
/// It is no longer a middleware in front of the routes but runs inside each route's responder
/// (`APIRoutes`, `PipelinedRoute`): that took the middleware's type-erased responder, its witness
/// and a thunk for `next` out of every request, 3.2–5.5k instructions (floor 181k -> 176k) and
/// 1.0 KiB per idle keep-alive connection, 2.0 KiB per idle SSE stream. It stays a middleware
/// for the requests that reach no route (`buildRouter`).
struct RequestPipeline: RouterMiddleware {
    typealias Context = SluiceRequestContext
    let drain: ShutdownDrain
    let limits: Limits
    let apiKeys: APIKeyAuthenticator
    /// nil without the console.
    let consoleSessions: ConsoleSessionAuthenticator?
    let access: AccessCheck
    let metrics: RequestMetrics

    // Inlined into each route's responder (`PipelinedRoute`): one async frame instead of two.
    @inline(__always)
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let started = metrics.start(request)
        let response: Response
        do {
            response = try await next(request, try await admitted(request, context: context))
        } catch {
            return try failed(error, request: request, context: context, started: started)
        }
        return finished(response, request: request, context: context, started: started)
    }

    // The steps that are not async are functions of their own, never inlined: an async
    // function's locals, and those of everything inlined into it, live in its frame in the task's
    // allocator, and every connection keeps that allocator at its high-water mark for its life.
    // Inlined, they cost 0.65 KiB per idle keep-alive connection (22.14 -> 21.49 KiB over 10,000:
    // bench/idle-connections). The admission (with the console's session read) and the failure
    // path are async or throwing functions of their own for the same reason: `handle`'s frame
    // went from 1,312 to 672 bytes (bench/frames), an idle keep-alive connection from 20.49 to
    // 19.28 KiB, for one more async call per request (~1k instructions: bench/cost).

    /// The context the route gets: the body limit and the principal (an API key's, or a console
    /// session's: a Redis read), once that principal may call the route. A function of its own,
    /// so its locals are in a frame freed before the route runs, not in `handle`'s; the session's
    /// read is in another, so that this frame stays small too.
    @inline(never)
    private func admitted(_ request: Request, context: Context) async throws -> Context {
        let context = try authenticated(request, context: context)
        if let token = sessionToken(request, context: context) {
            return try await signedIn(request, token: token, context: context)
        }
        try access.check(request, context: context)
        return context
    }

    /// A console page's session cookie, when it sent no API key.
    @inline(never)
    private func sessionToken(_ request: Request, context: Context) -> String? {
        consoleSessions?.token(request, context: context)
    }

    /// The context with the principal of the console session `token`, once it may call the route.
    @inline(never)
    private func signedIn(_ request: Request, token: String, context: Context) async throws -> Context {
        var context = context
        try await consoleSessions?.authenticate(token: token, context: &context)
        try access.check(request, context: context)
        return context
    }

    /// The context with the body limit and the API key's principal.
    @inline(never)
    private func authenticated(_ request: Request, context: Context) throws -> Context {
        var context = context
        context.maxUploadSize = limits.bodyBytes
        if let principal = try apiKeys.principal(of: request) { context.identity = principal }
        return context
    }

    /// The response as sent: `Connection: close` while draining, and counted (`RequestMetrics.finish`).
    @inline(never)
    private func finished(_ response: Response, request: Request, context: Context, started: RequestMetrics.Started) -> Response {
        var response = response
        if drain.isDraining { response.headers[.connection] = "close" }
        return metrics.finish(response, request: request, route: context.endpointPath, started: started)
    }

    /// The answered failure, counted; a failure that cannot be answered is counted and thrown.
    @inline(never)
    private func failed(_ error: any Error, request: Request, context: Context, started: RequestMetrics.Started) throws -> Response {
        let response: Response
        do {
            response = try answer(error, request: request, context: context)
        } catch {
            metrics.failed(error, request: request, route: context.endpointPath, started: started)
            throw error
        }
        return finished(response, request: request, context: context, started: started)
    }

    /// The answer to a failed request: a console page for a console page's failure (made from
    /// the context as the request came in, as a page must not show a session the failure may
    /// have been about), else the API's JSON error.
    @inline(never)
    private func answer(_ error: any Error, request: Request, context: Context) throws -> Response {
        var error = error
        if consoleSessions != nil && ConsoleErrorPages.answers(request) {
            do {
                return try ConsoleErrorPages.response(for: error, request: request, context: context)
            } catch let pageError {
                error = pageError  // the page could not be made: the API's answer to that
            }
        }
        return try APIError.from(error, logger: context.logger).response(from: request, context: context)
    }
}
