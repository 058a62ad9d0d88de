import NIOCore
import NIOPosix
import SluiceCore
import Testing

@testable import SluiceServer

/// A connection's receive buffers start at 1 KiB (`ReceiveBufferSizing`), and a request much
/// bigger than that still arrives whole.
@Suite struct ReceiveBufferTests {
    /// The handler sets the accepted connection's allocator before its first read and leaves the
    /// pipeline.
    @Test func anAcceptedConnectionStartsAtOneKiBAndTheHandlerLeaves() async throws {
        let group = MultiThreadedEventLoopGroup.singleton
        let accepted = group.any().makePromise(of: (any Channel).self)
        let server = try await ServerBootstrap(group: group)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ReceiveBufferSizing())
                    accepted.succeed(channel)
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        let port = try #require(server.localAddress?.port)
        let client = try await ClientBootstrap(group: group).connect(host: "127.0.0.1", port: port).get()
        let channel = try await accepted.futureResult.get()

        let allocator = try await channel.getOption(.recvAllocator).get()
        let adaptive = try #require(allocator as? AdaptiveRecvByteBufferAllocator)
        #expect(adaptive.initial == 1024)
        #expect(adaptive.minimum == 64 && adaptive.maximum == 65536)
        let stillThere = try? await channel.pipeline.handler(type: ReceiveBufferSizing.self).get()
        #expect(stillThere == nil)

        try await client.close()
        try await server.close()
    }

    /// Over a real connection: a 100 KiB context (a hundred times the first buffer) is stored
    /// and read back byte for byte.
    @Test func aRequestManyTimesTheFirstBufferArrivesWhole() async throws {
        let api = try await TestAPI.make()
        try await api.run(live: true) { client in
            let created = try await client.post("/sequences", ["id": "big", "blocks": [["id": "a", "type": "step", "handler": "noop"]]])
            #expect(created.status == .created)
            let text = String((0..<100 * 1024).map { index in Character(UnicodeScalar(UInt8(97 + index % 26))) })
            let reply = try await client.post("/instances", ["sequence_id": "big", "id": "big-1", "context": ["text": .string(text)]])
            #expect(reply.status == .created, "create: \(reply.json)")
            let read = try await client.call(.get, "/instances/big-1")
            #expect(read.json["context"]?["text"]?.stringValue == text)
        }
    }
}
