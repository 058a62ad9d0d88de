import Logging
import ServiceLifecycle
import SluiceCore

/// The sweeper loop: every `intervalMilliseconds` it acts on passed approval deadlines
/// (escalate, choose or fail), runs escalation tasks of built-in handlers, re-queues worker
/// tasks whose lease expired, and drops the listing entries of instances whose keys expired.
/// Any number of sweepers may run: each action is a compare-and-move script, so it happens
/// once. Stopping (graceful shutdown) cancels the pass in progress; an escalation it
/// interrupts is handed back, due now, for another sweeper.
public final class Sweeper: Service, Sendable {
    let tasks: TaskStore
    let approvals: ApprovalStore
    let handlers: BuiltinHandlers
    let intervalMilliseconds: Int
    let worker: String
    let logger: Logger

    public init(tasks: TaskStore, approvals: ApprovalStore, handlers: BuiltinHandlers = BuiltinHandlers(), intervalMilliseconds: Int, logger: Logger) {
        self.tasks = tasks
        self.approvals = approvals
        self.handlers = handlers
        self.intervalMilliseconds = intervalMilliseconds
        self.worker = "sweeper-" + InstanceID.generate()
        self.logger = logger
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    try await self.sweep()
                } catch is CancellationError {
                    break  // stopping: Redis calls end with the task
                } catch {
                    self.logger.warning("sweeper: redis unavailable, retrying", metadata: ["error": "\(error)"])
                }
                try? await Task.sleep(nanoseconds: UInt64(self.intervalMilliseconds) * 1_000_000)
            }
        }
    }

    /// One pass; returns when there is nothing more due now.
    public func sweep() async throws {
        var outcomes = try await approvals.sweepDeadlines(nowMilliseconds: Clock.nowMilliseconds())
        while !outcomes.isEmpty {
            for outcome in outcomes { SweeperMetrics.record(outcome) }
            logger.info("acted on passed approval deadlines", metadata: ["count": "\(outcomes.count)"])
            outcomes = try await approvals.sweepDeadlines(nowMilliseconds: Clock.nowMilliseconds())
        }
        try await runBuiltinEscalations()
        let requeued = try await tasks.requeueExpired(nowMilliseconds: Clock.nowMilliseconds())
        if requeued > 0 {
            SweeperMetrics.tasksExpired.increment(by: requeued)
            logger.info("re-queued tasks whose lease expired", metadata: ["count": "\(requeued)"])
        }
        let trimmed = try await InstanceStore(tasks.storage).trimExpired(nowMilliseconds: Clock.nowMilliseconds())
        if trimmed > 0 { logger.debug("dropped listing entries of expired instances", metadata: ["count": "\(trimmed)"]) }
    }

    /// Escalations whose handler is built in (e.g. `http_request` to a chat webhook) run here,
    /// leased like worker tasks so that each runs once, or again only if this sweeper dies.
    func runBuiltinEscalations() async throws {
        while !Task.isCancelled {
            let leased = try await tasks.leaseBuiltinEscalations(worker: worker, limit: 32, nowMilliseconds: Clock.nowMilliseconds())
            if leased.isEmpty { return }
            await withTaskGroup(of: Void.self) { group in
                for task in leased {
                    group.addTask {
                        let outcome = await self.handlers.run(task.id.handler, params: task.params)
                        if case .failure = outcome, Task.isCancelled {
                            // Interrupted because this sweeper is stopping: not an attempt.
                            await self.release(task)
                            return
                        }
                        let result: TaskStore.Result
                        switch outcome {
                        case .output(let output, _), .sleep(_, let output): result = .completed(output: output, contextPatch: [:])
                        case .failure(let message, let retryable): result = .failed(message: message, retryable: retryable)
                        }
                        do {
                            _ = try await self.tasks.finish(task.id, worker: self.worker, result, nowMilliseconds: Clock.nowMilliseconds())
                        } catch {
                            self.logger.warning("escalation result not recorded", metadata: ["task": "\(task.id.text)", "error": "\(error)"])
                        }
                    }
                }
            }
        }
    }

    func release(_ task: TaskStore.LeasedTask) async {
        do {
            // The stopping task is cancelled, and Redis calls honour cancellation: the hand-back
            // runs in a task of its own so that it still reaches Redis.
            let tasks = self.tasks, worker = self.worker
            if try await Task(operation: { try await tasks.release(task.id, worker: worker, nowMilliseconds: Clock.nowMilliseconds()) }).value {
                logger.info("sweeper stopping: escalation handed back", metadata: ["task": "\(task.id.text)"])
            }
        } catch {
            logger.warning("escalation not handed back (its lease will expire)", metadata: ["task": "\(task.id.text)", "error": "\(error)"])
        }
    }
}
