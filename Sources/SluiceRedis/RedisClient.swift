import Logging
import ServiceLifecycle
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// The process's command client: a small pool of pipelined connections to one Redis server, or
/// in cluster mode (`RedisConfiguration.clusterSeeds`) one such pool per primary, each command
/// routed by its key's slot (`ClusterRouter`).
///
/// Connections open lazily and reopen by themselves. After a failed connect a slot waits
/// (`minBackoff`, doubling to `maxBackoff`) before trying again; meanwhile its commands fail at
/// once with `.unavailable` instead of queueing, so callers answer 503 rather than hang.
public final class RedisClient: Sendable {
    public let configuration: RedisConfiguration
    let group: any EventLoopGroup
    let logger: Logger
    private let backend: Backend
    private let counters = NIOLockedValueBox((roundTrips: 0, commands: 0))

    private enum Backend: Sendable {
        case single(NodePool)
        case cluster(ClusterRouter)
    }

    /// Round trips (a command, or a pipeline of commands) and commands sent so far.
    public var sent: (roundTrips: Int, commands: Int) { counters.withLockedValue { $0 } }

    func count(commands: Int) {
        counters.withLockedValue { $0 = ($0.roundTrips + 1, $0.commands + commands) }
    }

    public init(
        configuration: RedisConfiguration,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger = Logger(label: "sluice.redis")
    ) {
        self.configuration = configuration
        self.group = group
        self.logger = logger
        if configuration.clusterSeeds.isEmpty {
            backend = .single(NodePool(configuration: configuration, group: group, logger: logger))
        } else {
            backend = .cluster(ClusterRouter(configuration: configuration, group: group, logger: logger))
        }
    }

    /// True in cluster mode.
    public var isCluster: Bool {
        if case .cluster = backend { return true }
        return false
    }

    /// Sends one command (to the primary of its key's slot in cluster mode). Error replies are
    /// returned as `.error`.
    public func send(_ command: RedisCommand) async throws -> RedisReply {
        count(commands: 1)
        let started = ContinuousClock.now
        do {
            let reply: RedisReply
            switch backend {
            case .single(let pool): reply = try await pool.connection().send(command)
            case .cluster(let router): reply = try await router.send(command)
            }
            RedisMetrics.roundTrip(since: started)
            return reply
        } catch let error as RedisClientError {
            RedisMetrics.failed(error.code)
            throw error
        }
    }

    /// Sends one command and throws a `.server` error for an error reply.
    @discardableResult
    public func execute(_ command: RedisCommand) async throws -> RedisReply {
        try await send(command).throwingServerError()
    }

    /// Convenience: `execute(RedisCommand(name, args...))`.
    @discardableResult
    public func execute(_ name: String, _ arguments: String...) async throws -> RedisReply {
        try await execute(RedisCommand(name, arguments.map { RedisArgument($0) }))
    }

    /// Writes the commands together on one connection (one flush, one round trip) and returns
    /// their replies in order; error replies stay in the array. In cluster mode the commands
    /// are grouped by the primary of their slot: one pipeline per node, all at once.
    public func pipeline(_ commands: [RedisCommand]) async throws -> [RedisReply] {
        count(commands: commands.count)
        let started = ContinuousClock.now
        do {
            let replies: [RedisReply]
            switch backend {
            case .single(let pool): replies = try await pool.connection().pipeline(commands)
            case .cluster(let router): replies = try await router.pipeline(commands)
            }
            RedisMetrics.roundTrip(since: started)
            return replies
        } catch let error as RedisClientError {
            RedisMetrics.failed(error.code)
            throw error
        }
    }

    /// Sends a command without keys to every primary (one, without a cluster) and returns their
    /// replies: for what each node answers for itself, such as SCAN or INFO.
    public func sendToEachPrimary(_ command: RedisCommand) async throws -> [RedisReply] {
        switch backend {
        case .single(let pool):
            count(commands: 1)
            return [try await pool.connection().send(command)]
        case .cluster(let router):
            let replies = try await router.sendToEachPrimary(command)
            count(commands: replies.count)
            return replies
        }
    }

    /// Every key matching `pattern` (SCAN MATCH, on every primary in cluster mode). For
    /// operator tools, never the hot path.
    public func scan(matching pattern: String) async throws -> [String] {
        switch backend {
        case .single(let pool):
            return try await scan(pattern) { try await pool.connection().send($0) }
        case .cluster(let router):
            var found: [String] = []
            for address in try await router.primaries() {
                found += try await scan(pattern) { try await router.send($0, to: address) }
            }
            return found
        }
    }

    private func scan(_ pattern: String, with send: (RedisCommand) async throws -> RedisReply) async throws -> [String] {
        var cursor = "0"
        var found: [String] = []
        repeat {
            count(commands: 1)
            let reply = try await send(RedisCommand("SCAN", cursor, "MATCH", pattern, "COUNT", "1000")).throwingServerError()
            guard let parts = reply.array, parts.count == 2, let next = parts[0].string else {
                throw RedisClientError(.unexpectedReply, "SCAN answered \(reply)")
            }
            found += (parts[1].array ?? []).compactMap(\.string)
            cursor = next
        } while cursor != "0"
        return found
    }

    /// Closes every pooled connection. Commands sent afterwards fail with `.shutdown`.
    public func shutdown() {
        switch backend {
        case .single(let pool): pool.shutdown()
        case .cluster(let router): router.shutdown()
        }
    }
}

/// The pooled, pipelined connections to one server (a node, in cluster mode), used round robin.
final class NodePool: Sendable {
    let configuration: RedisConfiguration
    let group: any EventLoopGroup
    let logger: Logger
    private let slots: [ConnectionSlot]
    private let nextSlot = NIOLockedValueBox(0)

