import NIOCore
import Testing
@testable import SluiceRedis

/// The reader builds replies from hiredis's object-function calls. Fed whole, in one go with
/// several replies, or one byte at a time (hiredis then stops mid-reply and resumes), it gives
/// the same replies; a protocol error is thrown and the next reader starts clean.
@Suite struct RESPReplyReaderTests {
    static let wire = [
        "+OK\r\n",
        "-ERR wrong type\r\n",
        ":-42\r\n",
        "$5\r\nhello\r\n",
        "$0\r\n\r\n",
        "$-1\r\n",
        "*-1\r\n",
        "*0\r\n",
        "*3\r\n$1\r\na\r\n*2\r\n:1\r\n$-1\r\n*1\r\n*1\r\n$3\r\n\u{0}\r\n\r\n",
        "*4\r\n$2\r\nid\r\n$3\r\nabc\r\n$5\r\nstate\r\n$7\r\nrunning\r\n",
    ]

    static func buffer(_ text: String) -> ByteBuffer { ByteBuffer(string: text) }

    static let expected: [RedisReply] = [
        .status("OK"),
        .error("ERR wrong type"),
        .integer(-42),
        .string(buffer("hello")),
        .string(buffer("")),
        .null,
        .null,
        .array([]),
        .array([.string(buffer("a")), .array([.integer(1), .null]), .array([.array([.string(buffer("\u{0}\r\n"))])])]),
        .array([.string(buffer("id")), .string(buffer("abc")), .string(buffer("state")), .string(buffer("running"))]),
    ]

    static func drain(_ reader: RESPReplyReader) throws -> [RedisReply] {
        var replies: [RedisReply] = []
        while let reply = try reader.next() { replies.append(reply) }
        return replies
    }

    @Test func everyReplyKindWholeAndTogether() throws {
        let reader = RESPReplyReader()
        try reader.feed(Self.buffer(Self.wire.joined()))
        #expect(try Self.drain(reader) == Self.expected)
        #expect(try reader.next() == nil)
    }

    @Test func oneByteAtATimeGivesTheSameReplies() throws {
        let reader = RESPReplyReader()
        var replies: [RedisReply] = []
        for byte in Array(Self.wire.joined().utf8) {
            var one = ByteBuffer()
            one.writeInteger(byte)
            try reader.feed(one)
            replies += try Self.drain(reader)
        }
        #expect(replies == Self.expected)
    }

    @Test func aBigBulkStringAcrossManyFeeds() throws {
        let payload = String(repeating: "0123456789", count: 100_000)
        let reader = RESPReplyReader()
        var wire = Self.buffer("*2\r\n$\(payload.utf8.count)\r\n\(payload)\r\n:7\r\n")
        var replies: [RedisReply] = []
        while let slice = wire.readSlice(length: min(wire.readableBytes, 4096)), slice.readableBytes > 0 {
            try reader.feed(slice)
            replies += try Self.drain(reader)
        }
        #expect(replies == [.array([.string(Self.buffer(payload)), .integer(7)])])
    }

    @Test func garbageIsAProtocolErrorAndANewReaderStartsClean() throws {
        let reader = RESPReplyReader()
        try reader.feed(Self.buffer("*2\r\n$1\r\na\r\n!nonsense\r\n"))
        #expect(throws: RedisClientError.self) { try Self.drain(reader) }
        let fresh = RESPReplyReader()
        try fresh.feed(Self.buffer("+OK\r\n"))
        #expect(try Self.drain(fresh) == [.status("OK")])
    }

    /// Strings under `ReplyNodes.largeString` bytes and at or over it go to two different buffers;
    /// a reply mixing them, fed in uneven pieces, keeps each string's bytes and order. A reply
    /// bigger than the memory the reader keeps is followed by small ones that still read right.
    @Test func smallAndLargeStringsInterleavedAcrossFeeds() throws {
        let sizes = [0, 1, ReplyNodes.largeString - 1, ReplyNodes.largeString, 3, 70_000, 5, ReplyNodes.largeString + 1, 2]
        let strings = sizes.enumerated().map { index, size in
            String((0..<size).map { Character(UnicodeScalar(UInt8(ascii: "a") + UInt8((index + $0) % 26))) })
        }
        var wire = "*\(strings.count)\r\n"
        for text in strings { wire += "$\(text.utf8.count)\r\n\(text)\r\n" }
        let big = String(repeating: "z", count: ReplyBytes.keptCapacity + 1)
        // Small strings adding up to more than the reader keeps between replies.
        let small = (0..<300).map { "k\($0)-" + String(repeating: "s", count: ReplyNodes.largeString - 10) }
        #expect(small.reduce(0) { $0 + $1.utf8.count } > ReplyBytes.keptCapacity)
        wire += "*\(small.count + 1)\r\n" + small.map { "$\($0.utf8.count)\r\n\($0)\r\n" }.joined() + "$\(big.utf8.count - 10)\r\n\(big.dropFirst(10))\r\n"
        wire += "*2\r\n$2\r\nid\r\n$3\r\nabc\r\n"
        let reader = RESPReplyReader()
        var bytes = Self.buffer(wire)
        var replies: [RedisReply] = []
        var piece = 1
        while bytes.readableBytes > 0, let slice = bytes.readSlice(length: min(bytes.readableBytes, piece)) {
            try reader.feed(slice)
            replies += try Self.drain(reader)
            piece = piece * 7 % 9_973 + 1
        }
        #expect(replies == [
            .array(strings.map { .string(Self.buffer($0)) }),
            .array(small.map { .string(Self.buffer($0)) } + [.string(Self.buffer(String(big.dropFirst(10))))]),
            .array([.string(Self.buffer("id")), .string(Self.buffer("abc"))]),
        ])
    }
}
