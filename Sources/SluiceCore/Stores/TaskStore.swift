import SluiceRedis

/// External step tasks for workers (api.md → Workers). A task lives on its instance's hash
/// (an instance has at most one open task); its id `<instance>~<epoch>~<handler>[~<tenant>]`
/// says where it is, so every task call is one script on one partition. A task of a tenant's
/// instance waits in two queues: its handler's (polled by workers bound to no tenant) and its
/// tenant's (polled by that tenant's workers only), and leaves both when leased. Escalation tasks of approval
/// gates (`<instance>~x<epoch>~<handler>`) use the same protocol; those of built-in handlers
/// are taken by sweepers.
public struct TaskStore: StorageBacked {
    public let storage: Storage

    public init(_ storage: Storage) { self.storage = storage }

    var leaseMilliseconds: Int { storage.taskLeaseMilliseconds }

    /// A task id split into its parts.
    public struct TaskID: Sendable, Equatable {
        public var instanceId: String
        public var epoch: Int
        public var handler: String
        /// The instance's tenant (step tasks only): names the tenant's queue.
        public var tenant: String?
        /// An approval gate's escalation (written by lua/timeout_gate.lua), not a step.
        public var escalation: Bool

        public init(instanceId: String, epoch: Int, handler: String, tenant: String? = nil, escalation: Bool = false) {
            self.instanceId = instanceId
            self.epoch = epoch
            self.handler = handler
            self.tenant = tenant
            self.escalation = escalation
        }

        public init?(_ text: String) {
            let parts = text.split(separator: "~", omittingEmptySubsequences: false)
            guard parts.count == 3 || parts.count == 4, parts.allSatisfy({ $0.utf8.count <= 128 }),
                  Identifier.isValid(String(parts[0])), Identifier.isValid(String(parts[2])) else { return nil }
            let escalation = parts[1].hasPrefix("x")
            guard let epoch = Int(escalation ? parts[1].dropFirst() : parts[1]), epoch >= 0 else { return nil }
            var tenant: String?
            if parts.count == 4 {
                guard !escalation, Identifier.isValid(String(parts[3])) else { return nil }
                tenant = String(parts[3])
            }
            self.init(instanceId: String(parts[0]), epoch: epoch, handler: String(parts[2]), tenant: tenant, escalation: escalation)
        }

        public var text: String { "\(instanceId)~\(escalation ? "x" : "")\(epoch)~\(handler)" + (tenant.map { "~" + $0 } ?? "") }
    }

    /// A task handed to a worker.
    public struct LeasedTask: Sendable {
        public var id: TaskID
        public var blockId: String
        public var params: JSONValue
        public var context: JSONValue
        public var attempt: Int
        public var leaseExpiresAt: Int64
        public var latestCheckpoint: JSONValue?
    }

    /// Runner side: hands the current block to the workers.
    public func dispatch(_ instance: Instance, epoch: Int, block: String, step: StepBlock, params: JSONValue,
                         nextIndex: Int, nextBlock: String?, nowMilliseconds: Int64) async throws {
        let id = TaskID(instanceId: instance.id, epoch: epoch, handler: step.handler, tenant: instance.tenantId)
        let p = keys.partition(of: instance.id)
        let queues = self.queues(id)
        // Whoever ends the task (cancel, delete, restore, a finish) must declare its queues.
        storage.learnDeclaredKeys([queues.handler, queues.tenant], instance: instance.id)
        let reply = try await redis.run(
            LuaScripts.dispatchTask,
            keys: [keys.instance(instance.id), keys.leases(p), queues.handler, keys.wakeChannel(p), queues.tenant],
            arguments: [
                .init(instance.id), .init(epoch), .init(String(nowMilliseconds)), .init(id.text), .init(block), .init(step.handler),
                .init(bytes: params.encoded()), .init(nextIndex), .init(nextBlock ?? ""), .init(step.retry.maxAttempts),
                .init(step.retry.backoffMilliseconds), .init(JSONValue.format(step.retry.multiplier)),
            ])
        _ = try ScriptReply.checked(reply)
    }

    /// The queue a task waits in: its handler's, or the sweepers' for escalations of built-ins.
    func queue(_ task: TaskID) -> String { queues(task).handler }

