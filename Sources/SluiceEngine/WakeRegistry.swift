import NIOConcurrencyHelpers

/// Routes the process's wake-ups (instance ids from the partitions' pub/sub channels) to the
/// local waiters of that instance, e.g. its open SSE streams. One subscription per process,
/// any number of local waiters.
public final class WakeRegistry: Sendable {
    private let waiters = NIOLockedValueBox<[String: [Doorbell]]>([:])
    private let live = NIOLockedValueBox(false)

    public init() {}

    /// True while the wake-up subscription is up: every event written then rings its waiters,
    /// so they need not poll fast. False before the first subscription and after a loss.
    public var isLive: Bool { live.withLockedValue { $0 } }

    /// The subscription is (again) up. Messages may have been missed while it was down, so
    /// everyone looks again.
    public func subscribed() {
        live.withLockedValue { $0 = true }
        wakeAll()
    }

    /// The subscription is down: wake-ups may be missed until it is back. Everyone is woken, so
    /// that waits begun with the long interval of a live subscription start again with their own
    /// short one.
    public func lost() {
        live.withLockedValue { $0 = false }
        wakeAll()
    }

    /// Rings `doorbell` for every wake-up of `instanceId` until `unregister` with the same
    /// arguments. (Not a returned closure to call: that closure's context was one heap object
    /// more for every idle SSE stream: bench/README.md → S5.)
    public func register(_ instanceId: String, _ doorbell: Doorbell) {
        waiters.withLockedValue { state in
            state[instanceId, default: []].append(doorbell)
        }
    }

    public func unregister(_ instanceId: String, _ doorbell: Doorbell) {
        waiters.withLockedValue { state in
            state[instanceId]?.removeAll { $0 === doorbell }
            if state[instanceId]?.isEmpty == true { state[instanceId] = nil }
        }
    }

    public func wake(_ instanceId: String) {
        let bells = waiters.withLockedValue { $0[instanceId] ?? [] }
        for bell in bells { bell.ring() }
    }

    /// After a pub/sub reconnect messages may have been missed: everyone looks again.
    public func wakeAll() {
        let bells = waiters.withLockedValue { $0.values.flatMap { $0 } }
        for bell in bells { bell.ring() }
    }

    public var count: Int { waiters.withLockedValue { $0.values.reduce(0) { $0 + $1.count } } }
}
