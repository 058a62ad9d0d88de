import SluiceRedis

/// Control signals on instances (lua/signal_instance.lua): one script call each.
public struct SignalStore: StorageBacked {
    public let storage: Storage

    public init(_ storage: Storage) { self.storage = storage }

    /// Applies `signal`; returns the instance's state afterwards.
    public func apply(_ signal: SignalType, to id: String, payload: JSONValue, nowMilliseconds: Int64) async throws -> InstanceState {
        let p = keys.partition(of: id)
        var arguments: [RedisArgument] = [
            .init(id), .init(String(nowMilliseconds)), .init(streamMaxLength), .init(retentionMilliseconds), .init(signal.scriptName),
        ]
        if signal == .updateContext {
            guard case .object(let patch) = payload else {
                throw SluiceError.invalid(field: "payload", message: "update_context needs payload to be a JSON object")
            }
            arguments += RedisArgument.fieldPairs(patch)
        }
        let reply = try await redis.run(
            LuaScripts.signalInstance,
            keys: [keys.instance(id), keys.context(id), keys.events(id), keys.ready(p), keys.leases(p), keys.wakeChannel(p),
                   keys.outputs(id), keys.gate(id), keys.inbox(id), keys.checkpoints(id), keys.checkpointData(id)],
            arguments: arguments)
        guard let state = try ScriptReply.checked(reply).string.flatMap(InstanceState.init(rawValue:)) else {
            throw RedisClientError(.unexpectedReply, "signal_instance returned \(reply)")
        }
        return state
    }
}
