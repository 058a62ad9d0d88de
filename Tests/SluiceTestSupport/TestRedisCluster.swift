import Foundation
import NIOConcurrencyHelpers
import SluiceProcess
import SluiceRedis

/// A real Redis Cluster for tests: 3 primaries and 3 replicas (`redis-server --cluster-enabled
/// yes` on free loopback ports, each in its own temp directory), joined by `redis-cli --cluster
/// create --cluster-replicas 1`. `start()` returns once every node says `cluster_state:ok` and
/// every primary has its replica; `stop()` stops the servers by PID and removes the directories.
public final class TestRedisCluster: Sendable {
    public struct Node: Sendable {
        public let server: RedisServerProcess
        public let port: Int
        public var address: RedisConfiguration.Address { .tcp(host: "127.0.0.1", port: port) }
    }

    public let directory: String
    public let nodes: [Node]
    /// How long a primary may be unreachable before its replica takes over (short in tests).
    public let nodeTimeoutMilliseconds: Int

    /// A client configuration in cluster mode, seeded with every node.
    public var clientConfiguration: RedisConfiguration {
        var configuration = RedisConfiguration(address: nodes[0].address)
        configuration.clusterSeeds = nodes.map(\.address)
        return configuration
    }

    /// `SLUICE_REDIS_CLUSTER` for a `sluice` process on this cluster.
    public var seedsURL: String { nodes.map { "redis://127.0.0.1:\($0.port)" }.joined(separator: ",") }

    /// A configuration that talks to one node only (no routing): for CLUSTER commands and INFO.
    public func nodeConfiguration(_ node: Node) -> RedisConfiguration {
        RedisConfiguration(address: node.address)
    }

    private init(directory: String, nodes: [Node], nodeTimeoutMilliseconds: Int) {
        self.directory = directory
        self.nodes = nodes
        self.nodeTimeoutMilliseconds = nodeTimeoutMilliseconds
    }

    public struct StartError: Error, CustomStringConvertible {
        public var description: String
    }

    /// Starts the six servers and creates the cluster; throws with the reason (and stops what
    /// it started) when it does not come up within `timeout`.
    public static func start(nodeTimeoutMilliseconds: Int = 1_000, timeout: Duration = .seconds(60)) async throws -> TestRedisCluster {
        let directory = NSTemporaryDirectory() + "sluice-cluster-" + UUID().uuidString.prefix(8)
        var nodes: [Node] = []
        var ports: Set<Int> = []
        TestRedis.track(directory: directory)
        do {
            for index in 0..<6 {
                // A port free a moment ago may be taken by the time redis binds it (tests start
                // servers in parallel): a node that cannot listen is started again elsewhere.
                for attempt in 1... {
                    var port = try TestRedis.freePort()
                    // Redis also listens on port + 10000 (the cluster bus): both must be free.
                    while try ports.contains(port) || port > 55_000 || !Self.isFree(port + 10_000) { port = try TestRedis.freePort() }
                    ports.insert(port)
                    let server = try RedisServerProcess(options: .init(
                        directory: "\(directory)/node-\(index)-\(attempt)", appendOnly: false, tcpPort: port,
                        extraArguments: [
                            "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                            "--cluster-node-timeout", String(nodeTimeoutMilliseconds),
                            // A replica may take over however long it was cut off (tests kill primaries).
                            "--cluster-replica-validity-factor", "0",
                            "--cluster-allow-replica-migration", "no",
                        ]))
                    TestRedis.track(server)
                    do {
                        try await server.start()
                        nodes.append(Node(server: server, port: port))
                        break
                    } catch where attempt < 5 {
                        server.killImmediately()
                    }
                }
            }
            let cluster = TestRedisCluster(directory: directory, nodes: nodes, nodeTimeoutMilliseconds: nodeTimeoutMilliseconds)
            try await cluster.create(timeout: timeout)
            return cluster
        } catch {
            for node in nodes { node.server.killImmediately() }
            try? FileManager.default.removeItem(atPath: directory)
            throw error
        }
    }

