import CHiredis
import NIOCore
import Testing
@testable import SluiceRedis

/// Commands are framed by our own encoder, straight into the outbound buffer; hiredis's
/// `redisFormatCommandArgv` is the reference it must match byte for byte.
@Suite struct RedisCommandTests {
    @Test func encodingMatchesHiredisForEveryArgumentForm() {
        let bulky = String(repeating: "x", count: 70_000)
        let commands: [RedisCommand] = [
            RedisCommand("PING"),
            RedisCommand("SET", "k", ""),
            RedisCommand("EVALSHA", [.init("0123abcd"), .init(2), .init("{sluice:7}:i:ab-c"), .init("{sluice:7}:ev:ab-c"), .init(-42), .init(0),
                                     .init(Int.max), .init(Int.min), .init(9), .init(10), .init(99), .init(100)]),
            RedisCommand("SET", [.init("ünï\u{0}cödé 🦆"), .init(bytes: [0, 13, 10, 255, 36, 42]), .init(buffer: ByteBuffer(string: "buffered\r\n"))]),
            RedisCommand("SET", [.init("big"), .init(bulky)]),
            RedisCommand("SADD", [.init("many")] + (0..<200).map { RedisArgument("m\($0)") }),
        ]
        for command in commands {
            var ours = ByteBuffer()
            command.encode(into: &ours)
            let reference = Self.hiredis(command)
            #expect(Array(ours.readableBytesView) == reference, "\(command.arguments.first.map { String(decoding: $0.bytes, as: UTF8.self) } ?? "")")
            #expect(command.encodedCount == reference.count)
            // Appended after what the buffer holds, from a slice's readable bytes only.
            var appended = ByteBuffer(string: "head")
            command.encode(into: &appended)
            #expect(Array(appended.readableBytesView) == Array("head".utf8) + reference)
        }
        var sliced = ByteBuffer(string: "xxpayloadyy")
        sliced.moveReaderIndex(forwardBy: 2)
        sliced.moveWriterIndex(to: 9)
        var out = ByteBuffer()
        RedisCommand("SET", [.init("k"), .init(buffer: sliced), .init(bytes: []), .init("")]).encode(into: &out)
        #expect(String(buffer: out) == "*5\r\n$3\r\nSET\r\n$1\r\nk\r\n$7\r\npayload\r\n$0\r\n\r\n$0\r\n\r\n")
    }

    @Test func argumentsAreEqualByTheirBytesWhateverTheirForm() {
        #expect(RedisArgument("42") == RedisArgument(42))
        #expect(RedisArgument(bytes: Array("abc".utf8)) == RedisArgument(buffer: ByteBuffer(string: "abc")))
        #expect(Set([RedisArgument("7"), RedisArgument(7)]).count == 1)
        #expect(RedisArgument(-5).bytes == Array("-5".utf8))
    }

    private static func hiredis(_ command: RedisCommand) -> [UInt8] {
        let arguments = command.arguments.map(\.bytes)
        var flat: [UInt8] = arguments.flatMap { $0 } + [0]
        return flat.withUnsafeMutableBufferPointer { storage in
            var offset = 0
            var argv: [UnsafePointer<CChar>?] = []
            for argument in arguments {
                argv.append(UnsafeRawPointer(storage.baseAddress! + offset).assumingMemoryBound(to: CChar.self))
                offset += argument.count
            }
            let lengths = arguments.map(\.count)
            var target: UnsafeMutablePointer<CChar>?
            let written = redisFormatCommandArgv(&target, Int32(arguments.count), &argv, lengths)
            defer { redisFreeCommand(target) }
            return Array(UnsafeRawBufferPointer(start: target, count: Int(written)))
        }
    }
}
