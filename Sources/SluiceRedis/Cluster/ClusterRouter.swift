import Logging
import NIOConcurrencyHelpers
import NIOCore

/// The cluster mode of `RedisClient`: a slot map read from the nodes (`ClusterSlotMap`), one
/// pool of pipelined connections per primary (`NodePool`), and each command sent to the primary
/// of its key's slot.
///
/// Redirections are followed within the command timeout: `MOVED` updates the slot at once and
/// asks for a fresh map; `ASK` sends that one command after `ASKING` to the importing node, once;
/// `TRYAGAIN` and `CLUSTERDOWN` wait a little and send again. A command that could not be sent
/// (no connection to its node) goes again once a new map names another node, as after a
/// failover; one that was sent and lost its connection fails (it may have run), as on one server.
final class ClusterRouter: Sendable {
    typealias Address = RedisConfiguration.Address

    let configuration: RedisConfiguration
    let group: any EventLoopGroup
    let logger: Logger

    private struct State {
        var map = ClusterSlotMap()
        var pools: [Address: NodePool] = [:]
        /// The map being read now; everybody who needs it waits for this one.
        var refresh: Task<Void, Never>?
        var lastRefresh = NIODeadline.uptimeNanoseconds(0)
        var isShutdown = false
    }

    private let state = NIOLockedValueBox(State())

    /// Errors ask for a new map at most this often (a failover makes every command fail at once).
    static let refreshInterval = TimeAmount.milliseconds(100)
    /// Redirections followed for one command before its last reply is returned as it is.
    static let maxRedirects = 16

    init(configuration: RedisConfiguration, group: any EventLoopGroup, logger: Logger) {
        self.configuration = configuration
        self.group = group
        self.logger = logger
    }

    // MARK: sending

    func send(_ command: RedisCommand) async throws -> RedisReply {
        let slot = command.slot
        let deadline = NIODeadline.now() + configuration.commandTimeout
        var ask: Address?
        var asked = false
        var attempts = 0
        while true {
            let address: Address
            if let ask { address = ask } else { address = try await self.address(for: slot) }
            let reply: RedisReply
            do {
                let connection = try await pool(address).connection()
                if ask != nil {
                    // One write: nothing else can come between ASKING and the command.
                    reply = try await connection.pipeline([RedisCommand("ASKING"), command]).last ?? .null
                    ask = nil
                    asked = true
                } else {
                    reply = try await connection.send(command)
                }
            } catch let error as RedisClientError where Self.neverSent(error) && NIODeadline.now() < deadline {
                requestRefresh()
                attempts += 1
                try await pause(attempts)
                continue
            } catch let error as RedisClientError where error.isConnectivity {
                requestRefresh()
                throw error
            }
            guard let redirect = ClusterRedirect(reply) else { return reply }
            attempts += 1
            guard attempts <= Self.maxRedirects, NIODeadline.now() < deadline else { return reply }
            switch redirect {
            case .moved(let movedSlot, let target):
                learn(slot: movedSlot, address: Self.resolve(target, from: address))
                requestRefresh()
                // One MOVED is a changed owner. More in a row are nodes that disagree while the
                // cluster converges (two of them sending the slot back and forth after
                // concurrent reconfigurations, or a map read from a node not yet told): without
                // a pause, sixteen redirections were spent in milliseconds and the command failed
                // with MOVED (seen once in the suite, with slot moves running side by side).
                if attempts > 2 { try await pause(attempts - 2) }
            case .ask(_, let target):
                if asked { return reply }
                ask = Self.resolve(target, from: address)
            case .retryLater:
                if case .error(let message) = reply, message.hasPrefix("CLUSTERDOWN") { requestRefresh() }
                try await pause(attempts)
            }
        }
    }

