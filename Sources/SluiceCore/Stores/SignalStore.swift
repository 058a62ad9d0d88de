import SluiceRedis

/// Control signals on instances (lua/signal_instance.lua): one script call each. Decisions of
/// approval gates (`human_input:<block>`) are `ApprovalStore.decide`.
public struct SignalStore: StorageBacked {
    public let storage: Storage

    public init(_ storage: Storage) { self.storage = storage }

    public struct Applied: Sendable, Equatable {
        public var state: InstanceState?
        public var signalId: String
        /// The Idempotency-Key was seen before: this is the first signal's id, nothing changed.
        public var replayed: Bool
    }

    /// Applies `signal` (not `human_input`, see `ApprovalStore`).
    public func apply(
        _ signal: SignalType, to id: String, payload: JSONValue, idempotencyKey: String? = nil, by caller: Caller = .anonymous, nowMilliseconds: Int64
    ) async throws -> Applied {
        let p = keys.partition(of: id)
        var arguments: [RedisArgument] = [
            .init(id), .init(String(nowMilliseconds)), .init(streamMaxLength), .init(retentionMilliseconds), .init(signal.scriptName),
            .init(storage.approvalStreamMaxLength), .init(InstanceID.generate(nowMilliseconds: nowMilliseconds)), .init(idempotencyKey ?? ""),
            .init(caller.scope), .init(caller.name),
        ]
        if signal == .updateContext {
            guard case .object(let patch) = payload else {
                throw SluiceError.invalid(field: "payload", message: "update_context needs payload to be a JSON object")
            }
            try storage.limits.checkContextSized(payload, "the update_context payload")
            arguments += RedisArgument.fieldPairs(patch)
        }
        let reply = try await storage.runDeclaring(
            LuaScripts.signalInstance, instance: id,
            keys: [keys.instance(id), keys.context(id), keys.events(id), keys.ready(p), keys.leases(p), keys.wakeChannel(p),
                   keys.gate(id), keys.approvalItems(p), keys.deadlines(p), keys.approvalEvents(p), keys.taskLeases(p), keys.expiries(p),
                   keys.outputs(id), keys.inbox(id), keys.checkpoints(id), keys.checkpointData(id)],
            arguments: arguments)
        guard case .array(let parts) = try ScriptReply.checked(reply), parts.count == 2, let status = parts[0].string,
              let signalId = parts[1].string else {
            throw RedisClientError(.unexpectedReply, "signal_instance returned \(reply)")
        }
        return Applied(state: InstanceState(rawValue: status), signalId: signalId, replayed: status == "replayed")
    }
}