    /// `redis-cli --cluster create ... --cluster-replicas 1 --cluster-yes`, then waits until the
    /// cluster is ok on every node, with a replica per primary.
    private func create(timeout: Duration) async throws {
        guard let cli = Self.findRedisCLI() else { throw StartError(description: "redis-cli not found (apt-get install redis-tools)") }
        let log = directory + "/create.log"
        let arguments = ["--cluster", "create"] + nodes.map { "127.0.0.1:\($0.port)" } + ["--cluster-replicas", "1", "--cluster-yes"]
        let child = try await ChildProcess.spawn(cli, arguments, stdoutPath: log, stderrPath: log)
        let status = await child.exitStatus(timeoutMilliseconds: Int(timeout.components.seconds) * 1000)
        guard status == 0 else {
            if status == nil { child.killImmediately() }
            let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            throw StartError(description: "redis-cli --cluster create failed (\(status.map(String.init) ?? "timed out")): \(text.suffix(600))")
        }
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if try await isHealthy() { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw StartError(description: "the cluster did not reach cluster_state:ok with 3 primaries and 3 replicas within \(timeout)")
    }

    /// Every reachable node reports `cluster_state:ok` and every primary has a replica online.
    public func isHealthy() async throws -> Bool {
        var primaries = 0
        for node in nodes where node.server.isRunning {
            guard let info = try? await command(node, "CLUSTER", "INFO").string, info.contains("cluster_state:ok") else { return false }
            guard let replication = try? await command(node, "INFO", "replication").string else { return false }
            if replication.contains("role:master") {
                primaries += 1
                if !replication.contains("connected_slaves:1") { return false }
            } else if !replication.contains("master_link_status:up") {
                return false
            }
        }
        return primaries == 3
    }

    /// After `lost` was stopped: every other node says `cluster_state:ok`.
    public func isHealthyWithout(_ lost: Node) async throws -> Bool {
        for node in nodes where node.port != lost.port && node.server.isRunning {
            guard let info = try? await command(node, "CLUSTER", "INFO").string, info.contains("cluster_state:ok") else { return false }
        }
        return true
    }

    /// Runs one command on one node (a connection of its own, closed afterwards).
    @discardableResult
    public func command(_ node: Node, _ name: String, _ arguments: String...) async throws -> RedisReply {
        let connection = try await RedisConnection.connect(nodeConfiguration(node))
        defer { connection.close() }
        return try await connection.send(RedisCommand(name, arguments.map { RedisArgument($0) })).throwingServerError()
    }

    /// The nodes that are primaries now (roles change on failover).
    public func primaries() async throws -> [Node] {
        var found: [Node] = []
        for node in nodes where node.server.isRunning {
            if let role = try? await command(node, "ROLE").array?.first?.string, role == "master" { found.append(node) }
        }
        return found
    }

    /// The primary that serves `key`'s slot: the one that answers instead of redirecting.
    public func primary(owning key: String) async throws -> Node {
        for node in try await primaries() {
            let connection = try await RedisConnection.connect(nodeConfiguration(node))
            defer { connection.close() }
            if case .integer = try await connection.send(RedisCommand("EXISTS", key)) { return node }
        }
        throw StartError(description: "no primary serves \(key)")
    }

    /// The node IDs (`CLUSTER MYID`) of the current primaries, by port.
    public func nodeId(_ node: Node) async throws -> String {
        guard let id = try await command(node, "CLUSTER", "MYID").string else { throw StartError(description: "no id for \(node.port)") }
        return id
    }

    /// Gives an empty slot to `target` and returns once every running node's `CLUSTER NODES`
    /// says so.
    ///
    /// The target's config epoch is bumped *before* it claims the slot. Claimed first, its old
    /// (lower) epoch can reach a node that still maps the slot to `owner`; that node answers with
    /// an UPDATE, the target hands the slot back, and the two primaries redirect to each other
    /// for good. (`SETSLOT NODE` bumps the epoch itself only after `IMPORTING`.) Should the
    /// nodes still disagree after a while (an epoch bumped elsewhere that the target had not yet
    /// heard of), the move is made again.
    public func moveEmptySlot(_ slot: Int, from owner: Node, to target: Node, timeout: Duration = .seconds(60)) async throws {
        let targetId = try await nodeId(target)
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            try await command(target, "CLUSTER", "BUMPEPOCH")
            try await command(target, "CLUSTER", "SETSLOT", String(slot), "NODE", targetId)
            try await command(owner, "CLUSTER", "SETSLOT", String(slot), "NODE", targetId)
            if await eventually(timeout: .seconds(5), every: .milliseconds(50), { try await self.everyNode(mapsSlot: slot, to: targetId) }) {
                return
            }
        }
        throw StartError(description: "the nodes did not agree that slot \(slot) is on \(target.port) within \(timeout)")
    }

    /// Whether every running node's `CLUSTER NODES` lists `slot` under `nodeId`.
    public func everyNode(mapsSlot slot: Int, to nodeId: String) async throws -> Bool {
        for node in nodes where node.server.isRunning {
            guard let table = try await command(node, "CLUSTER", "NODES").string else { return false }
            guard let line = table.split(separator: "\n").first(where: { $0.hasPrefix(nodeId + " ") }) else { return false }
            // Fields 9 and on are the slots: "5461", "0-5460", or "[…]" for a migration under way.
            let held = line.split(separator: " ").dropFirst(8).contains { range in
                let bounds = range.split(separator: "-").compactMap { Int($0) }
                switch bounds.count {
                case 1: return bounds[0] == slot
                case 2: return bounds[0] <= slot && slot <= bounds[1]
                default: return false
                }
            }
            if !held { return false }
        }
        return true
    }

    /// Stops every server by PID and removes the temp directories.
    public func stop() {
        for node in nodes { node.server.killImmediately() }
        try? FileManager.default.removeItem(atPath: directory)
    }

    deinit { stop() }

    public static func findRedisCLI(environment: [String: String] = ProcessInfo.processInfo.environment) -> String? {
        let path = (environment["PATH"] ?? "").split(separator: ":").map(String.init) + ["/usr/bin", "/usr/local/bin"]
        return path.map { $0 + "/redis-cli" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// Whether a TCP port on 127.0.0.1 can be bound now.
    static func isFree(_ port: Int) throws -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        return result == 0
    }
}
