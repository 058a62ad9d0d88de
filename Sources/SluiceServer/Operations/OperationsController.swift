import Hummingbird
import Metrics
import NIOCore
import Prometheus
import SluiceCore
import SluiceRedis

/// `/healthz` (the process runs), `/readyz` (Redis answers), `/metrics` (Prometheus text).
struct OperationsController {
    let redis: RedisClient
    let registry: PrometheusCollectorRegistry
    let approvals: ApprovalStore
    let drain: ShutdownDrain

    /// The queue's size across partitions, read when scraped (one pipelined round trip).
    static let approvalsPending = Gauge(label: "sluice_approvals_pending")

    func addRoutes(to routes: APIRoutes) {
        routes.get("/healthz", use: health)
        routes.get("/readyz", use: ready)
        routes.get("/metrics", use: metrics)
    }

    @Sendable func health(_ request: Request, context: SluiceRequestContext) async throws -> Response {
        jsonResponse(#"{"status":"ok"}"#)
    }

    @Sendable func ready(_ request: Request, context: SluiceRequestContext) async throws -> Response {
        // A balancer that health-checks stops sending here before the server closes.
        if drain.isDraining { throw APIError(.unavailable, "not ready: shutting down") }
        let reply: RedisReply
        do {
            reply = try await redis.send(RedisCommand("PING"))
        } catch let error as RedisClientError {
            throw APIError(.unavailable, "not ready: redis unreachable (\(error.code))")
        }
        guard reply == .status("PONG") else {
            throw APIError(.unavailable, "not ready: redis answered \(reply)")
        }
        return jsonResponse(#"{"status":"ready"}"#)
    }

    @Sendable func metrics(_ request: Request, context: SluiceRequestContext) async throws -> Response {
        // Without Redis the other metrics still matter (they show the errors): skip this one.
        if let pending = try? await approvals.list(.init(limit: 0)).total { Self.approvalsPending.record(pending) }
        var bytes: [UInt8] = []
        registry.emit(into: &bytes)
        return Response(
            status: .ok,
            headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}

func jsonResponse(_ text: String, status: HTTPResponse.Status = .ok) -> Response {
    Response(status: status, headers: [.contentType: "application/json; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: text)))
}
