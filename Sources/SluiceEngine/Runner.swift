import Logging
import NIOConcurrencyHelpers
import ServiceLifecycle
import SluiceCore
import SluiceRedis

/// The runner loop: claims due instances, runs their blocks, commits each result with one
/// fenced script.
///
/// Work arrives two ways. Scripts that make an instance due now publish a ready hint (`<id>|r`
/// on the partition's wake channel); the process's subscription hands it to `hint(_:)` and the
/// runner claims that instance at once. Everything else (timers of sleeps and retries, expired
/// runner leases, hints missed during a reconnect) is found by scanning the partitions' ready
/// queues: at the earliest due time, after a full batch, or every `idleMilliseconds` — an idle
/// runner costs one pipelined round trip per `idleMilliseconds`.
///
/// Stopping (graceful shutdown or cancellation) stops claiming and interrupts the steps in
/// flight; each instance this runner holds is handed back to the ready queue, due now
/// (`EngineStore.release`), so another runner takes it at once instead of after the lease.
public final class Runner: Service, Sendable {
    let engine: EngineStore
    let sequences: SequenceStore
    let tasks: TaskStore
    let approvals: ApprovalStore
    let handlers: BuiltinHandlers
    let leaseMilliseconds: Int
    let doorbell: Doorbell
    let logger: Logger
    let batch: Int
    let idleMilliseconds: Int64
    /// Timers (sleeps, retry backoffs) fire at most this late.
    static let minimumScanMilliseconds: Int64 = 100
    /// Instances processed at once by this runner (a slow step does not hold up the others).
    let concurrency: Int
    private let hints = NIOLockedValueBox<[String]>([])
    private let inFlight = NIOLockedValueBox(0)
    private let slotFreed = Doorbell()
    private let stopping = NIOLockedValueBox(false)
    /// Instances handed back while stopping (logged once stopped).
    private let released = NIOLockedValueBox(0)

    public init(
        engine: EngineStore, sequences: SequenceStore, tasks: TaskStore, approvals: ApprovalStore, handlers: BuiltinHandlers = BuiltinHandlers(),
        leaseMilliseconds: Int, doorbell: Doorbell, logger: Logger, batch: Int = 64, idleMilliseconds: Int64 = 1000,
        concurrency: Int = 256
    ) {
        self.engine = engine
        self.sequences = sequences
        self.tasks = tasks
        self.approvals = approvals
        self.handlers = handlers
        self.leaseMilliseconds = leaseMilliseconds
        self.doorbell = doorbell
        self.logger = logger
        self.batch = batch
        self.idleMilliseconds = idleMilliseconds
        self.concurrency = concurrency
    }

    /// An instance that is due now (from a ready hint). Bounded: past 10,000 waiting hints the
    /// rest are left to the next scan.
    public func hint(_ id: String) {
        let added = hints.withLockedValue { hints -> Bool in
            guard hints.count < 10_000 else { return false }
            hints.append(id)
            return true
        }
        if added { doorbell.ring() }
    }

    public func run() async throws {
        await withTaskCancellationOrGracefulShutdownHandler {
            await self.loop()
        } onCancelOrGracefulShutdown: {
            self.stopping.withLockedValue { $0 = true }
            self.doorbell.ring()
            self.slotFreed.ring()
        }
        logger.info("runner stopped", metadata: ["released": "\(released.withLockedValue { $0 })"])
    }

    private var isStopping: Bool { stopping.withLockedValue { $0 } || Task.isCancelled }

    func loop() async {
        await withDiscardingTaskGroup { group in
            // Stopping: the steps in flight are interrupted and hand their instances back.
            defer { group.cancelAll() }
            var nextScan = ContinuousClock.now
            while !isStopping {
                var ids = hints.withLockedValue { hints in
                    defer { hints.removeAll(keepingCapacity: true) }
                    return hints
                }
                if ContinuousClock.now >= nextScan {
                    do {
                        let scan = try await engine.due(nowMilliseconds: Clock.nowMilliseconds(), limit: batch)
                        ids += scan.ids
                        // A full batch: more is due, scan again at once. Else at the earliest due time,
                        // but not sooner than `minimumScanMilliseconds`: under load, instances made
                        // due a moment ago (and claimed from their hints) always sit at the head of
                        // the ready queue, and rescanning for them would cost P commands each time.
                        let wait = scan.ids.count >= batch ? 0
                            : scan.nextDue.map { min(max($0 - Clock.nowMilliseconds(), Self.minimumScanMilliseconds), idleMilliseconds) }
                                ?? idleMilliseconds
                        nextScan = ContinuousClock.now + .milliseconds(wait)
                    } catch {
                        logger.warning("runner: redis unavailable, retrying", metadata: ["error": "\(error)"])
                        nextScan = ContinuousClock.now + .milliseconds(500)
                    }
                }
                var seen = Set<String>()
                for id in ids where seen.insert(id).inserted {
                    guard await acquireSlot() else { break }
                    group.addTask {
                        await self.process(id)
                        self.releaseSlot()
                    }
                }
                if ids.isEmpty {
                    let left = nextScan - ContinuousClock.now
                    let milliseconds = left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000
                    if milliseconds > 0 { await doorbell.wait(upTo: milliseconds) }
                }
            }
        }
    }

