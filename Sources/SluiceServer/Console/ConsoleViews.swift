import Foundation
import SluiceCore

// What the templates of console/templates render: plain values, already formatted, so the
// templates hold no logic beyond sections. Every string is escaped by the template engine.

/// The frame of every page: title, who is signed in, the navigation their role may use.
struct ConsoleChrome {
    var title: String
    /// Who the page is for ("alice (approver, tenant acme)"); nil before sign-in.
    var who: String?
    /// A sign-out form is shown (a session exists: not in open mode, not with a header key).
    var signedIn: Bool
    /// Operators and admins see instances; approvers see the inbox only.
    var showInstances: Bool
    var showApprovals: Bool
    var openMode: Bool
    var csrf: String?
    /// Which navigation link is the current page (`aria-current`).
    var approvalsActive: Bool
    var instancesActive: Bool

    init(title: String, context: SluiceRequestContext, csrf: String?, section: String = "", openMode: Bool = false) {
        self.title = title
        self.approvalsActive = section == "approvals"
        self.instancesActive = section == "instances"
        self.csrf = csrf
        self.openMode = openMode
        self.signedIn = context.consoleSession != nil
        if let principal = context.identity {
            var who = "\(principal.name) (\(principal.role.rawValue)"
            if let tenant = principal.tenant { who += ", tenant \(tenant)" }
            self.who = who + ")"
            self.showApprovals = principal.role != .worker
            self.showInstances = principal.role == .admin || principal.role == .operator
        } else {
            self.who = nil
            self.showApprovals = false
            self.showInstances = false
        }
    }

}

struct SignInPage {
    var chrome: ConsoleChrome
    var csrf: String
    var error: String?
}

struct Choice {
    var label: String
    var value: String
    /// The key that presses this choice's button (1-9), nil past the ninth.
    var shortcut: String?
}

struct Field {
    var key: String
    var value: String
}

struct ApprovalItemView {
    var instanceId: String
    var blockId: String
    var prompt: String
    var sequenceName: String
    var tenant: String?
    var namespace: String?
    var deadline: String?
    var deadlineMilliseconds: Int64?
    var dueText: String?
    var overdue: Bool
    var waitingSince: String
    var waitingText: String
    var escalatedAt: String?
    var metadata: [Field]
    var choices: [Choice]
    /// Queue order as one sortable string (the scripts' score, then the instance id), so the
    /// page's script can insert a live item where `GET /approvals` would list it.
    var order: String
    var linkInstance: Bool

    /// From an item as `GET /approvals` lists it.
    init?(_ item: JSONValue, now: Int64, linkInstance: Bool) {
        guard let instanceId = item["instance_id"]?.stringValue, let blockId = item["block_id"]?.stringValue else { return nil }
        self.instanceId = instanceId
        self.blockId = blockId
        self.prompt = item["prompt"]?.stringValue ?? ""
        self.sequenceName = item["sequence_name"]?.stringValue ?? item["sequence_id"]?.stringValue ?? ""
        self.tenant = item["tenant_id"]?.stringValue
        self.namespace = item["namespace"]?.stringValue
        self.deadline = item["deadline"]?.stringValue
        self.deadlineMilliseconds = ConsoleTime.milliseconds(deadline)
        self.dueText = deadlineMilliseconds.map { ConsoleTime.until($0, now: now) }
        self.overdue = deadlineMilliseconds.map { $0 < now } ?? false
        self.waitingSince = item["waiting_since"]?.stringValue ?? ""
        let waiting = ConsoleTime.milliseconds(waitingSince) ?? now
        self.waitingText = ConsoleTime.ago(waiting, now: now)
        self.escalatedAt = item["escalated_at"]?.stringValue
        self.metadata = (item["metadata"]?.objectValue ?? [:]).sorted { $0.key < $1.key }.map { Field(key: $0.key, value: Self.text($0.value)) }
        let choices = item["choices"]?.arrayValue ?? []
        self.choices = choices.enumerated().compactMap { index, choice in
            guard let value = choice["value"]?.stringValue else { return nil }
            return Choice(label: choice["label"]?.stringValue ?? value, value: value, shortcut: index < 9 ? String(index + 1) : nil)
        }
        let score = deadlineMilliseconds ?? (10_000_000_000_000 + waiting)
        self.order = String(format: "%015lld", score) + "|" + instanceId
        self.linkInstance = linkInstance
    }

    static func text(_ value: JSONValue) -> String {
        if case .string(let text) = value { return text }
        return value.jsonString
    }
}

struct ApprovalsPage {
    var chrome: ConsoleChrome
    var csrf: String
    var items: [ApprovalItemView]
    var total: Int
    var tenant: String
    var namespace: String
    /// A tenant-bound key sees its tenant only: the filter is fixed.
    var tenantLocked: Bool
    var streamURL: String
    var nextURL: String?
    var notice: String?
    var error: String?
}

struct StateOption {
    var value: String
    var selected: Bool
}

struct InstanceRow {
    var id: String
    var sequenceName: String
    var state: String
    var tenant: String?
    var namespace: String?
    var created: String
    var updated: String
}

struct InstancesPage {
    var chrome: ConsoleChrome
    var rows: [InstanceRow]
    var states: [StateOption]
    var tenant: String
    var namespace: String
    var tenantLocked: Bool
    var nextURL: String?
}

struct DecisionRow {
    var block: String
    var value: String
    var by: String
    var at: String
}

struct EventRow {
    var id: String
    var type: String
    var time: String
    var summary: String
    var detail: String?
}

struct InstancePage {
    var chrome: ConsoleChrome
    var csrf: String
    var id: String
    var state: String
    var currentBlock: String?
    var tenant: String?
    var namespace: String?
    var sequence: String
    var created: String
    var updated: String
    var context: String
    var metadata: String
    var error: String?
    var decisions: [DecisionRow]
    var events: [EventRow]
    /// The id of the last event rendered: the page's script resumes the stream after it.
    var lastEventId: String
    var moreEvents: Bool
    var canPause: Bool
    var canResume: Bool
    var canCancel: Bool
    var checkpointCount: Int
    var notice: String?
}

struct CheckpointRow {
    var id: String
    var created: String
    var state: String
    var block: String?
    var data: String
    var context: String
    var isFrom: Bool
    var isTo: Bool
}

struct DiffRow {
    var path: String
    var kind: String
    var before: String?
    var after: String?
}

struct CheckpointDiff {
    var from: String
    var to: String
    var rows: [DiffRow]
}

struct CheckpointsPage {
    var chrome: ConsoleChrome
    var csrf: String
    var instanceId: String
    var state: String
    var checkpoints: [CheckpointRow]
    var diff: CheckpointDiff?
    var canDiff: Bool
    var notice: String?
}

struct ConfirmRestorePage {
    var chrome: ConsoleChrome
    var csrf: String
    var instanceId: String
    var checkpoint: CheckpointRow
}
