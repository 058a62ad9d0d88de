import Hummingbird
import SluiceCore

/// Sets each request's body limit from the configured limits (`Limits.bodyBytes`): a body
/// that cannot fit any allowed request is refused (413) before it is read, and raising
/// `SLUICE_CONTEXT_MAX_BYTES` or `SLUICE_CHECKPOINT_MAX_BYTES` raises it with them.
struct BodyLimitMiddleware: RouterMiddleware {
    let limits: Limits

    func handle(_ request: Request, context: SluiceRequestContext, next: (Request, SluiceRequestContext) async throws -> Response) async throws -> Response {
        var context = context
        context.maxUploadSize = limits.bodyBytes
        return try await next(request, context)
    }
}
