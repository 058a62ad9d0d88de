/// What a cluster node's error reply asks of the client, if anything.
enum ClusterRedirect: Equatable {
    /// `MOVED <slot> <host>:<port>`: the slot lives elsewhere now; the slot map is stale.
    case moved(slot: Int, address: RedisConfiguration.Address)
    /// `ASK <slot> <host>:<port>`: this one command goes to the importing node, after ASKING.
    case ask(slot: Int, address: RedisConfiguration.Address)
    /// `TRYAGAIN` (a multi-key command during a slot migration) or `CLUSTERDOWN` (no quorum, or
    /// a slot without a primary during a failover): the same command may succeed a moment later.
    case retryLater

    init?(_ reply: RedisReply) {
        guard case .error(let message) = reply else { return nil }
        self.init(message: message)
    }

    init?(message: String) {
        if message.hasPrefix("TRYAGAIN") || message.hasPrefix("CLUSTERDOWN") {
            self = .retryLater
            return
        }
        let parts = message.split(separator: " ")
        guard parts.count == 3, parts[0] == "MOVED" || parts[0] == "ASK", let slot = Int(parts[1]), (0..<HashSlot.count).contains(slot),
              let address = Self.address(parts[2]) else { return nil }
        self = parts[0] == "MOVED" ? .moved(slot: slot, address: address) : .ask(slot: slot, address: address)
    }

    /// `host:port`, `[v6]:port` or `:port` (Redis leaves the host out when it does not know
    /// its own; the caller then keeps the host it used).
    static func address(_ text: Substring) -> RedisConfiguration.Address? {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (1...65535).contains(port) else { return nil }
        var host = text[..<colon]
        if host.hasPrefix("["), host.hasSuffix("]") { host = host.dropFirst().dropLast() }
        return .tcp(host: String(host), port: port)
    }
}
