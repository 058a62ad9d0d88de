#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A child process started with posix_spawn and reaped with waitpid. (Foundation's `Process`
/// hands the child the spawning thread's signal mask; runtime threads often block SIGTERM, so
/// the child would ignore it forever.)
public struct ChildProcess: Sendable {
    public let pid: pid_t

    public struct SpawnError: Error, CustomStringConvertible {
        public var description: String
    }

    /// Starts `executable` with `arguments`. stdin is /dev/null; stdout and stderr go to the
    /// given files (appended) or /dev/null. `environment` nil inherits ours.
    public static func spawn(
        _ executable: String, _ arguments: [String], environment: [String: String]? = nil,
        stdoutPath: String? = nil, stderrPath: String? = nil
    ) throws -> ChildProcess {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, stdoutPath ?? "/dev/null", O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_addopen(&actions, 2, stderrPath ?? "/dev/null", O_WRONLY | O_CREAT | O_APPEND, 0o644)

        // A clean signal mask and default handlers, whatever the spawning thread had.
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var emptyMask = sigset_t()
        sigemptyset(&emptyMask)
        var defaultSignals = sigset_t()
        sigfillset(&defaultSignals)
        sigdelset(&defaultSignals, SIGKILL)
        sigdelset(&defaultSignals, SIGSTOP)
        posix_spawnattr_setsigmask(&attributes, &emptyMask)
        posix_spawnattr_setsigdefault(&attributes, &defaultSignals)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var envp: [UnsafeMutablePointer<CChar>?]? = environment.map { env in env.map { strdup("\($0.key)=\($0.value)") } + [nil] }
        defer { envp?.forEach { free($0) } }
        var pid: pid_t = 0
        let status: Int32
        if var envp {
            status = posix_spawn(&pid, executable, &actions, &attributes, argv, &envp)
        } else {
            status = posix_spawn(&pid, executable, &actions, &attributes, argv, environ)
        }
        guard status == 0 else {
            throw SpawnError(description: "cannot start \(executable): \(String(cString: strerror(status)))")
        }
        return ChildProcess(pid: pid)
    }

    /// True while the child runs (reaps it once it has exited).
    public var isRunning: Bool { poll() == nil }

    /// The exit status once the child has exited (128 + signal number when killed), else nil.
    public func poll() -> Int32? {
        var status: Int32 = 0
        let result = waitpid(pid, &status, WNOHANG)
        if result == 0 { return nil }
        if result < 0 { return -1 }  // already reaped
        let signal = status & 0x7F
        return signal == 0 ? (status >> 8) & 0xFF : 128 + signal
    }

    /// Waits up to `timeoutMilliseconds` for the child to exit; its exit status, or nil.
    public func wait(timeoutMilliseconds: Int) -> Int32? {
        var waited = 0
        while true {
            if let status = poll() { return status }
            if waited >= timeoutMilliseconds { return nil }
            usleep(2_000)
            waited += 2
        }
    }

    /// The same wait for async callers: it sleeps between looks instead of blocking a thread
    /// of the cooperative pool (on a 2-core machine there are two, and servers need them).
    public func exitStatus(timeoutMilliseconds: Int) async -> Int32? {
        var waited = 0
        while true {
            if let status = poll() { return status }
            if waited >= timeoutMilliseconds { return nil }
            try? await Task.sleep(for: .milliseconds(5))
            waited += 5
        }
    }

    public func send(_ signal: Int32) { kill(pid, signal) }

    /// Sends `signal` and waits (bounded) for the child to exit, escalating to SIGKILL.
    public func terminate(signal: Int32, timeoutMilliseconds: Int = 10_000) {
        kill(pid, signal)
        if wait(timeoutMilliseconds: timeoutMilliseconds) == nil {
            kill(pid, SIGKILL)
            _ = wait(timeoutMilliseconds: 5_000)
        }
    }
}
