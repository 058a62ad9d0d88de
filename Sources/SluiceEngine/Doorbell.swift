import NIOConcurrencyHelpers

/// Wakes a waiting loop early: `ring()` from anywhere, `wait(upTo:)` in the loop. Rings while
/// nobody waits are remembered (once), so a wake-up between two waits is not lost.
public final class Doorbell: Sendable {
    private struct State {
        var rung = false
        var waiter: CheckedContinuation<Void, Never>?
    }

    private let state = NIOLockedValueBox(State())

    public init() {}

    public func ring() {
        let waiter = state.withLockedValue { state -> CheckedContinuation<Void, Never>? in
            if let waiter = state.waiter {
                state.waiter = nil
                return waiter
            }
            state.rung = true
            return nil
        }
        waiter?.resume()
    }

    /// Returns when rung, or after `milliseconds`, or when the task is cancelled; true when rung.
    @discardableResult
    public func wait(upTo milliseconds: Int64) async -> Bool {
        let timedOut = NIOLockedValueBox(false)
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                if (try? await Task.sleep(nanoseconds: UInt64(max(milliseconds, 0)) * 1_000_000)) != nil {
                    timedOut.withLockedValue { $0 = true }
                }
                self.ring()
            }
            group.addTask {
                await withCheckedContinuation { continuation in
                    let resumeNow = self.state.withLockedValue { state -> Bool in
                        if state.rung {
                            state.rung = false
                            return true
                        }
                        state.waiter = continuation
                        return false
                    }
                    if resumeNow { continuation.resume() }
                }
            }
            await group.next()
            group.cancelAll()
        }
        state.withLockedValue { $0.rung = false }
        return !timedOut.withLockedValue { $0 }
    }
}
