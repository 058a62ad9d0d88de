import Foundation
import NIOConcurrencyHelpers
import NIOCore
import SluiceRedis

/// A `redis-server` child process listening on a unix socket in a directory of ours.
/// Used by `sluice serve` without `SLUICE_REDIS_URL` (the embedded Redis) and by the tests.
/// (A process, not a Redis client: it lives here, not in SluiceRedis.)
public final class RedisServerProcess: Sendable {
    public struct Options: Sendable {
        /// Working directory: socket, AOF and log live here.
        public var directory: String
        /// Append-only file with `appendfsync everysec` (durable across restarts).
        public var appendOnly: Bool = true
        /// Also listen on this TCP port on 127.0.0.1 (nil: unix socket only).
        public var tcpPort: Int?
        /// Extra `--name value` arguments, e.g. `["--requirepass", "secret"]`.
        public var extraArguments: [String] = []

        public init(directory: String, appendOnly: Bool = true, tcpPort: Int? = nil, extraArguments: [String] = []) {
            self.directory = directory
            self.appendOnly = appendOnly
            self.tcpPort = tcpPort
            self.extraArguments = extraArguments
        }
    }

    public struct LaunchError: Error, CustomStringConvertible {
        public var description: String
    }

    public let options: Options
    public let executable: String
    private let process = NIOLockedValueBox<ChildProcess?>(nil)

    public var socketPath: String { options.directory + "/redis.sock" }
    public var logPath: String { options.directory + "/redis.log" }

    /// Configuration of a client for this server (unix socket).
    public var clientConfiguration: RedisConfiguration { RedisConfiguration(address: .unix(path: socketPath)) }

    /// Finds `redis-server`: `$SLUICE_REDIS_SERVER`, else the `PATH`, else `/usr/bin` and `/usr/local/bin`.
    public static func findExecutable(environment: [String: String] = ProcessInfo.processInfo.environment) -> String? {
        if let explicit = environment["SLUICE_REDIS_SERVER"], !explicit.isEmpty {
            return FileManager.default.isExecutableFile(atPath: explicit) ? explicit : nil
        }
        let path = (environment["PATH"] ?? "").split(separator: ":").map(String.init) + ["/usr/bin", "/usr/local/bin", "/usr/sbin"]
        return path.map { $0 + "/redis-server" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    public static let missingExecutableMessage =
        "redis-server not found: install it (apt-get install redis-server), set SLUICE_REDIS_SERVER to its path, or set SLUICE_REDIS_URL to use a running Redis"

    public init(options: Options, executable: String? = nil) throws {
        guard let executable = executable ?? Self.findExecutable() else {
            throw LaunchError(description: Self.missingExecutableMessage)
        }
        self.options = options
        self.executable = executable
    }

    public var isRunning: Bool { process.withLockedValue { $0?.isRunning ?? false } }

    /// Starts the server and returns once it answers PING (or throws with its log's tail).
    public func start(timeout: Duration = .seconds(10)) async throws {
        try FileManager.default.createDirectory(atPath: options.directory, withIntermediateDirectories: true)
        try? FileManager.default.removeItem(atPath: socketPath)
        var arguments = [
            "--port", String(options.tcpPort ?? 0), "--bind", "127.0.0.1",
            "--unixsocket", socketPath, "--unixsocketperm", "700",
            "--dir", options.directory, "--logfile", logPath, "--pidfile", options.directory + "/redis.pid",
            "--daemonize", "no",
            "--save", "",
        ]
        if options.appendOnly {
            arguments += ["--appendonly", "yes", "--appendfsync", "everysec"]
        } else {
            arguments += ["--appendonly", "no"]
        }
        arguments += options.extraArguments
        let child = try await ChildProcess.spawn(executable, arguments)
        process.withLockedValue { $0 = child }

        // Readiness has no event to wait on: try to connect and PING, and sleep (suspended, not
        // blocking a thread) between tries.
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if !child.isRunning {
                throw LaunchError(description: "redis-server exited at start: \(logTail())")
            }
            if FileManager.default.fileExists(atPath: socketPath),
               let connection = try? await RedisConnection.connect(clientConfiguration) {
                defer { connection.close() }
                let reply = try? await connection.send(RedisCommand("PING"))
                // LOADING means the AOF is still being read: keep waiting. NOAUTH means it
                // is up and wants a password (the caller's business, not ours).
                if reply == .status("PONG") { return }
                if case .error(let message) = reply, message.hasPrefix("NOAUTH") { return }
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        await stop()
        throw LaunchError(description: "redis-server did not answer within \(timeout): \(logTail())")
    }

    /// Stops the server gracefully (SIGTERM; it flushes the AOF) and waits for it to exit.
    public func stop() async {
        await takeProcess()?.terminate(signal: SIGTERM)
    }

    /// Kills the server at once (SIGKILL), as a crash would, and waits for it to be gone.
    public func kill() async {
        await takeProcess()?.terminate(signal: SIGKILL)
    }

    /// SIGKILL without waiting, for exit handlers (see `ChildProcess.killImmediately`).
    public func killImmediately() {
        takeProcess()?.killImmediately()
    }

    private func takeProcess() -> ChildProcess? {
        process.withLockedValue { process in
            defer { process = nil }
            return process
        }
    }

    private func logTail() -> String {
        guard let text = try? String(contentsOfFile: logPath, encoding: .utf8) else { return "(no log)" }
        return text.split(separator: "\n").suffix(3).joined(separator: " | ")
    }

    // Nobody can wait in a deinit: the signal is sent, the child reaped by swift-subprocess.
    deinit { process.withLockedValue { $0 }?.send(SIGTERM) }
}