    /// False when the runner is stopping (no more claims).
    private func acquireSlot() async -> Bool {
        while !isStopping {
            let granted = inFlight.withLockedValue { count -> Bool in
                guard count < concurrency else { return false }
                count += 1
                return true
            }
            if granted { return true }
            await slotFreed.wait(upTo: 100)
        }
        return false
    }

    private func releaseSlot() {
        inFlight.withLockedValue { $0 -= 1 }
        slotFreed.ring()
    }

    /// Claims one instance and runs its blocks until it completes, fails, sleeps, or loses the lease.
    func process(_ id: String) async {
        do {
            guard !Task.isCancelled,
                  let claim = try await engine.claim(id, nowMilliseconds: Clock.nowMilliseconds(), leaseMilliseconds: leaseMilliseconds) else { return }
            try await runBlocks(claim)
        } catch let error as SluiceError {
            logger.debug("runner: commit refused", metadata: ["instance": "\(id)", "reason": "\(error)"])
        } catch {
            logger.warning("runner: instance left for a later attempt", metadata: ["instance": "\(id)", "error": "\(error)"])
        }
    }

    /// Results of blocks without side effects that ran but are not stored yet: skipped blocks
    /// (`when`) and the built-in steps `noop` and `set_context`. They go with the next commit that
    /// moves the instance on (continue, complete, schedule), or alone before anything else, so a
    /// run of them costs one script call instead of one each. A runner that dies first loses only
    /// them, and the next runner runs them again: they have no effects outside the instance.
    struct Pending {
        var outputs: [(block: String, value: JSONValue)] = []
        var patch: [String: JSONValue] = [:]
        var advanced = false
        var bytes = 0

        var isEmpty: Bool { !advanced }

        /// Stored before more is added: bounds the script call (outputs are each within the
        /// context limit) and how long results wait.
        func isFull(limit: Int) -> Bool { outputs.count >= Runner.pendingMaximum || bytes >= limit }
    }

    /// Built-in steps whose only effects are their output and context patch.
    static let sideEffectFree: Set<String> = ["noop", "set_context"]
    static let pendingMaximum = 32

