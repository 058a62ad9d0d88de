import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import SluiceCore
@testable import SluiceServer

/// A very small browser for the console's server tests: keeps the cookies the server sets
/// (name → value, with the attributes of the last Set-Cookie kept for inspection), sends them
/// back, and reads pages as text.
final class ConsoleBrowser: @unchecked Sendable {
    let client: TestClient
    /// Cookie name → value as the browser would send it.
    var cookies: [String: String] = [:]
    /// Cookie name → the whole Set-Cookie line that set it last.
    var setCookieLines: [String: String] = [:]

    init(_ client: TestClient) { self.client = client }

    struct Page {
        var status: HTTPResponse.Status
        var headers: HTTPFields
        var text: String

        var location: String? { headers[.location] }

        /// The value of the first hidden `csrf` input of the page.
        var csrf: String? {
            guard let range = text.range(of: #"name="csrf" value=""#) else { return nil }
            return String(text[range.upperBound...].prefix { $0 != "\"" })
        }
    }

    /// A request with the cookies kept so far (no API key: the console's own authentication).
    @discardableResult
    func request(_ method: HTTPRequest.Method, _ uri: String, form: [(String, String)]? = nil, headers extra: HTTPFields = [:]) async throws -> Page {
        var headers = extra
        if !cookies.isEmpty { headers[.cookie] = cookies.map { "\($0.key)=\($0.value)" }.sorted().joined(separator: "; ") }
        var body: ByteBuffer?
        if let form {
            if headers[.contentType] == nil { headers[.contentType] = "application/x-www-form-urlencoded" }
            body = ByteBuffer(string: Self.encode(form))
        }
        let page = try await client.client.execute(uri: uri, method: method, headers: headers, body: body) { response in
            Page(status: response.status, headers: response.headers, text: String(buffer: response.body))
        }
        for line in page.headers[values: .setCookie] {
            let pair = line.split(separator: ";", maxSplits: 1).first ?? ""
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2 else { continue }
            let name = String(parts[0]).trimmingCharacters(in: .whitespaces)
            setCookieLines[name] = line
            if parts[1].isEmpty || line.lowercased().contains("max-age=0") { cookies[name] = nil } else { cookies[name] = String(parts[1]) }
        }
        return page
    }

    static func encode(_ form: [(String, String)]) -> String {
        let allowed = CharacterSet.alphanumerics.union(.init(charactersIn: "-._~"))
        return form.map { "\($0.0.addingPercentEncoding(withAllowedCharacters: allowed) ?? "")=\($0.1.addingPercentEncoding(withAllowedCharacters: allowed) ?? "")" }
            .joined(separator: "&")
    }

    /// Signs in with `key` through the form, as a person would.
    @discardableResult
    func signIn(_ key: String) async throws -> Page {
        let form = try await request(.get, "/console/sign-in")
        return try await request(.post, "/console/sign-in", form: [("csrf", form.csrf ?? ""), ("key", key)])
    }
}
