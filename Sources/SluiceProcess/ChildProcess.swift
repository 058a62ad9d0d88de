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
/// which a child would otherwise inherit), delivers signals through its pidfd (no PID reuse), and
/// reaps it.
///
/// swift-subprocess hands out the running process only inside a closure that lasts as long as
/// the process; this type keeps that closure open in a task of its own and passes signals into
/// it, so the child can outlive the call that started it.
public final class ChildProcess: Sendable {
    public let pid: pid_t
    private let exit: ExitStatus
    private let signals: AsyncStream<Int32>.Continuation

    public struct SpawnError: Error, CustomStringConvertible {
        public var description: String
    }

    private init(pid: pid_t, exit: ExitStatus, signals: AsyncStream<Int32>.Continuation) {
        self.pid = pid
        self.exit = exit
        self.signals = signals
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
        let (signals, signalInput) = AsyncStream.makeStream(of: Int32.self)
        let started = NIOLockedValueBox<CheckedContinuation<pid_t, any Error>?>(nil)
        let pid: pid_t = try await withCheckedThrowingContinuation { continuation in
            started.withLockedValue { $0 = continuation }
            Task {
                do {
                    let result = try await run(configuration, input: .none, output: .fileDescriptor(outputFile, closeAfterSpawningProcess: true), error: .sequence) { execution in
                        started.withLockedValue { $0.take() }?.resume(returning: execution.processIdentifier.value)
                        await withTaskGroup(of: Void.self) { group in
                            group.addTask {
                                for await signal in signals { try? execution.send(signal: Signal(rawValue: signal)) }
                            }
                            // The child's stderr goes to its file until the child closes it:
                            // then it has exited (the end of this closure is how we learn it).
                            do {
                                for try await buffer in execution.standardError {
                                    _ = buffer.withUnsafeBytes { bytes in try? errorFile.writeAll(bytes) }
                                }
                            } catch {}
                            group.cancelAll()
                        }
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
        return ChildProcess(pid: pid, exit: exit, signals: signalInput)
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

    /// Sends `signal` (delivered at once through the process's pidfd; nothing once it has exited).
    public func send(_ signal: Int32) {
        signals.yield(signal)
    }

    /// Sends `signal` and waits (bounded) for the child to exit, escalating to SIGKILL.
    @discardableResult
    public func terminate(signal: Int32, timeoutMilliseconds: Int = 10_000) async -> Int32? {
        send(signal)
        if let status = await exitStatus(timeoutMilliseconds: timeoutMilliseconds) { return status }
        send(SIGKILL)
        return await exitStatus(timeoutMilliseconds: 5_000)
    }

    /// SIGKILL by PID, for an exit handler: the process is ending, no task will run again to deliver
    /// a signal through swift-subprocess. Only while the child has not been reaped (its PID is ours).
    public func killImmediately() {
        if isRunning { kill(pid, SIGKILL) }
    }
}