    /// The task's two queues: its handler's (or the sweepers'), and its tenant's (the same key
    /// for a task without a tenant, so scripts need no special case).
    func queues(_ task: TaskID) -> (handler: String, tenant: String) {
        let p = keys.partition(of: task.instanceId)
        if task.escalation && Builtins.handlers.contains(task.handler) {
            let queue = keys.builtinEscalations(p)
            return (queue, queue)
        }
        let queue = keys.tasks(p, handler: task.handler)
        return (queue, task.tenant.map { keys.tasks(p, handler: task.handler, tenant: $0) } ?? queue)
    }

    /// Takes up to `limit` ready tasks of `handler` from all partitions (two round trips). A
    /// worker bound to a tenant polls only its tenant's queues and is never handed another's.
    public func lease(handler: String, worker: String, limit: Int, for caller: Caller = .anonymous, nowMilliseconds: Int64) async throws -> [LeasedTask] {
        let queues = keys.allPartitions.map { p in caller.tenant.map { keys.tasks(p, handler: handler, tenant: $0) } ?? keys.tasks(p, handler: handler) }
        return try await lease(queues: queues, worker: worker, limit: limit, scope: caller.scope, nowMilliseconds: nowMilliseconds)
    }

    /// Sweeper side: takes escalation tasks of built-in handlers.
    public func leaseBuiltinEscalations(worker: String, limit: Int, nowMilliseconds: Int64) async throws -> [LeasedTask] {
        try await lease(queues: keys.allPartitions.map(keys.builtinEscalations), worker: worker, limit: limit, scope: "", nowMilliseconds: nowMilliseconds)
    }

    func lease(queues: [String], worker: String, limit: Int, scope: String, nowMilliseconds: Int64) async throws -> [LeasedTask] {
        let now = String(nowMilliseconds)
        let candidates = try await redis.pipeline(queues.map { queue in
            RedisCommand("ZRANGEBYSCORE", [.init(queue), "-inf", .init(now), "LIMIT", "0", .init(limit)])
        }).flatMap { try $0.throwingServerError().array?.compactMap(\.string) ?? [] }.compactMap(TaskID.init)
        guard !candidates.isEmpty else { return [] }
        // Lease no more than asked: a leased task that is not returned would sit until its lease expires.
        let chosen = Array(candidates.prefix(limit))
        let replies = try await redis.runAll(LuaScripts.leaseTask, chosen.map { task in
            let p = keys.partition(of: task.instanceId)
            let id = task.instanceId
            let both = self.queues(task)
            // Polled from one of the two queues, it leaves both.
            let (polled, other) = scope.isEmpty ? (both.handler, both.tenant) : (both.tenant, both.handler)
            return (keys: [keys.instance(id), keys.context(id), polled, keys.taskLeases(p),
                           keys.checkpoints(id), keys.checkpointData(id), other],
                    arguments: [RedisArgument(task.text), RedisArgument(worker), RedisArgument(now), RedisArgument(leaseMilliseconds),
                                RedisArgument(scope)])
        })
        var leased: [LeasedTask] = []
        for (task, reply) in zip(chosen, replies) {
            guard case .array(let parts) = try reply.throwingServerError(), parts.count == 4, let fields = parts[0].fields,
                  let expires = parts[3].int else { continue }
            let context = JSONValue.object((parts[1].fields ?? [:]).compactMapValues { try? JSONValue.parse(Array($0.utf8)) })
            let prefix = task.escalation ? "esc_" : "task_"
            leased.append(LeasedTask(
                id: task, blockId: fields[prefix + "block"] ?? "",
                params: fields[prefix + "params"].flatMap { try? JSONValue.parse(Array($0.utf8)) } ?? .object([:]),
                context: context, attempt: fields[prefix + "attempt"].flatMap(Int.init) ?? 1, leaseExpiresAt: Int64(expires),
                latestCheckpoint: parts[2].string.flatMap(Checkpoint.init(record:))?.json))
        }
        return leased
    }

    public func heartbeat(_ task: TaskID, worker: String, for caller: Caller = .anonymous, nowMilliseconds: Int64) async throws -> Int64 {
        let p = keys.partition(of: task.instanceId)
        let reply = try await redis.run(
            LuaScripts.heartbeatTask, keys: [keys.instance(task.instanceId), keys.taskLeases(p)],
            arguments: [.init(task.text), .init(worker), .init(String(nowMilliseconds)), .init(leaseMilliseconds), .init(caller.scope)])
        return Int64(try Self.check(reply).int ?? 0)
    }

