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

    /// Writes `2024-01-15T09:00:00.000Z` (responses write many of them): the text is made in a
    /// buffer on the stack and appended at once. The digits are written by a function that takes
    /// the buffer as an argument rather than a closure that captures it, which would make every
    /// byte a dynamically checked access (two per byte in the profile).
    public static func appendRFC3339<Output: JSONOutput>(milliseconds: Int64, to out: inout Output) {
        // Floor division: a time before 1970 still has 0...999 milliseconds.
        let (quotient, remainder) = milliseconds.quotientAndRemainder(dividingBy: 1000)
        var seconds = time_t(remainder < 0 ? quotient - 1 : quotient)
        let ms = remainder < 0 ? remainder + 1000 : remainder
        var parts = tm()
        gmtime_r(&seconds, &parts)
        // At most 30 bytes: a year of up to 10 digits (tm_year is an Int32) and 20 more.
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 32) { text in
            var count = 0
            writeDigits(Int64(parts.tm_year) + 1900, width: 4, then: UInt8(ascii: "-"), to: text, at: &count)
            writeDigits(Int64(parts.tm_mon) + 1, width: 2, then: UInt8(ascii: "-"), to: text, at: &count)
            writeDigits(Int64(parts.tm_mday), width: 2, then: UInt8(ascii: "T"), to: text, at: &count)
            writeDigits(Int64(parts.tm_hour), width: 2, then: UInt8(ascii: ":"), to: text, at: &count)
            writeDigits(Int64(parts.tm_min), width: 2, then: UInt8(ascii: ":"), to: text, at: &count)
            writeDigits(Int64(parts.tm_sec), width: 2, then: UInt8(ascii: "."), to: text, at: &count)
            writeDigits(ms, width: 3, then: UInt8(ascii: "Z"), to: text, at: &count)
            out.append(contentsOf: UnsafeBufferPointer(rebasing: text[..<count]))
        }
    }

    /// `value` zero-padded to `width` digits (a wider value keeps every digit; a negative one is
    /// written as 0), then `separator`, into `text` from `count` on.
    private static func writeDigits(_ value: Int64, width: Int, then separator: UInt8, to text: UnsafeMutableBufferPointer<UInt8>, at count: inout Int) {
        let value = Swift.max(0, value)
        var divisor: Int64 = 1
        var digits = 1
        while digits < width || value / divisor >= 10 {
            divisor *= 10
            digits += 1
        }
        while divisor > 0 {
            text[count] = UInt8(ascii: "0") + UInt8(value / divisor % 10)
            count += 1
            divisor /= 10
        }
        text[count] = separator
        count += 1
    }
}
