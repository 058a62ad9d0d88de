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
    public func encode(into buffer: inout ByteBuffer) {
        // Lay all arguments out in one contiguous array so hiredis gets stable pointers.
        var bytes: [UInt8] = []
        bytes.reserveCapacity(arguments.reduce(0) { $0 + $1.bytes.count })
        var lengths: [Int] = []
        lengths.reserveCapacity(arguments.count)
        for argument in arguments {
            bytes.append(contentsOf: argument.bytes)
            lengths.append(argument.bytes.count)
        }
        bytes.withUnsafeBufferPointer { storage in
            let base = storage.baseAddress.map { UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self) }
            var pointers: [UnsafePointer<CChar>?] = []
            pointers.reserveCapacity(lengths.count)
            var offset = 0
            for length in lengths {
                pointers.append(base.map { $0 + offset })
                offset += length
            }
            var target: UnsafeMutablePointer<CChar>?
            let written = pointers.withUnsafeMutableBufferPointer { argv in
                lengths.withUnsafeBufferPointer { argvlen in
                    redisFormatCommandArgv(&target, Int32(lengths.count), argv.baseAddress, argvlen.baseAddress)
                }
            }
            // redisFormatCommandArgv only fails on allocation failure.
            precondition(written >= 0 && target != nil, "hiredis could not encode a command (out of memory)")
            buffer.writeBytes(UnsafeRawBufferPointer(start: target, count: Int(written)))
            redisFreeCommand(target)
        }
    }
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
