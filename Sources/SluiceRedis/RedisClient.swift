import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// The process's command client: a small pool of pipelined connections to one Redis server.
///
/// Connections open lazily and reopen by themselves. After a failed connect a slot waits
/// (`minBackoff`, doubling to `maxBackoff`) before trying again; meanwhile its commands fail at
/// once with `.unavailable` instead of queueing, so callers answer 503 rather than hang.
public final class RedisClient: Sendable {
    public let configuration: RedisConfiguration
    let group: any EventLoopGroup
    let logger: Logger
    private let slots: [ConnectionSlot]
    private let nextSlot = NIOLockedValueBox(0)
    private let counters = NIOLockedValueBox((roundTrips: 0, commands: 0))

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
        self.slots = (0..<max(1, configuration.poolSize)).map { _ in ConnectionSlot() }
    }

    /// Sends one command on the next pooled connection. Error replies are returned as `.error`.
    public func send(_ command: RedisCommand) async throws -> RedisReply {
        count(commands: 1)
        return try await RedisMetrics.measure { try await connection().send(command) }
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
    /// their replies in order; error replies stay in the array.
    public func pipeline(_ commands: [RedisCommand]) async throws -> [RedisReply] {
        count(commands: commands.count)
        return try await RedisMetrics.measure { try await connection().pipeline(commands) }
    }

    /// Closes every pooled connection. Commands sent afterwards fail with `.shutdown`.
    public func shutdown() {
        for slot in slots { slot.shutdown() }
    }

    /// A live connection from the pool, round robin, connecting first when needed.
    func connection() async throws -> RedisConnection {
        let index = nextSlot.withLockedValue { value in
            defer { value = (value + 1) % slots.count }
            return value
        }
        return try await slots[index].connection(client: self)
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

    func connection(client: RedisClient) async throws -> RedisConnection {
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
