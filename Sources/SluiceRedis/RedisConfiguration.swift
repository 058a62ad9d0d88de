import NIOCore

/// Where and how to reach Redis. Parsed from `redis://[user:password@]host[:port][/db]` or
/// `unix:///path/to/redis.sock[?db=N&password=P&user=U]`; a Redis Cluster from its seed nodes
/// (`init(clusterURLs:)`).
public struct RedisConfiguration: Sendable, Equatable {
    public enum Address: Sendable, Hashable, CustomStringConvertible {
        case tcp(host: String, port: Int)
        case unix(path: String)

        public var description: String {
            switch self {
            case .tcp(let host, let port): return "\(host):\(port)"
            case .unix(let path): return "unix:\(path)"
            }
        }
    }

    public var address: Address
    public var username: String?
    public var password: String?
    public var database: Int
    public var connectTimeout: TimeAmount
    /// A command without a reply after this long fails with `.timeout` (and its connection closes).
    public var commandTimeout: TimeAmount
    /// Connections in the command pool; each one pipelines any number of commands.
    public var poolSize: Int
    /// Reconnect backoff: the first retry waits `minBackoff`, doubling up to `maxBackoff`.
    public var minBackoff: TimeAmount
    public var maxBackoff: TimeAmount
    /// Redis Cluster mode when not empty: nodes to read the slot map from (any of them will
    /// do; the others are tried when one does not answer). `address` is then the first seed.
    public var clusterSeeds: [Address] = []

    public init(
        address: Address, username: String? = nil, password: String? = nil, database: Int = 0,
        connectTimeout: TimeAmount = .seconds(2), commandTimeout: TimeAmount = .seconds(2),
        poolSize: Int = 4, minBackoff: TimeAmount = .milliseconds(50), maxBackoff: TimeAmount = .seconds(1)
    ) {
        self.address = address
        self.username = username
        self.password = password
        self.database = database
        self.connectTimeout = connectTimeout
        self.commandTimeout = commandTimeout
        self.poolSize = poolSize
        self.minBackoff = minBackoff
        self.maxBackoff = maxBackoff
    }

    /// Parses a Redis URL; the error message says what is wrong with it.
    public init(url: String) throws(RedisURLError) {
        if url.hasPrefix("unix://") {
            let rest = url.dropFirst("unix://".count)
            let parts = rest.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
            let path = String(parts[0])
            guard path.hasPrefix("/") else { throw RedisURLError("unix socket path must be absolute in \(url)") }
            self.init(address: .unix(path: path))
            if parts.count == 2 {
                for pair in parts[1].split(separator: "&") {
                    let kv = pair.split(separator: "=", maxSplits: 1).map { String($0).removingPercentEncodingLossy }
                    guard kv.count == 2 else { throw RedisURLError("bad query item '\(pair)' in \(url)") }
                    switch kv[0] {
                    case "db":
                        guard let db = Int(kv[1]), db >= 0 else { throw RedisURLError("db must be a non-negative integer in \(url)") }
                        database = db
                    case "password": password = kv[1]
                    case "user", "username": username = kv[1]
                    default: throw RedisURLError("unknown query item '\(kv[0])' in \(url) (allowed: db, password, user)")
                    }
                }
            }
            return
        }
        guard url.hasPrefix("redis://") else {
            throw RedisURLError("unsupported Redis URL '\(url)': use redis://host:port/db or unix:///path")
        }
        var rest = Substring(url.dropFirst("redis://".count))
        var username: String?
        var password: String?
        if let at = rest.lastIndex(of: "@") {
            let credentials = rest[..<at]
            rest = rest[rest.index(after: at)...]
            if let colon = credentials.firstIndex(of: ":") {
                let user = String(credentials[..<colon]).removingPercentEncodingLossy
                username = user.isEmpty ? nil : user
                password = String(credentials[credentials.index(after: colon)...]).removingPercentEncodingLossy
            } else {
                password = String(credentials).removingPercentEncodingLossy
            }
        }
        var database = 0
        if let slash = rest.firstIndex(of: "/") {
            let db = rest[rest.index(after: slash)...]
            rest = rest[..<slash]
            if !db.isEmpty {
                guard let value = Int(db), value >= 0 else { throw RedisURLError("database must be a non-negative integer in \(url)") }
                database = value
            }
        }
        var host = String(rest)
        var port = 6379
        if host.hasPrefix("[") {  // [::1]:6379
            guard let close = host.firstIndex(of: "]") else { throw RedisURLError("bad IPv6 host in \(url)") }
            let after = host[host.index(after: close)...]
            if after.hasPrefix(":") {
                guard let p = Int(after.dropFirst()), (1...65535).contains(p) else { throw RedisURLError("bad port in \(url)") }
                port = p
            }
            host = String(host[host.index(after: host.startIndex)..<close])
        } else if let colon = host.lastIndex(of: ":") {
            guard let p = Int(host[host.index(after: colon)...]), (1...65535).contains(p) else {
                throw RedisURLError("bad port in \(url)")
            }
            port = p
            host = String(host[..<colon])
        }
        guard !host.isEmpty else { throw RedisURLError("missing host in \(url)") }
        self.init(address: .tcp(host: host, port: port), username: username, password: password, database: database)
    }
}

