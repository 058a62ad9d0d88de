/// Finds where a JSON string's plain run ends: the first quote, backslash or control character
/// (below 0x20), eight bytes at a time.
///
/// The parser and the writer both walk strings byte by byte otherwise, and a checkpoint's
/// `checkpoint_data` is mostly long strings: callgrind put the per-byte loops at about 28k of a
/// 1 KiB save's 374k instructions.
enum JSONStringScan {
    /// The index of the first byte at or after `start` that ends a plain run, or `bytes.count`.
    static func firstSpecial(in bytes: UnsafeRawBufferPointer, from start: Int) -> Int {
        var index = start
        let count = bytes.count
        if let base = bytes.baseAddress {
            while count - index >= 8 {
                let word = UInt64(littleEndian: base.loadUnaligned(fromByteOffset: index, as: UInt64.self))
                let mask = specialMask(word)
                // Little-endian: the lowest flagged byte comes first in memory, and it is a true
                // match (a borrow only ever runs upward, from a byte that is flagged itself).
                if mask != 0 { return index + mask.trailingZeroBitCount / 8 }
                index += 8
            }
        }
        while index < count, !isSpecial(bytes[index]) { index += 1 }
        return index
    }

    @inline(__always) static func isSpecial(_ byte: UInt8) -> Bool {
        byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\")
    }

    /// The high bit of each byte of `word` that is below 0x20, a quote or a backslash (with the
    /// usual has-zero-byte trick: `(x - 0x01…) & ~x & 0x80…` flags the zero bytes of `x`).
    @inline(__always) static func specialMask(_ word: UInt64) -> UInt64 {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highBits: UInt64 = 0x8080_8080_8080_8080
        let control = (word &- 0x20 &* ones) & ~word & highBits
        let quote = word ^ (0x22 &* ones)
        let backslash = word ^ (0x5C &* ones)
        return control | ((quote &- ones) & ~quote & highBits) | ((backslash &- ones) & ~backslash & highBits)
    }
}
