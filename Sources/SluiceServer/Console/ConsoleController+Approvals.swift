import HTTPTypes
import Hummingbird
import SluiceCore
import SluiceRedis

/// The approvals inbox: the queue in deadline order, with each item's prompt, metadata and
/// choices. Deciding is `ApprovalStore.decide` (lua/decide_gate.lua), as `POST
/// /instances/{id}/signals` with `human_input:<block>` does; the page's script keeps the list live
/// from `/console/approvals/stream` and posts decisions without a reload.
extension ConsoleController {
    static let inboxPageSize = 100
    static let maximumNoteLength = 1000
    static let maximumValueLength = 200

    @Sendable func inbox(_ request: Request, context: SluiceRequestContext) async throws -> Response {
        var notice: String?
        if let done = try Self.filter(request, "decided") { notice = "Decision recorded for instance \(done)." }
        return try await inboxPage(request, context, notice: notice, error: nil, status: .ok)
    }

    func inboxPage(_ request: Request, _ context: SluiceRequestContext, notice: String?, error: String?, status: HTTPResponse.Status) async throws -> Response {
        let principal = context.principal
        var query = ApprovalStore.Query(limit: Self.inboxPageSize)
        query.tenantId = try principal.tenantFilter(try Self.filter(request, "tenant_id"))
        query.namespace = try Self.filter(request, "namespace")
        if let text = request.uri.queryParameters["cursor"].map(String.init), !text.isEmpty {
            guard let cursor = ApprovalStore.Cursor(text) else { throw APIError.badRequest("cursor is not one this page made", field: "cursor") }
            query.cursor = cursor
        }
        // Where the approvals streams are now, read before the list: the page's live view starts
        // there, so a change after it is streamed and none before it is replayed.
        let position = try await approvalStreamPosition()
        let page = try await approvals.list(query)
        let now = Clock.nowMilliseconds()
        let operatorView = principal.role == .admin || principal.role == .operator
        let items = page.items.compactMap { text in
            (try? JSONValue.parse(Array(text.utf8))).flatMap { ApprovalItemView($0, now: now, linkInstance: operatorView) }
        }
        let filters: [(String, String?)] = [("tenant_id", query.tenantId), ("namespace", query.namespace)]
        let (token, cookie) = formToken(request, context)
        let view = ApprovalsPage(
            chrome: chrome("Approvals", context, csrf: token, section: "approvals"), csrf: token, items: items, total: page.total,
            tenant: query.tenantId ?? "", namespace: query.namespace ?? "", tenantLocked: principal.tenant != nil,
            streamURL: "/console/approvals/stream" + Self.query(filters + [("last_event_id", position.text)]),
            nextURL: page.next.map { "/console/approvals" + Self.query(filters + [("cursor", $0.text)]) },
            notice: notice, error: error)
        return try Self.page("approvals", view, status: status, cookie: cookie)
    }

    /// The newest entry of every partition's approvals stream (one pipelined round trip).
    func approvalStreamPosition() async throws -> ApprovalEventReader.Position {
        let keys = events.keys
        let replies = try await events.redis.pipeline(keys.allPartitions.map {
            RedisCommand("XREVRANGE", keys.approvalEvents($0), "+", "-", "COUNT", "1")
        })
        var position = ApprovalEventReader.Position(partitions: keys.partitions)
        for (p, reply) in replies.enumerated() {
            if let id = try reply.throwingServerError().array?.first?.array?.first?.string { position.ids[p] = id }
        }
        return position
    }

    /// What a decision came to, for a person: the page shows `message`; the page's script also
    /// reads `outcome`.
    struct DecisionOutcome {
        enum Kind: String {
            /// Decided (the item leaves the queue).
            case applied
            /// Kept until the instance reaches the gate.
            case queued
            /// Somebody decided first (or a decision is already queued).
            case conflict
            /// Not a value of the gate, or too large: nothing changed.
            case invalid
            /// The instance no longer exists.
            case gone
        }

        var outcome: Kind
        var message: String
        var status: HTTPResponse.Status
    }

    @Sendable func decide(_ request: Request, context: SluiceRequestContext) async throws -> Response {
        let id = try Self.pathID(context, "id", missing: "instance not found")
        let block = try Self.pathID(context, "block_id", missing: "gate not found")
        let form = try await ConsoleForm.read(request, allowed: [ConsoleCSRF.field, "value", "note"])
        try ConsoleCSRF.verify(form, request, context)
        let value = try form.required("value", maxLength: Self.maximumValueLength)
        let note = try form.optional("note", maxLength: Self.maximumNoteLength, multiline: true)
        // The chosen value goes in `value` (decide_gate reads payload[store_as], else payload.value).
        var payload: [String: JSONValue] = ["value": .string(value)]
        if let note, !note.isEmpty { payload["note"] = .string(note) }
        let now = Clock.nowMilliseconds()
        let result: DecisionOutcome
        do {
            switch try await approvals.decide(id, blockId: block, payload: payload, by: context.principal.caller, idempotencyKey: nil, nowMilliseconds: now) {
            case .applied:
                result = DecisionOutcome(outcome: .applied, message: "Decided \(value) for instance \(id).", status: .ok)
            case .queued:
                result = DecisionOutcome(outcome: .queued, message: "The instance has not reached \(block) yet; the decision \(value) is kept for it.", status: .accepted)
            case .alreadyDecided(let decision):
                result = DecisionOutcome(outcome: .conflict, message: Self.lostRace(decision, now: now), status: .conflict)
            case .alreadyQueued:
                result = DecisionOutcome(outcome: .conflict, message: "A decision for \(block) is already waiting for the instance to reach it.", status: .conflict)
            }
        } catch let error as SluiceError {
            switch error {
            case .invalid(_, let message): result = DecisionOutcome(outcome: .invalid, message: "Not decided: \(message).", status: .unprocessableContent)
            case .notFound: result = DecisionOutcome(outcome: .gone, message: "Instance \(id) no longer exists.", status: .notFound)
            case .conflict(let message, let details):
                let text = details.flatMap { $0["decided_by"] == nil ? nil : Self.lostRace($0, now: now) } ?? "Not decided: \(message)."
                result = DecisionOutcome(outcome: .conflict, message: text, status: .conflict)
            case .tooLarge(let message): result = DecisionOutcome(outcome: .invalid, message: "Not decided: \(message).", status: .contentTooLarge)
            }
        }
        if ConsoleRequest.wantsJSON(request) {
            return JSONValue.object(["outcome": .string(result.outcome.rawValue), "message": .string(result.message)]).response(status: result.status)
        }
        if result.outcome == .applied { return Self.redirect("/console/approvals" + Self.query([("decided", id)])) }
        return try await inboxPage(request, context, notice: nil, error: result.message, status: result.status)
    }

    /// "already approved by alice-key 3 s ago", from the winning decision record.
    static func lostRace(_ decision: JSONValue, now: Int64) -> String {
        let value = decision["value"]?.stringValue ?? "decided"
        let who = decision["decided_by"]?.stringValue ?? "someone"
        let when = ConsoleTime.milliseconds(decision["decided_at"]?.stringValue).map { " " + ConsoleTime.ago($0, now: now) } ?? ""
        let what = value.hasSuffix("ed") ? value : "decided \u{201C}\(value)\u{201D}"
        return "Already \(what) by \(who)\(when)."
    }
}
