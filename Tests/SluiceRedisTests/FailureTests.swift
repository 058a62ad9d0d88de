import NIOCore
import SluiceRedis
import SluiceTestSupport
import Testing

/// What the client does when Redis goes away, stalls, or was never there.
@Suite struct FailureTests {
    @Test func killedServerFailsInFlightCommandsPromptlyAndClientReconnects() async throws {
        let server = try await TestRedis.start()
        let connection = try await RedisConnection.connect(server.clientConfiguration)
        let client = RedisClient(configuration: server.clientConfiguration)
        defer { client.shutdown() }
        #expect(try await client.send(RedisCommand("PING")) == .status("PONG"))

        // A command that will not be answered until the server goes away.
        let blocked = Task { try await connection.send(RedisCommand("BLPOP", "never-pushed", "0"), timeout: .seconds(60)) }
        try await Task.sleep(for: .milliseconds(100))
        let killedAt = ContinuousClock.now
        await server.kill()
        do {
            _ = try await blocked.value
            Issue.record("a command in flight on a killed server must fail")
        } catch let error as RedisClientError {
            #expect(error.code == .connectionClosed)
        }
        #expect(ContinuousClock.now - killedAt < .seconds(2))  // promptly (not after the 60 s timeout)

        // While the server is down, commands fail (not hang).
        do {
            _ = try await client.send(RedisCommand("PING"))
            Issue.record("PING must fail while redis is down")
        } catch let error as RedisClientError {
            #expect(error.isConnectivity)
        }

        try await server.start()
        let restartedAt = ContinuousClock.now
        #expect(await eventually(timeout: .seconds(5)) { try await client.send(RedisCommand("PING")) == .status("PONG") })
        #expect(ContinuousClock.now - restartedAt < .seconds(3))  // backoff is capped at 1 s
    }

    /// After a restart the pool's slots reconnect one by one, each when its backoff ends; a
    /// command whose slot is still backing off is served by a slot already back.
    @Test func aSlotStillBackingOffIsCoveredByALiveOne() async throws {
        let server = try await TestRedis.start()
        var configuration = server.clientConfiguration
        configuration.poolSize = 2
        configuration.minBackoff = .seconds(6)
        configuration.maxBackoff = .seconds(6)
        let client = RedisClient(configuration: configuration)
        defer { client.shutdown() }
        await server.kill()
        // Slot 0 fails first and backs off for 6 s from when its connect failed, which is before
        // this PING returns: times below count from its return, not from the kill (under a
        // loaded whole-suite run, the failure came more than 0.5 s after the kill once).
        await #expect(throws: RedisClientError.self) { try await client.send(RedisCommand("PING")) }
        let firstFailed = ContinuousClock.now
        // Slot 1 fails 3.5 s later and backs off until at least +9.5 s.
        try await Task.sleep(until: firstFailed + .milliseconds(3500))
        await #expect(throws: RedisClientError.self) { try await client.send(RedisCommand("PING")) }
        try await server.start()
        // Slots reconnect when a command comes: at +6.5 s slot 0's backoff has ended and slot
        // 1's has not (3 s of margin for a loaded machine).
        try await Task.sleep(until: firstFailed + .milliseconds(6500))
        #expect(try await client.send(RedisCommand("PING")) == .status("PONG"))  // slot 0 reconnects
        for _ in 0..<4 {  // slots 1, 0, 1, 0: slot 1's turns are served by slot 0's connection
            #expect(try await client.send(RedisCommand("PING")) == .status("PONG"))
        }
        // One connection served all of them: slot 1 did not connect (this one is the other).
        let checker = try await RedisConnection.connect(server.clientConfiguration)
        defer { checker.close() }
        let info = try await checker.send(RedisCommand("INFO", "clients")).string ?? ""
        #expect(info.contains("connected_clients:2\r\n"), "\(info)")
    }

    @Test func commandTimeoutFiresAndClosesTheConnection() async throws {
        let server = try await TestRedis.shared()
        var configuration = server.clientConfiguration
        configuration.commandTimeout = .milliseconds(200)
        let connection = try await RedisConnection.connect(configuration)
        let started = ContinuousClock.now
        do {
            _ = try await connection.send(RedisCommand("BLPOP", TestRedis.uniquePrefix(), "0"))
            Issue.record("expected a timeout")
        } catch let error as RedisClientError {
            #expect(error.code == .timeout)
        }
        let elapsed = ContinuousClock.now - started
        #expect(elapsed >= .milliseconds(190) && elapsed < .seconds(2))
        #expect(await eventually { !connection.isActive })
    }

    @Test func connectingToNothingFailsClearlyThenBacksOff() async throws {
        let configuration = RedisConfiguration(address: .unix(path: "/tmp/sluice-no-such-dir/redis.sock"))
        do {
            _ = try await RedisConnection.connect(configuration)
            Issue.record("expected a connect failure")
        } catch let error as RedisClientError {
            #expect(error.code == .connectionFailed)
            #expect(error.message.contains("/tmp/sluice-no-such-dir/redis.sock"))
        }
        var slow = configuration
        slow.poolSize = 1
        slow.minBackoff = .seconds(5)
        let client = RedisClient(configuration: slow)
        defer { client.shutdown() }
        await #expect(throws: RedisClientError.self) { try await client.send(RedisCommand("PING")) }
        // Within the backoff window the client does not even try: it fails at once.
        do {
            _ = try await client.send(RedisCommand("PING"))
        } catch let error as RedisClientError {
            #expect(error.code == .unavailable)
        }
    }

    @Test func notServingRepliesCountAsOutagesOtherErrorRepliesDoNot() {
        #expect(RedisClientError.server("LOADING Redis is loading the dataset in memory").isConnectivity)
        #expect(RedisClientError.server("BUSY Redis is busy running a script.").isConnectivity)
        #expect(RedisClientError.server("MASTERDOWN Link with MASTER is down").isConnectivity)
        #expect(!RedisClientError.server("BUSYKEY Target key name already exists.").isConnectivity)
        #expect(!RedisClientError.server("NOSCRIPT No matching script.").isConnectivity)
        #expect(!RedisClientError.server("CONFLICT gate decided").isConnectivity)
    }

    @Test func commandsAfterShutdownFail() async throws {
        let server = try await TestRedis.shared()
        let client = RedisClient(configuration: server.clientConfiguration)
        #expect(try await client.send(RedisCommand("PING")) == .status("PONG"))
        client.shutdown()
        do {
            _ = try await client.send(RedisCommand("PING"))
            Issue.record("expected shutdown error")
        } catch let error as RedisClientError {
            #expect(error.code == .shutdown)
        }
    }
}
