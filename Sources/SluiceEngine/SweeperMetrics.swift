import Metrics
import SluiceCore

/// What the sweepers did, for `/metrics`.
enum SweeperMetrics {
    static let escalations = Counter(label: "sluice_approval_escalations")
    static let timeouts = Counter(label: "sluice_approval_timeouts")
    static let tasksExpired = Counter(label: "sluice_tasks_expired")

    static func record(_ outcome: ApprovalStore.TimeoutOutcome) {
        switch outcome {
        case .escalated: escalations.increment()
        case .decided, .failed: timeouts.increment()
        }
    }
}