    func runBlocks(_ claim: EngineStore.Claim) async throws {
        var instance = claim.instance
        var outputs = claim.outputs
        guard let stored = try await sequences.get(instance.sequenceId, version: instance.sequenceVersion) else {
            try await commit(instance, claim.epoch, .init(mode: .fail, nextIndex: instance.blockIndex, nextBlock: nil,
                error: .object(["error": .string("sequence \(instance.sequenceId) v\(instance.sequenceVersion) is gone")])))
            return
        }
        let blocks = stored.definition.blocks
        var pending = Pending()
        let pendingLimit = engine.storage.limits.contextBytes

        /// Commits what is pending alone (continue at the current block): before a commit that
        /// does not move the instance on, or a gate or task that needs its block to be current.
        /// False when the instance is no longer running for this runner.
        func flush() async throws -> Bool {
            guard !pending.isEmpty else { return true }
            let index = instance.blockIndex
            let state = try await commit(instance, claim.epoch, .init(
                mode: index < blocks.count ? .continue : .complete, outputs: pending.outputs, contextPatch: pending.patch,
                nextIndex: index, nextBlock: index < blocks.count ? blocks[index].id : nil))
            pending = Pending()
            return state == .running
        }

        /// A commit that moves the instance on, with what is pending before `output`.
        func advance(_ mode: EngineStore.CommitMode, output: (block: String, value: JSONValue)?, patch: [String: JSONValue],
                     nextIndex: Int, nextBlock: String?, due: Int64 = 0) async throws -> InstanceState {
            var merged = pending.patch
            for (key, value) in patch { merged[key] = value }
            let state = try await commit(instance, claim.epoch, .init(
                mode: mode, outputs: pending.outputs + (output.map { [$0] } ?? []), contextPatch: merged,
                nextIndex: nextIndex, nextBlock: nextBlock, due: due))
            pending = Pending()
            return state
        }

        func fail(_ index: Int, _ block: String, _ error: JSONValue) async throws {
            guard try await flush() else { return }
            _ = try await commit(instance, claim.epoch, .init(mode: .fail, nextIndex: index, nextBlock: block, error: error))
        }

        while true {
            // Cancelled: this runner is stopping. The next block is for another runner (what is
            // pending is run again there).
            if Task.isCancelled { return try await release(instance, claim.epoch) }
            let index = instance.blockIndex
            guard index < blocks.count else {
                _ = try await advance(.complete, output: nil, patch: [:], nextIndex: index, nextBlock: nil)
                return
            }
            if pending.isFull(limit: pendingLimit) { guard try await flush() else { return } }
            let block = blocks[index]
            let nextIndex = index + 1
            let nextBlock = nextIndex < blocks.count ? blocks[nextIndex].id : nil
            let scope = JSONValue.object([
                "context": instance.context, "metadata": instance.metadata, "outputs": .object(outputs),
                "instance": .object(["id": .string(instance.id)]),
            ])
            if let when = block.when, !when.holds(in: scope) {
                instance.blockIndex = nextIndex
                pending.advanced = true
                continue
            }
            switch block.kind {
            case .humanInput(let gate):
                // The instance waits for a person (or applies a decision that came early); a
                // decision puts it back in the ready queue.
                guard try await flush() else { return }
                do {
                    _ = try await approvals.enter(instance, epoch: claim.epoch, blockId: block.id, gate: gate, scope: scope, nowMilliseconds: Clock.nowMilliseconds())
                } catch let error as SluiceError {
                    // Rendering again would be as large: the instance fails, it does not loop.
                    guard case .tooLarge(let message) = error else { throw error }
                    _ = try await commit(instance, claim.epoch, .init(mode: .fail, nextIndex: index, nextBlock: block.id,
                        error: .object(["error": .string("block \(block.id): \(message)"), "block_id": .string(block.id)])))
                }
                return
            case .step(let step):
                // Runners that died running this block (expired leases) used up its attempts.
                if instance.attempt >= step.retry.maxAttempts {
                    let error = instance.lastError ?? .object([
                        "error": .string("block \(block.id) used its \(step.retry.maxAttempts) attempts"), "block_id": .string(block.id),
                        "attempts": .number(Double(instance.attempt)),
                    ])
                    return try await fail(index, block.id, error)
                }
                let params: JSONValue
                switch Result(catching: { () throws(SluiceError) in try Template.render(step.params, scope: scope, limit: engine.storage.limits.contextBytes) }) {
                case .success(let rendered):
                    params = rendered
                case .failure(let error):
                    // Rendering again would be as large: the instance fails, it does not loop.
                    var message = "\(error)"
                    if case .tooLarge(let text) = error { message = text }
                    return try await fail(index, block.id, .object(["error": .string("block \(block.id): params: \(message)"), "block_id": .string(block.id)]))
                }
                guard handlers.isBuiltin(step.handler) else {
                    // External handler: a task for the workers; the runner is done with it.
                    guard try await flush() else { return }
                    try await tasks.dispatch(
                        instance, epoch: claim.epoch, block: block.id, step: step, params: params,
                        nextIndex: nextIndex, nextBlock: nextBlock, nowMilliseconds: Clock.nowMilliseconds())
                    return
                }
                let deferrable = Self.sideEffectFree.contains(step.handler)
                // Those return at once: no timeout or lease renewal to run beside them.
                let outcome = deferrable ? await handlers.run(step.handler, params: params)
                    : await runStep(step, params: params, holding: instance.id, epoch: claim.epoch)
                if case .failure = outcome, Task.isCancelled {
                    // Interrupted because this runner is stopping: not an attempt of the step.
                    return try await release(instance, claim.epoch)
                }
                let now = Clock.nowMilliseconds()
                switch outcome {
                case .output(let value, let patch):
                    let size: Int
                    switch measured(value, patch: patch, context: instance.context) {
                    case .success(let bytes):
                        size = bytes
                    case .failure(let error):
                        // Not retried: the same step would produce as much again.
                        var problem = "\(error)"
                        if case .tooLarge(let text) = error { problem = text }
                        return try await fail(index, block.id, .object(["error": .string("block \(block.id): \(problem)"), "block_id": .string(block.id)]))
                    }
                    if deferrable {
                        pending.outputs.append((block.id, value))
                        pending.bytes += size
                        for (key, value) in patch { pending.patch[key] = value }
                        pending.advanced = true
                    } else {
                        let state = try await advance(nextBlock == nil ? .complete : .continue, output: (block.id, value), patch: patch,
                                                      nextIndex: nextIndex, nextBlock: nextBlock)
                        guard state == .running else { return }
                    }
                    outputs[block.id] = value
                    if var context = instance.context.objectValue {
                        for (key, value) in patch { context[key] = value }
                        instance.context = .object(context)
                    }
                    instance.blockIndex = nextIndex
                    instance.attempt = 0
                case .sleep(let milliseconds, let value):
                    _ = try await advance(.schedule, output: (block.id, value), patch: [:], nextIndex: nextIndex, nextBlock: nextBlock, due: now + Int64(milliseconds))
                    return
                case .failure(let message, let retryable):
                    let attempts = instance.attempt + 1
                    let error = JSONValue.object(["error": .string(message), "block_id": .string(block.id), "attempts": .number(Double(attempts))])
                    guard retryable && attempts < step.retry.maxAttempts else { return try await fail(index, block.id, error) }
                    guard try await flush() else { return }
                    _ = try await commit(instance, claim.epoch, .init(
                        mode: .retry, nextIndex: index, nextBlock: block.id,
                        due: now + Int64(step.retry.delay(afterAttempt: attempts)), error: error))
                    return
                }
            }
        }
    }