    /// A stopping sweeper hands back a task it leased, queued again due now (`release_task.lua`);
    /// false when it no longer held it (then nothing changes).
    @discardableResult
    public func release(_ task: TaskID, worker: String, nowMilliseconds: Int64) async throws -> Bool {
        let p = keys.partition(of: task.instanceId)
        let queues = self.queues(task)
        let reply = try await redis.run(
            LuaScripts.releaseTask,
            keys: [keys.instance(task.instanceId), queues.handler, keys.taskLeases(p), queues.tenant, keys.wakeChannel(p)],
            arguments: [.init(task.text), .init(worker), .init(String(nowMilliseconds)), .init(task.handler)])
        return try reply.throwingServerError().int == 1
    }

    public enum Result: Sendable {
        case completed(output: JSONValue, contextPatch: [String: JSONValue])
        case failed(message: String, retryable: Bool)
    }

    /// Completion or failure from the worker that holds the lease; `SluiceError.conflict` otherwise.
    public func finish(_ task: TaskID, worker: String, _ result: Result, by caller: Caller = .anonymous, nowMilliseconds: Int64) async throws -> InstanceState {
        let p = keys.partition(of: task.instanceId)
        let id = task.instanceId
        var arguments: [RedisArgument] = [.init(task.text), .init(worker), .init(String(nowMilliseconds)), .init(streamMaxLength), .init(retentionMilliseconds)]
        let who: [RedisArgument] = [.init(caller.scope), .init(caller.name)]
        switch result {
        case .completed(let output, let patch):
            try storage.limits.checkContextSized(output, "output")
            try storage.limits.checkContextSized(.object(patch), "context")
            let pairs = RedisArgument.fieldPairs(patch)
            arguments += ["complete", .init(bytes: output.encoded()), .init(Clock.rfc3339(milliseconds: nowMilliseconds))] + who + [.init(pairs.count / 2)] + pairs
        case .failed(let message, let retryable):
            arguments += ["fail", .init(message), retryable ? "1" : "0"] + who + ["0"]
        }
        let queues = self.queues(task)
        let reply = try await storage.runDeclaring(
            LuaScripts.finishTask, instance: id,
            keys: [keys.instance(id), keys.context(id), keys.outputs(id), keys.events(id), keys.ready(p), queues.handler,
                   keys.taskLeases(p), keys.wakeChannel(p), queues.tenant, keys.expiries(p), keys.gate(id), keys.inbox(id), keys.checkpoints(id), keys.checkpointData(id)],
            arguments: arguments)
        guard let state = try Self.check(reply).string.flatMap(InstanceState.init(rawValue:)) else {
            throw RedisClientError(.unexpectedReply, "finish_task returned \(reply)")
        }
        return state
    }

    /// Sweeper side: re-queues tasks whose worker lease expired; returns how many.
    public func requeueExpired(nowMilliseconds: Int64, limit: Int = 100) async throws -> Int {
        let now = String(nowMilliseconds)
        let expired = try await redis.pipeline(keys.allPartitions.map { p in
            RedisCommand("ZRANGEBYSCORE", [.init(keys.taskLeases(p)), "-inf", .init(now), "LIMIT", "0", .init(limit)])
        }).flatMap { try $0.throwingServerError().array?.compactMap(\.string) ?? [] }.compactMap(TaskID.init)
        let replies = try await storage.runAllDeclaring(LuaScripts.expireTask, expired.map { task in
            let p = keys.partition(of: task.instanceId)
            let id = task.instanceId
            let queues = self.queues(task)
            return (instance: id, keys: [keys.instance(id), queues.handler, keys.taskLeases(p), keys.wakeChannel(p), queues.tenant, keys.events(id), keys.ready(p),
                           keys.expiries(p), keys.context(id), keys.outputs(id), keys.gate(id), keys.inbox(id), keys.checkpoints(id), keys.checkpointData(id)],
                    arguments: [RedisArgument(task.text), RedisArgument(now), RedisArgument(task.handler), RedisArgument(streamMaxLength),
                                RedisArgument(retentionMilliseconds)])
        })
        return replies.filter { $0 == .integer(1) || $0 == .integer(2) }.count
    }

    private static func check(_ reply: RedisReply) throws -> RedisReply {
        try ScriptReply.checked(reply, conflict: "the worker no longer holds this task's lease")
    }
}
