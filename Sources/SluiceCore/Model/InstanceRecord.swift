import NIOCore
import SluiceRedis

/// An instance as read for `GET /instances/{id}`: its hash and context hash as Redis returned
/// them, written out as the API's JSON (the shape of `Instance.json`) without parsing what Sluice
/// stored as JSON text (context values, metadata, error, decisions): those are spliced in as
/// stored. Only the decisions are parsed, and only for the two fields they are ordered by.
///
/// The hash's fields are matched by their bytes into one slot each, not gathered into a
/// `[String: ByteBuffer]`: callgrind put the dictionary (a `String` and a hash per field) at about
/// a fifth of the route's instructions above `GET /readyz`.
public struct InstanceRecord: Sendable {
    /// The stored fields the API's JSON shows. Others (epoch, attempt, position, ...) are skipped.
    enum Field: Int, CaseIterable {
        case id, tenantId, namespace, sequenceId, sequenceVersion, sequenceName, state, currentBlock
        case metadata, error, createdAt, updatedAt

        /// The field's name in the instance hash.
        var name: StaticString {
            switch self {
            case .id: "id"
            case .tenantId: "tenant_id"
            case .namespace: "namespace"
            case .sequenceId: "sequence_id"
            case .sequenceVersion: "sequence_version"
            case .sequenceName: "sequence_name"
            case .state: "state"
            case .currentBlock: "current_block"
            case .metadata: "metadata"
            case .error: "error"
            case .createdAt: "created_at"
            case .updatedAt: "updated_at"
            }
        }

        /// The field a stored name is, by its bytes; nil for the rest. The length narrows it to at
        /// most two names before any byte is compared.
        static func named(_ key: UnsafeRawBufferPointer) -> Field? {
            let candidates: (Field, Field?)
            switch key.count {
            case 2: candidates = (.id, nil)
            case 5: candidates = (.state, .error)
            case 8: candidates = (.metadata, nil)
            case 9: candidates = (.tenantId, .namespace)
            case 10: candidates = (.createdAt, .updatedAt)
            case 11: candidates = (.sequenceId, nil)
            case 13: candidates = (.sequenceName, .currentBlock)
            case 16: candidates = (.sequenceVersion, nil)
            default: return nil
            }
            if candidates.0.name.matches(key) { return candidates.0 }
            if let second = candidates.1, second.name.matches(key) { return second }
            return nil
        }
    }

    private var values = [ByteBuffer?](repeating: nil, count: Field.allCases.count)
    private var decisionRecords: [ByteBuffer] = []
    private var context: [(key: ByteBuffer, value: ByteBuffer)] = []

    private static let decisionPrefix: StaticString = "decision:"
    /// The fields `write` escapes as JSON strings; the sequence id twice, as it may stand in for
    /// the name.
    private static let escapedFields: [Field] = [.id, .tenantId, .namespace, .sequenceId, .sequenceId, .sequenceName, .state, .currentBlock]