    /// Runs a built-in step, renewing the runner's lease on the instance meanwhile (every third
    /// of the lease): an expired lease means the runner died, and counts as a failed attempt.
    func runStep(_ step: StepBlock, params: JSONValue, holding id: String, epoch: Int) async -> StepOutcome {
        await withTaskGroup(of: StepOutcome?.self) { group in
            group.addTask { await self.handlers.run(step.handler, params: params) }
            if let timeout = step.timeoutMilliseconds {
                group.addTask {
                    try? await Task.sleep(nanoseconds: UInt64(timeout) * 1_000_000)
                    return Task.isCancelled ? nil : .failure("step timed out after \(timeout) ms", retryable: true)
                }
            }
            group.addTask {
                let every = UInt64(max(self.leaseMilliseconds / 3, 1)) * 1_000_000
                while !Task.isCancelled {
                    try? await Task.sleep(nanoseconds: every)
                    if Task.isCancelled { break }
                    let held = try? await self.engine.renewLease(
                        id, epoch: epoch, nowMilliseconds: Clock.nowMilliseconds(), leaseMilliseconds: self.leaseMilliseconds)
                    if held == false { break }  // fenced: the commit will be refused; nothing to keep
                }
                return nil
            }
            // The first result that is an outcome (the renewal task ends with nil).
            var outcome: StepOutcome?
            while let next = await group.next() {
                if let next {
                    outcome = next
                    break
                }
            }
            group.cancelAll()
            return outcome ?? .failure("step ended without a result", retryable: true)
        }
    }

    /// The output's JSON size when it and the context patched by the step can be stored; why
    /// not (over the context limit, checked on the merged context) otherwise.
    func measured(_ output: JSONValue, patch: [String: JSONValue], context: JSONValue) -> Result<Int, SluiceError> {
        let limits = engine.storage.limits
        return Result(catching: { () throws(SluiceError) -> Int in
            let size = try limits.checkContextSized(output, "output")
            if !patch.isEmpty {
                var merged = context.objectValue ?? [:]
                for (key, value) in patch { merged[key] = value }
                try limits.checkContextSized(.object(merged), "the context")
            }
            return size
        })
    }

    /// Hands the instance back to the ready queue, due now (a stopping runner).
    func release(_ instance: Instance, _ epoch: Int) async throws {
        // Called from a cancelled task, and Redis calls honour cancellation: the hand-back runs
        // in a task of its own so that it still reaches Redis.
        let engine = self.engine
        if try await Task(operation: { try await engine.release(instance.id, epoch: epoch, nowMilliseconds: Clock.nowMilliseconds()) }).value {
            released.withLockedValue { $0 += 1 }
            logger.debug("runner stopping: instance handed back", metadata: ["instance": "\(instance.id)"])
        }
    }

    @discardableResult
    func commit(_ instance: Instance, _ epoch: Int, _ commit: EngineStore.Commit) async throws -> InstanceState {
        try await engine.commit(instance.id, epoch: epoch, commit, nowMilliseconds: Clock.nowMilliseconds(), leaseMilliseconds: leaseMilliseconds)
    }
}