    init(configuration: RedisConfiguration, group: any EventLoopGroup, logger: Logger) {
        self.configuration = configuration
        self.group = group
        self.logger = logger
        self.slots = (0..<max(1, configuration.poolSize)).map { _ in ConnectionSlot() }
    }

    /// A live connection from the pool, round robin, connecting first when needed. While the
    /// slot whose turn it is reconnects (or waits to, after a failed connect), a live connection
    /// of another slot serves: after a Redis restart the slots come back one by one, and a
    /// process that answers `/readyz` again must not fail the next request because it landed on
    /// a slot still backing off (`make faults` R2 saw 406 such 503s in the second after Redis was
    /// back).
    func connection() async throws -> RedisConnection {
        let index = nextSlot.withLockedValue { value in
            defer { value = (value + 1) % slots.count }
            return value
        }
        // Almost always the slot is connected, and then its `connection(pool:)` is not called:
        // a caller allocates its async callee's whole frame in the task's allocator, and that one
        // holds the connect and the backoff (1,168 bytes: bench/frames), on every Redis call.
        if let live = slots[index].live { return live }
        return try await reconnecting(index)
    }

    @inline(never)
    private func reconnecting(_ index: Int) async throws -> RedisConnection {
        do {
            return try await slots[index].connection(pool: self)
        } catch let error as RedisClientError where error.isConnectivity {
            for offset in 1..<slots.count {
                if let live = slots[(index + offset) % slots.count].live { return live }
            }
            throw error
        }
    }

    func shutdown() {
        for slot in slots { slot.shutdown() }
    }
}

/// One pool entry: its current connection, or the connect in progress, or the backoff after a failure.
final class ConnectionSlot: Sendable {
    private enum State {
        case idle(failures: Int)
        case connecting(EventLoopFuture<RedisConnection>)
        case connected(RedisConnection)
        case backoff(until: NIODeadline, failures: Int, error: RedisClientError)
        case shutdown
    }

    private enum Action {
        case use(RedisConnection)
        case wait(EventLoopFuture<RedisConnection>)
        case connect(EventLoopPromise<RedisConnection>, failures: Int)
        case fail(RedisClientError)
    }

    private let state = NIOLockedValueBox(State.idle(failures: 0))

    /// The slot's connection when it is connected and open; nil otherwise (nothing is started).
    var live: RedisConnection? {
        state.withLockedValue { state in
            if case .connected(let connection) = state, connection.isActive { return connection }
            return nil
        }
    }

    func connection(pool client: NodePool) async throws -> RedisConnection {
        let loop = client.group.any()
        let action: Action = state.withLockedValue { state in
            switch state {
            case .connected(let connection) where connection.isActive:
                return .use(connection)
            case .connected:
                let promise = loop.makePromise(of: RedisConnection.self)
                state = .connecting(promise.futureResult)
                return .connect(promise, failures: 0)
            case .connecting(let future):
                return .wait(future)
            case .idle(let failures):
                let promise = loop.makePromise(of: RedisConnection.self)
                state = .connecting(promise.futureResult)
                return .connect(promise, failures: failures)
            case .backoff(let until, let failures, let error):
                if NIODeadline.now() < until {
                    return .fail(RedisClientError(.unavailable, "redis unavailable (\(error.message)); retrying shortly"))
                }
                let promise = loop.makePromise(of: RedisConnection.self)
                state = .connecting(promise.futureResult)
                return .connect(promise, failures: failures)
            case .shutdown:
                return .fail(RedisClientError(.shutdown, "redis client is shut down"))
            }
        }
        switch action {
        case .use(let connection):
            return connection
        case .wait(let future):
            return try await future.get()
        case .fail(let error):
            throw error
        case .connect(let promise, let failures):
            do {
                let connection = try await RedisConnection.connect(client.configuration, on: client.group)
                let kept = state.withLockedValue { state -> Bool in
                    if case .shutdown = state { return false }
                    state = .connected(connection)
                    return true
                }
                if !kept {
                    connection.close()
                    let error = RedisClientError(.shutdown, "redis client is shut down")
                    promise.fail(error)
                    throw error
                }
                if failures > 0 { client.logger.info("reconnected to redis", metadata: ["address": "\(client.configuration.address)"]) }
                promise.succeed(connection)
                return connection
            } catch {
                let failure = error as? RedisClientError ?? RedisClientError(.connectionFailed, "\(error)")
                let delay = Self.backoff(failures: failures, client.configuration)
                state.withLockedValue { state in
                    if case .shutdown = state { return }
                    state = .backoff(until: .now() + delay, failures: failures + 1, error: failure)
                }
                if failures == 0 {
                    client.logger.warning("redis connection failed", metadata: ["error": "\(failure.message)"])
                }
                promise.fail(failure)
                throw failure
            }
        }
    }

    func shutdown() {
        let connection: RedisConnection? = state.withLockedValue { state in
            defer { state = .shutdown }
            if case .connected(let connection) = state { return connection }
            return nil
        }
        connection?.close()
    }

    static func backoff(failures: Int, _ configuration: RedisConfiguration) -> TimeAmount {
        let base = configuration.minBackoff.nanoseconds
        let scaled = base << min(failures, 20)
        return .nanoseconds(min(scaled, configuration.maxBackoff.nanoseconds))
    }
}

extension RedisClient: Service {
    /// As a service, the client lives until its group shuts down (gracefully or by
    /// cancellation), then closes its connections. Listed before the services that use it, it
    /// stops after them.
    public func run() async throws {
        try? await gracefulShutdown()
        shutdown()
    }
}
