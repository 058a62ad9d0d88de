import Hummingbird
import NIOCore

/// `GET /openapi.yaml`: the API's OpenAPI 3.1 document, compiled into the binary from the
/// repository's `openapi.yaml` (the EmbedOpenAPIDocument build plugin). Open, like `/healthz`.
struct OpenAPIDocumentController {
    func addRoutes(to router: Router<SluiceRequestContext>) {
        router.get("/openapi.yaml", use: document)
    }

    @Sendable func document(_ request: Request, context: SluiceRequestContext) async throws -> Response {
        Response(
            status: .ok,
            headers: [.contentType: "application/yaml; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(string: EmbeddedOpenAPIDocument.yaml)))
    }
}

/// The embedded document, for tests and tools that need it without a running server.
public enum OpenAPIDocument {
    public static var yaml: String { EmbeddedOpenAPIDocument.yaml }
}
