import HTTPTypes
import Hummingbird
import SluiceCore

/// Instances: the list (state/tenant/namespace filters, cursor paging) and one instance's page
/// (state, context, decisions, its event timeline, and cancel/pause/resume through
/// `SignalStore`, the script `POST /instances/{id}/signals` runs).
extension ConsoleController {
    static let instancesPageSize = 50
    /// Events rendered with the page; the live stream continues after the last of them.
    static let timelineLimit = 500

    @Sendable func instanceList(_ request: Request, context: SluiceRequestContext) async throws -> Response {
        let principal = context.principal
        var query = InstanceStore.ListQuery(limit: Self.instancesPageSize)
        query.tenantId = try principal.tenantFilter(try Self.filter(request, "tenant_id"))
        query.namespace = try Self.filter(request, "namespace")
        if let text = request.uri.queryParameters["state"].map(String.init), !text.isEmpty {
            guard let state = InstanceState(rawValue: text) else {
                throw APIError.badRequest("state must be one of \(InstanceState.allCases.map(\.rawValue).joined(separator: ", "))", field: "state")
            }
            query.state = state
        }
        if let text = request.uri.queryParameters["cursor"].map(String.init), !text.isEmpty {
            guard let cursor = InstanceStore.ListCursor(text) else { throw APIError.badRequest("cursor is not one this page made", field: "cursor") }
            query.cursor = cursor
        }
        let (items, next) = try await instances.list(query)
        let rows = items.map {
            InstanceRow(
                id: $0.id, sequenceName: $0.sequenceName, state: $0.state.rawValue, tenant: $0.tenantId, namespace: $0.namespace,
                created: Clock.rfc3339(milliseconds: $0.createdAt), updated: Clock.rfc3339(milliseconds: $0.updatedAt))
        }
        let filters: [(String, String?)] = [("state", query.state?.rawValue), ("tenant_id", query.tenantId), ("namespace", query.namespace)]
        let (token, cookie) = formToken(request, context)
        let view = InstancesPage(
            chrome: chrome("Instances", context, csrf: token, section: "instances"), rows: rows,
            states: InstanceState.allCases.map { StateOption(value: $0.rawValue, selected: $0 == query.state) },
            tenant: query.tenantId ?? "", namespace: query.namespace ?? "", tenantLocked: principal.tenant != nil,
            nextURL: next.map { "/console/instances" + Self.query(filters + [("cursor", $0.text)]) })
        return try Self.page("instances", view, cookie: cookie)
    }

    /// The instance, or 404 for an unknown one or another tenant's (as the API answers).
    func visibleInstance(_ context: SluiceRequestContext) async throws -> Instance {
        let id = try Self.pathID(context, "id", missing: "instance not found")
        guard let instance = try await instances.get(id), context.principal.caller.sees(tenant: instance.tenantId) else {
            throw APIError.notFound("instance not found")
        }
        return instance
    }

    @Sendable func instancePage(_ request: Request, context: SluiceRequestContext) async throws -> Response {
        try await renderInstance(request, context, notice: Self.notice(request))
    }

    func renderInstance(_ request: Request, _ context: SluiceRequestContext, notice: String?) async throws -> Response {
        let instance = try await visibleInstance(context)
        let batch = try await events.read(instance.id, after: "0-0", count: Self.timelineLimit, withState: false, for: context.principal.caller)
        let rows = batch.events.map(Self.eventRow)
        let list = try await checkpoints.list(instance.id, for: context.principal.caller) ?? []
        let (token, cookie) = formToken(request, context)
        let state = instance.state
        let view = InstancePage(
            chrome: chrome("Instance \(instance.id)", context, csrf: token, section: "instances"), csrf: token,
            id: instance.id, state: state.rawValue, currentBlock: instance.currentBlock, tenant: instance.tenantId, namespace: instance.namespace,
            sequence: "\(instance.sequenceName) (\(instance.sequenceId) v\(instance.sequenceVersion))",
            created: Clock.rfc3339(milliseconds: instance.createdAt), updated: Clock.rfc3339(milliseconds: instance.updatedAt),
            context: ConsoleJSON.pretty(instance.context), metadata: ConsoleJSON.pretty(instance.metadata),
            error: instance.error.map(ConsoleJSON.pretty),
            decisions: instance.decisions.map {
                DecisionRow(
                    block: $0["block_id"]?.stringValue ?? "", value: $0["value"].map(ApprovalItemView.text) ?? "",
                    by: $0["decided_by"]?.stringValue ?? "", at: $0["decided_at"]?.stringValue ?? "")
            },
            events: rows, lastEventId: batch.events.last?.id ?? "0-0", moreEvents: batch.events.count == Self.timelineLimit,
            canPause: [.scheduled, .running, .waiting].contains(state), canResume: state == .paused, canCancel: !state.isTerminal,
            checkpointCount: list.count, notice: notice)
        return try Self.page("instance", view, cookie: cookie)
    }

    /// One stored event as a timeline row (the page's script renders stream events the same way).
    static func eventRow(_ event: EventStreamReader.Event) -> EventRow {
        let data = (try? JSONValue.parse(Array(event.data.utf8))) ?? .string(event.data)
        let milliseconds = Int64(event.id.prefix { $0 != "-" }) ?? 0
        let by = data["by"]?.stringValue.map { " by \($0)" } ?? ""
        let summary: String
        var detail: String?
        switch event.type {
        case "state": summary = "state \(data["state"]?.stringValue ?? "?")\(by)"
        case "output":
            summary = "output of \(data["block_id"]?.stringValue ?? "?")\(by)"
            detail = data["output"].map { String($0.jsonString.prefix(2000)) }
        default:
            summary = event.type
            detail = String(data.jsonString.prefix(2000))
        }
        return EventRow(id: event.id, type: event.type, time: Clock.rfc3339(milliseconds: milliseconds), summary: summary, detail: detail)
    }

    /// The signals the console sends from an instance's page.
    enum ControlSignal: String, CaseIterable {
        case cancel, pause, resume

        var signal: SignalType {
            switch self {
            case .cancel: return .cancel
            case .pause: return .pause
            case .resume: return .resume
            }
        }
    }

    @Sendable func signal(_ request: Request, context: SluiceRequestContext) async throws -> Response {
        let id = try Self.pathID(context, "id", missing: "instance not found")
        let form = try await ConsoleForm.read(request, allowed: [ConsoleCSRF.field, "signal"])
        try ConsoleCSRF.verify(form, request, context)
        let name = try form.required("signal", maxLength: 20)
        guard let control = ControlSignal(rawValue: name) else {
            throw APIError.badRequest("signal must be one of \(ControlSignal.allCases.map(\.rawValue).joined(separator: ", "))", field: "signal")
        }
        _ = try await signals.apply(control.signal, to: id, payload: .object([:]), by: context.principal.caller, nowMilliseconds: Clock.nowMilliseconds())
        return Self.redirect("/console/instances/\(id)" + Self.query([("done", control.rawValue)]))
    }

    /// The fixed notices a redirect after a write may ask for (never text from the URL).
    static func notice(_ request: Request) -> String? {
        switch request.uri.queryParameters["done"].map(String.init) {
        case "cancel": return "Cancel signal applied."
        case "pause": return "Paused."
        case "resume": return "Resumed."
        case "restore": return "Restored from the checkpoint: the instance is scheduled again from its block."
        default: return nil
        }
    }
}
