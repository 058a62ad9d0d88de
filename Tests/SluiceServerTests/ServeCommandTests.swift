import AsyncHTTPClient
import Foundation
import SluiceProcess
import SluiceRedis
import SluiceTestSupport
import Testing

/// `sluice serve` as a user runs it: the built binary, a real embedded redis-server, signals.
@Suite(.serialized) struct ServeCommandTests {
    /// The `sluice` binary built next to this test bundle (`swift build --build-tests` builds both).
    static var binary: String {
        let bundle = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        return bundle.appendingPathComponent("sluice").path
    }

    static func temporaryDirectory() -> String {
        let path = NSTemporaryDirectory() + "sluice-serve-" + UUID().uuidString.prefix(8)
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// Runs the binary with a clean `SLUICE_*` environment plus `environment`.
    static func launch(_ arguments: [String], environment: [String: String], in directory: String) async throws -> (ChildProcess, String) {
        var env = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("SLUICE_") }
        env.merge(environment) { $1 }
        let stderr = directory + "/stderr.log"
        let child = try await ChildProcess.spawn(binary, arguments, environment: env, stdoutPath: directory + "/stdout.log", stderrPath: stderr)
        return (child, stderr)
    }

    /// The port `sluice serve --port 0` bound, read from its log (a guessed free port can be
    /// taken by another test in between).
    static func boundPort(_ stderr: String, timeout: Duration = .seconds(30)) async -> Int? {
        var port: Int?
        _ = await eventually(timeout: timeout, every: .milliseconds(50)) {
            let text = (try? String(contentsOfFile: stderr, encoding: .utf8)) ?? ""
            guard let range = text.range(of: "listening on 127.0.0.1:") else { return false }
            port = Int(text[range.upperBound...].prefix { $0.isNumber })
            return port != nil
        }
        return port
    }

    static func get(_ url: String) async -> (Int, String)? {
        var request = HTTPClientRequest(url: url)
        request.method = .GET
        guard let response = try? await HTTPClient.shared.execute(request, timeout: .seconds(2)),
              let body = try? await response.body.collect(upTo: 1 << 20) else { return nil }
        return (Int(response.status.code), String(buffer: body))
    }

    @Test func badSettingStopsStartUpWithOneLineNamingIt() async throws {
        let directory = Self.temporaryDirectory()
        let (child, stderr) = try await Self.launch(["serve"], environment: ["SLUICE_PORT": "eighty"], in: directory)
        #expect(await child.exitStatus(timeoutMilliseconds: 10_000) == 2)
        let text = try String(contentsOfFile: stderr, encoding: .utf8)
        #expect(text == "sluice: SLUICE_PORT must be an integer (got 'eighty')\n")
    }

    @Test func missingRedisServerGivesOneClearLine() async throws {
        let directory = Self.temporaryDirectory()
        let (child, stderr) = try await Self.launch(
            ["serve", "--data-dir", directory + "/data"],
            environment: ["SLUICE_REDIS_SERVER": directory + "/no-redis-server-here"], in: directory)
        #expect(await child.exitStatus(timeoutMilliseconds: 10_000) == 2)
        let text = try String(contentsOfFile: stderr, encoding: .utf8)
        #expect(text.split(separator: "\n").count == 1, "\(text)")
        #expect(text.contains("redis-server not found"))
        #expect(text.contains("apt-get install redis-server"))
        #expect(text.contains("SLUICE_REDIS_URL"))
    }

    @Test func embeddedRedisServesHealthAndStopsWithTheServer() async throws {
        let directory = Self.temporaryDirectory()
        let (child, stderr) = try await Self.launch(
            ["serve", "--port", "0", "--data-dir", directory + "/data"], environment: [:], in: directory)
        defer { child.send(SIGKILL) }
        let port = try #require(await Self.boundPort(stderr), "\((try? String(contentsOfFile: stderr, encoding: .utf8)) ?? "")")
        let healthy = await eventually(timeout: .seconds(20), every: .milliseconds(100)) {
            await Self.get("http://127.0.0.1:\(port)/healthz")?.0 == 200
        }
        #expect(healthy, "\((try? String(contentsOfFile: stderr, encoding: .utf8)) ?? "")")
        let ready = await Self.get("http://127.0.0.1:\(port)/readyz")
        #expect(ready?.0 == 200)
        #expect(FileManager.default.fileExists(atPath: directory + "/data/redis.sock"))
        #expect(FileManager.default.fileExists(atPath: directory + "/data/appendonlydir"))

        let redisPid = try #require(Int32(String(contentsOfFile: directory + "/data/redis.pid", encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)))
        // The deployment was initialised in the embedded Redis.
        let redis = RedisClient(configuration: RedisConfiguration(address: .unix(path: directory + "/data/redis.sock")))
        #expect(try await redis.execute("HGET", "sluice:meta", "partitions").string == "64")
        redis.shutdown()

        child.send(SIGTERM)
        #expect(await child.exitStatus(timeoutMilliseconds: 15_000) == 0)
        // Redis went down with it.
        #expect(await eventually(timeout: .seconds(5)) { kill(redisPid, 0) != 0 })
    }