    /// From the HGETALL replies of the instance hash and its context hash; nil when the first is
    /// not a complete instance (as `Instance(fields:context:)`).
    public init?(instance: RedisReply, context: RedisReply) {
        guard case .array(let pairs) = instance, pairs.count % 2 == 0 else { return nil }
        var index = 0
        while index < pairs.count {
            if case .string(let key) = pairs[index], case .string(let value) = pairs[index + 1] {
                let slot = key.withUnsafeReadableBytes { bytes -> Int? in
                    if let field = Field.named(bytes) { return field.rawValue }
                    return Self.decisionPrefix.isPrefix(of: bytes) ? -1 : nil
                }
                if let slot { if slot >= 0 { values[slot] = value } else { decisionRecords.append(value) } }
            }
            index += 2
        }
        guard self[.id] != nil, self[.sequenceId] != nil, integer(.sequenceVersion) != nil,
              let state = self[.state], InstanceState(rawValue: String(buffer: state)) != nil else { return nil }
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

    public var tenantId: String? { text(.tenantId).map { String(buffer: $0) } }

    /// Appends the API JSON, with one write to `out` (`BoundedJSONWriter`).
    public func write(to out: inout ByteBuffer) {
        let decisions = decisions()
        out.writeJSON(atMost: bound(decisions: decisions)) { json in
            json.append(#"{"id":"#)
            json.appendJSONString(bytes: text(.id) ?? ByteBuffer())
            json.append(#","tenant_id":"#)
            json.appendJSONString(orNull: text(.tenantId))
            json.append(#","namespace":"#)
            json.appendJSONString(orNull: text(.namespace))
            json.append(#","sequence_id":"#)
            json.appendJSONString(bytes: text(.sequenceId) ?? ByteBuffer())
            json.append(#","sequence_version":"#)
            json.decimal(integer(.sequenceVersion) ?? 0)
            json.append(#","sequence_name":"#)
            json.appendJSONString(bytes: text(.sequenceName) ?? text(.sequenceId) ?? ByteBuffer())
            json.append(#","state":"#)
            json.appendJSONString(bytes: text(.state) ?? ByteBuffer())
            json.append(#","current_block":"#)
            json.appendJSONString(orNull: text(.currentBlock))
            json.append(#","context":{"#)
            for (index, member) in context.enumerated() {
                if index > 0 { json.append(UInt8(ascii: ",")) }
                json.appendJSONString(bytes: member.key)
                json.append(UInt8(ascii: ":"))
                json.splice(member.value)
            }
            json.append(#"},"metadata":"#)
            if let metadata = text(.metadata) { json.splice(metadata) } else { json.append("{}") }
            json.append(#","error":"#)
            if let error = text(.error) { json.splice(error) } else { json.append("null") }
            json.append(#","decisions":["#)
            for (index, decision) in decisions.enumerated() {
                if index > 0 { json.append(UInt8(ascii: ",")) }
                json.splice(decision)
            }
            json.append(#"],"created_at":""#)
            Clock.appendRFC3339(milliseconds: integer(.createdAt) ?? 0, to: &json)
            json.append(#"","updated_at":""#)
            Clock.appendRFC3339(milliseconds: integer(.updatedAt) ?? 0, to: &json)
            json.append(#""}"#)
        }
    }

    /// The most bytes `write` can write: the fixed text (under 300 bytes, with two times of at
    /// most 30 and a number of at most 20), every text field escaped at the worst, and the
    /// spliced JSON as it is.
    private func bound(decisions: [ByteBuffer]) -> Int {
        let escaped = BoundedJSONWriter.maxEscapedBytesPerByte
        var bound = 512
        for field in Self.escapedFields { bound += escaped * (self[field]?.readableBytes ?? 0) }
        bound += (self[.metadata]?.readableBytes ?? 0) + (self[.error]?.readableBytes ?? 0)
        for member in context { bound += escaped * member.key.readableBytes + member.value.readableBytes + 4 }
        for decision in decisions { bound += decision.readableBytes + 1 }
        return bound
    }

    /// The decision records in the order they were made (decided_at, then block id), as stored.
    /// An instance holds one per gate it passed, usually none or one, so this parses little.
    private func decisions() -> [ByteBuffer] {
        guard decisionRecords.count > 0 else { return [] }
        var decisions: [(order: (String, String), record: ByteBuffer)] = []
        for record in decisionRecords {
            guard let json = try? JSONValue.parse(record.readableBytesView) else { continue }
            decisions.append(((json["decided_at"]?.stringValue ?? "", json["block_id"]?.stringValue ?? ""), record))
        }
        return decisions.sorted { $0.order < $1.order }.map(\.record)
    }

    private subscript(_ field: Field) -> ByteBuffer? { values[field.rawValue] }

    /// A non-empty field.
    private func text(_ field: Field) -> ByteBuffer? {
        guard let value = self[field], value.readableBytes > 0 else { return nil }
        return value
    }

    /// Integer text as `Int64(_: String)` reads it; the usual short decimal straight from the bytes.
    private func integer(_ field: Field) -> Int64? {
        guard let value = self[field] else { return nil }
        return value.withUnsafeReadableBytes(RedisScore.decimal) ?? Int64(String(buffer: value))
    }
}

extension StaticString {
    /// Whether `bytes` are exactly this string's UTF-8.
    func matches(_ bytes: UnsafeRawBufferPointer) -> Bool {
        bytes.count == utf8CodeUnitCount && isPrefix(of: bytes)
    }

    /// Whether `bytes` begin with this string's UTF-8.
    func isPrefix(of bytes: UnsafeRawBufferPointer) -> Bool {
        guard bytes.count >= utf8CodeUnitCount else { return false }
        return UnsafeRawBufferPointer(start: utf8Start, count: utf8CodeUnitCount).elementsEqual(bytes.prefix(utf8CodeUnitCount))
    }
}
