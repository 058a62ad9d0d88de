import Foundation
import SluiceCore

/// Parses `SLUICE_API_KEYS_FILE`: a JSON list of
/// `{"name", "key" | "key_sha256", "role", "tenant"?, "handlers"?}`. Every mistake is reported
/// with the entry it is in (index and name), never with a key.
public enum APIKeyFile {
    /// Shortest key accepted in clear: a guessable key is no key.
    public static let minimumKeyLength = 16
    static let fields: Set<String> = ["name", "key", "key_sha256", "role", "tenant", "handlers"]

    public struct Failure: Error, Sendable, Equatable, CustomStringConvertible {
        public var message: String
        public var description: String { message }
    }

    public static func load(path: String) throws(Failure) -> [APIKey] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw Failure(message: "cannot read \(path)")
        }
        return try parse(Array(data))
    }

    public static func parse(_ bytes: [UInt8]) throws(Failure) -> [APIKey] {
        guard let json = try? JSONValue.parse(bytes) else { throw Failure(message: "is not valid JSON") }
        guard case .array(let entries) = json else {
            throw Failure(message: "must be a JSON list of {name, key | key_sha256, role, tenant?, handlers?}")
        }
        guard !entries.isEmpty else { throw Failure(message: "has no keys") }
        var keys: [APIKey] = []
        var names: Set<String> = []
        for (index, entry) in entries.enumerated() {
            let key = try parse(entry, index: index)
            guard names.insert(key.principal.name).inserted else {
                throw Failure(message: "entry \(index) (\"\(key.principal.name)\"): the name is used by an earlier entry")
            }
            guard !keys.contains(where: { APIKey.constantTimeEqual($0.digest, key.digest) }) else {
                throw Failure(message: "entry \(index) (\"\(key.principal.name)\"): the same key as an earlier entry")
            }
            keys.append(key)
        }
        return keys
    }

    static func parse(_ entry: JSONValue, index: Int) throws(Failure) -> APIKey {
        guard case .object(let object) = entry else { throw Failure(message: "entry \(index): must be an object") }
        var label = "entry \(index)"
        guard case .string(let name)? = object["name"], Identifier.isValid(name) else {
            throw Failure(message: "\(label): name is required, \(Identifier.rule)")
        }
        label += " (\"\(name)\")"
        if let unknown = object.keys.sorted().first(where: { !fields.contains($0) }) {
            throw Failure(message: "\(label): unknown field '\(unknown)' (allowed: \(fields.sorted().joined(separator: ", ")))")
        }
        guard case .string(let roleName)? = object["role"], let role = Role(rawValue: roleName) else {
            throw Failure(message: "\(label): role must be one of \(Role.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        var tenant: String?
        switch object["tenant"] {
        case nil, .null?: break
        case .string(let value)? where Identifier.isValid(value): tenant = value
        default: throw Failure(message: "\(label): tenant must be \(Identifier.rule)")
        }
        var handlers: Set<String>?
        switch object["handlers"] {
        case nil, .null?: break
        case .array(let values)? where role == .worker:
            var names: Set<String> = []
            for value in values {
                guard case .string(let handler) = value, Identifier.isValid(handler) else {
                    throw Failure(message: "\(label): handlers must be a list of handler names, each \(Identifier.rule)")
                }
                names.insert(handler)
            }
            handlers = names
        case .array?: throw Failure(message: "\(label): handlers are only for keys of role worker")
        default: throw Failure(message: "\(label): handlers must be a list of handler names")
        }
        let digest: [UInt8]
        var placeholder = false
        switch (object["key"], object["key_sha256"]) {
        case (.string(let key)?, nil):
            guard key.utf8.count >= minimumKeyLength, key.utf8.allSatisfy({ $0 > 32 && $0 < 127 }) else {
                throw Failure(message: "\(label): key must be at least \(minimumKeyLength) visible ASCII characters")
            }
            digest = APIKey.digest(of: key.utf8)
            placeholder = key.hasPrefix("CHANGE-ME")
        case (nil, .string(let hex)?):
            guard let bytes = bytes(hex: hex), bytes.count == 32 else {
                throw Failure(message: "\(label): key_sha256 must be 64 hex digits (the SHA-256 of the key)")
            }
            digest = bytes
        default:
            throw Failure(message: "\(label): exactly one of key or key_sha256 is required")
        }
        return APIKey(principal: Principal(name: name, role: role, tenant: tenant, handlers: handlers), digest: digest, isPlaceholder: placeholder)
    }

    static func bytes(hex: String) -> [UInt8]? {
        let digits = Array(hex.utf8)
        guard digits.count % 2 == 0 else { return nil }
        func value(_ digit: UInt8) -> UInt8? {
            switch digit {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): return digit - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): return digit - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): return digit - UInt8(ascii: "A") + 10
            default: return nil
            }
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(digits.count / 2)
        for index in stride(from: 0, to: digits.count, by: 2) {
            guard let high = value(digits[index]), let low = value(digits[index + 1]) else { return nil }
            bytes.append(high << 4 | low)
        }
        return bytes
    }
}
