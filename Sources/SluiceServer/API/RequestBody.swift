import Hummingbird
import NIOCore
import SluiceCore

extension Request {
    /// The body as a JSON value: 413 above the context's upload limit, 400 when not JSON.
    func jsonBody(context: SluiceRequestContext) async throws -> JSONValue {
        let buffer = try await body.collect(upTo: context.maxUploadSize)
        guard buffer.readableBytes > 0 else { throw APIError(.badRequest, "request body must be JSON (got an empty body)") }
        do {
            return try JSONParser.parse(buffer.readableBytesView)
        } catch {
            throw APIError(.badRequest, "malformed JSON body: \(error)")
        }
    }

    /// An optional positive-integer query parameter; 400 naming it otherwise.
    func positiveIntegerQuery(_ name: String) throws -> Int? {
        guard let text = uri.queryParameters[Substring(name)] else { return nil }
        guard let value = Int(text), value > 0 else {
            throw APIError.badRequest("query parameter \(name) must be a positive integer (got '\(text)')", field: name)
        }
        return value
    }
}

extension JSONValue: ResponseGenerator {
    /// A JSON value as a `200 application/json` response.
    public func response(from request: Request, context: some RequestContext) throws -> Response {
        response(status: .ok)
    }

    /// Written straight into the response body's buffer.
    func response(status: HTTPResponse.Status) -> Response {
        var body = ByteBuffer()
        write(into: &body)
        return ByteBuffer.jsonResponse(body, status: status)
    }
}

extension ByteBuffer {
    /// JSON text already in a buffer (spliced from stored JSON) as a response.
    static func jsonResponse(_ body: ByteBuffer, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "application/json; charset=utf-8"], body: .init(byteBuffer: body))
    }
}
