#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Where the `http_request` handler may connect (`SLUICE_HTTP_ALLOW`). Sequence authors choose the
/// URLs, so without a policy a sequence can read loopback services, the private network and cloud
/// metadata (169.254.169.254) and show the answer as its output. By default every public address
/// is allowed and every loopback, private, link-local, multicast and reserved one refused; the
/// check runs on the addresses a host resolves to and on every redirect. `SLUICE_HTTP_ALLOW` opens
/// host names (any address they resolve to), addresses and networks (CIDR), or everything (`*`).
public struct EgressPolicy: Sendable, Equatable {
    /// An IPv4 (4 bytes) or IPv6 (16 bytes) network.
    public struct Network: Sendable, Equatable, CustomStringConvertible {
        public var bytes: [UInt8]
        public var prefix: Int

        public init?(_ text: String) {
            let parts = text.split(separator: "/", omittingEmptySubsequences: false)
            guard parts.count <= 2, let bytes = EgressPolicy.address(String(parts[0])) else { return nil }
            let bits = bytes.count * 8
            if parts.count == 2 {
                guard let prefix = Int(parts[1]), (0...bits).contains(prefix) else { return nil }
                self.prefix = prefix
            } else {
                self.prefix = bits
            }
            self.bytes = bytes
        }

        public func contains(_ address: [UInt8]) -> Bool {
            guard address.count == bytes.count else { return false }
            var left = prefix
            for (a, b) in zip(address, bytes) where left > 0 {
                let take = min(left, 8)
                let mask = UInt8(truncatingIfNeeded: 0xFF << (8 - take))
                if a & mask != b & mask { return false }
                left -= take
            }
            return true
        }

        public var description: String { "\(EgressPolicy.text(bytes))/\(prefix)" }
    }

    /// Host names allowed whatever they resolve to (lowercased).
    public var hosts: Set<String> = []
    public var networks: [Network] = []
    /// `*`: no restriction (a deployment whose sequences are all trusted).
    public var allowsEverything = false

    public init() {}

    /// `SLUICE_HTTP_ALLOW`: comma-separated host names, addresses, CIDR networks, or `*`.
    public init(parsing text: String) throws(ConfigurationError) {
        for entry in text.split(separator: ",").map({ String($0).trimmingWhitespace }) where !entry.isEmpty {
            if entry == "*" {
                allowsEverything = true
            } else if let network = Network(entry) {
                networks.append(network)
            } else if entry.utf8.count <= 253, !entry.contains("/"),
                      entry.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "." || $0 == "-") }) {
                hosts.insert(entry.lowercased())
            } else {
                throw ConfigurationError(
                    variable: "SLUICE_HTTP_ALLOW", message: "'\(entry)' is not a host name, an address, a CIDR network or *")
            }
        }
    }

    /// Addresses no request reaches unless allowed: this host, private networks, link-local (cloud
    /// metadata), shared/benchmark/documentation ranges, multicast and reserved.
    static let refused: [Network] = [
        "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12", "192.0.0.0/24",
        "192.0.2.0/24", "192.168.0.0/16", "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
        "::/128", "::1/128", "100::/64", "2001:db8::/32", "fc00::/7", "fe80::/10", "fec0::/10", "ff00::/8",
    ].compactMap(Network.init)

    /// Why a request to `host`, resolved to `addresses`, is refused; nil when it may go.
    public func refusal(host: String, addresses: [[UInt8]]) -> String? {
        if allowsEverything || hosts.contains(host.lowercased()) { return nil }
        guard !addresses.isEmpty else { return "\(host) did not resolve to any address" }
        for address in addresses {
            let checked = Self.embeddedIPv4(address) ?? address
            if let range = Self.refused.first(where: { $0.contains(checked) }), !networks.contains(where: { $0.contains(checked) }) {
                return "\(host) resolves to \(Self.text(checked)), in \(range), which is not allowed (SLUICE_HTTP_ALLOW opens hosts and networks)"
            }
        }
        return nil
    }

    /// The IPv4 address inside an IPv4-mapped (::ffff:a.b.c.d) or NAT64 (64:ff9b::a.b.c.d) one.
    static func embeddedIPv4(_ address: [UInt8]) -> [UInt8]? {
        guard address.count == 16 else { return nil }
        let mapped = address[0..<10].allSatisfy { $0 == 0 } && address[10] == 0xFF && address[11] == 0xFF
        let nat64 = address[0..<12].elementsEqual([0, 0x64, 0xFF, 0x9B, 0, 0, 0, 0, 0, 0, 0, 0])
        return mapped || nat64 ? Array(address[12..<16]) : nil
    }

    /// A textual IPv4 or IPv6 address as bytes (brackets allowed); nil when it is not one.
    public static func address(_ text: String) -> [UInt8]? {
        let trimmed = text.hasPrefix("[") && text.hasSuffix("]") ? String(text.dropFirst().dropLast()) : text
        var v4 = in_addr()
        if inet_pton(AF_INET, trimmed, &v4) == 1 {
            return withUnsafeBytes(of: &v4) { Array($0) }
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, trimmed, &v6) == 1 {
            return withUnsafeBytes(of: &v6) { Array($0) }
        }
        return nil
    }

    static func text(_ bytes: [UInt8]) -> String {
        if bytes.count == 4 { return bytes.map(String.init).joined(separator: ".") }
        return stride(from: 0, to: bytes.count, by: 2).map { String(UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1]), radix: 16) }.joined(separator: ":")
    }
}
