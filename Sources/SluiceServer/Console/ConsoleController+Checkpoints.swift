import HTTPTypes
import Hummingbird
import SluiceCore

/// Time travel: an instance's checkpoints with their data and snapshots, the difference of the
/// context between two of them, and "restore to here" (`CheckpointStore.restore`,
/// lua/restore_checkpoint.lua) behind a confirmation.
extension ConsoleController {
    /// Rows of a diff shown at most; a larger difference says so.
    static let maximumDiffRows = 500

    @Sendable func checkpointList(_ request: Request, context: SluiceRequestContext) async throws -> Response {
        let instance = try await visibleInstance(context)
        let list = try await checkpoints.list(instance.id, for: context.principal.caller) ?? []
        // Default comparison: the last two checkpoints.
        var from = try Self.filter(request, "from") ?? (list.count >= 2 ? list[list.count - 2].id : nil)
        var to = try Self.filter(request, "to") ?? list.last?.id
        let byId = Dictionary(list.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        var diff: CheckpointDiff?
        if let fromId = from, let toId = to {
            guard let old = byId[fromId], let new = byId[toId] else { throw APIError.notFound("checkpoint not found") }
            let changes = ConsoleJSON.diff(old.snapshot.context, new.snapshot.context)
            diff = CheckpointDiff(from: fromId, to: toId, rows: changes.prefix(Self.maximumDiffRows).map {
                DiffRow(path: $0.path, kind: $0.kind.rawValue, before: $0.before.map(ConsoleJSON.pretty), after: $0.after.map(ConsoleJSON.pretty))
            })
        } else {
            from = nil
            to = nil
        }
        let (token, cookie) = formToken(request, context)
        let view = CheckpointsPage(
            chrome: chrome("Checkpoints of \(instance.id)", context, csrf: token, section: "instances"), csrf: token,
            instanceId: instance.id, state: instance.state.rawValue,
            checkpoints: list.reversed().map { Self.row($0, from: from, to: to) }, diff: diff, canDiff: list.count >= 2, notice: nil)
        return try Self.page("checkpoints", view, cookie: cookie)
    }

    static func row(_ checkpoint: Checkpoint, from: String? = nil, to: String? = nil) -> CheckpointRow {
        CheckpointRow(
            id: checkpoint.id, created: checkpoint.createdAt, state: checkpoint.snapshot.state.rawValue, block: checkpoint.snapshot.currentBlock,
            data: ConsoleJSON.pretty(checkpoint.data), context: ConsoleJSON.pretty(checkpoint.snapshot.context),
            isFrom: checkpoint.id == from, isTo: checkpoint.id == to)
    }

    /// Without `confirm=yes` (a browser without JavaScript, or a confirmation declined) this
    /// shows what would be restored and asks again; with it, restores.
    @Sendable func restore(_ request: Request, context: SluiceRequestContext) async throws -> Response {
        let id = try Self.pathID(context, "id", missing: "instance not found")
        let checkpointId = try Self.pathID(context, "checkpoint_id", missing: "checkpoint not found")
        let form = try await ConsoleForm.read(request, allowed: [ConsoleCSRF.field, "confirm"])
        try ConsoleCSRF.verify(form, request, context)
        guard try form.optional("confirm", maxLength: 3) == "yes" else {
            guard let checkpoint = try await checkpoints.get(id, checkpointId: checkpointId, for: context.principal.caller) else {
                throw APIError.notFound("checkpoint not found")
            }
            let (token, cookie) = formToken(request, context)
            let view = ConfirmRestorePage(
                chrome: chrome("Restore \(id)?", context, csrf: token, section: "instances"), csrf: token, instanceId: id, checkpoint: Self.row(checkpoint))
            return try Self.page("confirm-restore", view, cookie: cookie)
        }
        _ = try await checkpoints.restore(id, checkpointId: checkpointId, by: context.principal.caller, nowMilliseconds: Clock.nowMilliseconds())
        return Self.redirect("/console/instances/\(id)" + Self.query([("done", "restore")]))
    }
}
