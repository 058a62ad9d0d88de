import Logging
import NIOConcurrencyHelpers
import SluiceCore

/// The keys a process accepts, replaced as a whole when the file is read again (SIGHUP).
/// Without a keys file the API is open: every request is `anonymous`.
public final class APIKeyRing: Sendable {
    /// nil: no keys file configured (open API).
    public let path: String?
    private let keys: NIOLockedValueBox<[APIKey]>

    /// An open API (no keys).
    public static func open() -> APIKeyRing { APIKeyRing(path: nil, keys: []) }

    public init(path: String?, keys: [APIKey]) {
        self.path = path
        self.keys = NIOLockedValueBox(keys)
    }

    /// Reads the file at start; a malformed file stops start-up (the error names the entry).
    public static func load(path: String) throws(APIKeyFile.Failure) -> APIKeyRing {
        APIKeyRing(path: path, keys: try APIKeyFile.load(path: path))
    }

    public var isOpen: Bool { path == nil }

    public var count: Int { keys.withLockedValue(\.count) }

    /// Names of keys still set to a shipped placeholder (`CHANGE-ME…`): logged at start.
    public var placeholderNames: [String] { keys.withLockedValue { $0.filter(\.isPlaceholder).map(\.principal.name) } }

    /// The key's principal, or nil when no key matches. Every configured key is compared (in
    /// constant time each), so the time taken says nothing about which one came close.
    public func authenticate(_ presented: some Collection<UInt8>) -> Principal? {
        principal(digest: APIKey.digest(of: presented))
    }

    /// The principal of the key with this digest now, or nil when the key is gone: a console
    /// session holds the digest of the key it was opened with, so a rotated or removed key (or a
    /// changed role) takes effect on open sessions at once.
    public func principal(digest: [UInt8]) -> Principal? {
        let current = keys.withLockedValue { $0 }
        var found: Principal?
        for key in current where APIKey.constantTimeEqual(key.digest, digest) {
            found = key.principal
        }
        return found
    }

    /// Reads the file again; on any error the keys in use stay (and the error is returned).
    @discardableResult
    public func reload(logger: Logger) -> APIKeyFile.Failure? {
        guard let path else { return nil }
        do {
            let fresh = try APIKeyFile.load(path: path)
            keys.withLockedValue { $0 = fresh }
            logger.notice("API keys reloaded", metadata: ["file": "\(path)", "keys": "\(fresh.count)"])
            return nil
        } catch {
            logger.error("API keys file refused on reload; the previous keys stay in use", metadata: ["file": "\(path)", "error": "\(error)"])
            return error
        }
    }
}
