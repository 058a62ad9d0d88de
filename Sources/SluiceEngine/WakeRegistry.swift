import NIOConcurrencyHelpers

/// Routes the process's wake-ups (instance ids from the partitions' pub/sub channels) to the
/// local waiters of that instance, e.g. its open SSE streams. One subscription per process,
/// any number of local waiters.
public final class WakeRegistry: Sendable {
    private struct Waiter {
        let id: Int
        let doorbell: Doorbell
    }

    private let waiters = NIOLockedValueBox<(next: Int, byInstance: [String: [Waiter]])>((0, [:]))
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

    /// Registers a doorbell rung for every wake-up of `instanceId`; call the returned closure to stop.
    public func register(_ instanceId: String, _ doorbell: Doorbell) -> @Sendable () -> Void {
        let id = waiters.withLockedValue { state -> Int in
            state.next += 1
            state.byInstance[instanceId, default: []].append(Waiter(id: state.next, doorbell: doorbell))
            return state.next
        }
        return { [waiters] in
            waiters.withLockedValue { state in
                state.byInstance[instanceId]?.removeAll { $0.id == id }
                if state.byInstance[instanceId]?.isEmpty == true { state.byInstance[instanceId] = nil }
            }
        }
    }

    public func wake(_ instanceId: String) {
        let bells = waiters.withLockedValue { $0.byInstance[instanceId]?.map(\.doorbell) ?? [] }
        for bell in bells { bell.ring() }
    }

    /// After a pub/sub reconnect messages may have been missed: everyone looks again.
    public func wakeAll() {
        let bells = waiters.withLockedValue { $0.byInstance.values.flatMap { $0.map(\.doorbell) } }
        for bell in bells { bell.ring() }
    }

    public var count: Int { waiters.withLockedValue { $0.byInstance.values.reduce(0) { $0 + $1.count } } }
}
