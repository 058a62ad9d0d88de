import AsyncHTTPClient
import Foundation
import SluiceProcess
import SluiceRedis
import SluiceTestSupport
import Testing

/// Authentication as an operator runs it: the built `sluice serve`, a keys file, SIGHUP.
@Suite(.serialized) struct AuthProcessTests {
    static func status(_ port: Int, _ path: String, key: String?) async -> Int? {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)")
        if let key { request.headers.add(name: "X-API-Key", value: key) }
        guard let response = try? await HTTPClient.shared.execute(request, timeout: .seconds(5)) else { return nil }
        _ = try? await response.body.collect(upTo: 1 << 20)
        return Int(response.status.code)
    }

    static func write(_ json: String, to path: String) throws {
        try json.write(toFile: path, atomically: true, encoding: .utf8)
    }

    static func log(_ stderr: String) -> String { (try? String(contentsOfFile: stderr, encoding: .utf8)) ?? "" }

    @Test func requireAuthRefusesToStartWithoutKeys() async throws {
        let directory = ServeCommandTests.temporaryDirectory()
        let (child, stderr) = try await ServeCommandTests.launch(["serve", "--port", "0"], environment: ["SLUICE_REQUIRE_AUTH": "true"], in: directory)
        #expect(await child.exitStatus(timeoutMilliseconds: 10_000) == 2)
        #expect(Self.log(stderr).hasPrefix("sluice: SLUICE_REQUIRE_AUTH is true but no SLUICE_API_KEYS_FILE is set"))
    }

    @Test func aMalformedKeysFileStopsStartUpNamingTheEntry() async throws {
        let directory = ServeCommandTests.temporaryDirectory()
        let file = directory + "/keys.json"
        try Self.write(#"[{"name": "alice", "key": "alice-key-0123456789", "role": "admin"}, {"name": "bob", "key": "bob-key-0123456789ab", "role": "boss"}]"#, to: file)
        let (child, stderr) = try await ServeCommandTests.launch(["serve", "--port", "0"], environment: ["SLUICE_API_KEYS_FILE": file], in: directory)
        #expect(await child.exitStatus(timeoutMilliseconds: 10_000) == 2)
        let text = Self.log(stderr)
        #expect(text.contains(#"entry 1 ("bob"): role must be one of admin, operator, approver, worker"#), "\(text)")
        #expect(!text.contains("bob-key"), "a key must never be printed")
    }

    @Test func keysRotateOnSIGHUPAndABadFileKeepsTheOldKeys() async throws {
        let directory = ServeCommandTests.temporaryDirectory()
        let file = directory + "/keys.json"
        let first = "first-key-0123456789", second = "second-key-0123456789"
        try Self.write(#"[{"name": "ops", "key": "\#(first)", "role": "operator"}]"#, to: file)
        let (child, stderr) = try await ServeCommandTests.launch(
            ["serve", "--port", "0", "--data-dir", directory + "/data"], environment: ["SLUICE_API_KEYS_FILE": file], in: directory)
        defer { child.send(SIGKILL) }
        let port = try #require(await ServeCommandTests.boundPort(stderr), "\(Self.log(stderr))")
        #expect(await eventually(timeout: .seconds(20), every: .milliseconds(100)) { await Self.status(port, "/instances", key: first) == 200 })
        #expect(await Self.status(port, "/instances", key: nil) == 401)
        #expect(await Self.status(port, "/instances", key: second) == 401)
        #expect(await Self.status(port, "/healthz", key: nil) == 200)
        #expect(!Self.log(stderr).contains("the API is open"), "the open-mode warning is for open mode only")

        // Rotation: the second key replaces the first, without a restart.
        let hashed = await sha256Hex(second)
        try Self.write(#"[{"name": "ops", "key_sha256": "\#(hashed)", "role": "operator"}]"#, to: file)
        child.send(SIGHUP)
        #expect(await eventually(timeout: .seconds(10)) { await Self.status(port, "/instances", key: second) == 200 }, "\(Self.log(stderr))")
        #expect(await Self.status(port, "/instances", key: first) == 401)

        // A broken file is refused on reload: the keys in use stay.
        try Self.write(#"[{"name": "ops", "role": "operator"}]"#, to: file)
        child.send(SIGHUP)
        #expect(await eventually(timeout: .seconds(10)) { Self.log(stderr).contains("refused on reload") })
        #expect(await Self.status(port, "/instances", key: second) == 200)
        #expect(!Self.log(stderr).contains(second) && !Self.log(stderr).contains(first), "keys are never logged")
        child.send(SIGTERM)
        #expect(await child.exitStatus(timeoutMilliseconds: 15_000) == 0)
    }

    @Test func openModeWarnsAtStart() async throws {
        let directory = ServeCommandTests.temporaryDirectory()
        let (child, stderr) = try await ServeCommandTests.launch(["serve", "--port", "0", "--data-dir", directory + "/data"], environment: [:], in: directory)
        defer { child.send(SIGKILL) }
        _ = try #require(await ServeCommandTests.boundPort(stderr), "\(Self.log(stderr))")
        #expect(Self.log(stderr).contains("no API keys configured (SLUICE_API_KEYS_FILE): the API is open"))
        // Stopped, not killed: the embedded redis-server goes down with it (a SIGKILL left one
        // running after every test run).
        child.send(SIGTERM)
        #expect(await child.exitStatus(timeoutMilliseconds: 15_000) == 0)
    }
}

/// Hex SHA-256, as an operator makes it with `sha256sum`.
func sha256Hex(_ text: String) async -> String {
    let directory = ServeCommandTests.temporaryDirectory()
    let input = directory + "/in"
    try? text.write(toFile: input, atomically: true, encoding: .utf8)
    let output = directory + "/out"
    let child = try? await ChildProcess.spawn("/usr/bin/sha256sum", [input], environment: [:], stdoutPath: output, stderrPath: directory + "/err")
    _ = await child?.exitStatus(timeoutMilliseconds: 5000)
    return String(((try? String(contentsOfFile: output, encoding: .utf8)) ?? "").prefix(64))
}
