import NIOCore
import SluiceRedis

/// An instance as read for `GET /instances/{id}`: its hash and context hash as Redis returned
/// them, written out as the API's JSON (the shape of `Instance.json`) without parsing what Sluice
/// stored as JSON text (context values, metadata, error, decisions): those are spliced in as
/// stored. Only the decisions are parsed, and only for the two fields they are ordered by.
public struct InstanceRecord: Sendable {
    private var fields: [String: ByteBuffer] = [:]
    private var context: [(key: ByteBuffer, value: ByteBuffer)] = []

    /// From the HGETALL replies of the instance hash and its context hash; nil when the first is
    /// not a complete instance (as `Instance(fields:context:)`).
    public init?(instance: RedisReply, context: RedisReply) {
        guard case .array(let pairs) = instance, pairs.count % 2 == 0 else { return nil }
        fields.reserveCapacity(pairs.count / 2)
        var index = 0
        while index < pairs.count {
            if case .string(let key) = pairs[index], case .string(let value) = pairs[index + 1] { fields[String(buffer: key)] = value }
            index += 2
        }
        guard fields["id"] != nil, fields["sequence_id"] != nil, integer("sequence_version") != nil,
              let state = fields["state"], InstanceState(rawValue: String(buffer: state)) != nil else { return nil }
        if case .array(let pairs) = context {
            self.context.reserveCapacity(pairs.count / 2)
            var index = 0
            while index + 1 < pairs.count {
                if case .string(let key) = pairs[index], case .string(let value) = pairs[index + 1] { self.context.append((key, value)) }
                index += 2
            }
            // Sorted like every JSON object Sluice writes (stable output).
            self.context.sort { $0.key.readableBytesView.lexicographicallyPrecedes($1.key.readableBytesView) }
        }
    }

    public var tenantId: String? { text("tenant_id") }

    /// Appends the API JSON.
    public func write(to out: inout ByteBuffer) {
        out.writeString(#"{"id":"#)
        out.appendJSONString(text("id") ?? "")
        out.writeString(#","tenant_id":"#)
        out.appendJSONString(orNull: text("tenant_id"))
        out.writeString(#","namespace":"#)
        out.appendJSONString(orNull: text("namespace"))
        out.writeString(#","sequence_id":"#)
        out.appendJSONString(text("sequence_id") ?? "")
        out.writeString(#","sequence_version":"#)
        out.writeString(String(integer("sequence_version") ?? 0))
        out.writeString(#","sequence_name":"#)
        out.appendJSONString(text("sequence_name") ?? text("sequence_id") ?? "")
        out.writeString(#","state":"#)
        out.appendJSONString(text("state") ?? "")
        out.writeString(#","current_block":"#)
        out.appendJSONString(orNull: text("current_block"))
        out.writeString(#","context":{"#)
        for (index, member) in context.enumerated() {
            if index > 0 { out.writeInteger(UInt8(ascii: ",")) }
            out.appendJSONKey(String(buffer: member.key))
            out.writeImmutableBuffer(member.value)
        }
        out.writeString(#"},"metadata":"#)
        if let metadata = fields["metadata"], metadata.readableBytes > 0 { out.writeImmutableBuffer(metadata) } else { out.writeString("{}") }
        out.writeString(#","error":"#)
        if let error = fields["error"], error.readableBytes > 0 { out.writeImmutableBuffer(error) } else { out.writeString("null") }
        out.writeString(#","decisions":["#)
        for (index, decision) in decisions().enumerated() {
            if index > 0 { out.writeInteger(UInt8(ascii: ",")) }
            out.writeImmutableBuffer(decision)
        }
        out.writeString(#"],"created_at":""#)
        Clock.appendRFC3339(milliseconds: integer("created_at") ?? 0, to: &out)
        out.writeString(#"","updated_at":""#)
        Clock.appendRFC3339(milliseconds: integer("updated_at") ?? 0, to: &out)
        out.writeString(#""}"#)
    }

    /// The decision records in the order they were made (decided_at, then block id), as stored.
    private func decisions() -> [ByteBuffer] {
        var decisions: [(order: (String, String), record: ByteBuffer)] = []
        for (key, record) in fields where key.hasPrefix("decision:") {
            guard let json = try? JSONValue.parse(record.readableBytesView) else { continue }
            decisions.append(((json["decided_at"]?.stringValue ?? "", json["block_id"]?.stringValue ?? ""), record))
        }
        return decisions.sorted { $0.order < $1.order }.map(\.record)
    }

    /// A non-empty text field.
    private func text(_ name: String) -> String? {
        guard let value = fields[name], value.readableBytes > 0 else { return nil }
        return String(buffer: value)
    }

    private func integer(_ name: String) -> Int64? {
        fields[name].flatMap { Int64(String(buffer: $0)) }
    }
}
