import Logging
import ServiceLifecycle
import SluiceCore

/// The sweeper loop: every `intervalMilliseconds`, re-queues worker tasks whose lease expired.
/// Any number of sweepers may run: each re-queue is a compare-and-move script, done once.
public final class Sweeper: Service, Sendable {
    let tasks: TaskStore
    let intervalMilliseconds: Int
    let logger: Logger

    public init(tasks: TaskStore, intervalMilliseconds: Int, logger: Logger) {
        self.tasks = tasks
        self.intervalMilliseconds = intervalMilliseconds
        self.logger = logger
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    let requeued = try await self.tasks.requeueExpired(nowMilliseconds: Clock.nowMilliseconds())
                    if requeued > 0 { self.logger.info("re-queued tasks whose lease expired", metadata: ["count": "\(requeued)"]) }
                } catch {
                    self.logger.warning("sweeper: redis unavailable, retrying", metadata: ["error": "\(error)"])
                }
                try? await Task.sleep(nanoseconds: UInt64(self.intervalMilliseconds) * 1_000_000)
            }
        }
    }
}
