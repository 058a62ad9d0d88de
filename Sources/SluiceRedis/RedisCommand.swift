import CHiredis
import NIOCore

/// A command as its argument vector. Arguments are bytes; most callers pass strings.
public struct RedisCommand: Sendable {
    public var arguments: [RedisArgument]

    public init(_ name: String, _ arguments: [RedisArgument] = []) {
        self.arguments = [.init(name)] + arguments
    }

    public init(_ name: String, _ arguments: String...) {
        self.arguments = [.init(name)] + arguments.map { RedisArgument($0) }
    }

    /// Encodes the command as RESP with hiredis (`redisFormatCommandArgv`) into `buffer`.
    /// The argument vector points straight into each argument's bytes (pinned one by one), so
    /// the only allocation is hiredis's own output string.
    public func encode(into buffer: inout ByteBuffer) {
        let count = arguments.count
        // Pinning recurses once per argument: fine for ordinary commands, not for a huge MSET.
        guard count <= 64 else { return encodeCopying(into: &buffer) }
        withUnsafeTemporaryAllocation(of: UnsafePointer<CChar>?.self, capacity: count) { argv in
            withUnsafeTemporaryAllocation(of: Int.self, capacity: count) { lengths in
                pin(0, argv, lengths) {
                    var target: UnsafeMutablePointer<CChar>?
                    let written = redisFormatCommandArgv(&target, Int32(count), argv.baseAddress, lengths.baseAddress)
                    // redisFormatCommandArgv only fails on allocation failure.
                    precondition(written >= 0 && target != nil, "hiredis could not encode a command (out of memory)")
                    buffer.writeBytes(UnsafeRawBufferPointer(start: target, count: Int(written)))
                    redisFreeCommand(target)
                }
            }
        }
    }

    /// For long argument lists: one contiguous copy of all arguments, then hiredis.
    private func encodeCopying(into buffer: inout ByteBuffer) {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(arguments.reduce(0) { $0 + $1.bytes.count })
        var lengths: [Int] = []
        lengths.reserveCapacity(arguments.count)
        for argument in arguments {
            bytes.append(contentsOf: argument.bytes)
            lengths.append(argument.bytes.count)
        }
        bytes.withUnsafeBufferPointer { storage in
            let base = storage.baseAddress.map { UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self) } ?? Self.empty
            var offset = 0
            var argv: [UnsafePointer<CChar>?] = []
            argv.reserveCapacity(lengths.count)
            for length in lengths {
                argv.append(base + offset)
                offset += length
            }
            var target: UnsafeMutablePointer<CChar>?
            let written = redisFormatCommandArgv(&target, Int32(lengths.count), &argv, lengths)
            precondition(written >= 0 && target != nil, "hiredis could not encode a command (out of memory)")
            buffer.writeBytes(UnsafeRawBufferPointer(start: target, count: Int(written)))
            redisFreeCommand(target)
        }
    }

    /// Keeps arguments `index...` pinned in memory while `body` runs, recording where they are.
    private func pin(
        _ index: Int, _ argv: UnsafeMutableBufferPointer<UnsafePointer<CChar>?>, _ lengths: UnsafeMutableBufferPointer<Int>,
        _ body: () -> Void
    ) {
        guard index < arguments.count else { return body() }
        arguments[index].bytes.withUnsafeBufferPointer { bytes in
            argv[index] = bytes.baseAddress.map { UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self) } ?? Self.empty
            lengths[index] = bytes.count
            pin(index + 1, argv, lengths, body)
        }
    }

    /// A valid pointer for empty arguments (hiredis copies zero bytes from it; never written).
    nonisolated(unsafe) private static let empty: UnsafePointer<CChar> = {
        let pointer = UnsafeMutablePointer<CChar>.allocate(capacity: 1)
        pointer.initialize(to: 0)
        return UnsafePointer(pointer)
    }()
}

/// One command argument: raw bytes.
public struct RedisArgument: Sendable, Hashable, ExpressibleByStringLiteral, ExpressibleByIntegerLiteral {
    public var bytes: [UInt8]

    public init(_ string: String) { self.bytes = Array(string.utf8) }
    public init(_ value: Int) { self.bytes = Array(String(value).utf8) }
    public init(bytes: [UInt8]) { self.bytes = bytes }
    public init(buffer: ByteBuffer) { self.bytes = Array(buffer.readableBytesView) }
    public init(stringLiteral value: String) { self.init(value) }
    public init(integerLiteral value: Int) { self.init(value) }
}