    @Test func aDifferentPartitionCountIsRefused() async throws {
        let server = try await TestRedis.shared()
        let prefix = TestRedis.uniquePrefix("cli")
        let redis = RedisClient(configuration: server.clientConfiguration)
        try await redis.execute("HSET", "\(prefix):meta", "partitions", "8", "schema_version", "1")
        redis.shutdown()
        let directory = Self.temporaryDirectory()
        let (child, stderr) = try await Self.launch(
            ["serve", "--port", "0"],
            environment: ["SLUICE_REDIS_URL": "unix://\(server.socketPath)", "SLUICE_KEY_PREFIX": prefix, "SLUICE_PARTITIONS": "16"],
            in: directory)
        defer { child.send(SIGKILL) }
        #expect(await child.exitStatus(timeoutMilliseconds: 15_000) == 2)
        let text = try String(contentsOfFile: stderr, encoding: .utf8)
        #expect(text.contains("sluice: SLUICE_PARTITIONS is 16 but this Redis"), "\(text)")
        #expect(text.contains("initialised with 8 partitions"))
    }

    @Test func jsonLogsAreOneObjectPerLine() async throws {
        let directory = Self.temporaryDirectory()
        let (child, stderr) = try await Self.launch(
            ["serve", "--port", "0", "--data-dir", directory + "/data"], environment: ["SLUICE_LOG_FORMAT": "json"], in: directory)
        defer { child.send(SIGKILL) }
        let port = try #require(await Self.boundPort(stderr))
        #expect(await eventually(timeout: .seconds(20), every: .milliseconds(100)) {
            await Self.get("http://127.0.0.1:\(port)/healthz")?.0 == 200
        })
        child.send(SIGTERM)
        #expect(await child.exitStatus(timeoutMilliseconds: 15_000) == 0)
        let lines = try String(contentsOfFile: stderr, encoding: .utf8).split(separator: "\n")
        #expect(lines.count >= 3)
        for line in lines {
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            #expect(object?["level"] is String && object?["msg"] is String && object?["ts"] is String, "\(line)")
        }
        #expect(lines.contains { $0.contains("embedded redis started") })
    }
}

/// `sluice run` and `sluice sweep` as separate processes on a shared Redis.
@Suite(.serialized) struct BackgroundCommandTests {
    @Test func runAndSweepProcessesAdvanceInstancesAndStopOnSIGTERM() async throws {
        let api = try await TestAPI.make { $0.taskLeaseMilliseconds = 1000; $0.sweepIntervalMilliseconds = 50 }
        // The processes use the Redis the test's API uses: the cluster in the cluster pass.
        let environment = try await TestRedis.sharedEnvironment().merging([
            "SLUICE_KEY_PREFIX": api.configuration.keyPrefix,
            "SLUICE_PARTITIONS": String(api.configuration.partitions), "SLUICE_TASK_LEASE_MS": "1000", "SLUICE_SWEEP_INTERVAL_MS": "50",
        ]) { $1 }
        let (runner, runnerLog) = try await ServeCommandTests.launch(["run"], environment: environment, in: ServeCommandTests.temporaryDirectory())
        let (sweeper, sweeperLog) = try await ServeCommandTests.launch(["sweep"], environment: environment, in: ServeCommandTests.temporaryDirectory())
        defer {
            runner.send(SIGKILL)
            sweeper.send(SIGKILL)
        }
        try await api.run { client in
            try await client.post("/sequences", ["id": "bg", "blocks": [
                ["id": "a", "type": "step", "handler": "noop"],
                ["id": "b", "type": "step", "handler": "remote"],
            ]])
            try await client.post("/instances", ["sequence_id": "bg", "id": "bg-1"])
            // The runner process takes it to the external step; a worker takes the task and
            // vanishes; the sweeper process hands it out again.
            let first = try await client.post("/workers/tasks/poll", ["handler": "remote", "worker_id": "gone", "wait_ms": 20_000])
            #expect(first.json.arrayValue?.first?["attempt"] == 1, "\((try? String(contentsOfFile: runnerLog, encoding: .utf8)) ?? "")")
            let second = try await client.post("/workers/tasks/poll", ["handler": "remote", "worker_id": "here", "wait_ms": 20_000])
            let task = try #require(second.json.arrayValue?.first, "\((try? String(contentsOfFile: sweeperLog, encoding: .utf8)) ?? "")")
            #expect(task["attempt"] == 2)
            // The lease is 1 s so that the sweeper's hand-out shows quickly; on a loaded machine it
            // can also run out before this worker's complete arrives (409, handed out again): then
            // the worker takes it again, as a real one would.
            var current = task
            var completed = false
            for _ in 0..<5 {
                let taskId = try #require(current["task_id"]?.stringValue)
                if try await client.post("/workers/tasks/\(taskId)/complete", ["worker_id": "here", "output": [:]]).status == .ok {
                    completed = true
                    break
                }
                let again = try await client.post("/workers/tasks/poll", ["handler": "remote", "worker_id": "here", "wait_ms": 20_000])
                guard let next = again.json.arrayValue?.first else { break }
                current = next
            }
            #expect(completed)
            let done = try await api.waitFor(client, "bg-1", state: "completed")
            #expect(done["state"] == "completed")
        }
        runner.send(SIGTERM)
        sweeper.send(SIGTERM)
        #expect(await runner.exitStatus(timeoutMilliseconds: 15_000) == 0)
        #expect(await sweeper.exitStatus(timeoutMilliseconds: 15_000) == 0)
    }

    @Test func runNeedsARedisURL() async throws {
        let directory = ServeCommandTests.temporaryDirectory()
        let (child, stderr) = try await ServeCommandTests.launch(["run"], environment: [:], in: directory)
        #expect(await child.exitStatus(timeoutMilliseconds: 10_000) == 2)
        #expect(try String(contentsOfFile: stderr, encoding: .utf8) == "sluice: SLUICE_REDIS_URL (or SLUICE_REDIS_CLUSTER) is required for this command\n")
    }
}
