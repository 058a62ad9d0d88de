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
        // hiredis needs stable pointers to every argument: copy them into one scratch area and
        // build argv/argvlen beside it, in temporary allocations (on the stack when small) rather
        // than three heap arrays per command. This runs once per command on the hot path.
        let count = arguments.count
        var total = 0
        for argument in arguments { total += argument.bytes.count }
        withUnsafeTemporaryAllocation(of: CChar.self, capacity: max(total, 1)) { storage in
            withUnsafeTemporaryAllocation(of: UnsafePointer<CChar>?.self, capacity: count) { argv in
                withUnsafeTemporaryAllocation(of: Int.self, capacity: count) { argvlen in
                    let base = storage.baseAddress!
                    var offset = 0
                    for (index, argument) in arguments.enumerated() {
                        let length = argument.bytes.count
                        argument.bytes.withUnsafeBytes { source in
                            if let source = source.baseAddress, length > 0 {
                                UnsafeMutableRawPointer(base + offset).copyMemory(from: source, byteCount: length)
                            }
                        }
                        argv.initializeElement(at: index, to: UnsafePointer(base + offset))
                        argvlen.initializeElement(at: index, to: length)
                        offset += length
                    }
                    var target: UnsafeMutablePointer<CChar>?
                    let written = redisFormatCommandArgv(&target, Int32(count), argv.baseAddress, argvlen.baseAddress)
                    // redisFormatCommandArgv only fails on allocation failure.
                    precondition(written >= 0 && target != nil, "hiredis could not encode a command (out of memory)")
                    buffer.writeBytes(UnsafeRawBufferPointer(start: target, count: Int(written)))
                    redisFreeCommand(target)
                }
            }
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