    /// Groups the commands by the primary of their slot and sends one pipeline per node, all
    /// at once; replies come back in the order of `commands`. Commands a node redirects (or
    /// that could not be sent to it) go again one by one, following the redirections.
    func pipeline(_ commands: [RedisCommand]) async throws -> [RedisReply] {
        guard !commands.isEmpty else { return [] }
        if state.withLockedValue({ $0.map.primaries.isEmpty }) { try await refreshNow() }
        let map = state.withLockedValue { $0.map }
        var groups: [Address: [Int]] = [:]
        var unrouted: [Int] = []
        for (index, command) in commands.enumerated() {
            if let address = command.slot.map({ map.primary(for: $0) }) ?? map.primaries.first {
                groups[address, default: []].append(index)
            } else {
                unrouted.append(index)
            }
        }
        var replies = [RedisReply](repeating: .null, count: commands.count)
        var again = unrouted
        try await withThrowingTaskGroup(of: (indices: [Int], replies: [RedisReply]?).self) { group in
            for (address, indices) in groups {
                group.addTask {
                    do {
                        let connection = try await self.pool(address).connection()
                        return (indices, try await connection.pipeline(indices.map { commands[$0] }))
                    } catch let error as RedisClientError where Self.neverSent(error) {
                        self.requestRefresh()
                        return (indices, nil)
                    }
                }
            }
            for try await part in group {
                guard let partReplies = part.replies else {
                    again += part.indices
                    continue
                }
                for (index, reply) in zip(part.indices, partReplies) {
                    replies[index] = reply
                    if ClusterRedirect(reply) != nil { again.append(index) }
                }
            }
        }
        guard !again.isEmpty else { return replies }
        // Redirected or unsent commands did not run: sending them again is safe.
        try await withThrowingTaskGroup(of: (Int, RedisReply).self) { group in
            for index in again {
                group.addTask { (index, try await self.send(commands[index])) }
            }
            for try await (index, reply) in group { replies[index] = reply }
        }
        return replies
    }

    /// Sends a command to every primary of the current map (in parallel).
    func sendToEachPrimary(_ command: RedisCommand) async throws -> [RedisReply] {
        if state.withLockedValue({ $0.map.primaries.isEmpty }) { try await refreshNow() }
        let primaries = state.withLockedValue { $0.map.primaries }
        return try await withThrowingTaskGroup(of: (Int, RedisReply).self) { group in
            for (index, address) in primaries.enumerated() {
                group.addTask { (index, try await self.pool(address).connection().send(command)) }
            }
            var replies = [RedisReply](repeating: .null, count: primaries.count)
            for try await (index, reply) in group { replies[index] = reply }
            return replies
        }
    }

    /// Sends a command to one node as it is (no redirection followed).
    func send(_ command: RedisCommand, to address: Address) async throws -> RedisReply {
        try await pool(address).connection().send(command)
    }

    /// The primaries of the current map, reading it first if there is none yet.
    func primaries() async throws -> [Address] {
        if state.withLockedValue({ $0.map.primaries.isEmpty }) { try await refreshNow() }
        return state.withLockedValue { $0.map.primaries }
    }

    /// The primary serving `slot` (any primary for a command without keys).
    func address(for slot: Int?) async throws -> Address {
        if let known = lookup(slot) { return known }
        try await refreshNow()
        if let known = lookup(slot) { return known }
        throw RedisClientError(.unavailable, "no Redis Cluster primary serves slot \(slot.map(String.init) ?? "(any)") now")
    }

    private func lookup(_ slot: Int?) -> Address? {
        state.withLockedValue { state in
            guard let slot else { return state.map.primaries.first }
            return state.map.primary(for: slot)
        }
    }

    func shutdown() {
        let (pools, refresh) = state.withLockedValue { state in
            state.isShutdown = true
            defer { state.pools = [:] }
            return (Array(state.pools.values), state.refresh)
        }
        refresh?.cancel()
        for pool in pools { pool.shutdown() }
    }

    // MARK: the slot map

