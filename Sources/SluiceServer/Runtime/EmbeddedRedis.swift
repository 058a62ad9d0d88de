import Foundation
import Logging
import ServiceLifecycle
import SluiceCore
import SluiceProcess
import SluiceRedis

/// The `redis-server` that `sluice serve` starts when no `SLUICE_REDIS_URL` is given: a unix
/// socket and an AOF (`appendfsync everysec`) under the data directory. As a `Service` it
/// stops the server when the process shuts down.
public final class EmbeddedRedis: Service, Sendable {
    public let process: RedisServerProcess
    private let logger: Logger

    /// Starts the server; throws with a one-line message if `redis-server` is missing or fails.
    public static func start(dataDirectory: String, logger: Logger) async throws -> EmbeddedRedis {
        let directory = URL(fileURLWithPath: dataDirectory, relativeTo: URL(fileURLWithPath: FileManager.default.currentDirectoryPath))
            .standardizedFileURL.path
        let process = try RedisServerProcess(options: .init(directory: directory, appendOnly: true))
        try await Self.stopOrphan(in: directory, logger: logger)
        try await process.start()
        logger.info("embedded redis started", metadata: ["socket": "\(process.socketPath)", "aof": "everysec"])
        return EmbeddedRedis(process: process, logger: logger)
    }

    private init(process: RedisServerProcess, logger: Logger) {
        self.process = process
        self.logger = logger
    }

    public func run() async throws {
        // Nothing to do until shutdown; then stop Redis (SIGTERM flushes the AOF).
        try? await gracefulShutdown()
        await process.stop()
        logger.info("embedded redis stopped")
    }

    /// A redis-server left running by a `sluice serve` that was killed (SIGKILL leaves no chance
    /// to stop it) still holds the directory: stop it before starting ours. It is no child of
    /// ours (swift-subprocess cannot wait for it): signalled by PID, then looked at every 50 ms
    /// (suspended, not blocking a thread) for up to 5 s.
    private static func stopOrphan(in directory: String, logger: Logger) async throws {
        let pidFile = directory + "/redis.pid"
        guard let text = try? String(contentsOfFile: pidFile, encoding: .utf8), let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)) else { return }
        let command = (try? String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8)) ?? ""
        guard command.contains("redis-server"), kill(pid, 0) == 0 else { return }
        logger.warning("stopping a redis-server left running by an earlier sluice process", metadata: ["pid": "\(pid)"])
        kill(pid, SIGTERM)
        for _ in 0..<100 where kill(pid, 0) == 0 { try await Task.sleep(for: .milliseconds(50)) }
    }
}