extension RedisConfiguration {
    /// A Redis Cluster from its seeds: `redis://h1:p1,redis://h2:p2,...` or
    /// `redis+cluster://[user:password@]h1:p1,h2:p2,...`. Credentials come from the first seed
    /// that has them; a cluster has only database 0.
    public init(clusterURLs text: String) throws(RedisURLError) {
        var urls: [String]
        if text.hasPrefix("redis+cluster://") {
            let rest = text.dropFirst("redis+cluster://".count)
            var credentials = ""
            var hosts = Substring(rest)
            if let at = rest.lastIndex(of: "@") {
                credentials = String(rest[...at])
                hosts = rest[rest.index(after: at)...]
            }
            urls = hosts.split(separator: ",", omittingEmptySubsequences: false).map { "redis://" + credentials + $0 }
        } else {
            urls = text.split(separator: ",", omittingEmptySubsequences: false).map { String($0).trimmingSpaces }
        }
        guard !urls.isEmpty, !text.isEmpty else { throw RedisURLError("no cluster seeds in '\(text)'") }
        var seeds: [RedisConfiguration] = []
        for url in urls {
            guard url.hasPrefix("redis://") else { throw RedisURLError("cluster seed '\(url)' must be redis://host:port") }
            let seed = try RedisConfiguration(url: url)
            guard seed.database == 0 else { throw RedisURLError("Redis Cluster has only database 0 (in '\(url)')") }
            seeds.append(seed)
        }
        self = seeds[0]
        if password == nil, let first = seeds.first(where: { $0.password != nil }) {
            username = first.username
            password = first.password
        }
        clusterSeeds = seeds.map(\.address)
    }

    /// The configuration of one node of this cluster: the same options, another address.
    func node(_ address: Address) -> RedisConfiguration {
        var node = self
        node.address = address
        node.clusterSeeds = []
        return node
    }
}

public struct RedisURLError: Error, Sendable, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}

extension String {
    var trimmingSpaces: String {
        String(drop(while: { $0 == " " }).reversed().drop(while: { $0 == " " }).reversed())
    }

    /// Percent-decoding without Foundation; invalid escapes are kept as written.
    var removingPercentEncodingLossy: String {
        guard contains("%") else { return self }
        var bytes: [UInt8] = []
        var iterator = Array(utf8)[...]
        while let byte = iterator.popFirst() {
            if byte == UInt8(ascii: "%"), iterator.count >= 2,
               let value = UInt8(String(decoding: iterator.prefix(2), as: UTF8.self), radix: 16) {
                bytes.append(value)
                iterator = iterator.dropFirst(2)
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
