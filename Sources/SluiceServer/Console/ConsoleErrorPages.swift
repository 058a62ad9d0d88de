import HTTPTypes
import Hummingbird
import SluiceCore

/// Errors of console pages as pages: a request that needs a sign-in is sent to the sign-in
/// form; anything else gets an HTML page with the same status and message the API would give
/// (the message escaped like every other value). The console's scripts ask for JSON
/// (`Accept: application/json`) and get the API's error body instead (`RequestPipeline` asks
/// `answers(_:)` first).
enum ConsoleErrorPages {
    /// Whether a failed request is answered with a page rather than the API's JSON error.
    static func answers(_ request: Request) -> Bool {
        ConsolePaths.contains(request.uri.path) && !ConsoleRequest.wantsJSON(request)
    }

    /// The page for `error`. `context` is the request's as it came in (not signed in: the page
    /// must not show a session that the failure may have been about).
    static func response(for error: any Error, request: Request, context: SluiceRequestContext) throws -> Response {
        let apiError = APIError.from(error, logger: context.logger)
        if apiError.code == .unauthorized, request.method == .get {
            return Response(status: .seeOther, headers: [.location: "/console/sign-in", .cacheControl: "no-store"])
        }
        let page = ErrorPage(
            chrome: ConsoleChrome(title: "Error \(apiError.status.code)", context: context, csrf: nil),
            status: apiError.status.code, reason: apiError.status.reasonPhrase, message: apiError.message)
        return try ConsoleTemplates.page("error", page, status: apiError.status)
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
