import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// Wakes a waiting loop early: `ring()` from anywhere, `wait(upTo:)` in the loop. Rings while
/// nobody waits are remembered (once), so a wake-up between two waits is not lost.
///
/// Thousands of idle SSE streams each wait here on every poll, so a wait is cheap: one
/// continuation and one timer scheduled on an event loop (no child tasks).
public final class Doorbell: Sendable {
    private struct State {
        var rung = false
        /// Unsafe rather than checked: it is resumed exactly once, by whoever takes it out of
        /// here under the lock. A checked one is a heap object more per waiting stream and an
        /// async frame more in the task's allocator, which an idle SSE stream keeps for its life.
        var waiter: UnsafeContinuation<Bool, Never>?
        /// Tells a late timer from the current wait's.
        var generation: UInt64 = 0
    }

    private let state = NIOLockedValueBox(State())

    public init() {}

    public func ring() {
        let waiter = state.withLockedValue { state -> UnsafeContinuation<Bool, Never>? in
            if let waiter = state.waiter {
                state.waiter = nil
                return waiter
            }
            state.rung = true
            return nil
        }
        waiter?.resume(returning: true)
    }

    /// Returns when rung (true), or after `milliseconds` or when the task is cancelled (false).
    @discardableResult
    public func wait(upTo milliseconds: Int64) async -> Bool {
        let early = state.withLockedValue { state -> Bool in
            guard state.rung else { return false }
            state.rung = false
            return true
        }
        if early { return true }
        if Task.isCancelled { return false }
        return await withTaskCancellationHandler {
            await withUnsafeContinuation { (continuation: UnsafeContinuation<Bool, Never>) in
                let generation = state.withLockedValue { state -> UInt64? in
                    if state.rung {
                        state.rung = false
                        return nil
                    }
                    state.generation &+= 1
                    state.waiter = continuation
                    return state.generation
                }
                guard let generation else {
                    continuation.resume(returning: true)
                    return
                }
                MultiThreadedEventLoopGroup.singleton.any().scheduleTask(in: .milliseconds(max(milliseconds, 0))) {
                    self.expire(generation)
                }
            }
        } onCancel: {
            self.expire(nil)
        }
    }

    /// Ends the current wait without a ring (its timer fired, or the task was cancelled).
    private func expire(_ generation: UInt64?) {
        let waiter = state.withLockedValue { state -> UnsafeContinuation<Bool, Never>? in
            guard let waiter = state.waiter, generation == nil || generation == state.generation else { return nil }
            state.waiter = nil
            return waiter
        }
        waiter?.resume(returning: false)
    }
}
