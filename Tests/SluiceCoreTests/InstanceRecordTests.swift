import NIOCore
import SluiceRedis
import Testing
@testable import SluiceCore

/// `InstanceRecord` matches the hash's fields by their bytes and writes the response into memory
/// sized beforehand (`BoundedJSONWriter`). Stored data can be anything a client once sent, so the
/// size must hold for the worst text there is: a bound too small would trap the process.
@Suite struct InstanceRecordTests {
    static func reply(_ pairs: [(String, [UInt8])]) -> RedisReply {
        .array(pairs.flatMap { [RedisReply.string(ByteBuffer(string: $0.0)), .string(ByteBuffer(bytes: $0.1))] })
    }

    /// A number as the parser reads it (small integers become `.number`).
    static func number(_ text: String) throws -> JSONValue { try JSONValue.parse(Array(text.utf8)) }

    static func written(_ record: InstanceRecord) -> ByteBuffer {
        var out = ByteBuffer()
        record.write(to: &out)
        return out
    }

    /// Every text field and context key made only of control characters (6 bytes each when
    /// escaped), long ones, and invalid UTF-8 (repaired to U+FFFD, 3 bytes each).
    @Test(arguments: [0x01, 0x1F, 0x22, 0x5C, 0x80, 0xFF, 0x41])
    func theWorstTextForEachFieldFitsAndMeansWhatItSays(byte: UInt8) throws {
        let text = [UInt8](repeating: byte, count: 3_000)
        let textFields = ["id", "tenant_id", "namespace", "sequence_id", "sequence_name", "current_block"]
        var pairs: [(String, [UInt8])] = textFields.map { ($0, text) }
        pairs += [("sequence_version", Array("-9223372036854775808".utf8)), ("state", Array("waiting".utf8)),
                  ("created_at", Array("+9223372036854775807".utf8)), ("updated_at", Array("-62135596800001".utf8))]
        let contextKey = String(decoding: text, as: UTF8.self)
        let context = RedisReply.array([.string(ByteBuffer(bytes: text)), .string(ByteBuffer(string: "1")),
                                        .string(ByteBuffer(bytes: text + [0x42])), .string(ByteBuffer(string: "[]"))])
        let record = try #require(InstanceRecord(instance: Self.reply(pairs), context: context))
        let json = try JSONValue.parse(Self.written(record).readableBytesView)
        let expectedText = JSONValue.string(String(decoding: text, as: UTF8.self))
        for field in textFields { #expect(json[field] == expectedText, "\(field)") }
        #expect(json["sequence_version"] == (try Self.number("-9223372036854775808")))
        #expect(json["context"] == .object([contextKey: try Self.number("1"), contextKey + "B": .array([])]))
        #expect(json["created_at"]?.stringValue == Clock.rfc3339(milliseconds: .max))
        #expect(json["updated_at"]?.stringValue == Clock.rfc3339(milliseconds: -62_135_596_800_001))
    }

    /// Fields the API does not show, names that only look like the ones it does (same length, a
    /// prefix) and non-string replies are passed over; the fields it shows are found whatever
    /// order the hash gives them in.
    @Test func onlyTheExactNamesAreRead() throws {
        let pairs: [(String, [UInt8])] = [
            ("epoch", Array("3".utf8)), ("statf", Array("x".utf8)), ("state", Array("running".utf8)),
            ("ID", Array("no".utf8)), ("id", Array("i-1".utf8)), ("sequence_idx", Array("no".utf8)),
            ("sequence_id", Array("s".utf8)), ("sequence_version", Array("7".utf8)), ("error ", Array("no".utf8)),
            ("decision", Array("no".utf8)), ("decisions:x", Array("no".utf8)), ("decision:g", Array(#"{"block_id":"g"}"#.utf8)),
        ]
        var elements = Self.reply(pairs).array ?? []
        elements += [.integer(5), .string(ByteBuffer(string: "namespace"))]
        let record = try #require(InstanceRecord(instance: .array(elements), context: .null))
        let json = try JSONValue.parse(Self.written(record).readableBytesView)
        #expect(json["id"] == .string("i-1"))
        #expect(json["state"] == .string("running"))
        #expect(json["sequence_name"] == .string("s"))
        #expect(json["sequence_version"] == (try Self.number("7")))
        #expect(json["namespace"] == .null)
        #expect(json["error"] == .null)
        #expect(json["decisions"] == .array([.object(["block_id": .string("g")])]))
        // Without a readable version or a known state it is not an instance.
        let noVersion = pairs.map { $0.0 == "sequence_version" ? ($0.0, Array("7.5".utf8)) : $0 }
        #expect(InstanceRecord(instance: Self.reply(noVersion), context: .null) == nil)
        let unknownState = pairs.map { $0.0 == "state" ? ($0.0, Array("dancing".utf8)) : $0 }
        #expect(InstanceRecord(instance: Self.reply(unknownState), context: .null) == nil)
    }

    @Test func theWriterTrapsRatherThanWritePastItsBound() async {
        await #expect(processExitsWith: .failure) {
            var out = ByteBuffer()
            out.writeJSON(atMost: 4) { json in json.append("12345") }
        }
    }

    @Test func decimalsOfEveryWidth() {
        for value in [Int64.min, -1_000, -1, 0, 9, 10, 1_700_000_000_123, .max] {
            var out = ByteBuffer()
            out.writeJSON(atMost: 20) { $0.decimal(value) }
            #expect(String(buffer: out) == String(value))
        }
    }
}
