#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import NIOConcurrencyHelpers
import Subprocess
import SystemPackage

/// A long-lived child process (a redis-server, a `sluice serve` under test) run through
/// swift-subprocess: started, signalled and awaited without blocking a thread. swift-subprocess
/// spawns it with a clean signal mask and default handlers (runtime threads often block SIGTERM,
/// which a child would otherwise inherit), watches it and reaps it.
///
/// swift-subprocess hands out the running process only inside a closure that lasts as long as
/// the process; this type keeps that closure open in a task of its own, so the child can outlive
/// the call that started it. The hand-written part left is `send`: a signal by PID (see there).
public final class ChildProcess: Sendable {
    public let pid: pid_t
    private let exit: ExitStatus

    public struct SpawnError: Error, CustomStringConvertible {
        public var description: String
    }

    private init(pid: pid_t, exit: ExitStatus) {
        self.pid = pid
        self.exit = exit
    }

    /// Starts `executable` with `arguments`. stdin is /dev/null; stdout and stderr go to the given
    /// files (appended) or /dev/null. `environment` nil inherits ours.
    public static func spawn(
        _ executable: String, _ arguments: [String], environment: [String: String]? = nil,
        stdoutPath: String? = nil, stderrPath: String? = nil
    ) async throws -> ChildProcess {
        let outputFile = try openForAppending(stdoutPath)
        let errorFile: FileDescriptor
        do { errorFile = try openForAppending(stderrPath) } catch {
            try? outputFile.close()
            throw error
        }
        var childEnvironment = Environment.inherit
        if let environment {
            var custom: [Environment.Key: String] = [:]
            for (name, value) in environment { custom[Environment.Key(stringLiteral: name)] = value }
            childEnvironment = Environment.custom(custom)
        }
        let configuration = Configuration(executable: .path(FilePath(executable)), arguments: Arguments(arguments), environment: childEnvironment)
        let exit = ExitStatus()
        let started = NIOLockedValueBox<CheckedContinuation<pid_t, any Error>?>(nil)
        let pid: pid_t = try await withCheckedThrowingContinuation { continuation in
            started.withLockedValue { $0 = continuation }
            Task {
                do {
                    let result = try await run(configuration, input: .none, output: .fileDescriptor(outputFile, closeAfterSpawningProcess: true), error: .sequence) { execution in
                        started.withLockedValue { $0.take() }?.resume(returning: execution.processIdentifier.value)
                        // The child's stderr goes to its file until the child closes it: then it
                        // has exited (the end of this closure is how we learn it).
                        do {
                            for try await buffer in execution.standardError {
                                _ = buffer.withUnsafeBytes { bytes in try? errorFile.writeAll(bytes) }
                            }
                        } catch {}
                    }
                    try? errorFile.close()
                    exit.finish(Self.status(result.terminationStatus))
                } catch {
                    try? errorFile.close()
                    started.withLockedValue { $0.take() }?.resume(throwing: SpawnError(description: "cannot start \(executable): \(error)"))
                    exit.finish(-1)
                }
            }
        }
        return ChildProcess(pid: pid, exit: exit)
    }

    private static func openForAppending(_ path: String?) throws -> FileDescriptor {
        try FileDescriptor.open(
            FilePath(path ?? "/dev/null"), .writeOnly, options: [.create, .append],
            permissions: [.ownerReadWrite, .groupRead, .otherRead])
    }

    private static func status(_ termination: TerminationStatus) -> Int32 {
        switch termination {
        case .exited(let code): return code
        case .signaled(let signal): return 128 + signal
        }
    }

    /// True while the child runs.
    public var isRunning: Bool { exit.current == nil }

    /// The exit status once the child has exited (128 + signal number when killed), else nil.
    public var exitStatus: Int32? { exit.current }

    /// Waits up to `timeoutMilliseconds` for the child to exit; its exit status, or nil.
    public func exitStatus(timeoutMilliseconds: Int) async -> Int32? {
        await exit.wait(upTo: .milliseconds(timeoutMilliseconds))
    }

    /// Sends `signal` at once, by PID, while the child has not been reaped (its PID cannot be
    /// another process's until then); nothing once it has exited. Not through swift-subprocess's
    /// `Execution.send`: that is only reachable from a task, and on a loaded 2-core machine a
    /// SIGKILL waited seconds for a free thread of the cooperative pool (FailureTests).
    public func send(_ signal: Int32) {
        if isRunning { kill(pid, signal) }
    }

    /// Sends `signal` and waits (bounded) for the child to exit, escalating to SIGKILL.
    @discardableResult
    public func terminate(signal: Int32, timeoutMilliseconds: Int = 10_000) async -> Int32? {
        send(signal)
        if let status = await exitStatus(timeoutMilliseconds: timeoutMilliseconds) { return status }
        send(SIGKILL)
        return await exitStatus(timeoutMilliseconds: 5_000)
    }

    /// SIGKILL without waiting, for an exit handler.
    public func killImmediately() {
        send(SIGKILL)
    }
}
