import NIOCore
import SluiceProcess
import SluiceRedis
import SluiceTestSupport
import Testing

@Suite struct ConnectionOptionsTests {
    @Test func authAndSelectFromAUnixURL() async throws {
        let server = try await TestRedis.start(extraArguments: ["--requirepass", "s3cret"])
        let configuration = try RedisConfiguration(url: "unix://\(server.socketPath)?db=3&password=s3cret")
        let client = RedisClient(configuration: configuration)
        defer { client.shutdown() }
        try await client.execute("SET", "where", "db3")
        let db0 = RedisClient(configuration: try RedisConfiguration(url: "unix://\(server.socketPath)?password=s3cret"))
        defer { db0.shutdown() }
        #expect(try await db0.send(RedisCommand("GET", "where")) == .null)
        #expect(try await db0.execute("SELECT", "3") == .status("OK"))

        let wrong = RedisClient(configuration: try RedisConfiguration(url: "unix://\(server.socketPath)?password=nope"))
        defer { wrong.shutdown() }
        do {
            _ = try await wrong.send(RedisCommand("PING"))
            Issue.record("a wrong password must fail")
        } catch let error as RedisClientError {
            #expect(error.message.contains("WRONGPASS") || error.message.contains("invalid password"))
        }
    }

    @Test func tcpURLWithUserAndPassword() async throws {
        // A port that was free can be taken before redis binds it: try a few.
        var started: (RedisServerProcess, Int)?
        for _ in 0..<5 where started == nil {
            let port = try TestRedis.freePort()
            if let server = try? await TestRedis.start(tcpPort: port, extraArguments: ["--user", "app", "on", ">pw", "~*", "&*", "+@all"]) {
                started = (server, port)
            }
        }
        let (server, port) = try #require(started)
        var configuration = try RedisConfiguration(url: "redis://app:pw@127.0.0.1:\(port)/1")
        configuration.connectTimeout = .seconds(10)
        let client = RedisClient(configuration: configuration)
        defer { client.shutdown() }
        #expect(try await client.send(RedisCommand("PING")) == .status("PONG"))
        #expect(try await client.execute("ACL", "WHOAMI").string == "app")
        _ = server
    }

    @Test func urlParsing() throws {
        #expect(try RedisConfiguration(url: "redis://localhost").address == .tcp(host: "localhost", port: 6379))
        let full = try RedisConfiguration(url: "redis://u%40x:p%3Aw@10.0.0.5:6380/2")
        #expect(full.address == .tcp(host: "10.0.0.5", port: 6380))
        #expect(full.username == "u@x")
        #expect(full.password == "p:w")
        #expect(full.database == 2)
        #expect(try RedisConfiguration(url: "redis://:secret@h:1/").password == "secret")
        #expect(try RedisConfiguration(url: "redis://[::1]:7000").address == .tcp(host: "::1", port: 7000))
        let unix = try RedisConfiguration(url: "unix:///var/run/redis.sock?db=4&password=x")
        #expect(unix.address == .unix(path: "/var/run/redis.sock"))
        #expect(unix.database == 4)
        #expect(unix.password == "x")
        for bad in ["http://x", "redis://", "redis://h:99999", "redis://h/-1", "unix://relative.sock", "unix:///s?foo=1", "redis://h:abc"] {
            #expect(throws: RedisURLError.self, "\(bad)") { try RedisConfiguration(url: bad) }
        }
    }
}
