/// The one place that names Redis keys.
///
/// Every key of an instance and every index of its partition share the hash tag
/// `{<prefix>:<partition>}`, so each script touches one hash slot: it runs unchanged on a single
/// Redis or on Redis Cluster, where partitions spread over the nodes. Only deployment-wide data
/// (meta, sequences) lives outside the partitions. Keys are readable in `redis-cli`.
public struct KeySchema: Sendable, Equatable {
    public let prefix: String
    public let partitions: Int
    /// `tag(p)` of every partition, made once: every key of every request starts with one, and
    /// interpolating it each time was a visible share of a listing's instructions.
    private let tags: [String]

    public init(prefix: String, partitions: Int) {
        precondition(partitions > 0, "partitions must be positive")
        self.prefix = prefix
        self.partitions = partitions
        self.tags = (0..<partitions).map { "{\(prefix):\($0)}" }
    }

    public static func == (lhs: KeySchema, rhs: KeySchema) -> Bool { lhs.prefix == rhs.prefix && lhs.partitions == rhs.partitions }

    /// `crc32(instanceId) mod partitions`.
    public func partition(of instanceId: String) -> Int {
        Int(CRC32.checksum(instanceId.utf8) % UInt32(partitions))
    }

    public var allPartitions: Range<Int> { 0..<partitions }

    /// The hash tag shared by every key of partition `p`.
    public func tag(_ p: Int) -> String { tags.indices.contains(p) ? tags[p] : "{\(prefix):\(p)}" }

    // MARK: deployment-wide

    public var meta: String { "\(prefix):meta" }
    /// All versions of a sequence in one hash (`latest`, `v<N>` → JSON): one key, one slot.
    public func sequence(_ id: String) -> String { "\(prefix):seq:\(id)" }
    /// A console sign-in session, named by the SHA-256 (hex) of its cookie token, never the
    /// token itself (a dump of Redis holds no usable session). Expires with the session.
    public func consoleSession(_ tokenDigest: String) -> String { "\(prefix):session:\(tokenDigest)" }

    // MARK: per instance

    // The kind comes before the id (`{p}:<kind>:<id>`): ids may contain `:`, so a suffix after the
    // id (`<id>:ev`) could be another instance's key (id `a:ev` vs the events of `a`). Every kind
    // that takes data ends in `:` and no kind is a prefix of another, so no two distinct
    // (kind, id) pairs give the same key (KeySchemaTests checks random ids).
    public func instance(_ id: String) -> String { instanceKey(.instance, id) }
    public func events(_ id: String) -> String { instanceKey(.events, id) }
    /// The context: one field per top-level key, each value JSON text, so a shallow merge is
    /// an HSET and scripts never decode user JSON.
    public func context(_ id: String) -> String { instanceKey(.context, id) }
    public func outputs(_ id: String) -> String { instanceKey(.outputs, id) }
    public func gate(_ id: String) -> String { instanceKey(.gate, id) }
    public func inbox(_ id: String) -> String { instanceKey(.inbox, id) }
    public func checkpoints(_ id: String) -> String { instanceKey(.checkpoints, id) }
    public func checkpointData(_ id: String) -> String { instanceKey(.checkpointData, id) }
    /// Every key of an instance but its hash: what expires, is restored or is deleted with it.
    /// The partition is computed once for all seven.
    public func instanceKeys(_ id: String) -> [String] {
        let p = partition(of: id)
        return [InstanceKind.context, .events, .outputs, .gate, .inbox, .checkpoints, .checkpointData].map { instanceKey($0, id, in: p) }
    }

    /// The kinds of an instance's keys, as they appear in the key (`{p}:<kind>:<id>`).
    private enum InstanceKind: String {
        case instance = "i", events = "ev", context = "ctx", outputs = "out", gate, inbox, checkpoints = "cp", checkpointData = "cpd"
    }

    private func instanceKey(_ kind: InstanceKind, _ id: String, in p: Int? = nil) -> String {
        "\(tag(p ?? partition(of: id))):\(kind.rawValue):\(id)"
    }

    // MARK: per partition

    public func ready(_ p: Int) -> String { tag(p) + ":ready" }
    /// Instances of the partition by creation time (for listing, newest first).
    public func instanceIndex(_ p: Int) -> String { tag(p) + ":idx" }
    public func leases(_ p: Int) -> String { tag(p) + ":leases" }
    /// Finished instances → when their keys expire (ms): the sweeper removes their listing
    /// entries (`instanceIndex`) once the keys are gone, so the index does not grow forever.
    public func expiries(_ p: Int) -> String { tag(p) + ":expiry" }
    public func approvals(_ p: Int) -> String { tag(p) + ":appr" }
    public func approvals(_ p: Int, tenant: String) -> String { tag(p) + ":appr:t:\(tenant)" }
    public func approvals(_ p: Int, namespace: String) -> String { tag(p) + ":appr:n:\(namespace)" }
    /// `|` cannot occur in identifiers, so tenant `a:b` + namespace `c` and `a` + `b:c` differ.
    public func approvals(_ p: Int, tenant: String, namespace: String) -> String { tag(p) + ":appr:tn:\(tenant)|\(namespace)" }
    /// The index a listing filter reads.
    public func approvals(_ p: Int, tenant: String?, namespace: String?) -> String {
        switch (tenant, namespace) {
        case let (tenant?, namespace?): return approvals(p, tenant: tenant, namespace: namespace)
        case let (tenant?, nil): return approvals(p, tenant: tenant)
        case let (nil, namespace?): return approvals(p, namespace: namespace)
        case (nil, nil): return approvals(p)
        }
    }
    /// Instance id → the JSON of its open approval item (what listings return).
    public func approvalItems(_ p: Int) -> String { tag(p) + ":appritems" }
    public func deadlines(_ p: Int) -> String { tag(p) + ":deadlines" }
    public func approvalEvents(_ p: Int) -> String { tag(p) + ":apprev" }
    public func tasks(_ p: Int, handler: String) -> String { tag(p) + ":tasks:\(handler)" }
    /// The same tasks of one tenant's instances, for its tenant-bound workers (`|` never occurs
    /// in identifiers, so no handler/tenant pair aliases another).
    public func tasks(_ p: Int, handler: String, tenant: String) -> String { tag(p) + ":tasks:\(handler)|\(tenant)" }
    /// Escalation tasks of built-in handlers, run by sweepers (external ones go to `tasks`).
    public func builtinEscalations(_ p: Int) -> String { tag(p) + ":esc" }
    /// Tasks held by workers → lease expiry (ms); the sweeper re-queues expired ones.
    public func taskLeases(_ p: Int) -> String { tag(p) + ":tasklease" }
    /// Sharded pub/sub channel woken when an event of partition `p` is written.
    public func wakeChannel(_ p: Int) -> String { tag(p) + ":wake" }
}
