import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import ServiceLifecycle

/// The process's one pub/sub connection. It keeps a set of channels subscribed across
/// reconnects: `run()` connects, subscribes, waits for the connection to drop, backs off and
/// starts again. `onSubscribed` runs after every (re)subscription, so users can catch up on
/// anything published while they were not listening; `onLost` when the connection drops (or a
/// connect fails), so users can stop relying on messages until the next `onSubscribed`.
public final class RedisSubscriber: Service, Sendable {
    public enum Kind: Sendable {
        /// SUBSCRIBE / PUBLISH.
        case plain
        /// SSUBSCRIBE / SPUBLISH (sharded pub/sub, Redis ≥ 7; follows slots on Redis Cluster).
        case sharded
    }

    private struct State {
        var channels: Set<String> = []
        var connection: RedisConnection?
    }

    public let configuration: RedisConfiguration
    public let kind: Kind
    private let group: any EventLoopGroup
    private let logger: Logger
    private let onMessage: @Sendable (RedisPushMessage) -> Void
    private let onSubscribed: @Sendable () -> Void
    private let onLost: @Sendable () -> Void
    private let state = NIOLockedValueBox(State())

    public init(
        configuration: RedisConfiguration,
        kind: Kind,
        channels: [String] = [],
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger = Logger(label: "sluice.redis.pubsub"),
        onSubscribed: @escaping @Sendable () -> Void = {},
        onLost: @escaping @Sendable () -> Void = {},
        onMessage: @escaping @Sendable (RedisPushMessage) -> Void
    ) {
        self.configuration = configuration
        self.kind = kind
        self.group = group
        self.logger = logger
        self.onMessage = onMessage
        self.onSubscribed = onSubscribed
        self.onLost = onLost
        state.withLockedValue { $0.channels = Set(channels) }
    }

    /// Adds channels to the subscribed set; when connected, subscribes right away.
    public func subscribe(_ channels: [String]) async throws {
        let connection = state.withLockedValue { state in
            state.channels.formUnion(channels)
            return state.connection
        }
        if let connection { try await Self.subscribe(connection, to: channels, kind: kind) }
    }

    public func run() async throws {
        var failures = 0
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            var current: RedisConnection?
            do {
                let connection = try await RedisConnection.connect(configuration, on: group, onPush: onMessage)
                current = connection
                let channels = state.withLockedValue { state in
                    state.connection = connection
                    return Array(state.channels)
                }
                try await Self.subscribe(connection, to: channels, kind: kind)
                if failures > 0 { logger.info("pub/sub reconnected", metadata: ["channels": "\(channels.count)"]) }
                failures = 0
                onSubscribed()
                try await withTaskCancellationOrGracefulShutdownHandler {
                    try await connection.closeFuture.get()
                } onCancelOrGracefulShutdown: {
                    connection.close()
                }
                state.withLockedValue { $0.connection = nil }
                onLost()
            } catch {
                // A half-subscribed connection must not live on next to the new one.
                current?.close()
                state.withLockedValue { $0.connection = nil }
                if failures == 0 {
                    logger.warning("pub/sub connection lost", metadata: ["error": "\(error)"])
                    onLost()
                }
                failures += 1
            }
            if Task.isCancelled || Task.isShuttingDownGracefully { break }
            let delay = ConnectionSlot.backoff(failures: max(failures - 1, 0), configuration)
            try? await Task.sleep(nanoseconds: UInt64(delay.nanoseconds))
        }
        state.withLockedValue { $0.connection?.close() }
    }

    private static func subscribe(_ connection: RedisConnection, to channels: [String], kind: Kind) async throws {
        guard !channels.isEmpty else { return }
        switch kind {
        case .plain:
            let acks = try await connection.sendSubscription(
                RedisCommand("SUBSCRIBE", channels.map { RedisArgument($0) }), acknowledgements: channels.count)
            for ack in acks { _ = try ack.throwingServerError() }
        case .sharded:
            // One SSUBSCRIBE per channel: on a cluster, channels of one command must share a slot.
            try await withThrowingTaskGroup(of: Void.self) { group in
                for channel in channels {
                    group.addTask {
                        let acks = try await connection.sendSubscription(RedisCommand("SSUBSCRIBE", channel), acknowledgements: 1)
                        for ack in acks { _ = try ack.throwingServerError() }
                    }
                }
                try await group.waitForAll()
            }
        }
    }
}
