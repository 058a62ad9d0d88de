import HTTPTypes
import Hummingbird
import SluiceCore

/// Errors of console pages as pages: a request that needs a sign-in is sent to the sign-in
/// form; anything else gets an HTML page with the same status and message the API would give
/// (the message escaped like every other value). The console's scripts ask for JSON
/// (`Accept: application/json`) and get the API's error body instead. Other paths pass through.
struct ConsoleErrorPages: RouterMiddleware {
    typealias Context = SluiceRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard ConsolePaths.contains(request.uri.path) else { return try await next(request, context) }
        do {
            return try await next(request, context)
        } catch {
            if ConsoleRequest.wantsJSON(request) { throw error }
            let apiError = APIErrorMiddleware<Context>.apiError(for: error, logger: context.logger)
            if apiError.code == .unauthorized, request.method == .get {
                return Response(status: .seeOther, headers: [.location: "/console/sign-in", .cacheControl: "no-store"])
            }
            let page = ErrorPage(
                chrome: ConsoleChrome(title: "Error \(apiError.status.code)", context: context, csrf: nil),
                status: apiError.status.code, reason: apiError.status.reasonPhrase, message: apiError.message)
            return try ConsoleTemplates.page("error", page, status: apiError.status)
        }
    }
}

enum ConsoleRequest {
    static func wantsJSON(_ request: Request) -> Bool {
        request.headers[.accept]?.contains("application/json") == true
    }
}

struct ErrorPage {
    var chrome: ConsoleChrome
    var status: Int
    var reason: String
    var message: String
}
