import Crypto
import SluiceCore

/// One entry of `SLUICE_API_KEYS_FILE`. Only the SHA-256 of the secret is kept in memory,
/// whether the file held the key in clear (`key`) or already hashed (`key_sha256`).
public struct APIKey: Sendable, Equatable {
    public var principal: Principal
    /// SHA-256 of the key.
    public var digest: [UInt8]
    /// The key in clear starts with `CHANGE-ME`: a placeholder shipped with the compose files.
    public var isPlaceholder: Bool

    public init(principal: Principal, digest: [UInt8], isPlaceholder: Bool = false) {
        self.principal = principal
        self.digest = digest
        self.isPlaceholder = isPlaceholder
    }

    public static func digest(of key: some Sequence<UInt8>) -> [UInt8] {
        Array(SHA256.hash(data: Array(key)))
    }

    /// Equal digests, compared in time independent of where they differ.
    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for index in a.indices { difference |= a[index] ^ b[index] }
        return difference == 0
    }
}
