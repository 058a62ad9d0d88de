import DequeModule
import NIOCore

/// The rules of one connection, apart from its I/O: which events are legal in which state and
/// what the channel handler must do for each (valkey-swift's `ValkeyChannelHandler.StateMachine`
/// shape). It holds the FIFO of pending replies and never touches the channel, a clock or a
/// promise itself: every method returns an action for `RedisChannelHandler` to carry out, so
/// tests drive it with plain values.
///
/// `active` → `closed` (a read error, a timeout, the channel going inactive, or the handler
/// closing). Once closed, writes fail at once with the closing error and replies are ignored.
struct RedisConnectionStateMachine {
    enum State: Equatable {
        case active
        case closed(RedisClientError)
    }

    /// A command (or a pipeline of them) waiting for its replies.
    struct Pending {
        var reply: RedisRequest.Reply
        var collected: [RedisReply] = []
        var deadline: NIODeadline?
    }

    private(set) var state = State.active
    private var pending = Deque<Pending>()

    var pendingCount: Int { pending.count }

    // MARK: writing

    enum WriteAction {
        /// Write the payload; `armTimer` when no timer runs yet and this one has a deadline.
        case write(armTimer: Bool)
        /// Fail this request at once: the connection is closed.
        case fail(RedisClientError)
    }

    mutating func write(_ reply: RedisRequest.Reply, deadline: NIODeadline?, timerArmed: Bool) -> WriteAction {
        switch state {
        case .closed(let error):
            return .fail(error)
        case .active:
            pending.append(Pending(reply: reply, deadline: deadline))
            return .write(armTimer: deadline != nil && !timerArmed)
        }
    }

    // MARK: reading

    enum ReadAction {
        /// Nothing to do yet (a pipeline still collecting, or the connection is closed).
        case none
        case succeed(EventLoopPromise<RedisReply>, RedisReply)
        case succeedBatch(EventLoopPromise<[RedisReply]>, [RedisReply])
        /// A reply nobody asked for: the stream can no longer be matched to commands. Fail
        /// `failing` with `error` and close the channel.
        case close(RedisClientError, failing: [Pending])
    }

    /// A reply (not a pub/sub push) arrived.
    mutating func received(_ reply: RedisReply) -> ReadAction {
        guard case .active = state else { return .none }
        guard var head = pending.popFirst() else {
            return close(RedisClientError(.protocolError, "reply without a pending command: \(reply)"))
        }
        switch head.reply {
        case .single(let promise):
            return .succeed(promise, reply)
        case .batch(let count, let promise):
            head.collected.append(reply)
            if head.collected.count == count { return .succeedBatch(promise, head.collected) }
            pending.prepend(head)
            return .none
        }
    }

    /// The bytes are not RESP.
    mutating func readFailed(_ error: RedisClientError) -> ReadAction {
        guard case .active = state else { return .none }
        return close(error)
    }

    // MARK: timeouts

    enum TimerAction: Equatable {
        case none
        /// Schedule the timer for this deadline (the oldest pending one).
        case arm(NIODeadline)
        /// The oldest command is overdue: fail everything and close (later replies could not
        /// be matched any more).
        case close(RedisClientError)
    }

    /// The timer fired at `now`. On `.close`, call `close(_:)` for the pending commands to fail.
    func timerFired(now: NIODeadline) -> TimerAction {
        guard case .active = state, let deadline = pending.first(where: { $0.deadline != nil })?.deadline else { return .none }
        if deadline <= now { return .close(RedisClientError(.timeout, "no reply from redis in time")) }
        return .arm(deadline)
    }

    /// When the timer should fire next, if any command waits with a deadline.
    var nextDeadline: NIODeadline? {
        guard case .active = state else { return nil }
        return pending.first(where: { $0.deadline != nil })?.deadline
    }

    // MARK: closing

    /// The connection ends (inactive channel, error, timeout): returns the pending commands to
    /// fail with `error`. Closing twice keeps the first error and fails nothing more.
    mutating func close(_ error: RedisClientError) -> ReadAction {
        if case .active = state { state = .closed(error) }
        let failing = Array(pending)
        pending.removeAll()
        return .close(error, failing: failing)
    }
}
