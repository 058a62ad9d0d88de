import Hummingbird

/// While the process drains (`ShutdownDrain`), every response carries `Connection: close`, so a
/// client or load balancer does not send another request on this connection.
struct DrainMiddleware<Context: RequestContext>: RouterMiddleware {
    let drain: ShutdownDrain

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response = try await next(request, context)
        if drain.isDraining { response.headers[.connection] = "close" }
        return response
    }
}
