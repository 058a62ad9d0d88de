import HTTPTypes
import Hummingbird
import NIOConcurrencyHelpers
import NIOCore
import SluiceCore
import SluiceEngine

/// `GET /approvals/stream?tenant_id=&namespace=`: the approvals queue's changes as SSE
/// (`added` with the item, `removed` with the reason, `escalated` with the item), for
/// dashboards. Same rules as instance streams: ids, resume with Last-Event-ID, at most 32
/// events buffered, keepalive, woken by the process's subscription (`~approvals`).
struct ApprovalStreamController {
    let reader: ApprovalEventReader
    let wakes: WakeRegistry
    let limiter: StreamLimiter
    let keepaliveSeconds: Int

    /// The wake-up key the gate scripts publish for any change of the queue.
    static let wakeKey = "~approvals"

    func addRoutes(to router: Router<SluiceRequestContext>) {
        router.get("/approvals/stream", use: stream)
    }

    @Sendable func stream(_ request: Request, context: SluiceRequestContext) async throws -> Response {
        let parameters = request.uri.queryParameters
        let tenant = try ApprovalsController.identifier(request, "tenant_id")
        let namespace = try ApprovalsController.identifier(request, "namespace")
        let pollMilliseconds = try InstanceStreamController.pollInterval(request)
        let partitions = reader.keys.partitions
        var start = ApprovalEventReader.Position(partitions: partitions)
        let given = request.headers[SSEHeaders.lastEventID] ?? parameters["last_event_id"].map(String.init)
        if let given {
            guard let position = ApprovalEventReader.Position(given, partitions: partitions) else {
                throw APIError.badRequest("Last-Event-ID must be an id sent by this stream (got '\(given)')", field: "last_event_id")
            }
            start = position
        }
        guard let slot = limiter.acquire() else {
            throw APIError(.unavailable, "too many open streams on this process (SLUICE_SSE_MAX_STREAMS); retry on another")
        }
        let reader = self.reader, wakes = self.wakes, keepalive = Int64(keepaliveSeconds) * 1000, origin = start
        let headers: HTTPFields = [.contentType: "text/event-stream", .cacheControl: "no-cache", SSEHeaders.accelBuffering: "no"]
        return Response(status: .ok, headers: headers, body: ResponseBody { writer in
            defer { slot.release() }
            let doorbell = Doorbell()
            let unregister = wakes.register(Self.wakeKey, doorbell)
            defer { unregister() }
            let clientGone = NIOLockedValueBox(false)
            try await request.body.consumeWithInboundCloseHandler { _ in
                var position = origin
                try await writer.write(ByteBuffer(string: ": stream open\n\n"))
                var lastWrite = ContinuousClock.now
                while !clientGone.withLockedValue({ $0 }) {
                    let batch = try await reader.read(
                        after: position, count: InstanceStreamController.batchSize, tenant: tenant, namespace: namespace)
                    var text = ""
                    if batch.gap {
                        text += ": gap\n\n"
                        StreamMetrics.gaps.increment()
                    }
                    for event in batch.events {
                        text += "id: \(event.resumeID)\nevent: \(event.type)\ndata: \(event.data)\n\n"
                        StreamMetrics.eventsSent.increment()
                    }
                    position = batch.position
                    if !text.isEmpty {
                        try await writer.write(ByteBuffer(string: text))
                        lastWrite = .now
                    }
                    if batch.full { continue }
                    let sinceWrite = Int64((ContinuousClock.now - lastWrite).components.seconds * 1000)
                    if sinceWrite >= keepalive {
                        try await writer.write(ByteBuffer(string: ": keepalive\n\n"))
                        lastWrite = .now
                        continue
                    }
                    _ = await doorbell.wait(upTo: min(pollMilliseconds, keepalive - sinceWrite))
                }
            } onInboundClosed: {
                clientGone.withLockedValue { $0 = true }
                doorbell.ring()
            }
            try await writer.finish(nil)
        })
    }
}
