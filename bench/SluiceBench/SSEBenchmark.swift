import ArgumentParser
import NIOCore
import NIOPosix
import SluiceRedis

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

// `sluice-bench sse-latency` (S4) and `sluice-bench sse-idle` (S5): many open SSE instance streams
// against one `sluice serve`, on the raw-NIO client of HTTPClient.swift. See bench/README.md.

/// Options and setup both SSE benchmarks share: the server, the streams' poll_ms, and the
/// connections that create instances.
struct SSEOptions: ParsableArguments {
    @Option(help: "Base URL of the sluice server, e.g. http://127.0.0.1:8080.")
    var url: String

    @Option(help: "poll_ms of every stream (the server's fallback poll interval).")
    var pollMs: Int = 500

    @Option(help: "Keep-alive connections used to create instances (and, for sse-latency, to send the triggers).")
    var connections: Int = 8

    @Option(help: "Streams being connected at once while opening them.")
    var openConcurrency: Int = 128

    @Option(help: "Give up when the streams are not all open and caught up after this many seconds.")
    var openTimeout: Int = 120

    @Option(help: "Prefix of the instance ids (the process id is appended, so runs never collide).")
    var idPrefix: String = "sse"

    func validate() throws {
        guard pollMs >= 1, connections >= 1, openConcurrency >= 1, openTimeout >= 1 else {
            throw ValidationError("--poll-ms, --connections, --open-concurrency and --open-timeout must be positive")
        }
    }
}

/// The client side of a run: one event loop for every connection, plus helpers.
struct SSEClient {
    let endpoint: HTTPEndpoint
    let options: SSEOptions
    let group: MultiThreadedEventLoopGroup
    let loop: any EventLoop

    init(_ options: SSEOptions) throws {
        self.options = options
        self.endpoint = try HTTPEndpoint(url: options.url)
        // One loop: every handler's state is touched on it only, and the client takes one core at most.
        self.group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        self.loop = group.next()
    }

    func shutdown() async { try? await group.shutdownGracefully() }

    func connections(_ count: Int) async throws -> [HTTPConnection] {
        var result: [HTTPConnection] = []
        for _ in 0..<count { result.append(try await HTTPConnection.connect(endpoint, on: loop)) }
        return result
    }

    /// POST /sequences; 200 or 201.
    func defineSequence(_ json: String, on connection: HTTPConnection) async throws {
        let result = try await connection.request("POST", "/sequences", json: json)
        guard result.status == 200 || result.status == 201 else {
            throw BenchmarkError(description: "POST /sequences answered \(result.status): \(result.body)")
        }
    }

