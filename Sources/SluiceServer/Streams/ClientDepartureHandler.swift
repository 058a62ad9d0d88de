import NIOCore

/// Tells a stream at once that its client has gone: the connection's input closed (the client
/// closed its side; the server allows half-closure, so a close arrives as that event) or the
/// whole connection closed (a reset). Placed first in the connection's pipeline, it sees those
/// events before Hummingbird's handlers and passes every event on unchanged.
///
/// Hummingbird's `RequestBody.consumeWithInboundCloseHandler` notices the same thing with a child
/// task that waits on the request's inbound stream. That task and its frames stayed allocated for
/// the stream's whole life: 6.8 KiB of the 31.9 KiB an idle stream cost (bench/README.md → S5).
/// A handler is a small object and needs no task.
///
/// A client that closes before the handler is in place is noticed when the channel turns out to
/// be inactive as it is added; one that only half-closed by then is noticed at the next write
/// that fails (a keepalive at the latest).
final class ClientDepartureHandler: ChannelInboundHandler, RemovableChannelHandler, Sendable {
    typealias InboundIn = NIOAny

    private let gone: @Sendable () -> Void

    init(gone: @escaping @Sendable () -> Void) {
        self.gone = gone
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if !context.channel.isActive { gone() }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, event == .inputClosed { gone() }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        gone()
        context.fireChannelInactive()
    }
}
