import ArgumentParser
import SluiceRedis

/// `sluice-bench redis-client`: pipelined throughput of `RedisConnection.pipeline`, shaped like
/// `redis-benchmark -P <pipeline> -c <connections> -n <requests> -r <keyspace> -d <data-size>`:
/// every connection sends a batch of `pipeline` commands with one write, waits for all of their
/// replies, and sends the next batch, until the connections together have sent `requests` commands.
struct RedisClientBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "redis-client",
        abstract: "Pipelined throughput of the SluiceRedis client (compare: redis-benchmark -P).")

    enum Command: String, ExpressibleByArgument, CaseIterable {
        case ping, set, get
    }

    @Option(help: "Unix socket of the Redis server.")
    var socket: String?

    @Option(help: "Redis URL (redis://host:port/db or unix:///path); instead of --socket.")
    var url: String?

    @Option(help: "Commands per batch (redis-benchmark -P).")
    var pipeline: Int = 16

    @Option(help: "Connections sending at once (redis-benchmark -c).")
    var connections: Int = 4

    @Option(help: "Commands in total over all connections (redis-benchmark -n).")
    var requests: Int = 1_000_000

    @Option(help: "Command to send: ping, set or get.")
    var command: Command = .ping

    @Option(help: "Distinct keys for set/get (redis-benchmark -r).")
    var keyspace: Int = 10_000

    @Option(help: "Bytes in a SET value (redis-benchmark -d).")
    var dataSize: Int = 3

    static let nioExecutorFlag = "--nio-executor"
    @Flag(help: "Run Swift concurrency on NIO's event loop threads (NIOSingletons global executor takeover).")
    var nioExecutor = false

    func validate() throws {
        guard (socket == nil) != (url == nil) else { throw ValidationError("give exactly one of --socket and --url") }
        guard pipeline >= 1, connections >= 1, requests >= 1, keyspace >= 1, dataSize >= 0 else {
            throw ValidationError("--pipeline, --connections, --requests and --keyspace must be positive")
        }
    }

    func run() async throws {
        var configuration: RedisConfiguration
        if let socket {
            configuration = RedisConfiguration(address: .unix(path: socket), commandTimeout: .seconds(30))
        } else {
            configuration = try RedisConfiguration(url: url!)
            configuration.commandTimeout = .seconds(30)
        }

        // Commands are built before the clock starts (as redis-benchmark formats its command once):
        // what is timed is the client — encoding, writing, reading and decoding replies.
        let batches = Self.batches(command: command, pipeline: pipeline, keyspace: keyspace, dataSize: dataSize)
        let expected: RedisReply? = switch command {
        case .ping: .status("PONG")
        case .set: .status("OK")
        case .get: nil  // a value, or null for a key not set yet
        }

        var opened: [RedisConnection] = []
        for _ in 0..<connections { opened.append(try await RedisConnection.connect(configuration)) }
        defer { for connection in opened { connection.close() } }
        let share = requests / connections
        let extra = requests % connections
        let pipeline = self.pipeline

        let clock = ContinuousClock()
        let start = clock.now
        let unexpected = try await withThrowingTaskGroup(of: Int.self) { group in
            for (index, connection) in opened.enumerated() {
                let count = share + (index < extra ? 1 : 0)
                group.addTask {
                    var remaining = count
                    var unexpected = 0
                    var next = index * 7919 % batches.count  // connections start at different keys
                    while remaining > 0 {
                        var batch = batches[next]
                        if remaining < pipeline { batch = Array(batch.prefix(remaining)) }
                        let replies = try await connection.pipeline(batch)
                        for reply in replies {
                            if let expected { if reply != expected { unexpected += 1 } }
                            else if case .error = reply { unexpected += 1 }
                        }
                        remaining -= batch.count
                        next += 1
                        if next == batches.count { next = 0 }
                    }
                    return unexpected
                }
            }
            return try await group.reduce(0, +)
        }
        let elapsed = clock.now - start
        if unexpected > 0 {
            throw BenchmarkError(description: "\(unexpected) of \(requests) replies were not the expected ones")
        }

        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let rps = Double(requests) / seconds
        print(
            #"{"client":"sluice","command":"\#(command.rawValue)","pipeline":\#(pipeline),"#
                + #""connections":\#(connections),"requests":\#(requests),"#
                + #""executor":"\#(nioExecutor ? "nio" : "default")","seconds":\#(Self.fixed(seconds, 4)),"requests_per_second":\#(Self.fixed(rps, 1))}"#)
    }

    /// Batches of `pipeline` commands that together cycle through the key space.
    static func batches(command: Command, pipeline: Int, keyspace: Int, dataSize: Int) -> [[RedisCommand]] {
        let value = RedisArgument(bytes: Array(repeating: UInt8(ascii: "x"), count: dataSize))
        // Same key shape as redis-benchmark's key:__rand_int__ with -r: "key:" and 12 digits.
        func key(_ n: Int) -> RedisArgument {
            let digits = String(n)
            return RedisArgument("key:" + String(repeating: "0", count: max(0, 12 - digits.count)) + digits)
        }
        // Enough batches that every key is used (for ping, one batch does).
        let total = command == .ping ? pipeline : max(pipeline, keyspace)
        let count = (total + pipeline - 1) / pipeline
        return (0..<count).map { b in
            (0..<pipeline).map { i in
                let n = (b * pipeline + i) % keyspace
                switch command {
                case .ping: return RedisCommand("PING")
                case .set: return RedisCommand("SET", [key(n), value])
                case .get: return RedisCommand("GET", [key(n)])
                }
            }
        }
    }

    /// `value` with `places` decimals, for JSON (no Foundation needed).
    static func fixed(_ value: Double, _ places: Int) -> String {
        guard value.isFinite else { return "0" }
        var scale = 1.0
        for _ in 0..<places { scale *= 10 }
        let scaled = (value * scale).rounded()
        let whole = Int(scaled / scale)
        let fraction = Int(scaled) - whole * Int(scale)
        let digits = String(fraction)
        return places == 0 ? String(whole) : "\(whole)." + String(repeating: "0", count: places - digits.count) + digits
    }
}

struct BenchmarkError: Error, CustomStringConvertible {
    var description: String
}
