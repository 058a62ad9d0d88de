/// A checkpoint as stored in `{p}:cpd:<id>`: the client's data and the engine snapshot of the
/// instance taken in the same script (lua/save_checkpoint.lua writes the record).
public struct Checkpoint: Sendable, Equatable {
    public var id: String
    public var instanceId: String
    public var data: JSONValue
    public var createdAt: String
    public var snapshot: Snapshot

    /// Where the instance was when the checkpoint was saved; restore puts it back there.
    public struct Snapshot: Sendable, Equatable {
        public var state: InstanceState
        public var sequenceVersion: Int
        public var blockIndex: Int
        public var currentBlock: String?
        public var context: JSONValue
    }

    /// Decodes a stored record; nil when it is not one.
    public init?(record: String) {
        guard let json = try? JSONValue.parse(Array(record.utf8)), let id = json["id"]?.stringValue,
              let instanceId = json["instance_id"]?.stringValue, let createdAt = json["created_at"]?.stringValue,
              let snapshot = json["snapshot"], let state = snapshot["state"]?.stringValue.flatMap(InstanceState.init(rawValue:)),
              case .number(let version)? = snapshot["sequence_version"], case .number(let index)? = snapshot["block_index"]
        else { return nil }
        self.id = id
        self.instanceId = instanceId
        self.data = json["checkpoint_data"] ?? .null
        self.createdAt = createdAt
        let block = snapshot["current_block"]?.stringValue ?? ""
        self.snapshot = Snapshot(
            state: state, sequenceVersion: Int(version), blockIndex: Int(index), currentBlock: block.isEmpty ? nil : block,
            context: snapshot["context"] ?? .object([:]))
    }

    /// The API representation (`GET /instances/{id}/checkpoints…`, a task's `latest_checkpoint`).
    /// The record's `context_layout` is storage detail and stays inside.
    public var json: JSONValue {
        .object([
            "id": .string(id), "instance_id": .string(instanceId), "checkpoint_data": data, "created_at": .string(createdAt),
            "snapshot": .object([
                "state": .string(snapshot.state.rawValue), "sequence_version": .number(Double(snapshot.sequenceVersion)),
                "block_index": .number(Double(snapshot.blockIndex)), "current_block": snapshot.currentBlock.map(JSONValue.string) ?? .null,
                "context": snapshot.context,
            ]),
        ])
    }
}
