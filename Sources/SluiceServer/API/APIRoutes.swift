import Hummingbird

/// Where the controllers add their routes: every route answers through `RequestPipeline`, which
/// runs inside the route's own responder (`PipelinedRoute`) rather than as a Hummingbird
/// middleware in front of it. A middleware layer puts a type-erased responder, the middleware's
/// witness, a closure thunk for `next` and the route's `CallbackResponder` between the router and
/// the handler: four async calls on every request, whose frames every connection's task allocator
/// keeps at its high-water mark. Controllers only ever see this type, so a route cannot be added without the pipeline
/// (access checks included). Unknown paths and methods, which reach no route, get the same
/// pipeline as a middleware (`buildRouter`).
struct APIRoutes {
    typealias Handler = @Sendable (Request, SluiceRequestContext) async throws -> Response

    let router: Router<SluiceRequestContext>
    let pipeline: RequestPipeline

    func get(_ path: RouterPath, use handler: @escaping Handler) { add(path, .get, handler) }
    func post(_ path: RouterPath, use handler: @escaping Handler) { add(path, .post, handler) }
    func delete(_ path: RouterPath, use handler: @escaping Handler) { add(path, .delete, handler) }

    private func add(_ path: RouterPath, _ method: HTTPRequest.Method, _ handler: @escaping Handler) {
        router.on(path, method: method, responder: PipelinedRoute(pipeline: pipeline, handler: handler))
    }
}

/// One route's responder: the pipeline's steps around the route's handler, in one frame.
struct PipelinedRoute: HTTPResponder {
    typealias Context = SluiceRequestContext

    let pipeline: RequestPipeline
    let handler: APIRoutes.Handler

    // Inlined into its protocol witness, as `handle` is into it: one async frame for both.
    @inline(__always)
    func respond(to request: Request, context: Context) async throws -> Response {
        try await pipeline.handle(request, context: context, next: handler)
    }
}
