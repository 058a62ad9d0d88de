import NIOCore

/// Writes JSON into raw memory sized beforehand for the whole response, so a response of many
/// small pieces is one `ByteBuffer` write. Each `ByteBuffer` write is a dynamically checked access
/// to its storage (`swift_beginAccess`, ~180 instructions with its thread-local look-up), and
/// `GET /instances/{id}` made 140 of them: about a tenth of the route's instructions.
///
/// Every write checks that it stays inside the memory: a bound computed too small traps rather
/// than writing past it. A caller's bound must hold for any stored bytes (text escapes to at most
/// `maxEscapedBytesPerByte` bytes a byte), as hostile data reaches these writers.
public struct BoundedJSONWriter: JSONOutput {
    /// The most bytes one byte of text becomes in a JSON string: a control character is `\u00XX`.
    /// (Invalid UTF-8 repaired to U+FFFD becomes 3.)
    public static let maxEscapedBytesPerByte = 6

    private let memory: UnsafeMutableRawBufferPointer
    public private(set) var count = 0

    init(_ memory: UnsafeMutableRawBufferPointer) {
        self.memory = memory
    }

    public mutating func append(_ byte: UInt8) {
        precondition(count < memory.count, "JSON written past its computed bound")
        memory[count] = byte
        count += 1
    }

    public mutating func append<Bytes: Sequence>(contentsOf bytes: Bytes) where Bytes.Element == UInt8 {
        let copied: Void? = bytes.withContiguousStorageIfAvailable { append(raw: UnsafeRawBufferPointer($0)) }
        if copied == nil {
            for byte in bytes { append(byte) }
        }
    }

    public mutating func append(raw bytes: UnsafeRawBufferPointer) {
        precondition(bytes.count <= memory.count - count, "JSON written past its computed bound")
        if let source = bytes.baseAddress, let target = memory.baseAddress, bytes.count > 0 {
            (target + count).copyMemory(from: source, byteCount: bytes.count)
        }
        count += bytes.count
    }

    public mutating func append(_ text: StaticString) {
        append(raw: UnsafeRawBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    /// Stored bytes as they are (JSON Sluice wrote).
    public mutating func splice(_ buffer: ByteBuffer) {
        buffer.withUnsafeReadableBytes { append(raw: $0) }
    }

    /// `value` in decimal: at most 20 bytes.
    public mutating func decimal(_ value: Int64) {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { digits in
            var magnitude = value.magnitude
            var position = 20
            repeat {
                position -= 1
                digits[position] = UInt8(ascii: "0") + UInt8(truncatingIfNeeded: magnitude % 10)
                magnitude /= 10
            } while magnitude > 0
            if value < 0 {
                position -= 1
                digits[position] = UInt8(ascii: "-")
            }
            append(raw: UnsafeRawBufferPointer(rebasing: UnsafeMutableRawBufferPointer(digits)[position...]))
        }
    }
}

extension ByteBuffer {
    /// Writes what `body` writes, at most `bound` bytes, with one access to the buffer.
    public mutating func writeJSON(atMost bound: Int, _ body: (inout BoundedJSONWriter) -> Void) {
        writeWithUnsafeMutableBytes(minimumWritableBytes: bound) { memory in
            var writer = BoundedJSONWriter(UnsafeMutableRawBufferPointer(rebasing: memory[..<bound]))
            body(&writer)
            return writer.count
        }
    }
}
