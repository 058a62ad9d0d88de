/// An instance as stored in its hash `{p}:i:<id>`.
public struct Instance: Sendable, Equatable {
    public var id: String
    public var tenantId: String?
    public var namespace: String?
    public var sequenceId: String
    public var sequenceVersion: Int
    public var sequenceName: String
    public var state: InstanceState
    /// Index of the block to run next (== block count once all ran).
    public var blockIndex: Int
    public var currentBlock: String?
    public var context: JSONValue
    public var metadata: JSONValue
    public var error: JSONValue?
    /// Fencing token: bumped by every claim; a commit with an older epoch is refused.
    public var epoch: Int
    /// Failed attempts of the current block so far.
    public var attempt: Int
    /// The error of the last failed attempt of the current block.
    public var lastError: JSONValue?
    /// The state a `pause` signal left (restored by `resume`).
    public var pausedFrom: InstanceState?
    public var createdAt: Int64
    public var updatedAt: Int64
    /// Decisions of approval gates (`{block_id, value, decided_by, decided_at, signal_id}`), in
    /// the order they were made.
    public var decisions: [JSONValue]

    /// Decodes the hash (HGETALL pairs); nil when it is not a complete instance.
    /// Decodes the instance hash and its context hash (HGETALL of each).
    public init?(fields: [String: String], context: [String: String]) {
        guard let id = fields["id"], let sequenceId = fields["sequence_id"],
              let version = fields["sequence_version"].flatMap(Int.init),
              let state = fields["state"].flatMap(InstanceState.init(rawValue:)) else { return nil }
        self.id = id
        self.tenantId = fields["tenant_id"].flatMap { $0.isEmpty ? nil : $0 }
        self.namespace = fields["namespace"].flatMap { $0.isEmpty ? nil : $0 }
        self.sequenceId = sequenceId
        self.sequenceVersion = version
        self.sequenceName = fields["sequence_name"] ?? sequenceId
        self.state = state
        self.blockIndex = fields["block_index"].flatMap(Int.init) ?? 0
        self.currentBlock = fields["current_block"].flatMap { $0.isEmpty ? nil : $0 }
        self.context = .object(context.compactMapValues { try? JSONValue.parse(Array($0.utf8)) })
        self.metadata = fields["metadata"].flatMap { try? JSONValue.parse(Array($0.utf8)) } ?? .object([:])
        self.error = fields["error"].flatMap { $0.isEmpty ? nil : try? JSONValue.parse(Array($0.utf8)) }
        self.epoch = fields["epoch"].flatMap(Int.init) ?? 0
        self.attempt = fields["attempt"].flatMap(Int.init) ?? 0
        self.lastError = fields["last_error"].flatMap { $0.isEmpty ? nil : try? JSONValue.parse(Array($0.utf8)) }
        self.pausedFrom = fields["paused_from"].flatMap(InstanceState.init(rawValue:))
        self.createdAt = fields["created_at"].flatMap(Int64.init) ?? 0
        self.updatedAt = fields["updated_at"].flatMap(Int64.init) ?? 0
        self.decisions = fields.filter { $0.key.hasPrefix("decision:") }.values
            .compactMap { try? JSONValue.parse(Array($0.utf8)) }
            .sorted { ($0["decided_at"]?.stringValue ?? "", $0["block_id"]?.stringValue ?? "") < ($1["decided_at"]?.stringValue ?? "", $1["block_id"]?.stringValue ?? "") }
    }

    /// The API representation (`GET /instances/{id}`).
    public var json: JSONValue {
        func optional(_ value: String?) -> JSONValue { value.map(JSONValue.string) ?? .null }
        return .object([
            "id": .string(id), "tenant_id": optional(tenantId), "namespace": optional(namespace),
            "sequence_id": .string(sequenceId), "sequence_version": .number(Double(sequenceVersion)),
            "sequence_name": .string(sequenceName), "state": .string(state.rawValue),
            "current_block": optional(currentBlock), "context": context, "metadata": metadata,
            "error": error ?? .null, "decisions": .array(decisions),
            "created_at": .string(Clock.rfc3339(milliseconds: createdAt)),
            "updated_at": .string(Clock.rfc3339(milliseconds: updatedAt)),
        ])
    }
}

