import DequeModule
import NIOCore

/// What the connection writes into the pipeline: the encoded commands and where their replies go.
struct RedisRequest: Sendable {
    enum Reply: Sendable {
        /// One command, one reply.
        case single(EventLoopPromise<RedisReply>)
        /// `count` commands written together; their replies are delivered together, in order.
        case batch(count: Int, EventLoopPromise<[RedisReply]>)

        func fail(_ error: RedisClientError) {
            switch self {
            case .single(let promise): promise.fail(error)
            case .batch(_, let promise): promise.fail(error)
            }
        }
    }

    var payload: ByteBuffer
    var reply: Reply
    var timeout: TimeAmount?
}

/// A message received on a subscribed channel (`message` or `smessage`), or the server's
/// notice that it unsubscribed a sharded channel (`sunsubscribe`: its slot moved to another node).
public struct RedisPushMessage: Sendable {
    public enum Kind: Sendable, Equatable {
        case message
        case unsubscribed
    }

    public var kind: Kind = .message
    public var channel: String
    public var payload: ByteBuffer
    public var sharded: Bool
}

/// Matches replies to commands over one connection: the I/O side of
/// `RedisConnectionStateMachine`, which decides; this handler carries out its actions.
///
/// Timeouts use one timer for the head of the queue. When the oldest command is overdue, the
/// connection is closed and every pending command fails: later replies could no longer be matched
/// to their commands. Pub/sub pushes are handed to `onPush` instead of the FIFO.
final class RedisChannelHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = [RedisRequest]
    typealias OutboundOut = ByteBuffer

    private var machine = RedisConnectionStateMachine()
    private let reader = RESPReplyReader()
    private var timer: Scheduled<Void>?
    private let onPush: (@Sendable (RedisPushMessage) -> Void)?

    init(onPush: (@Sendable (RedisPushMessage) -> Void)? = nil) {
        self.onPush = onPush
    }

    /// A batch of requests, in the order they were submitted (`RedisConnection`'s outbox): each is
    /// recorded and its bytes written; `promise` is the last write's, or fails when none was written.
    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        var unwritten: ByteBuffer?
        var failure: RedisClientError?
        for request in unwrapOutboundIn(data) {
            let deadline = request.timeout.map { context.eventLoop.now + $0 }
            switch machine.write(request.reply, deadline: deadline, timerArmed: timer != nil) {
            case .fail(let error):
                request.reply.fail(error)
                failure = error
            case .write(let armTimer):
                if let previous = unwritten { context.write(wrapOutboundOut(previous), promise: nil) }
                unwritten = request.payload
                if armTimer, let next = machine.nextDeadline { arm(next, context: context) }
            }
        }
        if let last = unwritten {
            context.write(wrapOutboundOut(last), promise: promise)
        } else {
            promise?.fail(failure ?? RedisClientError(.connectionClosed, "connection to redis closed"))
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .active = machine.state else { return }
        do {
            // Fed in slices, each drained before the next: after every reply hiredis moves the
            // unread rest of its buffer to the front (`sdsrange` once 1 KiB is consumed), so a
            // 100 KiB read of 64 pipelined replies moved megabytes (a quarter of the instructions
            // of GET /approvals in callgrind). A slice bounds each move.
            var buffer = unwrapInboundIn(data)
            while let slice = buffer.readSlice(length: min(buffer.readableBytes, Self.feedSlice)), slice.readableBytes > 0 {
                try reader.feed(slice)
                while let reply = try reader.next() {
                    if let push = pushMessage(reply) {
                        onPush?(push)
                        continue
                    }
                    perform(machine.received(reply), context: context)
                    guard case .active = machine.state else { return }
                }
            }
        } catch {
            perform(machine.readFailed(error as? RedisClientError ?? .init(.protocolError, "\(error)")), context: context)
        }
    }

    /// Bytes handed to hiredis at a time (see `channelRead`).
    static let feedSlice = 4096

    func channelInactive(context: ChannelHandlerContext) {
        perform(machine.close(RedisClientError(.connectionClosed, "connection to redis closed")), context: nil)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        perform(machine.close(RedisClientError(.connectionClosed, "connection error: \(error)")), context: context)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        perform(machine.close(RedisClientError(.connectionClosed, "connection to redis closed")), context: nil)
    }

    // MARK: -

    /// Carries out what the state machine decided; `context` nil when the channel is already gone.
    private func perform(_ action: RedisConnectionStateMachine.ReadAction, context: ChannelHandlerContext?) {
        switch action {
        case .none:
            break
        case .succeed(let promise, let reply):
            promise.succeed(reply)
        case .succeedBatch(let promise, let replies):
            promise.succeed(replies)
        case .close(let error, let failing):
            timer?.cancel()
            timer = nil
            for entry in failing { entry.reply.fail(error) }
            context?.close(promise: nil)
        }
    }

    /// One timer watches the oldest pending command; it re-arms itself for the next one.
    private func arm(_ deadline: NIODeadline, context: ChannelHandlerContext) {
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleTask(deadline: deadline) {
            let (handler, context) = loopBound.value
            handler.timer = nil
            switch handler.machine.timerFired(now: context.eventLoop.now) {
            case .none: break
            case .arm(let next): handler.arm(next, context: context)
            case .close(let error): handler.perform(handler.machine.close(error), context: context)
            }
        }
    }

    /// Pub/sub messages arrive unasked. Only a connection with a push handler expects them. A
    /// `sunsubscribe` is unasked too: such a connection never sends SUNSUBSCRIBE, so it is the
    /// server dropping a channel whose slot moved.
    private func pushMessage(_ reply: RedisReply) -> RedisPushMessage? {
        guard onPush != nil, case .array(let parts) = reply, parts.count == 3, let kind = parts[0].string,
              let channel = parts[1].string else { return nil }
        switch kind {
        case "message", "smessage":
            guard case .string(let payload) = parts[2] else { return nil }
            return RedisPushMessage(channel: channel, payload: payload, sharded: kind == "smessage")
        case "sunsubscribe":
            return RedisPushMessage(kind: .unsubscribed, channel: channel, payload: ByteBuffer(), sharded: true)
        default:
            return nil
        }
    }
}
