/// Writes RESP into raw memory that `RedisCommand.encode` sized with `encodedCount`. Every write
/// checks that it stays inside that memory (a trap, not a write past it, should the counts ever
/// disagree with the bytes).
struct RESPWriter {
    private let memory: UnsafeMutableRawBufferPointer
    private(set) var count = 0

    init(_ memory: UnsafeMutableRawBufferPointer) {
        self.memory = memory
    }

    mutating func append(_ bytes: UnsafeRawBufferPointer) {
        precondition(bytes.count <= memory.count - count, "RESP encoding past its counted size")
        if let source = bytes.baseAddress, let target = memory.baseAddress, bytes.count > 0 {
            (target + count).copyMemory(from: source, byteCount: bytes.count)
        }
        count += bytes.count
    }

    mutating func byte(_ value: UInt8) {
        precondition(count < memory.count, "RESP encoding past its counted size")
        memory[count] = value
        count += 1
    }

    mutating func crlf() {
        byte(UInt8(ascii: "\r"))
        byte(UInt8(ascii: "\n"))
    }

    /// `value` in decimal (an integer argument's bytes).
    mutating func decimal(_ value: Int) {
        let digits = RedisArgument.decimalCount(value)
        precondition(digits <= memory.count - count, "RESP encoding past its counted size")
        if value < 0 { memory[count] = UInt8(ascii: "-") }
        var magnitude = value.magnitude
        var position = count + digits - 1
        repeat {
            memory[position] = UInt8(ascii: "0") + UInt8(truncatingIfNeeded: magnitude % 10)
            magnitude /= 10
            position -= 1
        } while magnitude > 0
        count += digits
    }

    /// A RESP header: `prefix`, `value` in decimal, CRLF (`*3\r\n`, `$12\r\n`).
    mutating func header(_ prefix: UInt8, _ value: Int) {
        byte(prefix)
        decimal(value)
        crlf()
    }
}
