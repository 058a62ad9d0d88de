import HTTPTypes
import Hummingbird
import NIOCore
import SluiceCore
import SluiceEngine
import SluiceRedis

/// `GET /approvals/stream?tenant_id=&namespace=`: the approvals queue's changes as SSE
/// (`added` with the item, `removed` with the reason, `escalated` with the item), for
/// dashboards. Same rules as instance streams: ids, resume with Last-Event-ID, at most 32
/// events buffered, keepalive, woken by the process's subscription (`~approvals`).
struct ApprovalStreamController {
    let reader: ApprovalEventReader
    let wakes: WakeRegistry
    let limiter: StreamLimiter
    /// The HTTP metrics, which count a stream when it ends (`RequestMetrics.Ongoing`).
    let metrics: RequestMetrics
    let keepaliveSeconds: Int
    /// `SLUICE_SSE_SAFETY_POLL_MS`: the read interval of an idle stream while wake-ups are live.
    let safetyPollMilliseconds: Int64

    /// The wake-up key the gate scripts publish for any change of the queue.
    static let wakeKey = "~approvals"

    func addRoutes(to routes: APIRoutes) {
        // A closure rather than `use: stream`, and `stream` is not async: as for instance streams
        // (`InstanceStreamController.addRoutes`).
        routes.get("/approvals/stream") { request, context in try stream(request, context: context) }
    }

    @inline(never)
    func stream(_ request: Request, context: SluiceRequestContext) throws -> Response {
        let parameters = request.uri.queryParameters
        let tenant = try context.principal.tenantFilter(ApprovalsController.identifier(request, "tenant_id"))
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
        return try SSEStream.response(
            request, channel: context.channel, limiter: limiter, wakes: wakes, wakeKey: Self.wakeKey, pollMilliseconds: pollMilliseconds,
            safetyPollMilliseconds: safetyPollMilliseconds, keepaliveSeconds: keepaliveSeconds, redis: reader.redis, initial: start,
            source: Source(reader: reader, tenant: tenant, namespace: namespace), measured: metrics.ongoing(request, route: context.endpointPath))
    }

    /// What an approvals stream reads: every partition's events after its position.
    struct Source: SSESource {
        let reader: ApprovalEventReader
        let tenant: String?
        let namespace: String?

        func commands(_ position: ApprovalEventReader.Position, woken: Bool) -> [RedisCommand] {
            reader.commands(after: position, count: InstanceStreamController.batchSize)
        }

        func step(_ position: inout ApprovalEventReader.Position, replies: [RedisReply], woken: Bool) throws -> SSEStep {
            let batch = try reader.batch(
                from: replies, after: position, count: InstanceStreamController.batchSize, tenant: tenant, namespace: namespace)
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
            return SSEStep(text: text, lagging: batch.full)
        }
    }
}
