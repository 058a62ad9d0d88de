extension RedisCommand {
    /// The argument Redis Cluster routes this command by: its first key (for scripts the first
    /// of KEYS, for XREAD the first stream), or the channel of SPUBLISH/SSUBSCRIBE; nil for
    /// commands without keys (PING, INFO, SCAN...), which any primary may answer.
    public var routingKey: [UInt8]? {
        guard let name = arguments.first.map({ String(decoding: $0.bytes, as: UTF8.self).uppercased() }) else { return nil }
        switch name {
        case "EVAL", "EVALSHA", "EVAL_RO", "EVALSHA_RO", "FCALL", "FCALL_RO":
            guard arguments.count > 3, let count = Int(String(decoding: arguments[2].bytes, as: UTF8.self)), count > 0 else { return nil }
            return arguments[3].bytes
        case "XREAD", "XREADGROUP":
            guard let streams = arguments.firstIndex(where: { String(decoding: $0.bytes, as: UTF8.self).uppercased() == "STREAMS" }),
                  streams + 1 < arguments.count else { return nil }
            return arguments[streams + 1].bytes
        case "PING", "ECHO", "INFO", "CONFIG", "SCAN", "DBSIZE", "FLUSHALL", "FLUSHDB", "SCRIPT", "CLUSTER", "TIME", "CLIENT",
             "COMMAND", "ROLE", "WAIT", "READONLY", "READWRITE", "ASKING", "HELLO", "AUTH", "SELECT", "MULTI", "EXEC",
             "DISCARD", "PUBLISH", "SUBSCRIBE", "UNSUBSCRIBE", "PSUBSCRIBE", "PUNSUBSCRIBE", "LASTSAVE", "SAVE", "BGSAVE",
             "MEMORY", "LATENCY", "SLOWLOG", "DEBUG", "FUNCTION", "RANDOMKEY", "KEYS", "SWAPDB", "MONITOR", "SHUTDOWN":
            return nil
        default:
            return arguments.count > 1 ? arguments[1].bytes : nil
        }
    }

    /// The hash slot of `routingKey`, or nil for commands without keys.
    public var slot: Int? { routingKey.map { HashSlot.of($0) } }
}
