import NIOCore

/// A command as its argument vector. Arguments are bytes; most callers pass strings.
public struct RedisCommand: Sendable {
    public var arguments: [RedisArgument]

    public init(_ name: String, _ arguments: [RedisArgument] = []) {
        var all: [RedisArgument] = []
        all.reserveCapacity(arguments.count + 1)
        all.append(.init(name))
        all.append(contentsOf: arguments)
        self.arguments = all
    }

    public init(_ name: String, _ arguments: String...) {
        var all: [RedisArgument] = []
        all.reserveCapacity(arguments.count + 1)
        all.append(.init(name))
        for argument in arguments { all.append(.init(argument)) }
        self.arguments = all
    }

    /// An argument vector built by the caller (name first), taken as it is.
    init(vector: [RedisArgument]) {
        self.arguments = vector
    }

    /// Bytes `encode(into:)` writes: the caller sizes the outbound buffer once.
    public var encodedCount: Int {
        arguments.reduce(Self.headerCount(arguments.count)) { $0 + $1.encodedCount }
    }

    /// Encodes the command as a RESP array of bulk strings straight into `buffer` (the buffer
    /// written to the socket): no intermediate array, string or C allocation per command.
    /// Replies are parsed by hiredis; the request side of RESP is only this framing.
    ///
    /// The whole command is written into the buffer's memory in one `writeWithUnsafeMutableBytes`,
    /// sized by `encodedCount`: every `ByteBuffer` write is a dynamically checked access to its
    /// storage, and a script call of 25 arguments made ~75 of them (89 per decision in the
    /// profile, with their thread-local look-ups).
    public func encode(into buffer: inout ByteBuffer) {
        let total = encodedCount
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: total) { raw in
            var writer = RESPWriter(raw)
            writer.header(UInt8(ascii: "*"), arguments.count)
            for argument in arguments { argument.write(to: &writer) }
            // The counts and the bytes come from the same arguments; a difference is a bug here.
            precondition(writer.count == total, "RESP encoding wrote \(writer.count) bytes for \(total) counted")
            return writer.count
        }
    }

    static func headerCount(_ count: Int) -> Int { 3 + RedisArgument.decimalCount(count) }
}

/// One command argument: bytes, kept in the form the caller had them (a string, an integer, an
/// array or a buffer) and written as bytes only when the command is encoded.
public struct RedisArgument: Sendable, Hashable, ExpressibleByStringLiteral, ExpressibleByIntegerLiteral {
    enum Storage: Sendable {
        case string(String)
        case integer(Int)
        case bytes([UInt8])
        case buffer(ByteBuffer)
    }

    var storage: Storage

    public init(_ string: String) { self.storage = .string(string) }
    public init(_ value: Int) { self.storage = .integer(value) }
    public init(bytes: [UInt8]) { self.storage = .bytes(bytes) }
    public init(buffer: ByteBuffer) { self.storage = .buffer(buffer) }
    public init(stringLiteral value: String) { self.init(value) }
    public init(integerLiteral value: Int) { self.init(value) }

    /// The argument's bytes (a copy; encoding does not need it).
    public var bytes: [UInt8] {
        switch storage {
        case .string(let string): return Array(string.utf8)
        case .integer(let value): return Array(String(value).utf8)
        case .bytes(let bytes): return bytes
        case .buffer(let buffer): return Array(buffer.readableBytesView)
        }
    }

    /// Length of the argument's bytes.
    var count: Int {
        switch storage {
        case .string(let string): return string.utf8.count
        case .integer(let value): return Self.decimalCount(value)
        case .bytes(let bytes): return bytes.count
        case .buffer(let buffer): return buffer.readableBytes
        }
    }

    /// `$<count>\r\n<bytes>\r\n`.
    var encodedCount: Int {
        let count = self.count
        return 5 + Self.decimalCount(count) + count
    }

    /// `$<count>\r\n<bytes>\r\n` into memory `RedisCommand.encode` sized.
    func write(to writer: inout RESPWriter) {
        switch storage {
        case .string(let string):
            writer.header(UInt8(ascii: "$"), string.utf8.count)
            var string = string
            string.withUTF8 { writer.append(UnsafeRawBufferPointer($0)) }
        case .integer(let value):
            writer.header(UInt8(ascii: "$"), Self.decimalCount(value))
            writer.decimal(value)
        case .bytes(let bytes):
            writer.header(UInt8(ascii: "$"), bytes.count)
            bytes.withUnsafeBytes { writer.append($0) }
        case .buffer(let bytes):
            writer.header(UInt8(ascii: "$"), bytes.readableBytes)
            bytes.withUnsafeReadableBytes { writer.append($0) }
        }
        writer.crlf()
    }

    /// Digits (and sign) of `value` in decimal.
    static func decimalCount(_ value: Int) -> Int {
        var magnitude = value.magnitude
        var count = value < 0 ? 2 : 1
        while magnitude >= 10 {
            magnitude /= 10
            count += 1
        }
        return count
    }

    // Arguments are equal when their bytes are, whatever form they were given in.
    public static func == (lhs: RedisArgument, rhs: RedisArgument) -> Bool { lhs.bytes == rhs.bytes }
    public func hash(into hasher: inout Hasher) { hasher.combine(bytes) }
}
