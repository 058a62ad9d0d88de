/// Generated instance ids: UUIDv7 (48-bit millisecond timestamp, then random bits), so ids sort
/// by creation time.
public enum InstanceID {
    public static func generate(nowMilliseconds: Int64 = Clock.nowMilliseconds()) -> String {
        var bytes = [UInt8](repeating: 0, count: 16)
        let ms = UInt64(nowMilliseconds)
        for i in 0..<6 { bytes[i] = UInt8(truncatingIfNeeded: ms >> UInt64(8 * (5 - i))) }
        var generator = SystemRandomNumberGenerator()
        for i in 6..<16 { bytes[i] = UInt8.random(in: 0...255, using: &generator) }
        bytes[6] = (bytes[6] & 0x0F) | 0x70  // version 7
        bytes[8] = (bytes[8] & 0x3F) | 0x80  // RFC 4122 variant
        let hex = bytes.map { byte in
            let text = String(byte, radix: 16)
            return byte < 16 ? "0" + text : text
        }.joined()
        let characters = Array(hex)
        return [0..<8, 8..<12, 12..<16, 16..<20, 20..<32].map { String(characters[$0]) }.joined(separator: "-")
    }
}
