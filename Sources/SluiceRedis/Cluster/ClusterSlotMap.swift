/// Which primary serves each of the 16384 slots, read from `CLUSTER SHARDS` (Redis ≥ 7) or
/// `CLUSTER SLOTS` (older servers).
struct ClusterSlotMap: Sendable, Equatable {
    /// The distinct primaries, in the order first seen.
    private(set) var primaries: [RedisConfiguration.Address] = []
    /// Slot → index into `primaries`; -1 for a slot no primary serves.
    private var owners = [Int16](repeating: -1, count: HashSlot.count)

    init() {}

    /// The primary serving `slot`, if any.
    func primary(for slot: Int) -> RedisConfiguration.Address? {
        let owner = owners[slot]
        return owner < 0 ? nil : primaries[Int(owner)]
    }

    var coversEverySlot: Bool { !owners.contains(-1) }

    /// Records that `address` serves the slots `range` (a MOVED reply moves one slot).
    mutating func assign(_ range: ClosedRange<Int>, to address: RedisConfiguration.Address) {
        let index: Int
        if let known = primaries.firstIndex(of: address) {
            index = known
        } else {
            primaries.append(address)
            index = primaries.count - 1
        }
        for slot in range where (0..<HashSlot.count).contains(slot) { owners[slot] = Int16(index) }
    }

    /// Parses a `CLUSTER SHARDS` reply: per shard a map (a flat array in RESP2) with `slots`
    /// (start, end, start, end...) and `nodes` (maps with `ip`, `endpoint`, `hostname`, `port`,
    /// `role`, `health`). The primary of each shard is its `role: master` node not marked failed.
    /// `defaultHost` replaces an unknown endpoint (`?`), as for MOVED.
    init(shards reply: RedisReply, defaultHost: String) throws {
        guard case .array(let shards) = reply else { throw Self.error("CLUSTER SHARDS", reply) }
        for shard in shards {
            let fields = try Self.map(shard)
            guard case .array(let slots)? = fields["slots"], case .array(let nodes)? = fields["nodes"], slots.count % 2 == 0 else {
                throw Self.error("CLUSTER SHARDS", shard)
            }
            var primary: RedisConfiguration.Address?
            for node in nodes {
                let node = try Self.map(node)
                guard node["role"]?.string == "master", node["health"]?.string != "fail", let port = node["port"]?.int, port > 0 else { continue }
                primary = .tcp(host: Self.host(endpoint: node["endpoint"]?.string, ip: node["ip"]?.string, defaultHost: defaultHost), port: port)
            }
            guard let primary else { continue }
            for pair in stride(from: 0, to: slots.count, by: 2) {
                guard let start = slots[pair].int, let end = slots[pair + 1].int, 0 <= start, start <= end, end < HashSlot.count else {
                    throw Self.error("CLUSTER SHARDS", shard)
                }
                assign(start...end, to: primary)
            }
        }
    }

    /// Parses a `CLUSTER SLOTS` reply: [[start, end, [host, port, id...], replicas...]...].
    init(slots reply: RedisReply, defaultHost: String) throws {
        guard case .array(let ranges) = reply else { throw Self.error("CLUSTER SLOTS", reply) }
        for range in ranges {
            guard case .array(let parts) = range, parts.count >= 3, let start = parts[0].int, let end = parts[1].int,
                  0 <= start, start <= end, end < HashSlot.count,
                  case .array(let node) = parts[2], node.count >= 2, let port = node[1].int, port > 0 else {
                throw Self.error("CLUSTER SLOTS", range)
            }
            assign(start...end, to: .tcp(host: Self.host(endpoint: node[0].string, ip: nil, defaultHost: defaultHost), port: port))
        }
    }

    private static func host(endpoint: String?, ip: String?, defaultHost: String) -> String {
        for candidate in [endpoint, ip] {
            if let candidate, !candidate.isEmpty, candidate != "?" { return candidate }
        }
        return defaultHost
    }

    /// A RESP2 map: a flat array of name, value, name, value...
    private static func map(_ reply: RedisReply) throws -> [String: RedisReply] {
        guard case .array(let items) = reply, items.count % 2 == 0 else { throw error("cluster map", reply) }
        var fields: [String: RedisReply] = [:]
        for pair in stride(from: 0, to: items.count, by: 2) {
            guard let name = items[pair].string else { throw error("cluster map", reply) }
            fields[name] = items[pair + 1]
        }
        return fields
    }

    private static func error(_ what: String, _ reply: RedisReply) -> RedisClientError {
        RedisClientError(.unexpectedReply, "\(what): unexpected reply \(String(describing: reply).prefix(200))")
    }
}
