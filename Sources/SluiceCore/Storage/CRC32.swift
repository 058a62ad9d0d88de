/// CRC-32 (IEEE 802.3, the zlib/`cksum -o3` polynomial), used to place instances in partitions.
/// Stable forever: changing it would move every stored instance.
public enum CRC32 {
    private static let table: [UInt32] = (0..<256).map { n in
        var c = UInt32(n)
        for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    /// Contiguous bytes (a native string's UTF-8, an array) go through one loop over raw memory
    /// and the table's storage: every key name of every request computes its partition, and the
    /// generic loop (the table's static and bounds checks per byte) was 14k instructions of a
    /// decision's runner side.
    public static func checksum<Bytes: Sequence>(_ bytes: Bytes) -> UInt32 where Bytes.Element == UInt8 {
        if let crc = bytes.withContiguousStorageIfAvailable({ checksum(raw: UnsafeRawBufferPointer($0)) }) { return crc }
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes { crc = table[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8) }
        return crc ^ 0xFFFF_FFFF
    }

    private static func checksum(raw bytes: UnsafeRawBufferPointer) -> UInt32 {
        table.withUnsafeBufferPointer { table in
            var crc: UInt32 = 0xFFFF_FFFF
            // The index is masked to 0...255 and the table has 256 entries.
            for byte in bytes { crc = table[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8) }
            return crc ^ 0xFFFF_FFFF
        }
    }
}
