import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import SluiceCore

/// A console form post (`application/x-www-form-urlencoded`), read with hard limits: the body
/// size, the fields a form may have (anything else is refused, not ignored), no field twice,
/// and each value's length checked where it is read. Every failure is a 400 naming the field.
struct ConsoleForm {
    /// Console forms are a token, a choice and a note: nothing near this.
    static let maximumBytes = 16 * 1024

    private var fields: [String: String]

    init(fields: [String: String]) { self.fields = fields }

    static func read(_ request: Request, allowed: Set<String>) async throws -> ConsoleForm {
        let type = request.headers[.contentType]?.split(separator: ";").first?.trimmingCharacters(in: .whitespaces).lowercased()
        guard type == "application/x-www-form-urlencoded" else {
            throw APIError.badRequest("console forms are sent as application/x-www-form-urlencoded")
        }
        var request = request
        let body: ByteBuffer
        do {
            body = try await request.collectBody(upTo: maximumBytes)
        } catch {
            throw APIError(.payloadTooLarge, "the form is larger than \(maximumBytes) bytes")
        }
        return try parse(String(buffer: body), allowed: allowed)
    }

    static func parse(_ text: String, allowed: Set<String>) throws -> ConsoleForm {
        var fields: [String: String] = [:]
        for pair in text.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let name = decode(parts[0]), let value = decode(parts.count > 1 ? parts[1] : "") else {
                throw APIError.badRequest("the form is not validly encoded")
            }
            guard allowed.contains(name) else {
                throw APIError.badRequest("unexpected form field '\(name.prefix(40))' (allowed: \(allowed.sorted().joined(separator: ", ")))", field: String(name.prefix(40)))
            }
            guard fields[name] == nil else { throw APIError.badRequest("form field \(name) is given twice", field: name) }
            fields[name] = value
        }
        return ConsoleForm(fields: fields)
    }

    private static func decode(_ text: Substring) -> String? {
        String(text).replacingOccurrences(of: "+", with: " ").removingPercentEncoding
    }

    /// A field that must be there, non-empty, at most `maxLength` characters and without
    /// control characters (newlines allowed only where `multiline`).
    func required(_ name: String, maxLength: Int, multiline: Bool = false) throws -> String {
        guard let value = try optional(name, maxLength: maxLength, multiline: multiline), !value.isEmpty else {
            throw APIError.badRequest("form field \(name) is required", field: name)
        }
        return value
    }

    func optional(_ name: String, maxLength: Int, multiline: Bool = false) throws -> String? {
        guard let value = fields[name] else { return nil }
        guard value.count <= maxLength else {
            throw APIError.badRequest("form field \(name) is longer than \(maxLength) characters", field: name)
        }
        let allowedControls: Set<Unicode.Scalar> = multiline ? ["\n", "\r", "\t"] : []
        guard !value.unicodeScalars.contains(where: { ($0.properties.generalCategory == .control) && !allowedControls.contains($0) }) else {
            throw APIError.badRequest("form field \(name) contains control characters", field: name)
        }
        return value
    }
}

/// Cross-site request forgery protection of every console write: the form's `csrf` field must be
/// the session's token (or, before a session and in open mode, the pre-session cookie's), and a
/// browser's `Origin`, when sent, must be this server. SameSite=Strict cookies already keep other
/// sites' requests unauthenticated; this holds even where a browser ignores SameSite.
enum ConsoleCSRF {
    static let field = "csrf"

    static func verify(_ form: ConsoleForm, _ request: Request, _ context: SluiceRequestContext) throws {
        if let origin = request.headers[.origin] {
            // Host names only: a proxy may forward Host without the port the browser used
            // (deploy/nginx.conf sends $host), and the port does not make another site.
            let host = Self.hostName(request.head.authority ?? "")
            let originHost = Self.hostName(origin.range(of: "://").map { String(origin[$0.upperBound...]) } ?? "")
            guard !host.isEmpty, originHost == host else {
                throw APIError(.forbidden, "cross-site form post refused (Origin \(origin.prefix(100)) is not this server)")
            }
        }
        let expected = context.consoleSession?.csrf ?? request.cookies[ConsoleCookies.preSession]?.value
        let given = try form.optional(field, maxLength: 64) ?? ""
        guard let expected, ConsoleSessionStore.isWellFormed(expected), APIKey.constantTimeEqual(Array(given.utf8), Array(expected.utf8)) else {
            throw APIError(.forbidden, "the form's CSRF token is missing or stale: reload the page and send it again")
        }
    }

    /// `example.com:8080` → `example.com`, `[::1]:80` → `[::1]`, lowercased.
    static func hostName(_ authority: String) -> String {
        let lowered = authority.lowercased()
        if lowered.hasPrefix("["), let close = lowered.firstIndex(of: "]") { return String(lowered[...close]) }
        if let colon = lowered.lastIndex(of: ":"), lowered[lowered.index(after: colon)...].allSatisfy(\.isNumber) {
            return String(lowered[..<colon])
        }
        return lowered
    }
}
