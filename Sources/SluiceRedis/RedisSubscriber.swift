import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import ServiceLifecycle

/// The process's pub/sub subscription. It keeps a set of channels subscribed across
/// reconnects: `run()` connects, subscribes, waits for the subscription to break, backs off and
/// starts again. `onSubscribed` runs after every (re)subscription, so users can catch up on
/// anything published while they were not listening; `onLost` when a subscription breaks (or
/// the first connect of a series fails), so users can stop relying on messages until the next
/// `onSubscribed`.
///
/// On Redis Cluster (`configuration.clusterSeeds`) each sharded channel is subscribed on the
/// primary that owns its slot, one connection per primary. A round ends when any of them drops
/// (a failover) or the server unsubscribes a channel because its slot moved (`sunsubscribe`):
/// the slot map is read again and every channel subscribed where it lives now.
public final class RedisSubscriber: Service, Sendable {
    public enum Kind: Sendable {
        /// SUBSCRIBE / PUBLISH.
        case plain
        /// SSUBSCRIBE / SPUBLISH (sharded pub/sub, Redis ≥ 7; follows slots on Redis Cluster).
        case sharded
    }

    private struct State {
        var channels: Set<String> = []
        /// The connections of the current round, by node, and the promise that ends the round.
        var connections: [RedisConfiguration.Address: RedisConnection] = [:]
        var roundEnd: EventLoopPromise<Void>?
    }

    public let configuration: RedisConfiguration
    public let kind: Kind
    private let group: any EventLoopGroup
    private let logger: Logger
    private let onMessage: @Sendable (RedisPushMessage) -> Void
    private let onSubscribed: @Sendable () -> Void
    private let onLost: @Sendable () -> Void
    private let state = NIOLockedValueBox(State())
    /// Cluster mode: where the slots live (its own, reading the map only).
    private let router: ClusterRouter?

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
        self.router = configuration.clusterSeeds.isEmpty ? nil : ClusterRouter(configuration: configuration, group: group, logger: logger)
        state.withLockedValue { $0.channels = Set(channels) }
    }

    /// Adds channels to the subscribed set; when connected, subscribes right away (on a
    /// cluster, on the connection of the channel's node, or in a new round if there is none).
    public func subscribe(_ channels: [String]) async throws {
        let connections = state.withLockedValue { state in
            state.channels.formUnion(channels)
            return state.connections
        }
        guard !connections.isEmpty else { return }
        let plan = try await self.plan(channels)
        for (address, channels) in plan {
            guard let connection = connections[address] ?? (router == nil ? connections.values.first : nil) else {
                endRound()
                return
            }
            try await Self.subscribe(connection, to: channels, kind: kind)
        }
    }

    public func run() async throws {
        var failures = 0
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do {
                try await runRound(afterFailures: failures)
                failures = 0
                onLost()
            } catch {
                if failures == 0 {
                    logger.warning("pub/sub connection lost", metadata: ["error": "\(error)"])
                    onLost()
                }
                failures += 1
            }
            closeRound()
            if Task.isCancelled || Task.isShuttingDownGracefully { break }
            let delay = ConnectionSlot.backoff(failures: max(failures - 1, 0), configuration)
            try? await Task.sleep(nanoseconds: UInt64(delay.nanoseconds))
        }
        closeRound()
        router?.shutdown()
    }

    /// Connects to every node that owns a channel, subscribes, and waits until the round ends.
    private func runRound(afterFailures failures: Int) async throws {
        let roundEnd = group.any().makePromise(of: Void.self)
        state.withLockedValue { $0.roundEnd = roundEnd }
        if let router { try await router.refreshNow() }
        let plan = try await self.plan(Array(state.withLockedValue { $0.channels }))
        var channelCount = 0
        for (address, channels) in plan {
            let node = router == nil ? configuration : configuration.node(address)
            let connection = try await RedisConnection.connect(node, on: group) { [weak self] message in
                guard let self else { return }
                switch message.kind {
                case .message: self.onMessage(message)
                case .unsubscribed: self.endRound()  // the slot moved: subscribe where it lives now
                }
            }
            state.withLockedValue { $0.connections[address] = connection }
            connection.closeFuture.whenComplete { _ in roundEnd.succeed() }
            try await Self.subscribe(connection, to: channels, kind: kind)
            channelCount += channels.count
        }
        if failures > 0 { logger.info("pub/sub reconnected", metadata: ["channels": "\(channelCount)", "nodes": "\(plan.count)"]) }
        onSubscribed()
        try await withTaskCancellationOrGracefulShutdownHandler {
            try await roundEnd.futureResult.get()
        } onCancelOrGracefulShutdown: {
            roundEnd.succeed()
        }
    }

    /// The channels grouped by the node to subscribe them on (one group without a cluster).
    private func plan(_ channels: [String]) async throws -> [(RedisConfiguration.Address, [String])] {
        guard let router, kind == .sharded else { return channels.isEmpty ? [] : [(configuration.address, channels)] }
        var groups: [RedisConfiguration.Address: [String]] = [:]
        for channel in channels {
            groups[try await router.address(for: HashSlot.of(channel)), default: []].append(channel)
        }
        return groups.map { ($0.key, $0.value) }
    }

    private func endRound() {
        state.withLockedValue { $0.roundEnd }?.succeed()
    }

    /// A half-subscribed round must not live on next to the next one.
    private func closeRound() {
        let (connections, roundEnd) = state.withLockedValue { state in
            defer {
                state.connections = [:]
                state.roundEnd = nil
            }
            return (Array(state.connections.values), state.roundEnd)
        }
        roundEnd?.succeed()
        for connection in connections { connection.close() }
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
