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
    /// Where `http_request` may connect (checked after DNS resolution and on every redirect).
    let egress: EgressPolicy
    /// Largest `http_request` response body kept (it becomes the step's output).
    let maxResponseBytes: Int

    /// Redirects are followed by `httpRequest` itself, so that each hop is checked by `egress`.
    public static let egressClient = HTTPClient(
        eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: HTTPClient.Configuration(redirectConfiguration: .disallow))
    static let maximumRedirects = 5

    public init(httpClient: HTTPClient = BuiltinHandlers.egressClient, egress: EgressPolicy = EgressPolicy(), maxResponseBytes: Int = 256 * 1024) {
        self.httpClient = httpClient
        self.egress = egress
        self.maxResponseBytes = maxResponseBytes
    }

    /// The handlers as configured: `SLUICE_HTTP_ALLOW`, and responses up to the output limit
    /// (`SLUICE_CONTEXT_MAX_BYTES`).
    public init(configuration: SluiceConfiguration) {
        self.init(egress: configuration.httpAllow, maxResponseBytes: configuration.contextMaxBytes)
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
    /// 5xx answers and transport errors are retryable; a JSON body is decoded. Every hop
    /// (redirects too, at most 5) must pass the egress policy; a body over `maxResponseBytes`
    /// fails the step.
    func httpRequest(_ params: JSONValue) async -> StepOutcome {
        guard var url = params["url"]?.stringValue, url.hasPrefix("http://") || url.hasPrefix("https://") else {
            return .failure("http_request needs params.url (http:// or https://)", retryable: false)
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
        let deadline = NIODeadline.now() + .milliseconds(timeout)
        var method = HTTPMethod(rawValue: (params["method"]?.stringValue ?? "GET").uppercased())
        var body = params["body"]
        for _ in 0...Self.maximumRedirects {
            if let refusal = await refusal(url) {
                return .failure("http_request: \(url) refused: \(refusal)", retryable: false)
            }
            var request = HTTPClientRequest(url: url)
            request.method = method
            for (name, value) in params["headers"]?.objectValue ?? [:] {
                request.headers.add(name: name, value: value.stringValue ?? value.jsonString)
            }
            switch body {
            case nil, .null?: break
            case .string(let text)?: request.body = .bytes(ByteBuffer(string: text))
            case let body?:
                request.body = .bytes(ByteBuffer(bytes: body.encoded()))
                if !request.headers.contains(name: "content-type") { request.headers.add(name: "content-type", value: "application/json") }
            }
            do {
                let response = try await httpClient.execute(request, deadline: deadline)
                let status = Int(response.status.code)
                if [301, 302, 303, 307, 308].contains(status), let location = response.headers.first(name: "location") {
                    guard let next = URL(string: location, relativeTo: URL(string: url))?.absoluteString,
                          next.hasPrefix("http://") || next.hasPrefix("https://") else {
                        return .failure("http_request: \(url) redirected to '\(location)', not an http(s) URL", retryable: false)
                    }
                    // As browsers do: 303 (and 301/302 after a POST) continue as a GET without a body.
                    if status == 303 || ((status == 301 || status == 302) && method == .POST) {
                        method = .GET
                        body = nil
                    }
                    url = next
                    continue
                }
                let bytes: ByteBuffer
                do {
                    bytes = try await response.body.collect(upTo: maxResponseBytes)
                } catch is NIOTooManyBytesError {
                    return .failure("http_request: \(url) answered more than \(maxResponseBytes) bytes (SLUICE_CONTEXT_MAX_BYTES)", retryable: false)
                }
                let text = String(buffer: bytes)
                let isJSON = response.headers.first(name: "content-type")?.contains("json") ?? false
                // With the client nesting limit: this comes from outside and is stored as the output.
                let decoded: JSONValue = isJSON ? ((try? JSONParser.parse(bytes.readableBytesView)) ?? .string(text)) : .string(text)
                var headers: [String: JSONValue] = [:]
                for header in response.headers { headers[header.name.lowercased()] = .string(header.value) }
                if status >= 500 {
                    return .failure("http_request: \(url) answered \(status)", retryable: true)
                }
                return .output(.object(["status": .number(Double(status)), "headers": .object(headers), "body": decoded]), contextPatch: [:])
            } catch {
                return .failure("http_request: \(url): \(error)", retryable: true)
            }
        }
        return .failure("http_request: more than \(Self.maximumRedirects) redirects", retryable: false)
    }

    /// Why the egress policy refuses `url` (after resolving its host), nil when it may go.
    func refusal(_ url: String) async -> String? {
        guard let host = URL(string: url)?.host, !host.isEmpty else { return "no host in the URL" }
        if egress.allowsEverything || egress.hosts.contains(host.lowercased()) { return nil }
        do {
            return egress.refusal(host: host, addresses: try await HostResolver.addresses(of: host))
        } catch {
            return "\(host) could not be resolved (\(error))"
        }
    }
}
