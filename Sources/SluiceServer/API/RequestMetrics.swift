import Dispatch
import Hummingbird
import Metrics
import NIOConcurrencyHelpers

/// The HTTP metrics of every request, under the names and labels of Hummingbird's
/// `MetricsMiddleware` (README → metrics): `hb.requests` and `http.server.request.duration` by
/// route, method and status, `hb.request.errors` for a request that failed without a response,
/// and `http.server.active_requests` by method. A response is counted as it is handed to
/// Hummingbird; an SSE stream counts as active, and its duration runs, until its body ends.
///
/// `RequestPipeline` records them rather than a middleware layer of their own: a layer's frames
/// stay in the connection task's allocator, at their high-water mark, for the connection's whole
/// life. Measured with 10,000 idle keep-alive connections after one `GET /bench/noop` each
/// (bench/README.md → S5): 24.8 KiB a connection with the layer, 21.8 KiB without.
final class RequestMetrics: Sendable {
    fileprivate struct Endpoint: Hashable {
        let route: String
        let method: HTTPRequest.Method
        let status: HTTPResponse.Status
    }

    fileprivate struct EndpointMetrics: Sendable {
        let requests: Counter
        let duration: Timer
        let errors: Counter

        init(_ id: Endpoint) {
            let labels = [("http.route", id.route), ("http.request.method", id.method.description)]
            requests = Counter(label: "hb.requests", dimensions: labels + [("http.response.status_code", id.status.code.description)])
            duration = Timer(label: "http.server.request.duration", dimensions: labels + [("http.response.status_code", id.status.code.description)],
                             preferredDisplayUnit: .seconds)
            errors = Counter(label: "hb.request.errors", dimensions: labels + [("error.type", id.status.code.description)])
        }
    }

    /// A request being measured.
    struct Started: Sendable {
        let nanoseconds: UInt64
        let active: Meter
    }

    // Looked up by key instead of made per request: the metrics factory's own look-up is slower.
    private let active = NIOLockedValueBox<[HTTPRequest.Method: Meter]>([:])
    private let endpoints = NIOLockedValueBox<[Endpoint: EndpointMetrics]>([:])

    @inline(never)  // keeps RequestPipeline.handle's async frame small (see there)
    func start(_ request: Request) -> Started {
        Started(nanoseconds: DispatchTime.now().uptimeNanoseconds, active: activeMeter(request.method))
    }

    private func activeMeter(_ method: HTTPRequest.Method, increment: Bool = true) -> Meter {
        let meter = active.withLockedValue { meters in
            if let meter = meters[method] { return meter }
            let meter = Meter(label: "http.server.active_requests", dimensions: [("http.request.method", method.description)])
            meters[method] = meter
            return meter
        }
        if increment { meter.increment() }
        return meter
    }

    /// The response, counted as it is handed to Hummingbird, unless it is an SSE stream: a
    /// stream counts itself when its body ends (`Ongoing`). Every other body is one buffer
    /// written at once; counting it after the write took a closure around the body and two async
    /// frames more on every request, which an idle SSE stream's connection task kept for the
    /// stream's life (bench/README.md → S5).
    func finish(_ response: Response, request: Request, route: String?, started: Started) -> Response {
        if response.headers[.contentType] == SSEStream.contentType { return response }
        let metrics = endpoint(Endpoint(route: route ?? "Unknown", method: request.method, status: response.status))
        metrics.requests.increment()
        metrics.duration.recordNanoseconds(Int64(truncatingIfNeeded: DispatchTime.now().uptimeNanoseconds &- started.nanoseconds))
        started.active.decrement()
        return response
    }

    /// An SSE stream's request, made when its response is: counted, its duration recorded and
    /// the active gauge `start` raised for it lowered, when the stream ends (`StreamLimiter.Slot`,
    /// so also when the response is dropped unsent). Its duration runs from here, microseconds
    /// after `start`.
    struct Ongoing: Sendable {
        fileprivate let metrics: EndpointMetrics
        fileprivate let nanoseconds: UInt64
        fileprivate let active: Meter

        func end() {
            metrics.requests.increment()
            metrics.duration.recordNanoseconds(Int64(truncatingIfNeeded: DispatchTime.now().uptimeNanoseconds &- nanoseconds))
            active.decrement()
        }
    }

    func ongoing(_ request: Request, route: String?) -> Ongoing {
        Ongoing(
            metrics: endpoint(Endpoint(route: route ?? "Unknown", method: request.method, status: .ok)),
            nanoseconds: DispatchTime.now().uptimeNanoseconds, active: activeMeter(request.method, increment: false))
    }

    /// A request that ended in an error instead of a response.
    @inline(never)  // keeps RequestPipeline.handle's async frame small (see there)
    func failed(_ error: any Error, request: Request, route: String?, started: Started) {
        let status = (error as? any HTTPResponseError)?.status ?? .internalServerError
        let metrics = endpoint(Endpoint(route: route ?? "NotFound", method: request.method, status: status))
        metrics.requests.increment()
        metrics.errors.increment()
        started.active.decrement()
    }

    private func endpoint(_ id: Endpoint) -> EndpointMetrics {
        endpoints.withLockedValue { cache in
            if let metrics = cache[id] { return metrics }
            let metrics = EndpointMetrics(id)
            cache[id] = metrics
            return metrics
        }
    }
}
