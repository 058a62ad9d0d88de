import NIOCore

/// Where JSON text is written: an array (stored values, fingerprints) or straight into a
/// response's `ByteBuffer`. Stored JSON (context values, outputs, checkpoint records) is spliced in
/// with `append(contentsOf:)` as the bytes it is, never parsed and written again.
public protocol JSONOutput {
    mutating func append(_ byte: UInt8)
    mutating func append<Bytes: Sequence>(contentsOf bytes: Bytes) where Bytes.Element == UInt8
}

extension Array: JSONOutput where Element == UInt8 {}

extension ByteBuffer: JSONOutput {
    public mutating func append(_ byte: UInt8) { writeInteger(byte) }
    public mutating func append<Bytes: Sequence>(contentsOf bytes: Bytes) where Bytes.Element == UInt8 { writeBytes(bytes) }
}

extension JSONOutput {
    /// `value` as a JSON string: quotes, backslashes and control characters escaped, the rest
    /// (valid UTF-8, as every Swift string is) copied.
    public mutating func appendJSONString(_ value: String) {
        var value = value
        value.withUTF8 { appendJSONString(utf8: $0) }
    }

    /// Stored text (`bytes`) as a JSON string, exactly as `appendJSONString(String(buffer:))`
    /// writes it. ASCII, which nearly every stored id and name is, is escaped straight from the
    /// bytes; other text goes through `String`, which repairs invalid UTF-8 as it always did.
    public mutating func appendJSONString(bytes: ByteBuffer) {
        let isASCII = bytes.withUnsafeReadableBytes { raw in raw.allSatisfy { $0 < 0x80 } }
        guard isASCII else { return appendJSONString(String(buffer: bytes)) }
        bytes.withUnsafeReadableBytes { raw in appendJSONString(utf8: raw.assumingMemoryBound(to: UInt8.self)) }
    }

    /// Valid UTF-8 as a JSON string: quotes, backslashes and control characters escaped.
    private mutating func appendJSONString(utf8 bytes: UnsafeBufferPointer<UInt8>) {
        append(UInt8(ascii: "\""))
        var runStart = 0
        while true {
            let index = JSONStringScan.firstSpecial(in: UnsafeRawBufferPointer(bytes), from: runStart)
            guard index < bytes.count else { break }
            let byte = bytes[index]
            append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<index]))
            switch byte {
            case UInt8(ascii: "\""): append(contentsOf: #"\""#.utf8)
            case UInt8(ascii: "\\"): append(contentsOf: #"\\"#.utf8)
            case 0x0A: append(contentsOf: #"\n"#.utf8)
            case 0x0D: append(contentsOf: #"\r"#.utf8)
            case 0x09: append(contentsOf: #"\t"#.utf8)
            default:
                append(contentsOf: #"\u00"#.utf8)
                append(UInt8(ascii: "0") + byte >> 4)  // 0 or 1: a control character is below 0x20
                let low = byte & 0x0F
                append(low < 10 ? UInt8(ascii: "0") + low : UInt8(ascii: "a") + low - 10)
            }
            runStart = index + 1
        }
        append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart...]))
        append(UInt8(ascii: "\""))
    }

    /// `"key":` of an object member.
    public mutating func appendJSONKey(_ key: String) {
        appendJSONString(key)
        append(UInt8(ascii: ":"))
    }

    /// A string member, or `null` when absent.
    public mutating func appendJSONString(orNull value: String?) {
        if let value { appendJSONString(value) } else { append(contentsOf: "null".utf8) }
    }

    /// A string member from stored text, or `null` when absent.
    public mutating func appendJSONString(orNull bytes: ByteBuffer?) {
        if let bytes { appendJSONString(bytes: bytes) } else { append(contentsOf: "null".utf8) }
    }
}
