import Foundation

/// Wall-clock time as Sluice stores it (milliseconds since the epoch) and shows it
/// (RFC 3339 UTC with milliseconds, `2024-01-15T09:00:00.000Z`).
public enum Clock {
    public static func nowMilliseconds() -> Int64 { Int64((Date().timeIntervalSince1970 * 1000).rounded()) }

    public static func rfc3339(milliseconds: Int64) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(24)
        appendRFC3339(milliseconds: milliseconds, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// Writes `2024-01-15T09:00:00.000Z` digit by digit (responses write many of them).
    public static func appendRFC3339<Output: JSONOutput>(milliseconds: Int64, to out: inout Output) {
        // Floor division: a time before 1970 still has 0...999 milliseconds.
        let (quotient, remainder) = milliseconds.quotientAndRemainder(dividingBy: 1000)
        var seconds = time_t(remainder < 0 ? quotient - 1 : quotient)
        let ms = remainder < 0 ? remainder + 1000 : remainder
        var parts = tm()
        gmtime_r(&seconds, &parts)
        // Zero-padded to `width`; wider values (years past 9999) keep every digit.
        func digits(_ value: Int64, _ width: Int) {
            let value = Swift.max(0, value)
            var divisor: Int64 = 1
            var count = 1
            while count < width || value / divisor >= 10 {
                divisor *= 10
                count += 1
            }
            while divisor > 0 {
                out.append(UInt8(ascii: "0") + UInt8(value / divisor % 10))
                divisor /= 10
            }
        }
        digits(Int64(parts.tm_year) + 1900, 4); out.append(UInt8(ascii: "-"))
        digits(Int64(parts.tm_mon) + 1, 2); out.append(UInt8(ascii: "-"))
        digits(Int64(parts.tm_mday), 2); out.append(UInt8(ascii: "T"))
        digits(Int64(parts.tm_hour), 2); out.append(UInt8(ascii: ":"))
        digits(Int64(parts.tm_min), 2); out.append(UInt8(ascii: ":"))
        digits(Int64(parts.tm_sec), 2); out.append(UInt8(ascii: "."))
        digits(ms, 3); out.append(UInt8(ascii: "Z"))
    }
}
