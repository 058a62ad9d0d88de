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
    public func encode(into buffer: inout ByteBuffer) {
        RedisArgument.writeHeader(UInt8(ascii: "*"), arguments.count, into: &buffer)
        for argument in arguments { argument.encode(into: &buffer) }
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

    func encode(into buffer: inout ByteBuffer) {
        switch storage {
        case .string(let string):
            Self.writeHeader(UInt8(ascii: "$"), string.utf8.count, into: &buffer)
            buffer.writeString(string)
            buffer.writeStaticString("\r\n")
        case .integer(let value):
            Self.writeHeader(UInt8(ascii: "$"), Self.decimalCount(value), into: &buffer)
            Self.writeHeader(nil, value, into: &buffer)
        case .bytes(let bytes):
            Self.writeHeader(UInt8(ascii: "$"), bytes.count, into: &buffer)
            buffer.writeBytes(bytes)
            buffer.writeStaticString("\r\n")
        case .buffer(let bytes):
            Self.writeHeader(UInt8(ascii: "$"), bytes.readableBytes, into: &buffer)
            buffer.writeImmutableBuffer(bytes)
            buffer.writeStaticString("\r\n")
        }
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

    /// Writes `prefix` (if any), `value` in decimal and CRLF with one capacity check and no
    /// String: a RESP header (`*3\r\n`, `$12\r\n`) or an integer argument with its CRLF. Every
    /// command has several; byte-by-byte writes made command encoding a tenth of a listing's
    /// instructions (issue 12's profile).
    static func writeHeader(_ prefix: UInt8?, _ value: Int, into buffer: inout ByteBuffer) {
        let digits = decimalCount(value)
        // 1 prefix + 20 (sign and 19 digits of Int64) + 2.
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: 23) { raw in
            var start = 0
            if let prefix {
                raw[0] = prefix
                start = 1
            }
            if value < 0 { raw[start] = UInt8(ascii: "-") }
            var magnitude = value.magnitude
            var position = start + digits - 1
            repeat {
                raw[position] = UInt8(ascii: "0") + UInt8(truncatingIfNeeded: magnitude % 10)
                magnitude /= 10
                position -= 1
            } while magnitude > 0
            raw[start + digits] = UInt8(ascii: "\r")
            raw[start + digits + 1] = UInt8(ascii: "\n")
            return start + digits + 2
        }
    }

    // Arguments are equal when their bytes are, whatever form they were given in.
    public static func == (lhs: RedisArgument, rhs: RedisArgument) -> Bool { lhs.bytes == rhs.bytes }
    public func hash(into hasher: inout Hasher) { hasher.combine(bytes) }
}
