import NIOConcurrencyHelpers

/// A child's exit status once it is known, and the callers waiting for it (each with its own
/// deadline). Waiting suspends; nothing polls.
final class ExitStatus: Sendable {
    private struct State {
        var status: Int32?
        var waiters: [Int: CheckedContinuation<Int32?, Never>] = [:]
        /// Waiters whose deadline passed before they were registered.
        var expired: Set<Int> = []
        var nextWaiter = 0
    }

    private let state = NIOLockedValueBox(State())

    /// The status (exit code, or 128 + the signal that killed it), nil while it runs.
    var current: Int32? { state.withLockedValue { $0.status } }

    func finish(_ status: Int32) {
        let waiters = state.withLockedValue { state in
            state.status = status
            defer { state.waiters = [:] }
            return state.waiters
        }
        for waiter in waiters.values { waiter.resume(returning: status) }
    }

    /// The status once the child has exited, or nil when `timeout` passes first.
    func wait(upTo timeout: Duration) async -> Int32? {
        if let status = current { return status }
        let id = state.withLockedValue { state in
            state.nextWaiter += 1
            return state.nextWaiter
        }
        let deadline = Task {
            try? await Task.sleep(for: timeout)
            self.expire(id)
        }
        defer { deadline.cancel() }
        return await withCheckedContinuation { continuation in
            let now: Int32?? = state.withLockedValue { state in
                if let status = state.status { return .some(status) }
                if state.expired.remove(id) != nil { return .some(nil) }
                state.waiters[id] = continuation
                return nil
            }
            if let now { continuation.resume(returning: now) }
        }
    }

    private func expire(_ id: Int) {
        let waiter = state.withLockedValue { state -> CheckedContinuation<Int32?, Never>? in
            let waiter = state.waiters.removeValue(forKey: id)
            if waiter == nil && state.status == nil { state.expired.insert(id) }
            return waiter
        }
        waiter?.resume(returning: nil)
    }
}
