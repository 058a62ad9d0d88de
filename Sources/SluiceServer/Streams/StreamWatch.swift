import NIOCore
import SluiceEngine
import Synchronization

/// What ends an idle stream's wait besides a wake-up, in one object: its client leaving, and the
/// process shutting down gracefully. Either sets its flag and rings the stream's doorbell.
///
/// The client leaving is seen by this object as a channel handler placed first in the
/// connection's pipeline: the connection's input closed (the client closed its side; the server
/// allows half-closure, so a close arrives as that event) or the whole connection closed (a
/// reset). It sees those events before Hummingbird's handlers and passes every event on unchanged.
///
/// Hummingbird's `RequestBody.consumeWithInboundCloseHandler` notices the same thing with a child
/// task that waits on the request's inbound stream. That task and its frames stayed allocated for
/// the stream's whole life: 6.8 KiB of the 31.9 KiB an idle stream cost (bench/README.md → S5).
/// A handler is a small object and needs no task. It was a handler, a closure and two locked
/// boxes; one object with atomic flags is three heap objects fewer per idle stream.
///
/// A client that closes before the handler is in place is noticed when the channel turns out to
/// be inactive as it is added; one that only half-closed by then is noticed at the next write
/// that fails (a keepalive at the latest).
final class StreamWatch: ChannelInboundHandler, RemovableChannelHandler, Sendable {
    typealias InboundIn = NIOAny

    let doorbell: Doorbell
    private let left = Atomic<Bool>(false)
    private let stopping = Atomic<Bool>(false)

    init(doorbell: Doorbell) {
        self.doorbell = doorbell
    }

    var clientGone: Bool { left.load(ordering: .acquiring) }
    var shuttingDown: Bool { stopping.load(ordering: .acquiring) }

    /// The client has gone (or the handler could not be added to its connection).
    func clientLeft() {
        left.store(true, ordering: .releasing)
        doorbell.ring()
    }

    /// The process is shutting down gracefully.
    func shutDown() {
        stopping.store(true, ordering: .releasing)
        doorbell.ring()
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if !context.channel.isActive { clientLeft() }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, event == .inputClosed { clientLeft() }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        clientLeft()
        context.fireChannelInactive()
    }
}
