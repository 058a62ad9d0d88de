import NIOCore

/// Sets a new connection's receive buffers to start at 1 KiB instead of NIO's 2 KiB, and leaves
/// the pipeline at once (it is added before the connection's first read).
///
/// A connection keeps its last receive buffer for its next read, so an idle keep-alive
/// connection or SSE stream holds one for its whole life: 2 KiB of the ~25 KiB an idle stream
/// cost (bench/README.md → S5). Almost every request fits in 1 KiB; a bigger one is read in more
/// than one go, and NIO's adaptive sizing grows the buffer for that connection's next reads (up
/// to 64 KiB, as before).
final class ReceiveBufferSizing: ChannelInboundHandler, RemovableChannelHandler, Sendable {
    typealias InboundIn = NIOAny

    static let allocator = AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 1024, maximum: 65536)

    func handlerAdded(context: ChannelHandlerContext) {
        // Both are synchronous here: handlers are added on the connection's event loop.
        try? context.channel.syncOptions?.setOption(.recvAllocator, value: Self.allocator)
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }
}
