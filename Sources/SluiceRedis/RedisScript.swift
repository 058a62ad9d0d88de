/// A Lua script invoked with EVALSHA, falling back to EVAL when the server does not have it
/// cached yet (NOSCRIPT: after a restart, a failover, or SCRIPT FLUSH). The digest is computed
/// locally, so the normal path is one EVALSHA round trip.
public struct RedisScript: Sendable, Hashable {
    public let name: String
    public let source: String
    public let sha1: String

    public init(name: String, source: String) {
        self.name = name
        self.source = source
        self.sha1 = SHA1.hex(Array(source.utf8))
    }

    public func command(keys: [String], arguments: [RedisArgument]) -> RedisCommand {
        Self.vector("EVALSHA", sha1, keys, arguments)
    }

    func evalCommand(keys: [String], arguments: [RedisArgument]) -> RedisCommand {
        Self.vector("EVAL", source, keys, arguments)
    }

    /// `EVAL[SHA] script numkeys keys… arguments…` as one array, sized once.
    private static func vector(_ name: String, _ script: String, _ keys: [String], _ arguments: [RedisArgument]) -> RedisCommand {
        var vector: [RedisArgument] = []
        vector.reserveCapacity(3 + keys.count + arguments.count)
        vector.append(.init(name))
        vector.append(.init(script))
        vector.append(.init(keys.count))
        for key in keys { vector.append(.init(key)) }
        vector.append(contentsOf: arguments)
        return RedisCommand(vector: vector)
    }
}

extension RedisClient {
    /// Runs `script`; error replies are returned as `.error` (scripts report domain errors that way).
    /// In cluster mode it runs on the primary of its first key's slot; each node caches scripts
    /// on its own, so NOSCRIPT is answered (and EVAL sent) per node.
    public func run(_ script: RedisScript, keys: [String], arguments: [RedisArgument] = []) async throws -> RedisReply {
        let reply = try await send(script.command(keys: keys, arguments: arguments))
        if case .error(let message) = reply, message.hasPrefix("NOSCRIPT") {
            return try await send(script.evalCommand(keys: keys, arguments: arguments))
        }
        return reply
    }

    /// Runs `script` once per entry of `calls`, pipelined (one round trip; per node in cluster
    /// mode); entries answered NOSCRIPT are re-sent with EVAL. Replies in order; error replies stay.
    public func runAll(_ script: RedisScript, _ calls: [(keys: [String], arguments: [RedisArgument])]) async throws -> [RedisReply] {
        try await pipeline(calls.map { RedisCall.script(script, keys: $0.keys, arguments: $0.arguments) })
    }

    /// Plain commands and script calls in one pipeline (one round trip; per node in cluster mode);
    /// script calls answered NOSCRIPT are re-sent with EVAL. Replies in order; error replies stay.
    public func pipeline(_ calls: [RedisCall]) async throws -> [RedisReply] {
        guard !calls.isEmpty else { return [] }
        var replies = try await pipeline(calls.map(\.command))
        let missing = replies.indices.filter { if case .error(let m) = replies[$0] { return m.hasPrefix("NOSCRIPT") } else { return false } }
        let evals = missing.compactMap { index -> (Int, RedisCommand)? in
            guard case .script(let script, let keys, let arguments) = calls[index] else { return nil }
            return (index, script.evalCommand(keys: keys, arguments: arguments))
        }
        if !evals.isEmpty {
            let retried = try await pipeline(evals.map(\.1))
            for ((index, _), reply) in zip(evals, retried) { replies[index] = reply }
        }
        return replies
    }
}

/// One entry of a pipeline that mixes plain commands and script calls.
public enum RedisCall: Sendable {
    case command(RedisCommand)
    case script(RedisScript, keys: [String], arguments: [RedisArgument])

    var command: RedisCommand {
        switch self {
        case .command(let command): return command
        case .script(let script, let keys, let arguments): return script.command(keys: keys, arguments: arguments)
        }
    }
}
