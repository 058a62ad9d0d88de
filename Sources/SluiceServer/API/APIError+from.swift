import Hummingbird
import Logging
import SluiceCore
import SluiceRedis

extension APIError {
    /// The API's error for anything a route or the layers before it threw: route errors, unknown
    /// routes, body decoding failures, Redis outages (503) and anything unexpected (500, logged,
    /// never shown to the client). `RequestPipeline` answers every error with it.
    static func from(_ error: any Error, logger: Logger) -> APIError {
        switch error {
        case let error as APIError:
            return error
        case let error as SluiceError:
            return APIError(error)
        case let error as RedisClientError where error.isConnectivity:
            logger.warning("redis unavailable", metadata: ["error": "\(error)"])
            return .redisUnavailable
        case is CancellationError:
            // The request's task was cancelled (the process is stopping): Redis calls honour
            // cancellation, so the request ends here; the client may retry elsewhere.
            return APIError(.unavailable, "request cancelled: the server is stopping")
        case let error as HTTPError:
            return fromStatus(error.status, message: error.body)
        case let error as any HTTPResponseError:
            // Library errors that carry a status, e.g. a body over the upload limit (413).
            return fromStatus(error.status, message: nil)
        case let error as DecodingError:
            return APIError(.badRequest, "malformed JSON body: \(DecodingErrorDescription(error))")
        default:
            logger.error("internal error", metadata: ["error": "\(error)"])
            return APIError(.internal, "internal error")
        }
    }

    private static func fromStatus(_ status: HTTPResponse.Status, message: String?) -> APIError {
        switch status {
        case .notFound: return APIError(.notFound, message ?? "no such route")
        case .contentTooLarge: return APIError(.payloadTooLarge, "request body too large")
        case .unauthorized: return APIError(.unauthorized, message ?? "unauthorized")
        case .forbidden: return APIError(.forbidden, message ?? "forbidden")
        case .conflict: return APIError(.conflict, message ?? "conflict")
        case .unprocessableContent: return APIError(.unprocessable, message ?? "unprocessable")
        case .serviceUnavailable: return APIError(.unavailable, message ?? "unavailable")
        case let status where status.code >= 400 && status.code < 500:
            return APIError(.badRequest, message ?? status.reasonPhrase)
        default:
            return APIError(.internal, "internal error")
        }
    }
}

/// A client-facing description of a JSON decoding failure: the path and what was wrong,
/// without Swift type names.
struct DecodingErrorDescription: CustomStringConvertible {
    let error: DecodingError
    init(_ error: DecodingError) { self.error = error }

    var description: String {
        func path(_ codingPath: [any CodingKey]) -> String {
            let joined = codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
            return joined.isEmpty ? "body" : joined
        }
        switch error {
        case .dataCorrupted(let context):
            return context.codingPath.isEmpty ? "not valid JSON" : "invalid value at \(path(context.codingPath))"
        case .keyNotFound(let key, let context):
            return "missing field \(path(context.codingPath + [key]))"
        case .typeMismatch(_, let context), .valueNotFound(_, let context):
            return "wrong type at \(path(context.codingPath))"
        @unknown default:
            return "cannot be decoded"
        }
    }
}