    /// Reads the map now (or waits for the read in progress) and throws when no node answered.
    func refreshNow() async throws {
        let task = try state.withLockedValue { state -> Task<Void, Never> in
            if state.isShutdown { throw RedisClientError(.shutdown, "redis client is shut down") }
            if let running = state.refresh { return running }
            let task = Task { await self.readMap() }
            state.refresh = task
            return task
        }
        await task.value
        if state.withLockedValue({ $0.map.primaries.isEmpty }) {
            throw RedisClientError(.unavailable, "no Redis Cluster node answered CLUSTER SHARDS (seeds: \(configuration.clusterSeeds))")
        }
    }

    /// Asks for a new map without waiting for it; at most one per `refreshInterval`.
    func requestRefresh() {
        state.withLockedValue { state in
            guard !state.isShutdown, state.refresh == nil, NIODeadline.now() - state.lastRefresh >= Self.refreshInterval else { return }
            state.refresh = Task { await self.readMap() }
        }
    }

    /// Asks the known primaries, then the seeds, until one answers with a map.
    private func readMap() async {
        let candidates = state.withLockedValue { $0.map.primaries }
        var tried: Set<Address> = []
        var lastError: (any Error)?
        var found: ClusterSlotMap?
        for address in candidates + configuration.clusterSeeds where tried.insert(address).inserted {
            do {
                found = try await readMap(from: address)
                break
            } catch {
                lastError = error
            }
        }
        state.withLockedValue { state in
            if let found {
                if found != state.map { logger.debug("redis cluster slot map read", metadata: ["primaries": "\(found.primaries)"]) }
                state.map = found
            }
            state.refresh = nil
            state.lastRefresh = .now()
        }
        if found == nil, let lastError {
            logger.warning("cannot read the redis cluster slot map", metadata: ["error": "\(lastError)"])
        }
    }

    private func readMap(from address: Address) async throws -> ClusterSlotMap {
        let connection = try await pool(address).connection()
        let host: String
        switch address {
        case .tcp(let name, _): host = name
        case .unix: host = "127.0.0.1"
        }
        let shards = try await connection.send(RedisCommand("CLUSTER", "SHARDS"))
        let map: ClusterSlotMap
        if case .error(let message) = shards, message.lowercased().contains("unknown subcommand") {
            map = try ClusterSlotMap(slots: try await connection.send(RedisCommand("CLUSTER", "SLOTS")).throwingServerError(), defaultHost: host)
        } else {
            map = try ClusterSlotMap(shards: try shards.throwingServerError(), defaultHost: host)
        }
        guard !map.primaries.isEmpty else { throw RedisClientError(.unexpectedReply, "\(address) knows no primary yet") }
        return map
    }

    private func learn(slot: Int, address: Address) {
        state.withLockedValue { $0.map.assign(slot...slot, to: address) }
    }

    // MARK: helpers

    private func pool(_ address: Address) throws -> NodePool {
        try state.withLockedValue { state in
            if state.isShutdown { throw RedisClientError(.shutdown, "redis client is shut down") }
            if let pool = state.pools[address] { return pool }
            let pool = NodePool(configuration: configuration.node(address), group: group, logger: logger)
            state.pools[address] = pool
            return pool
        }
    }

    /// The command never reached a node (no connection could be had): safe to send again.
    private static func neverSent(_ error: RedisClientError) -> Bool {
        error.code == .connectionFailed || error.code == .unavailable
    }

    /// A short wait before trying again: 10 ms, doubling, at most 200 ms.
    private func pause(_ attempt: Int) async throws {
        let milliseconds = min(10 << min(attempt - 1, 5), 200)
        try await Task.sleep(nanoseconds: UInt64(milliseconds) * 1_000_000)
    }

    /// A redirection without a host (`:port`) means the host the reply came from.
    private static func resolve(_ target: Address, from sender: Address) -> Address {
        guard case .tcp(let host, let port) = target, host.isEmpty else { return target }
        if case .tcp(let senderHost, _) = sender { return .tcp(host: senderHost, port: port) }
        return target
    }
}
