import Hummingbird
import NIOCore
import SluiceCore

/// The one error type of the HTTP API. Every 4xx/5xx body is
/// `{"error": "<message>", "code": "<code>", "details"?: {...}}`.
public struct APIError: HTTPResponseError, Sendable, Equatable {
    public enum Code: String, Sendable, Codable, CaseIterable {
        case badRequest = "bad_request"
        case unauthorized
        case forbidden
        case notFound = "not_found"
        case conflict
        case payloadTooLarge = "payload_too_large"
        case unprocessable
        case unavailable
        case `internal`

        public var status: HTTPResponse.Status {
            switch self {
            case .badRequest: return .badRequest
            case .unauthorized: return .unauthorized
            case .forbidden: return .forbidden
            case .notFound: return .notFound
            case .conflict: return .conflict
            case .payloadTooLarge: return .contentTooLarge
            case .unprocessable: return .unprocessableContent
            case .unavailable: return .serviceUnavailable
            case .internal: return .internalServerError
            }
        }
    }

    public var code: Code
    public var message: String
    public var details: JSONValue?

    public init(_ code: Code, _ message: String, details: JSONValue? = nil) {
        self.code = code
        self.message = message
        self.details = details
    }

    public var status: HTTPResponse.Status { code.status }

    /// The one mapping from domain failures to API errors.
    public init(_ error: SluiceError) {
        switch error {
        case .invalid(let field, let message):
            self.init(.unprocessable, message, details: .object(["field": .string(field)]))
        case .notFound(let message):
            self.init(.notFound, message)
        case .conflict(let message, let details):
            self.init(.conflict, message, details: details)
        case .tooLarge(let message):
            self.init(.payloadTooLarge, message)
        }
    }

    public static func badRequest(_ message: String, field: String? = nil) -> APIError {
        APIError(.badRequest, message, details: field.map { .object(["field": .string($0)]) })
    }

    public static func unprocessable(_ message: String, field: String? = nil, reason: String? = nil) -> APIError {
        var details: [String: JSONValue] = [:]
        if let field { details["field"] = .string(field) }
        if let reason { details["reason"] = .string(reason) }
        return APIError(.unprocessable, message, details: details.isEmpty ? nil : .object(details))
    }

    public static func notFound(_ message: String) -> APIError { APIError(.notFound, message) }

    public static let redisUnavailable = APIError(.unavailable, "storage unavailable: Redis did not answer in time; retry shortly")

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var body: [String: JSONValue] = ["error": .string(message), "code": .string(code.rawValue)]
        if let details { body["details"] = details }
        var headers: HTTPFields = [.contentType: "application/json; charset=utf-8"]
        if code == .unavailable { headers[.retryAfter] = "1" }
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: JSONValue.object(body).encoded())))
    }
}
