import Foundation
import SluiceCore
import SluiceRedis
import Testing

@Suite struct ConfigurationTests {
    @Test func defaultsMatchTheSpec() throws {
        let c = try SluiceConfiguration.load(environment: [:])
        #expect(c.redisURL == nil)
        #expect(c.host == "127.0.0.1" && c.port == 8080)
        #expect(c.keyPrefix == "sluice" && c.partitions == 64)
        #expect(c.retentionSeconds == 604_800 && c.streamMaxLength == 10_000)
        #expect(c.checkpointCap == 100 && c.checkpointMaxBytes == 1_048_576 && c.contextMaxBytes == 262_144)
        #expect(c.sseKeepaliveSeconds == 15 && c.sseMaxStreams == 20_000)
        #expect(c.taskLeaseMilliseconds == 30_000 && c.sweepIntervalMilliseconds == 250 && c.redisTimeoutMilliseconds == 2_000)
        #expect(c.shutdownGraceMilliseconds == 10_000)
        #expect(c.logFormat == .text)
    }

    @Test func environmentIsReadAndFlagsWin() throws {
        let c = try SluiceConfiguration.load(
            environment: ["SLUICE_PORT": "9000", "SLUICE_PARTITIONS": "16", "SLUICE_LOG_FORMAT": "json", "SLUICE_REDIS_URL": "redis://r:6380/2", "PATH": "/bin"],
            overrides: ["SLUICE_PORT": "9001"])
        #expect(c.port == 9001)
        #expect(c.partitions == 16)
        #expect(c.logFormat == .json)
        let redis = try c.redisConfiguration()
        #expect(redis.address == .tcp(host: "r", port: 6380))
        #expect(redis.database == 2)
        #expect(redis.commandTimeout == .milliseconds(2000))
    }

    @Test(arguments: [
        ("SLUICE_PORT", "http", "must be an integer"),
        ("SLUICE_PORT", "70000", "between 0 and 65535"),
        ("SLUICE_PARTITIONS", "0", "between 1 and 16384"),
        ("SLUICE_LOG_FORMAT", "xml", "text or json"),
        ("SLUICE_REDIS_URL", "mysql://x", "unsupported Redis URL"),
        ("SLUICE_KEY_PREFIX", "a{b}", "must be 1-64 characters"),
        ("SLUICE_REDIS_TIMEOUT_MS", "-5", "between"),
        ("SLUICE_SHUTDOWN_GRACE_MS", "soon", "must be an integer"),
        ("SLUICE_TYPO", "1", "not a known setting"),
    ])
    func badValuesNameTheVariable(variable: String, value: String, fragment: String) {
        do {
            _ = try SluiceConfiguration.load(environment: [variable: value])
            Issue.record("\(variable)=\(value) must be refused")
        } catch {
            #expect(error.variable == variable)
            #expect(error.description.hasPrefix(variable))
            #expect(error.message.contains(fragment), "\(error)")
        }
    }

    /// The README's configuration table lists exactly the variables the code reads.
    @Test func readmeDocumentsEveryVariable() throws {
        let readme = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("README.md")
        let text = try String(contentsOf: readme, encoding: .utf8)
        let documented = Set(text.split(separator: "\n").compactMap { line -> String? in
            guard line.hasPrefix("| `SLUICE_") else { return nil }
            return line.split(separator: "`")[1].description
        })
        #expect(documented == Set(SluiceConfiguration.variables.map(\.name)))
        for variable in SluiceConfiguration.variables {
            let row = text.split(separator: "\n").first { $0.hasPrefix("| `\(variable.name)`") } ?? ""
            #expect(row.contains("`--\(variable.flag)`"), "README row of \(variable.name) must name its flag --\(variable.flag)")
            #expect(row.contains(variable.defaultValue), "README row of \(variable.name) must give its default \(variable.defaultValue)")
        }
    }
}
