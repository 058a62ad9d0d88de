import Hummingbird
import NIOCore
import SluiceCore

/// `GET /approvals`: every instance waiting on a human_input gate, in queue order (soonest
/// deadline first, then undated items by waiting_since, ties by instance id).
struct ApprovalsController {
    let approvals: ApprovalStore

    static let maximumLimit = 1000
    /// Deeper than this, offsets get expensive (every partition returns offset + limit
    /// positions); the cursor does not.
    static let maximumDepth = 10_000

    func addRoutes(to routes: APIRoutes) {
        routes.get("/approvals", use: list)
    }

    @Sendable func list(_ request: Request, context: SluiceRequestContext) async throws -> Response {
        var query = try Self.query(request)
        query.tenantId = try context.principal.tenantFilter(query.tenantId)
        let page = try await approvals.list(query)
        // The items are stored as JSON text: written out as they are, never re-encoded.
        var body = ByteBuffer(string: #"{"items":["#)
        for (index, item) in page.items.enumerated() {
            if index > 0 { body.writeString(",") }
            body.writeString(item)
        }
        body.writeString(#"],"total":\#(page.total),"next_cursor":"#)
        body.writeString(page.next.map { "\"\($0.text)\"" } ?? "null")
        body.writeString("}")
        return Response(status: .ok, headers: [.contentType: "application/json; charset=utf-8"], body: .init(byteBuffer: body))
    }

    static func query(_ request: Request) throws -> ApprovalStore.Query {
        let parameters = request.uri.queryParameters
        var query = ApprovalStore.Query()
        query.tenantId = try identifier(request, "tenant_id")
        query.namespace = try identifier(request, "namespace")
        if let text = parameters["limit"] {
            guard let value = Int(text), (0...maximumLimit).contains(value) else {
                throw APIError.badRequest("query parameter limit must be an integer from 0 to \(maximumLimit) (got '\(text)')", field: "limit")
            }
            query.limit = value
        }
        if let text = parameters["offset"] {
            guard let value = Int(text), value >= 0 else {
                throw APIError.badRequest("query parameter offset must be a non-negative integer (got '\(text)')", field: "offset")
            }
            query.offset = value
        }
        // Compared without adding: offset may be any Int, and offset + limit would overflow (trap).
        guard query.offset <= maximumDepth - query.limit else {
            throw APIError.badRequest(
                "offset + limit must be at most \(maximumDepth); page further with cursor (the next_cursor of the previous page)", field: "offset")
        }
        if let text = parameters["cursor"], !text.isEmpty {
            guard let cursor = ApprovalStore.Cursor(String(text)) else {
                throw APIError.badRequest("query parameter cursor is not a cursor returned by this endpoint", field: "cursor")
            }
            query.cursor = cursor
        }
        return query
    }

    static func identifier(_ request: Request, _ name: String) throws -> String? {
        guard let value = request.uri.queryParameters[Substring(name)] else { return nil }
        guard Identifier.isValid(String(value)) else { throw APIError.badRequest("query parameter \(name) must be \(Identifier.rule)", field: name) }
        return String(value)
    }
}
