#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A child process started with posix_spawn and reaped with waitpid. (Foundation's `Process`
/// reaps through a run loop that async code does not run, so its `isRunning` can go stale.)
struct ChildProcess: Sendable {
    let pid: pid_t

    struct SpawnError: Error, CustomStringConvertible {
        var description: String
    }

    /// Starts `executable` with `arguments`, stdin/stdout/stderr on /dev/null.
    static func spawn(_ executable: String, _ arguments: [String]) throws -> ChildProcess {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        for fd: Int32 in [0, 1, 2] {
            posix_spawn_file_actions_addopen(&actions, fd, "/dev/null", fd == 0 ? O_RDONLY : O_WRONLY, 0)
        }
        // The spawning thread may block signals (runtime threads often do) and the child would
        // inherit that mask, ignoring SIGTERM forever. Give it a clean mask and default handlers.
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
        var pid: pid_t = 0
        let status = posix_spawn(&pid, executable, &actions, &attributes, argv, environ)
        guard status == 0 else {
            throw SpawnError(description: "cannot start \(executable): \(String(cString: strerror(status)))")
        }
        return ChildProcess(pid: pid)
    }

    /// Reaps the child if it has exited; true while it runs.
    var isRunning: Bool {
        var status: Int32 = 0
        let result = waitpid(pid, &status, WNOHANG)
        return result == 0
    }

    /// Sends `signal` and waits (bounded) for the child to exit, escalating to SIGKILL.
    func terminate(signal: Int32, timeoutMilliseconds: Int = 10_000) {
        kill(pid, signal)
        var waited = 0
        while isRunning {
            if waited >= timeoutMilliseconds { kill(pid, SIGKILL) }
            usleep(2_000)
            waited += 2
        }
    }
}
