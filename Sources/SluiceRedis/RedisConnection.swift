import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// One open connection: a NIO channel whose pipeline ends in `RedisChannelHandler`.
/// Any number of tasks may send on it at once; commands are pipelined and replies matched in order.
public final class RedisConnection: Sendable {
    let channel: any Channel
    let commandTimeout: TimeAmount
    private let outbox = NIOLockedValueBox(Outbox())

    private init(channel: any Channel, commandTimeout: TimeAmount) {
        self.channel = channel
        self.commandTimeout = commandTimeout
    }

    public var isActive: Bool { channel.isActive }
    public var closeFuture: EventLoopFuture<Void> { channel.closeFuture }

    /// Opens a connection and runs AUTH and SELECT as the configuration asks.
    /// `onPush` turns it into a pub/sub connection that receives channel messages.
    public static func connect(
        _ configuration: RedisConfiguration,
        on group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        onPush: (@Sendable (RedisPushMessage) -> Void)? = nil
    ) async throws -> RedisConnection {
        let bootstrap = ClientBootstrap(group: group)
            .connectTimeout(configuration.connectTimeout)
            .channelOption(.socketOption(.so_keepalive), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(RedisChannelHandler(onPush: onPush))
                }
            }
        let channel: any Channel
        do {
            switch configuration.address {
            case .tcp(let host, let port):
                channel = try await bootstrap.channelOption(.tcpOption(.tcp_nodelay), value: 1)
                    .connect(host: host, port: port).get()
            case .unix(let path):
                channel = try await bootstrap.connect(unixDomainSocketPath: path).get()
            }
        } catch {
            throw RedisClientError(.connectionFailed, "cannot connect to redis at \(configuration.address): \(error)")
        }
        let connection = RedisConnection(channel: channel, commandTimeout: configuration.commandTimeout)
        do {
            if let password = configuration.password {
                let auth = configuration.username.map { RedisCommand("AUTH", $0, password) } ?? RedisCommand("AUTH", password)
                _ = try await connection.send(auth).throwingServerError()
            }
            if configuration.database != 0 {
                _ = try await connection.send(RedisCommand("SELECT", [.init(configuration.database)])).throwingServerError()
            }
        } catch {
            connection.close()
            throw error
        }
        return connection
    }

    /// Sends one command and waits for its reply. Error replies are returned, not thrown.
    /// A cancelled task stops waiting at once (`CancellationError`); its reply, when it comes,
    /// is read and dropped, so the connection stays usable for everyone else.
    public func send(_ command: RedisCommand, timeout: TimeAmount? = nil) async throws -> RedisReply {
        try await reply(to: try submit(command, timeout: timeout))
    }

    /// Writes all commands with one flush and returns their replies in order (cancellation as
    /// for `send`).
    public func pipeline(_ commands: [RedisCommand], timeout: TimeAmount? = nil) async throws -> [RedisReply] {
        guard !commands.isEmpty else { return [] }
        return try await reply(to: try submit(commands, timeout: timeout))
    }

    // Encoding and writing are functions that are not async, of their own: what they use is on
    // the thread's stack, not in `send`'s or `pipeline`'s async frame. Those frames are part of
    // every Redis call's depth in the caller's task allocator, which an idle SSE stream's
    // connection task keeps at its deepest for the stream's life (bench/README.md → S5).

    @inline(never)
    private func submit(_ command: RedisCommand, timeout: TimeAmount?) throws -> EventLoopPromise<RedisReply> {
        try Task.checkCancellation()
        var payload = channel.allocator.buffer(capacity: command.encodedCount)
        command.encode(into: &payload)
        let promise = channel.eventLoop.makePromise(of: RedisReply.self)
        write(RedisRequest(payload: payload, reply: .single(promise), timeout: timeout ?? commandTimeout))
        return promise
    }

    @inline(never)
    private func submit(_ commands: [RedisCommand], timeout: TimeAmount?) throws -> EventLoopPromise<[RedisReply]> {
        try Task.checkCancellation()
        var payload = channel.allocator.buffer(capacity: commands.reduce(0) { $0 + $1.encodedCount })
        for command in commands { command.encode(into: &payload) }
        let promise = channel.eventLoop.makePromise(of: [RedisReply].self)
        write(RedisRequest(payload: payload, reply: .batch(count: commands.count, promise), timeout: timeout ?? commandTimeout))
        return promise
    }

    /// The promise's value; a cancelled task stops waiting at once.
    private func reply<Value: Sendable>(to promise: EventLoopPromise<Value>) async throws -> Value {
        try await withTaskCancellationHandler {
            try await promise.futureResult.get()
        } onCancel: {
            promise.fail(CancellationError())
        }
    }

    /// Sends a command whose replies are pub/sub acknowledgements, one per channel
    /// (SUBSCRIBE, SSUBSCRIBE and their UN- forms).
    func sendSubscription(_ command: RedisCommand, acknowledgements: Int) async throws -> [RedisReply] {
        var payload = channel.allocator.buffer(capacity: 64)
        command.encode(into: &payload)
        let promise = channel.eventLoop.makePromise(of: [RedisReply].self)
        write(RedisRequest(payload: payload, reply: .batch(count: acknowledgements, promise), timeout: commandTimeout))
        return try await promise.futureResult.get()
    }

    public func close() {
        channel.close(promise: nil)
    }

    /// Hands a request to the event loop. Requests submitted from other threads while a hand-over
    /// is pending join it, so that under load the loop writes several with one flush: one
    /// `execute`, one `write` system call, and one read for Redis, instead of one per request.
    private func write(_ request: RedisRequest) {
        let schedule = outbox.withLockedValue { outbox in
            outbox.requests.append(request)
            defer { outbox.scheduled = true }
            return !outbox.scheduled
        }
        guard schedule else { return }
        if channel.eventLoop.inEventLoop {
            writeOutbox()
        } else {
            channel.eventLoop.execute { self.writeOutbox() }
        }
    }

    private func writeOutbox() {
        let requests = outbox.withLockedValue { outbox in
            outbox.scheduled = false
            defer { outbox.requests = [] }
            return outbox.requests
        }
        // If the channel is already closed the handler may be gone; the write promise then
        // fails and so must the replies, or their callers would wait forever.
        channel.writeAndFlush(requests).whenFailure { error in
            let failure = error as? RedisClientError ?? RedisClientError(.connectionClosed, "connection to redis closed")
            for request in requests { request.reply.fail(failure) }
        }
    }

    /// How many requests wait for the event loop now (for tests).
    var queuedRequests: Int { outbox.withLockedValue { $0.requests.count } }

    /// Requests waiting for the event loop (`write`).
    private struct Outbox {
        var requests: [RedisRequest] = []
        var scheduled = false
    }
}
