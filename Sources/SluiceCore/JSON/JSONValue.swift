import Foundation

/// Any JSON value, for user-supplied data (context, metadata, payloads, outputs, checkpoint
/// data) that Sluice stores and returns without interpreting.
public enum JSONValue: Sendable, Hashable, Codable {
    case null
    case bool(Bool)
    case number(Double)
    /// An integer a Double cannot hold exactly (beyond ±2^53), kept to the last digit. Every
    /// other number is `.number`, so code reading small numbers (limits, counts) sees one case.
    case integer(Int64)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Int64.self), !Self.isExactDouble(value) {
            self = .integer(value)
        } else if let value = try? container.decode(Double.self) {
            self = .number(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSONValue].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let value): try container.encode(value)
        case .number(let value): try container.encode(value)
        case .integer(let value): try container.encode(value)
        case .string(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        }
    }

    public subscript(key: String) -> JSONValue? {
        if case .object(let object) = self { return object[key] }
        return nil
    }

    public var stringValue: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    /// Compact JSON text with sorted keys (stable output: equal values give equal bytes).
    public func encoded() -> [UInt8] {
        var out: [UInt8] = []
        write(into: &out)
        return out
    }

    public var jsonString: String { String(decoding: encoded(), as: UTF8.self) }

    /// Appends the compact JSON text (sorted keys) to `out`: a response body is written in place,
    /// not built as an array and copied.
    public func write<Output: JSONOutput>(into out: inout Output) {
        switch self {
        case .null: out.append(contentsOf: "null".utf8)
        case .bool(let value): out.append(contentsOf: (value ? "true" : "false").utf8)
        case .number(let value): out.append(contentsOf: Self.format(value).utf8)
        case .integer(let value): out.append(contentsOf: String(value).utf8)
        case .string(let value): out.appendJSONString(value)
        case .array(let values):
            out.append(UInt8(ascii: "["))
            for (index, value) in values.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                value.write(into: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let object):
            out.append(UInt8(ascii: "{"))
            for (index, element) in object.sorted(by: { $0.key < $1.key }).enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                out.appendJSONString(element.key)
                out.append(UInt8(ascii: ":"))
                element.value.write(into: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    /// The number for an integer: `.number` when a Double holds it exactly, else `.integer`.
    public static func integer(exactly value: Int64) -> JSONValue {
        isExactDouble(value) ? .number(Double(value)) : .integer(value)
    }

    /// Within ±2^53 every integer is a Double exactly.
    static func isExactDouble(_ value: Int64) -> Bool { value.magnitude <= 1 << 53 }

    /// Integers print without a fraction; non-finite numbers cannot occur (JSON has none).
    static func format(_ value: Double) -> String {
        if value.rounded() == value, abs(value) < 1e15 { return String(Int64(value)) }
        return "\(value)"
    }
}

extension JSONValue {
    /// Follows a dotted path (`context.a.b`, `outputs.fetch.body.0`); nil when absent.
    public func lookup(_ path: String) -> JSONValue? {
        var current: JSONValue? = self
        for part in path.split(separator: ".", omittingEmptySubsequences: false) {
            switch current {
            case .object(let object): current = object[String(part)]
            case .array(let array):
                guard let index = Int(part), array.indices.contains(index) else { return nil }
                current = array[index]
            default: return nil
            }
        }
        return current
    }

    public var objectValue: [String: JSONValue]? {
        if case .object(let object) = self { return object }
        return nil
    }

    /// Parses JSON text as stored in Redis (or answered by Sluice), strictly (`JSONParser`), with
    /// room for the levels records add around client values. Client input goes through
    /// `JSONParser.parse` with the client limit (RequestBody).
    public static func parse(_ bytes: some Sequence<UInt8>) throws -> JSONValue {
        try JSONParser.parse(bytes, maximumDepth: JSONParser.storedMaximumDepth)
    }
}
