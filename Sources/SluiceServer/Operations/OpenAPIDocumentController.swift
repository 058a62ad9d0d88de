import Hummingbird
import NIOCore

/// `GET /openapi.yaml`: the API's OpenAPI 3.1 document, compiled into the binary from the
/// repository's `openapi.yaml` (the EmbedResources build plugin). Open, like `/healthz`.
struct OpenAPIDocumentController {
    func addRoutes(to routes: APIRoutes) {
        routes.get("/openapi.yaml", use: document)
    }

    @Sendable func document(_ request: Request, context: SluiceRequestContext) async throws -> Response {
        Response(
            status: .ok,
            headers: [.contentType: "application/yaml; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(string: OpenAPIDocument.yaml)))
    }
}

/// The embedded document, for tests and tools that need it without a running server.
public enum OpenAPIDocument {
    /// The plugin always embeds the file under this key (the build fails without the file).
    public static var yaml: String { EmbeddedOpenAPIDocument.all["openapi.yaml"] ?? "" }
}
