import DequeModule
import NIOCore

/// What the connection writes into the pipeline: the encoded commands and where their replies go.
struct RedisRequest: Sendable {
    enum Reply: Sendable {
        /// One command, one reply.
        case single(EventLoopPromise<RedisReply>)
        /// `count` commands written together; their replies are delivered together, in order.
        case batch(count: Int, EventLoopPromise<[RedisReply]>)
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

/// Matches replies to commands over one connection: a FIFO of pending replies, in write order.
///
/// Timeouts use one timer for the head of the queue. When the oldest command is overdue, the
/// connection is closed and every pending command fails: later replies could no longer be matched
/// to their commands. Pub/sub pushes are handed to `onPush` instead of the FIFO.
final class RedisChannelHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = RedisRequest
    typealias OutboundOut = ByteBuffer

    private enum State {
        case active
        case closed(RedisClientError)
    }

    private struct Pending {
        var reply: RedisRequest.Reply
        var collected: [RedisReply]
        var deadline: NIODeadline?
    }

    private var state = State.active
    private var pending = Deque<Pending>()
    private let reader = RESPReplyReader()
    private var timer: Scheduled<Void>?
    private let onPush: (@Sendable (RedisPushMessage) -> Void)?

    init(onPush: (@Sendable (RedisPushMessage) -> Void)? = nil) {
        self.onPush = onPush
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let request = unwrapOutboundIn(data)
        switch state {
        case .closed(let error):
            Self.fail(request.reply, error)
            promise?.fail(error)
        case .active:
            let deadline = request.timeout.map { NIODeadline.now() + $0 }
            pending.append(Pending(reply: request.reply, collected: [], deadline: deadline))
            context.write(wrapOutboundOut(request.payload), promise: promise)
            if deadline != nil, timer == nil { armTimer(context: context) }
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .active = state else { return }
        do {
            try reader.feed(unwrapInboundIn(data))
            while let reply = try reader.next() {
                if let push = pushMessage(reply) {
                    onPush?(push)
                    continue
                }
                guard var head = pending.popFirst() else {
                    throw RedisClientError(.protocolError, "reply without a pending command: \(reply)")
                }
                switch head.reply {
                case .single(let promise):
                    promise.succeed(reply)
                case .batch(let count, let promise):
                    head.collected.append(reply)
                    if head.collected.count == count {
                        promise.succeed(head.collected)
                    } else {
                        pending.prepend(head)
                    }
                }
            }
        } catch {
            close(context: context, error: error as? RedisClientError ?? .init(.protocolError, "\(error)"))
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        failAll(RedisClientError(.connectionClosed, "connection to redis closed"))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        close(context: context, error: RedisClientError(.connectionClosed, "connection error: \(error)"))
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        failAll(RedisClientError(.connectionClosed, "connection to redis closed"))
    }

    // MARK: -

    private func close(context: ChannelHandlerContext, error: RedisClientError) {
        failAll(error)
        context.close(promise: nil)
    }

    private func failAll(_ error: RedisClientError) {
        if case .active = state { state = .closed(error) }
        timer?.cancel()
        timer = nil
        while let entry = pending.popFirst() { Self.fail(entry.reply, error) }
    }

    private static func fail(_ reply: RedisRequest.Reply, _ error: RedisClientError) {
        switch reply {
        case .single(let promise): promise.fail(error)
        case .batch(_, let promise): promise.fail(error)
        }
    }

    /// One timer watches the oldest pending command; it re-arms itself for the next one.
    private func armTimer(context: ChannelHandlerContext) {
        guard let deadline = pending.first(where: { $0.deadline != nil })?.deadline else { return }
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleTask(deadline: deadline) {
            let (handler, context) = loopBound.value
            handler.timer = nil
            handler.checkDeadline(context: context)
        }
    }

    private func checkDeadline(context: ChannelHandlerContext) {
        guard case .active = state else { return }
        let now = NIODeadline.now()
        if let overdue = pending.first(where: { $0.deadline != nil }), let deadline = overdue.deadline, deadline <= now {
            close(context: context, error: RedisClientError(.timeout, "no reply from redis in time"))
        } else {
            armTimer(context: context)
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
