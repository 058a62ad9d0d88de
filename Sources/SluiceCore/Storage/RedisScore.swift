import SluiceRedis

/// Sorted-set scores read back from Redis as integers (milliseconds, positions). Redis prints
/// scores as doubles and may print `inf`/`nan`; `Int64(someDouble)` traps on those and on
/// values beyond 64 bits, so stored data goes through here and a bad score is skipped.
public enum RedisScore {
    public static func int64(_ text: String?) -> Int64? {
        guard let text, let value = Double(text), value.isFinite, abs(value) < 9.0e18 else { return nil }
        return Int64(value.rounded(.down))
    }

    /// A score reply (a bulk string). Integer text, which is how Redis prints the integral
    /// scores Sluice stores, is read straight from the bytes; anything else goes through Double.
    /// Listings read hundreds of scores per request, and `strtod` was 3% of a page's instructions.
    public static func int64(_ reply: RedisReply) -> Int64? {
        guard case .string(let buffer) = reply else { return nil }
        if let value = buffer.withUnsafeReadableBytes(decimal) { return value }
        return int64(String(buffer: buffer))
    }

    /// An optional minus and 1...18 ASCII digits (no overflow possible); nil for anything else.
    static func decimal(_ bytes: UnsafeRawBufferPointer) -> Int64? {
        let negative = bytes.first == UInt8(ascii: "-")
        let digits = negative ? UnsafeRawBufferPointer(rebasing: bytes.dropFirst()) : bytes
        guard (1...18).contains(digits.count) else { return nil }
        var value: Int64 = 0
        for byte in digits {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            value = value * 10 + Int64(byte - UInt8(ascii: "0"))
        }
        return negative ? -value : value
    }
}
