import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import SluiceCore

/// What running one step produced.
public enum StepOutcome: Sendable, Equatable {
    /// Done: `output` is the step's output; `contextPatch` is shallow-merged into the context.
    case output(JSONValue, contextPatch: [String: JSONValue])
    /// A durable timer: the instance is released to the ready queue for `milliseconds`.
    case sleep(milliseconds: Int, output: JSONValue)
    /// Failed; `retryable` failures are tried again per the block's retry policy.
    case failure(String, retryable: Bool)
}

/// The handlers Sluice runs in-process. Any other handler name is served by external workers.
public struct BuiltinHandlers: Sendable {
    public static let names: Set<String> = Builtins.handlers

    let httpClient: HTTPClient

    public init(httpClient: HTTPClient = .shared) {
        self.httpClient = httpClient
    }

    public func isBuiltin(_ handler: String) -> Bool { Self.names.contains(handler) }

    /// Runs a built-in handler with rendered `params`.
    public func run(_ handler: String, params: JSONValue) async -> StepOutcome {
        switch handler {
        case "noop":
            return .output(params, contextPatch: [:])
        case "set_context":
            return .output(params, contextPatch: params.objectValue ?? [:])
        case "sleep":
            let range = Builtins.sleepMilliseconds
            guard case .number(let number)? = params["ms"], let ms = Int64(exactly: number.rounded()), range.contains(ms) else {
                return .failure("sleep needs params.ms: a number of milliseconds from \(range.lowerBound) to \(range.upperBound)", retryable: false)
            }
            return .sleep(milliseconds: Int(ms), output: .object(["ms": .number(Double(ms))]))
        case "fail":
            return .failure(params["message"]?.stringValue ?? "failed by the fail handler", retryable: false)
        case "http_request":
            return await httpRequest(params)
        default:
            return .failure("unknown built-in handler \(handler)", retryable: false)
        }
    }

    /// `{"method", "url", "headers"?, "body"?, "timeout_ms"?}` → `{"status", "headers", "body"}`.
    /// 5xx answers and transport errors are retryable; a JSON body is decoded.
    func httpRequest(_ params: JSONValue) async -> StepOutcome {
        guard let url = params["url"]?.stringValue, url.hasPrefix("http://") || url.hasPrefix("https://") else {
            return .failure("http_request needs params.url (http:// or https://)", retryable: false)
        }
        var request = HTTPClientRequest(url: url)
        request.method = HTTPMethod(rawValue: (params["method"]?.stringValue ?? "GET").uppercased())
        for (name, value) in params["headers"]?.objectValue ?? [:] {
            request.headers.add(name: name, value: value.stringValue ?? value.jsonString)
        }
        switch params["body"] {
        case nil, .null?: break
        case .string(let text)?: request.body = .bytes(ByteBuffer(string: text))
        case let body?:
            request.body = .bytes(ByteBuffer(bytes: body.encoded()))
            if !request.headers.contains(name: "content-type") { request.headers.add(name: "content-type", value: "application/json") }
        }
        // Rendered from a template, so checked here too: Int64(1e19) would trap the runner.
        let timeout: Int64
        switch params["timeout_ms"] {
        case nil, .null?: timeout = Builtins.httpDefaultTimeoutMilliseconds
        case .number(let number)? where Int64(exactly: number).map(Builtins.httpTimeoutMilliseconds.contains) ?? false:
            timeout = Int64(number)
        default:
            let range = Builtins.httpTimeoutMilliseconds
            return .failure("http_request: params.timeout_ms must be an integer from \(range.lowerBound) to \(range.upperBound)", retryable: false)
        }
        do {
            let response = try await httpClient.execute(request, timeout: .milliseconds(timeout))
            let bytes = try await response.body.collect(upTo: 10 * 1024 * 1024)
            let text = String(buffer: bytes)
            let isJSON = response.headers.first(name: "content-type")?.contains("json") ?? false
            let body: JSONValue = isJSON ? ((try? JSONValue.parse(bytes.readableBytesView)) ?? .string(text)) : .string(text)
            var headers: [String: JSONValue] = [:]
            for header in response.headers { headers[header.name.lowercased()] = .string(header.value) }
            let status = Int(response.status.code)
            if status >= 500 {
                return .failure("http_request: \(url) answered \(status)", retryable: true)
            }
            return .output(.object(["status": .number(Double(status)), "headers": .object(headers), "body": body]), contextPatch: [:])
        } catch {
            return .failure("http_request: \(url): \(error)", retryable: true)
        }
    }
}
