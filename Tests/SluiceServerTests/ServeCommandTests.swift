import AsyncHTTPClient
import Foundation
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
    static func launch(_ arguments: [String], environment: [String: String], in directory: String) throws -> (ChildProcess, String) {
        var env = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("SLUICE_") }
        env.merge(environment) { $1 }
        let stderr = directory + "/stderr.log"
        let child = try ChildProcess.spawn(binary, arguments, environment: env, stdoutPath: directory + "/stdout.log", stderrPath: stderr)
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

    @Test func badSettingStopsStartUpWithOneLineNamingIt() throws {
        let directory = Self.temporaryDirectory()
        let (child, stderr) = try Self.launch(["serve"], environment: ["SLUICE_PORT": "eighty"], in: directory)
        #expect(child.wait(timeoutMilliseconds: 10_000) == 2)
        let text = try String(contentsOfFile: stderr, encoding: .utf8)
        #expect(text == "sluice: SLUICE_PORT must be an integer (got 'eighty')\n")
    }

    @Test func missingRedisServerGivesOneClearLine() throws {
        let directory = Self.temporaryDirectory()
        let (child, stderr) = try Self.launch(
            ["serve", "--data-dir", directory + "/data"],
            environment: ["SLUICE_REDIS_SERVER": directory + "/no-redis-server-here"], in: directory)
        #expect(child.wait(timeoutMilliseconds: 10_000) == 2)
        let text = try String(contentsOfFile: stderr, encoding: .utf8)
        #expect(text.split(separator: "\n").count == 1, "\(text)")
        #expect(text.contains("redis-server not found"))
        #expect(text.contains("apt-get install redis-server"))
        #expect(text.contains("SLUICE_REDIS_URL"))
    }

    @Test func embeddedRedisServesHealthAndStopsWithTheServer() async throws {
        let directory = Self.temporaryDirectory()
        let (child, stderr) = try Self.launch(
            ["serve", "--port", "0", "--data-dir", directory + "/data"], environment: [:], in: directory)
        defer { child.terminate(signal: SIGKILL) }
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
        #expect(child.wait(timeoutMilliseconds: 15_000) == 0)
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
        let (child, stderr) = try Self.launch(
            ["serve", "--port", "0"],
            environment: ["SLUICE_REDIS_URL": "unix://\(server.socketPath)", "SLUICE_KEY_PREFIX": prefix, "SLUICE_PARTITIONS": "16"],
            in: directory)
        defer { child.terminate(signal: SIGKILL) }
        #expect(child.wait(timeoutMilliseconds: 15_000) == 2)
        let text = try String(contentsOfFile: stderr, encoding: .utf8)
        #expect(text.contains("sluice: SLUICE_PARTITIONS is 16 but this Redis"), "\(text)")
        #expect(text.contains("initialised with 8 partitions"))
    }

    @Test func jsonLogsAreOneObjectPerLine() async throws {
        let directory = Self.temporaryDirectory()
        let (child, stderr) = try Self.launch(
            ["serve", "--port", "0", "--data-dir", directory + "/data"], environment: ["SLUICE_LOG_FORMAT": "json"], in: directory)
        defer { child.terminate(signal: SIGKILL) }
        let port = try #require(await Self.boundPort(stderr))
        #expect(await eventually(timeout: .seconds(20), every: .milliseconds(100)) {
            await Self.get("http://127.0.0.1:\(port)/healthz")?.0 == 200
        })
        child.send(SIGTERM)
        #expect(child.wait(timeoutMilliseconds: 15_000) == 0)
        let lines = try String(contentsOfFile: stderr, encoding: .utf8).split(separator: "\n")
        #expect(lines.count >= 3)
        for line in lines {
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            #expect(object?["level"] is String && object?["msg"] is String && object?["ts"] is String, "\(line)")
        }
        #expect(lines.contains { $0.contains("embedded redis started") })
    }
}
