/// Redis Cluster's key → slot function: CRC16 (XMODEM) of the key, or of its hash tag (the bytes
/// between the first `{` and the next `}`, when not empty), modulo 16384.
public enum HashSlot {
    public static let count = 16384

    public static func of(_ key: some Collection<UInt8>) -> Int {
        let bytes = Array(key)
        if let open = bytes.firstIndex(of: UInt8(ascii: "{")),
           let close = bytes[(open + 1)...].firstIndex(of: UInt8(ascii: "}")), close > open + 1 {
            return Int(crc16(bytes[(open + 1)..<close]) % UInt16(count))
        }
        return Int(crc16(bytes[...]) % UInt16(count))
    }

    public static func of(_ key: String) -> Int { of(Array(key.utf8)) }

    /// CRC16-CCITT (XMODEM): polynomial 0x1021, initial value 0, as in Redis's crc16.c.
    static func crc16(_ bytes: ArraySlice<UInt8>) -> UInt16 {
        var crc: UInt16 = 0
        for byte in bytes { crc = (crc << 8) ^ table[Int(UInt8(truncatingIfNeeded: crc >> 8) ^ byte)] }
        return crc
    }

    private static let table: [UInt16] = (0..<256).map { index in
        var value = UInt16(index) << 8
        for _ in 0..<8 { value = value & 0x8000 != 0 ? (value << 1) ^ 0x1021 : value << 1 }
        return value
    }
}
