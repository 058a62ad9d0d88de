import NIOCore

/// One decoded RESP2 reply. Bulk strings stay bytes (`ByteBuffer`): values may be binary.
public enum RedisReply: Sendable, Equatable {
    case string(ByteBuffer)
    case status(String)
    case integer(Int64)
    case array([RedisReply])
    case null
    case error(String)

    /// The text of a bulk string or status reply, decoded as UTF-8.
    public var string: String? {
        switch self {
        case .string(let buffer): return String(buffer: buffer)
        case .status(let text): return text
        default: return nil
        }
    }

    /// The value of an integer reply, or of a bulk string holding a decimal integer.
    public var int: Int? {
        switch self {
        case .integer(let value): return Int(value)
        case .string(let buffer): return Int(String(buffer: buffer))
        default: return nil
        }
    }

    public var array: [RedisReply]? {
        if case .array(let elements) = self { return elements }
        return nil
    }

    /// A flat field/value array (HGETALL) as a dictionary; nil for other shapes.
    public var fields: [String: String]? {
        guard case .array(let elements) = self, elements.count % 2 == 0 else { return nil }
        var result: [String: String] = [:]
        result.reserveCapacity(elements.count / 2)
        var index = 0
        while index < elements.count {
            guard let key = elements[index].string, let value = elements[index + 1].string else { return nil }
            result[key] = value
            index += 2
        }
        return result
    }

    /// Stream entries (an XRANGE reply) as (id, fields); entries of another shape are skipped.
    public var streamEntries: [(id: String, fields: [String: String])] {
        (array ?? []).compactMap { entry in
            guard let parts = entry.array, parts.count == 2, let id = parts[0].string, let fields = parts[1].fields else { return nil }
            return (id, fields)
        }
    }

    public var isNull: Bool {
        if case .null = self { return true }
        return false
    }

    /// Turns an error reply into a thrown `RedisClientError` and passes every other reply through.
    public func throwingServerError() throws -> RedisReply {
        if case .error(let message) = self { throw RedisClientError.server(message) }
        return self
    }
}

extension RedisReply: CustomStringConvertible {
    public var description: String {
        switch self {
        case .string(let buffer): return "\"\(String(buffer: buffer))\""
        case .status(let text): return text
        case .integer(let value): return "(integer) \(value)"
        case .array(let elements): return "[" + elements.map(\.description).joined(separator: ", ") + "]"
        case .null: return "(nil)"
        case .error(let message): return "(error) \(message)"
        }
    }
}
