import Logging
import ServiceLifecycle
import SluiceCore
import UnixSignals

/// Re-reads the keys file on SIGHUP (key rotation without a restart). A bad file is refused
/// and the keys in use stay (`APIKeyRing.reload`).
public struct APIKeyReloader: Service {
    let ring: APIKeyRing
    let logger: Logger

    public init(ring: APIKeyRing, logger: Logger) {
        self.ring = ring
        self.logger = logger
    }

    public func run() async throws {
        let signals = await UnixSignalsSequence(trapping: .sighup)
        for await _ in signals.cancelOnGracefulShutdown() {
            ring.reload(logger: logger)
        }
    }
}

/// Start-up of authentication: the keys file read (a bad one stops the process, naming the
/// entry), `SLUICE_REQUIRE_AUTH` enforced, and the open-mode warning (once the process is up).
public enum APIKeys {
    public static func load(_ configuration: SluiceConfiguration, logger: Logger) throws(ConfigurationError) -> APIKeyRing {
        guard let path = configuration.apiKeysFile else {
            if configuration.requireAuth {
                throw ConfigurationError(variable: "SLUICE_REQUIRE_AUTH", message: "is true but no SLUICE_API_KEYS_FILE is set: refusing to serve an open API")
            }
            return .open()
        }
        do {
            let ring = try APIKeyRing.load(path: path)
            logger.info("API keys loaded", metadata: ["file": "\(path)", "keys": "\(ring.count)"])
            if !ring.placeholderNames.isEmpty {
                logger.warning("API keys still set to the shipped CHANGE-ME placeholders: replace them before exposing the API",
                               metadata: ["keys": "\(ring.placeholderNames.joined(separator: ", "))"])
            }
            return ring
        } catch {
            throw ConfigurationError(variable: "SLUICE_API_KEYS_FILE", message: "\(path) \(error.message)")
        }
    }

    public static func warnIfOpen(_ ring: APIKeyRing, logger: Logger) {
        guard ring.isOpen else { return }
        logger.warning("no API keys configured (SLUICE_API_KEYS_FILE): the API is open to anyone who can reach it")
    }
}
