import Crypto
import Foundation
import SluiceCore
import SluiceRedis

/// A console sign-in: the API key it was opened with (by digest, so the key's current role and
/// tenant apply, and a removed key ends it) and the token that guards the console's forms.
///
/// Kept server-side in Redis with a TTL rather than in an HMAC-signed cookie: every `sluice
/// serve` behind a load balancer reads the same sessions without a shared secret to configure
/// and rotate, and signing out really ends the session (a signed cookie stays valid until it
/// expires, whatever the user clicked). The cost is one GET per console request.
public struct ConsoleSession: Sendable, Equatable {
    /// SHA-256 of the API key (what `APIKeyRing` compares).
    public var keyDigest: [UInt8]
    /// The synchronizer token every console form carries (`ConsoleCSRF`).
    public var csrf: String
    public var createdAt: Int64
}

/// The sessions in Redis: `<prefix>:session:<sha256(token)>` → JSON, expiring after `ttlSeconds`.
struct ConsoleSessionStore: Sendable {
    let redis: RedisClient
    let keys: KeySchema
    /// A working day; signing in again after it is cheap, a stolen cookie is not useful forever.
    static let ttlSeconds = 8 * 3600

    /// Opens a session for the key with `keyDigest`; returns the cookie token.
    func create(keyDigest: [UInt8], nowMilliseconds: Int64) async throws -> (token: String, session: ConsoleSession) {
        let token = Self.randomToken()
        let session = ConsoleSession(keyDigest: keyDigest, csrf: Self.randomToken(), createdAt: nowMilliseconds)
        let record = JSONValue.object([
            "key_sha256": .string(Self.hex(keyDigest)), "csrf": .string(session.csrf), "created_at": .integer(nowMilliseconds),
        ])
        _ = try await redis.send(RedisCommand(
            "SET", keys.consoleSession(Self.digest(token)), record.jsonString, "EX", String(Self.ttlSeconds))).throwingServerError()
        return (token, session)
    }

    /// The session of a cookie token; nil for anything that is not a live session (a token of the
    /// wrong shape is refused before Redis is asked).
    func get(token: String) async throws -> ConsoleSession? {
        guard Self.isWellFormed(token) else { return nil }
        let reply = try await redis.send(RedisCommand("GET", keys.consoleSession(Self.digest(token)))).throwingServerError()
        guard let text = reply.string, let record = try? JSONValue.parse(Array(text.utf8)),
              let digest = record["key_sha256"]?.stringValue.flatMap(Self.bytes(hex:)), digest.count == 32,
              let csrf = record["csrf"]?.stringValue, Self.isWellFormed(csrf)
        else { return nil }
        let created: Int64
        switch record["created_at"] {
        case .integer(let value)?: created = value
        case .number(let value)?: created = Int64(exactly: value.rounded()) ?? 0
        default: created = 0
        }
        return ConsoleSession(keyDigest: digest, csrf: csrf, createdAt: created)
    }

    func delete(token: String) async throws {
        guard Self.isWellFormed(token) else { return }
        _ = try await redis.send(RedisCommand("DEL", keys.consoleSession(Self.digest(token)))).throwingServerError()
    }

    /// 32 bytes from the system's cryptographic generator, as 64 hex digits (cookie-safe).
    static func randomToken() -> String {
        var generator = SystemRandomNumberGenerator()
        return hex((0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) })
    }

    static func isWellFormed(_ token: String) -> Bool {
        token.utf8.count == 64 && token.utf8.allSatisfy { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains($0) }
    }

    static func digest(_ token: String) -> String { hex(Array(SHA256.hash(data: Array(token.utf8)))) }

    static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func bytes(hex text: String) -> [UInt8]? {
        let utf8 = Array(text.utf8)
        guard utf8.count.isMultiple(of: 2) else { return nil }
        func nibble(_ c: UInt8) -> UInt8? {
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
            default: return nil
            }
        }
        var out: [UInt8] = []
        for index in stride(from: 0, to: utf8.count, by: 2) {
            guard let high = nibble(utf8[index]), let low = nibble(utf8[index + 1]) else { return nil }
            out.append(high << 4 | low)
        }
        return out
    }
}
