import SluiceRedis

/// The one place that turns the error replies of `lua/` scripts into domain errors. Scripts
/// answer `NOTFOUND <message>`, `CONFLICT <message>`, `FENCED <message>`, `TOOLARGE <message>` or
/// `INVALID <field> <message>`; anything else from Redis is a server error.
enum ScriptReply {
    /// The reply itself when it is not an error; `conflict` replaces a script's CONFLICT text
    /// with a message for the API's client.
    static func checked(_ reply: RedisReply, conflict: String? = nil) throws -> RedisReply {
        guard case .error(let message) = reply else { return reply }
        let words = message.split(separator: " ", maxSplits: 1)
        let text = words.count > 1 ? String(words[1]) : message
        switch words.first {
        case "NOTFOUND": throw SluiceError.notFound(text)
        case "CONFLICT": throw SluiceError.conflict(conflict ?? text)
        case "FENCED": throw SluiceError.conflict("fenced: \(text)")
        case "TOOLARGE": throw SluiceError.tooLarge(text)
        case "INVALID":
            let parts = text.split(separator: " ", maxSplits: 1)
            throw SluiceError.invalid(field: String(parts.first ?? ""), message: parts.count > 1 ? String(parts[1]) : text)
        default: throw RedisClientError.server(message)
        }
    }
}

extension RedisArgument {
    /// An object's top-level fields as HSET pairs (key, JSON text), in key order: how context
    /// hashes are written.
    static func fieldPairs(_ object: [String: JSONValue]) -> [RedisArgument] {
        object.sorted { $0.key < $1.key }.flatMap { [RedisArgument($0.key), RedisArgument(bytes: $0.value.encoded())] }
    }
}
