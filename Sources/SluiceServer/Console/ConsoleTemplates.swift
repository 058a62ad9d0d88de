import HTTPTypes
import Hummingbird
import Logging
import Mustache
import NIOCore

/// The console's pages: the mustache templates of `console/templates/` (compiled into the binary by
/// the EmbedResources plugin), registered by file name without `.mustache`. `{{name}}` escapes
/// HTML (`< > & " '`); the templates use no triple mustaches, so no stored value (a prompt, a
/// context, an error) reaches a page unescaped.
enum ConsoleTemplates {
    static let library: Result<MustacheLibrary, any Error> = Result {
        var library = MustacheLibrary()
        for (key, text) in EmbeddedConsoleFiles.all where key.hasPrefix("templates/") && key.hasSuffix(".mustache") {
            let name = String(key.dropFirst("templates/".count).dropLast(".mustache".count))
            try library.register(text, named: name)
        }
        return library
    }

    /// The template names, for tests.
    static var names: [String] {
        EmbeddedConsoleFiles.all.keys.filter { $0.hasPrefix("templates/") }.map { String($0.dropFirst("templates/".count).dropLast(".mustache".count)) }.sorted()
    }

    static func render(_ name: String, _ page: Any) throws -> String {
        let library: MustacheLibrary
        switch Self.library {
        case .success(let value): library = value
        case .failure(let error): throw ConsoleTemplateError(message: "console templates do not parse: \(error)")
        }
        guard let html = library.render(page, withTemplate: name) else { throw ConsoleTemplateError(message: "no console template \(name)") }
        return html
    }

    /// Headers of every console page: never cached (pages show live state and a CSRF token), no
    /// framing, scripts and styles only from this server (no inline script can run).
    static let securityHeaders: HTTPFields = {
        var headers = HTTPFields()
        headers[.contentType] = "text/html; charset=utf-8"
        headers[.cacheControl] = "no-store"
        headers[HTTPField.Name("Content-Security-Policy")!] =
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
        headers[HTTPField.Name("X-Content-Type-Options")!] = "nosniff"
        headers[HTTPField.Name("X-Frame-Options")!] = "DENY"
        headers[HTTPField.Name("Referrer-Policy")!] = "same-origin"
        return headers
    }()

    static func page(_ name: String, _ page: Any, status: HTTPResponse.Status = .ok) throws -> Response {
        Response(status: status, headers: securityHeaders, body: .init(byteBuffer: ByteBuffer(string: try render(name, page))))
    }
}

/// A template that is missing or does not parse: a defect of the build, reported as a 500.
struct ConsoleTemplateError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}