    /// Creates the instances `ids` of `sequence` over all `connections` at once.
    func createInstances(_ ids: [String], sequence: String, on connections: [HTTPConnection]) async throws {
        let clock = ContinuousClock(), start = clock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (index, connection) in connections.enumerated() {
                group.addTask {
                    for n in stride(from: index, to: ids.count, by: connections.count) {
                        let result = try await connection.request(
                            "POST", "/instances", json: #"{"sequence_id":"\#(sequence)","id":"\#(ids[n])"}"#)
                        guard result.status == 201 || result.status == 200 else {
                            throw BenchmarkError(description: "POST /instances answered \(result.status): \(result.body)")
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
        note("  created \(ids.count) instances of \(sequence) in \(seconds(clock.now - start)) s")
    }

    /// Opens one stream per id, `openConcurrency` connecting at once; returns once every stream has
    /// replayed its history up to a `state` event with `readyState` (so it is open and caught up).
    func openStreams(_ ids: [String], readyState: String) async throws -> [(channel: any Channel, handler: SSEStreamHandler)] {
        let clock = ContinuousClock(), start = clock.now
        var streams: [(channel: any Channel, handler: SSEStreamHandler)?] = Array(repeating: nil, count: ids.count)
        let endpoint = self.endpoint, loop = self.loop, poll = options.pollMs
        let timeout = loop.scheduleTask(in: .seconds(Int64(options.openTimeout))) {}
        try await withThrowingTaskGroup(of: (Int, any Channel, SSEStreamHandler).self) { group in
            var next = 0
            func add() {
                let index = next, id = ids[index]
                next += 1
                group.addTask {
                    let stream = try await SSEStreamHandler.open(endpoint, instanceId: id, pollMilliseconds: poll, readyState: readyState, on: loop)
                    // Give up on this stream when the overall deadline passes.
                    timeout.futureResult.whenComplete { _ in
                        stream.handler.failReady(BenchmarkError(description: "stream of \(id) not caught up after the open timeout"))
                    }
                    try await stream.handler.ready.futureResult.get()
                    return (index, stream.channel, stream.handler)
                }
            }
            for _ in 0..<min(options.openConcurrency, ids.count) { add() }
            var opened = 0
            while let (index, channel, handler) = try await group.next() {
                streams[index] = (channel, handler)
                opened += 1
                if opened % 1000 == 0 { note("  \(opened) streams open") }
                if next < ids.count { add() }
            }
        }
        timeout.cancel()
        note("  opened \(ids.count) streams (each caught up to '\(readyState)') in \(seconds(clock.now - start)) s")
        return streams.map { $0! }
    }

    /// How many of the streams are still open (read on the loop).
    func openCount(_ streams: [(channel: any Channel, handler: SSEStreamHandler)]) async throws -> Int {
        try await loop.submit { streams.filter { $0.handler.isOpen }.count }.get()
    }

    /// Asks `GET /instances/{id}` until every instance is in `state` at `block`.
    func waitForState(_ ids: [String], state: String, block: String, on connections: [HTTPConnection], timeoutSeconds: Int) async throws {
        let clock = ContinuousClock(), deadline = clock.now + .seconds(timeoutSeconds)
        var remaining = ids
        while !remaining.isEmpty {
            let current = remaining
            let pending = try await withThrowingTaskGroup(of: [String].self) { group in
                for (index, connection) in connections.enumerated() {
                    group.addTask {
                        var notYet: [String] = []
                        for n in stride(from: index, to: current.count, by: connections.count) {
                            let result = try await connection.request("GET", "/instances/\(current[n])")
                            guard result.status == 200 else {
                                throw BenchmarkError(description: "GET /instances/\(current[n]) answered \(result.status): \(result.body)")
                            }
                            if !(result.body.contains(#""state":"\#(state)""#) && result.body.contains(#""current_block":"\#(block)""#)) {
                                notYet.append(current[n])
                            }
                        }
                        return notYet
                    }
                }
                return try await group.reduce(into: [String]()) { $0 += $1 }
            }
            remaining = pending
            if remaining.isEmpty { break }
            guard clock.now < deadline else {
                throw BenchmarkError(description: "\(remaining.count) instances not \(state) at \(block) after \(timeoutSeconds) s (e.g. \(remaining[0]))")
            }
            try await Task.sleep(for: .milliseconds(200))
        }
    }
}

/// Progress, to stderr (stdout carries only the JSON line).
func note(_ message: String) {
    var text = message + "\n"
    text.withUTF8 { bytes in _ = write(2, bytes.baseAddress, bytes.count) }
}

func seconds(_ duration: Duration) -> String {
    RedisClientBenchmark.fixed(Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18, 2)
}

func milliseconds(_ nanoseconds: UInt64) -> Double { Double(nanoseconds) / 1e6 }

/// Nearest-rank percentile of sorted values.
func percentile(_ sorted: [Double], _ p: Double) -> Double {
    guard !sorted.isEmpty else { return 0 }
    let rank = Int((p * Double(sorted.count)).rounded(.up))
    return sorted[min(max(rank, 1), sorted.count) - 1]
}

// MARK: - S4

/// `sluice-bench sse-latency`: opens one stream per instance, then, one sample at a time, sends a
/// trigger for a random instance and measures from the trigger's HTTP response to the matching
/// event arriving on that instance's stream.
struct SSELatencyBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sse-latency",
        abstract: "S4: time from a trigger's HTTP response to its event on an open SSE stream, with many streams open.")

    enum Trigger: String, ExpressibleByArgument, CaseIterable {
        /// `pause`/`resume` signals on a parked instance → its `state` event (paused / running).
        case pause
        /// A worker completes the instance's external step → its `output` event.
        case complete
        /// A `human_input:g` signal decides the instance's gate → its `output` event (needs gates on the server).
        case humanInput = "human-input"
    }

    @OptionGroup var options: SSEOptions

    @Option(help: "Open streams (one instance each).")
    var streams: Int = 1000

    @Option(help: "Samples to take (human-input: at most one per instance).")
    var samples: Int = 200

    @Option(help: "What makes the event: pause (signal → state event), complete (worker completion → output event), human-input (gate decision → output event).")
    var trigger: Trigger = .pause

    @Option(help: "Pause between samples: random, up to this many milliseconds.")
    var gapMs: Int = 20

    @Option(help: "A sample whose event has not arrived this many milliseconds after the response counts as a timeout.")
    var sampleTimeoutMs: Int = 5000

    func validate() throws {
        guard streams >= 1, samples >= 1, gapMs >= 0, sampleTimeoutMs >= 1 else {
            throw ValidationError("--streams, --samples and --sample-timeout-ms must be positive, --gap-ms not negative")
        }
        if trigger == .humanInput, samples > streams { throw ValidationError("human-input: at most one sample per instance (--samples <= --streams)") }
    }

    static let parkHandler = "sse-bench-park"  // an external handler no worker serves: instances wait there
    static let workHandler = "sse-bench-work"

    func run() async throws {
        let client = try SSEClient(options)
        do {
            try await measure(client)
            await client.shutdown()
        } catch {
            await client.shutdown()
            throw error
        }
    }

    private func measure(_ client: SSEClient) async throws {
        let run = "\(options.idPrefix)-\(trigger.rawValue)-\(getpid())"
        let sequence: String, definition: String, readyState: String
        switch trigger {
        case .pause:
            sequence = "sse-bench-park"
            definition = #"{"id":"\#(sequence)","blocks":[{"id":"park","type":"step","handler":"\#(Self.parkHandler)"}]}"#
            readyState = "running"
        case .complete:
            sequence = "sse-bench-work"
            definition = #"{"id":"\#(sequence)","blocks":[{"id":"w","type":"step","handler":"\#(Self.workHandler)"},"#
                + #"{"id":"park","type":"step","handler":"\#(Self.parkHandler)"}]}"#
            readyState = "running"
        case .humanInput:
            sequence = "sse-bench-gate"
            definition = #"{"id":"\#(sequence)","blocks":[{"id":"g","type":"human_input","prompt":"go?","choices":[{"label":"Yes","value":"yes"}]},"#
                + #"{"id":"park","type":"step","handler":"\#(Self.parkHandler)"}]}"#
            readyState = "waiting"
        }
        let ids = (0..<streams).map { "\(run)-\($0)" }
        let connections = try await client.connections(options.connections)
        defer { for connection in connections { connection.close() } }
        note("sse-latency: \(streams) instances of \(sequence), trigger \(trigger.rawValue), poll_ms \(options.pollMs)")
        try await client.defineSequence(definition, on: connections[0])
        try await client.createInstances(ids, sequence: sequence, on: connections)
        let streamsOpened = try await client.openStreams(ids, readyState: readyState)
        defer { for stream in streamsOpened { stream.channel.close(promise: nil) } }
        // The runner may still be committing the last dispatches; let it settle before measuring.
        try await Task.sleep(for: .seconds(1))

        let index = Dictionary(uniqueKeysWithValues: ids.enumerated().map { ($1, $0) })
        let signaller = connections[0]
        var rng = SystemRandomNumberGenerator()
        var paused = Set<Int>()
        var tasks: [(taskId: String, instance: Int)] = []  // leased, not completed yet (complete)
        var order = Array(0..<streams).shuffled(using: &rng)  // human-input: each instance once
        var latencies: [Double] = [], rtts: [Double] = []
        var early = 0, timeouts = 0
        var worst: [(ms: Double, rtt: Double, id: String)] = []
        note("sse-latency: taking \(samples) samples")

        for sample in 0..<samples {
            // What to send, to which instance, and the event that answers it.
            let instance: Int, path: String, body: String, eventType: String, needle: String
            switch trigger {
            case .pause:
                instance = Int.random(in: 0..<streams, using: &rng)
                let resume = paused.contains(instance)
                path = "/instances/\(ids[instance])/signals"
                body = #"{"signal_type":"\#(resume ? "resume" : "pause")"}"#
                eventType = "state"
                needle = resume ? #""state":"running""# : #""state":"paused""#
                if resume { paused.remove(instance) } else { paused.insert(instance) }
            case .complete:
                if tasks.isEmpty {
                    // Lease a batch just in time (well inside the lease), in random order.
                    let result = try await signaller.request(
                        "POST", "/workers/tasks/poll", json: #"{"handler":"\#(Self.workHandler)","worker_id":"sse-bench","limit":50}"#)
                    guard result.status == 200 else { throw BenchmarkError(description: "POST /workers/tasks/poll answered \(result.status): \(result.body)") }
                    tasks = jsonArrayOfObjectsStringFields(result.body).compactMap { task in
                        guard let taskId = task["task_id"], let instanceId = task["instance_id"], let n = index[instanceId] else { return nil }
                        return (taskId, n)
                    }.shuffled(using: &rng)
                    guard !tasks.isEmpty else {
                        throw BenchmarkError(description: "no \(Self.workHandler) task left to complete after \(sample) samples (increase --streams)")
                    }
                }
                let task = tasks.removeLast()
                instance = task.instance
                path = "/workers/tasks/\(task.taskId)/complete"
                body = #"{"worker_id":"sse-bench","output":{"sample":\#(sample)}}"#
                eventType = "output"
                needle = #""block_id":"w""#
            case .humanInput:
                instance = order.removeLast()
                path = "/instances/\(ids[instance])/signals"
                body = #"{"signal_type":"human_input:g","payload":{"value":"yes"}}"#
                eventType = "output"
                needle = #""block_id":"g""#
            }

            // Expect first (on the loop), then send: the event cannot arrive before the expectation.
            let handler = streamsOpened[instance].handler
            let promise = client.loop.makePromise(of: UInt64.self)
            try await client.loop.submit { handler.expect(token: sample, type: eventType, needle: needle, promise: promise) }.get()
            let response = try await signaller.request("POST", path, json: body)
            guard response.status == 200 else {
                try await client.loop.submit { handler.cancelExpectation(token: sample, BenchmarkError(description: "not sent")) }.get()
                throw BenchmarkError(description: "POST \(path) answered \(response.status): \(response.body)")
            }
            let timeoutMs = Int64(sampleTimeoutMs)
            let timer = client.loop.scheduleTask(in: .milliseconds(timeoutMs)) {
                handler.cancelExpectation(token: sample, BenchmarkError(description: "timeout"))
            }
            let arrived: UInt64
            do {
                arrived = try await promise.futureResult.get()
                timer.cancel()
            } catch {
                timeouts += 1
                note("  sample \(sample): no \(eventType) event on \(ids[instance]) within \(sampleTimeoutMs) ms (\(error))")
                continue
            }
            let rtt = milliseconds(response.receivedAt - response.sentAt)
            rtts.append(rtt)
            let latency: Double
            if arrived < response.receivedAt {
                early += 1  // the event beat the response to the client
                latency = 0
            } else {
                latency = milliseconds(arrived - response.receivedAt)
            }
            latencies.append(latency)
            worst.append((latency, rtt, ids[instance]))
            worst.sort { $0.ms > $1.ms }
            if worst.count > 5 { worst.removeLast() }
            if gapMs > 0 { try await Task.sleep(for: .milliseconds(Int.random(in: 0...gapMs, using: &rng))) }
        }

        let stillOpen = try await client.openCount(streamsOpened)
        let sorted = latencies.sorted(), sortedRtts = rtts.sorted()
        let p50 = percentile(sorted, 0.50), p90 = percentile(sorted, 0.90), p99 = percentile(sorted, 0.99)
        let mean = sorted.isEmpty ? 0 : sorted.reduce(0, +) / Double(sorted.count)
        note("  latency ms: p50 \(f(p50)) p90 \(f(p90)) p99 \(f(p99)) max \(f(sorted.last ?? 0)) mean \(f(mean)); "
            + "\(early) events arrived before their response; trigger round trip p50 \(f(percentile(sortedRtts, 0.5))) p99 \(f(percentile(sortedRtts, 0.99))) ms")
        note("  slowest: " + worst.map { "\($0.id) \(f($0.ms)) ms (trigger round trip \(f($0.rtt)) ms)" }.joined(separator: ", "))
        note("  \(stillOpen) of \(streams) streams still open at the end")
        let eventName = trigger == .pause ? "state" : "output"
        let pass = timeouts == 0 && latencies.count == samples && stillOpen == streams && p50 <= 5 && p99 <= 25
        print(
            #"{"scenario":"sse-latency","trigger":"\#(trigger.rawValue)","event":"\#(eventName)","streams":\#(streams),"#
                + #""streams_open_at_end":\#(stillOpen),"poll_ms":\#(options.pollMs),"samples":\#(latencies.count),"timeouts":\#(timeouts),"#
                + #""p50_ms":\#(f(p50)),"p90_ms":\#(f(p90)),"p99_ms":\#(f(p99)),"max_ms":\#(f(sorted.last ?? 0)),"mean_ms":\#(f(mean)),"#
                + #""events_before_response":\#(early),"trigger_rtt_p50_ms":\#(f(percentile(sortedRtts, 0.5))),"#
                + #""target_p50_ms":5,"target_p99_ms":25,"pass":\#(pass)}"#)
    }
}

func f(_ value: Double) -> String { RedisClientBenchmark.fixed(value, 3) }

// MARK: - S5

/// `sluice-bench sse-idle`: RSS of the sluice process before and after opening many idle streams,
/// and the Redis commands per second while they stay idle.
struct SSEIdleBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sse-idle",
        abstract: "S5: sluice RSS growth per open idle SSE stream, and Redis commands/s while they idle.")

    @OptionGroup var options: SSEOptions

    @Option(help: "Idle streams to open (one instance each).")
    var streams: Int = 10_000

    @Option(help: "Process id of `sluice serve` (its VmRSS is read from /proc/PID/status).")
    var sluicePid: Int32

    @Option(help: "Unix socket of the server's Redis (for INFO stats).")
    var redisSocket: String

    @Option(help: "Length of each measuring window (without streams, then with them), in seconds.")
    var idleSeconds: Int = 10

    @Option(help: "The server's SLUICE_SSE_SAFETY_POLL_MS: how often an idle stream reads while wake-ups are live.")
    var safetyPollMs: Int = 10_000

    @Option(help: "Wait this long after the streams are open before measuring.")
    var settleSeconds: Int = 3

    @Option(help: "Streams opened first, to measure what one idle stream costs when the server keeps up.")
    var calibrationStreams: Int = 200

    @Option(help: "Length of the calibration window, in seconds.")
    var calibrationSeconds: Int = 5

    func validate() throws {
        guard streams >= 1, idleSeconds >= 1, settleSeconds >= 0, calibrationStreams >= 1, calibrationSeconds >= 1 else {
            throw ValidationError("--streams, --idle-seconds, --calibration-streams and --calibration-seconds must be positive, --settle-seconds not negative")
        }
    }

    func run() async throws {
        let client = try SSEClient(options)
        do {
            try await measure(client)
            await client.shutdown()
        } catch {
            await client.shutdown()
            throw error
        }
    }

    /// VmRSS of the process, in KiB.
    func rss() throws -> Int {
        let path = "/proc/\(sluicePid)/status"
        guard let file = fopen(path, "r") else { throw BenchmarkError(description: "cannot read \(path)") }
        defer { fclose(file) }
        var line = [CChar](repeating: 0, count: 512)
        while fgets(&line, Int32(line.count), file) != nil {
            let text = String(decoding: line.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            if text.hasPrefix("VmRSS:") {
                if let kib = text.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first.flatMap({ Int($0) }) { return kib }
            }
        }
        throw BenchmarkError(description: "no VmRSS in \(path)")
    }

    /// CPU time (user + system) the process used so far, in seconds.
    func cpuSeconds() throws -> Double {
        let path = "/proc/\(sluicePid)/stat"
        guard let file = fopen(path, "r") else { throw BenchmarkError(description: "cannot read \(path)") }
        defer { fclose(file) }
        var line = [CChar](repeating: 0, count: 4096)
        guard fgets(&line, Int32(line.count), file) != nil else { throw BenchmarkError(description: "cannot read \(path)") }
        let text = String(decoding: line.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        // "pid (comm) state ppid ...": fields after the comm's closing parenthesis start at field 3;
        // utime and stime are fields 14 and 15.
        guard let paren = text.lastIndex(of: ")") else { throw BenchmarkError(description: "unexpected \(path)") }
        let fields = text[text.index(after: paren)...].split(separator: " ")
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else {
            throw BenchmarkError(description: "unexpected \(path)")
        }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    struct RedisSnapshot {
        var total: Int
        var instantaneous: Int
        var calls: [String: Int]
    }

    /// INFO commandstats and INFO stats in one pipeline (2 commands of ours).
    func snapshot(_ redis: RedisConnection) async throws -> RedisSnapshot {
        let replies = try await redis.pipeline([RedisCommand("INFO", "commandstats"), RedisCommand("INFO", "stats")])
        func fields(_ reply: RedisReply) throws -> [Substring] {
            guard let text = try reply.throwingServerError().string else { throw BenchmarkError(description: "INFO did not answer a string") }
            return text.split(whereSeparator: \.isNewline)  // "\r\n" is one Character
        }
        var calls: [String: Int] = [:]
        for line in try fields(replies[0]) where line.hasPrefix("cmdstat_") {
            // cmdstat_xrange:calls=123,usec=...
            guard let colon = line.firstIndex(of: ":") else { continue }
            let name = String(line[line.index(line.startIndex, offsetBy: "cmdstat_".count)..<colon])
            if let value = line[line.index(after: colon)...].split(separator: ",").first(where: { $0.hasPrefix("calls=") }).flatMap({ Int($0.dropFirst("calls=".count)) }) {
                calls[name] = value
            }
        }
        var total = 0, instantaneous = 0
        for line in try fields(replies[1]) {
            if line.hasPrefix("total_commands_processed:") { total = Int(line.dropFirst("total_commands_processed:".count)) ?? 0 }
            if line.hasPrefix("instantaneous_ops_per_sec:") { instantaneous = Int(line.dropFirst("instantaneous_ops_per_sec:".count)) ?? 0 }
        }
        return RedisSnapshot(total: total, instantaneous: instantaneous, calls: calls)
    }

    /// Commands per second over `idleSeconds`, not counting the two snapshots' own commands
    /// (the first snapshot's INFO stats and the second's INFO commandstats fall inside the window).
    func window(_ redis: RedisConnection, seconds windowSeconds: Int, label: String) async throws -> (perSecond: Double, cpuPercent: Double) {
        let clock = ContinuousClock()
        let before = try await snapshot(redis)
        let cpuBefore = try cpuSeconds()
        let start = clock.now
        try await Task.sleep(for: .seconds(windowSeconds))
        let after = try await snapshot(redis)
        let cpuAfter = try cpuSeconds()
        let elapsed = clock.now - start
        let span = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let perSecond = Double(max(after.total - before.total - 2, 0)) / span
        let top = after.calls.map { ($0.key, Double($0.value - (before.calls[$0.key] ?? 0)) / span) }
            .filter { $0.0 != "info" && $0.1 > 0 }.sorted { $0.1 > $1.1 }.prefix(6)
        let cpuPercent = 100 * (cpuAfter - cpuBefore) / span
        note("  \(label): \(RedisClientBenchmark.fixed(perSecond, 1)) redis commands/s over \(seconds(elapsed)) s "
            + "(instantaneous_ops_per_sec \(after.instantaneous)); "
            + (top.isEmpty ? "no commands" : top.map { "\($0.0) \(RedisClientBenchmark.fixed($0.1, 1))/s" }.joined(separator: ", "))
            + "; sluice CPU \(RedisClientBenchmark.fixed(cpuPercent, 0))% of one core")
        return (perSecond, cpuPercent)
    }

    private func measure(_ client: SSEClient) async throws {
        let redis = try await RedisConnection.connect(
            RedisConfiguration(address: .unix(path: redisSocket), commandTimeout: .seconds(30)), on: client.group)
        defer { redis.close() }
        let parkHandler = SSELatencyBenchmark.parkHandler, sequence = "sse-bench-park"
        let ids = (0..<streams).map { "\(options.idPrefix)-idle-\(getpid())-\($0)" }
        let connections = try await client.connections(options.connections)
        defer { for connection in connections { connection.close() } }
        note("sse-idle: \(streams) instances of \(sequence), poll_ms \(options.pollMs)")
        try await client.defineSequence(
            #"{"id":"\#(sequence)","blocks":[{"id":"park","type":"step","handler":"\#(parkHandler)"}]}"#, on: connections[0])
        try await client.createInstances(ids, sequence: sequence, on: connections)
        try await client.waitForState(ids, state: "running", block: "park", on: connections, timeoutSeconds: 120)
        for connection in connections { connection.close() }
        try await Task.sleep(for: .seconds(settleSeconds))

        // Without streams: what the runner and sweeper cost on their own, and the RSS baseline.
        let background = try await window(redis, seconds: idleSeconds, label: "without streams")
        let rssBefore = try rss()
        note("  sluice VmRSS before opening streams: \(rssBefore) KiB")

        // Calibration: a few streams, which the server surely keeps up with, give the commands one
        // idle stream costs per second when it polls on time.
        let few = min(calibrationStreams, streams)
        let clock = ContinuousClock()
        var openStart = clock.now
        var opened = try await client.openStreams(Array(ids[..<few]), readyState: "running")
        var openSeconds = clock.now - openStart
        defer { for stream in opened { stream.channel.close(promise: nil) } }
        try await Task.sleep(for: .seconds(1))
        let calibration = try await window(redis, seconds: calibrationSeconds, label: "with \(few) idle streams")
        let onTime = max(calibration.perSecond - background.perSecond, 0) / Double(few)

        if few < streams {
            openStart = clock.now
            opened += try await client.openStreams(Array(ids[few...]), readyState: "running")
            openSeconds += clock.now - openStart
        }
        try await Task.sleep(for: .seconds(settleSeconds))
        let rssOpen = try rss()
        note("  sluice VmRSS with \(streams) streams open: \(rssOpen) KiB")
        let idle = try await window(redis, seconds: idleSeconds, label: "with \(streams) idle streams")
        let rssAfter = try rss()
        let stillOpen = try await client.openCount(opened)
        note("  sluice VmRSS after the idle window: \(rssAfter) KiB; \(stillOpen) of \(streams) streams still open")

        let growth = Double(max(rssOpen, rssAfter) - rssBefore) / Double(streams)
        let target = Double(streams) * 1000 / Double(options.pollMs)
        let perStream = max(idle.perSecond - background.perSecond, 0) / Double(streams)
        // A server short of CPU polls late, and then fewer commands prove nothing: the streams kept
        // up when each costs (nearly) as much per second as one of the few calibration streams.
        // While wake-ups are live an idle stream reads once per safety poll, whatever the server's
        // load: a window of a few safety polls holds one read more or less, so compare with what
        // is due (and with the calibration streams, whichever is lower).
        let due = 1000 / Double(max(options.pollMs, safetyPollMs))
        let keptUp = perStream >= 0.8 * min(onTime, due)
        if !keptUp {
            note("  the polls fell behind: \(RedisClientBenchmark.fixed(perStream, 2)) commands/s per stream with \(streams) streams, "
                + "\(RedisClientBenchmark.fixed(onTime, 2)) with \(few); the command rate understates the cost (pass: false)")
        }
        // S5 (targets.md: 30 KiB, streams x 1000 / poll_ms commands/s) tightened by issue 12: idle
        // streams nearly free, at most 20 KiB and 0.2 Redis commands per second each.
        let pass = stillOpen == streams && growth <= 20 && perStream <= 0.2 && idle.perSecond <= target && keptUp
        let openSecondsText = seconds(openSeconds)
        print(
            #"{"scenario":"sse-idle","streams":\#(streams),"streams_open_at_end":\#(stillOpen),"poll_ms":\#(options.pollMs),"#
                + #""open_seconds":\#(openSecondsText),"rss_before_kib":\#(rssBefore),"rss_open_kib":\#(rssOpen),"rss_after_idle_kib":\#(rssAfter),"#
                + #""rss_growth_kib_per_stream":\#(RedisClientBenchmark.fixed(growth, 2)),"target_kib_per_stream":20,"#
                + #""redis_commands_per_second":\#(RedisClientBenchmark.fixed(idle.perSecond, 1)),"#
                + #""redis_commands_per_second_without_streams":\#(RedisClientBenchmark.fixed(background.perSecond, 1)),"#
                + #""redis_commands_per_stream_per_second":\#(RedisClientBenchmark.fixed(perStream, 3)),"target_commands_per_stream_per_second":0.2,"#
                + #""calibration_streams":\#(few),"calibration_commands_per_stream_per_second":\#(RedisClientBenchmark.fixed(onTime, 3)),"#
                + #""polls_kept_up":\#(keptUp),"sluice_cpu_percent":\#(RedisClientBenchmark.fixed(idle.cpuPercent, 0)),"#
                + #""sluice_cpu_percent_without_streams":\#(RedisClientBenchmark.fixed(background.cpuPercent, 0)),"#
                + #""target_commands_per_second":\#(RedisClientBenchmark.fixed(target, 0)),"pass":\#(pass)}"#)
    }
}
