/// Sorted-set scores read back from Redis as integers (milliseconds, positions). Redis prints
/// scores as doubles and may print `inf`/`nan`; `Int64(someDouble)` traps on those and on
/// values beyond 64 bits, so stored data goes through here and a bad score is skipped.
public enum RedisScore {
    public static func int64(_ text: String?) -> Int64? {
        guard let text, let value = Double(text), value.isFinite, abs(value) < 9.0e18 else { return nil }
        return Int64(value.rounded(.down))
    }
}
