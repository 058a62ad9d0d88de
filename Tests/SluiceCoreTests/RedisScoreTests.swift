import NIOCore
import SluiceRedis
import Testing
@testable import SluiceCore

/// Scores come back from Redis as text. Integer text is read from the bytes directly; the rest
/// (exponents, fractions, huge or non-finite values) goes through Double, and nothing traps.
@Suite struct RedisScoreTests {
    static func reply(_ text: String) -> RedisReply { .string(ByteBuffer(string: text)) }

    @Test func integerTextIsReadDirectlyAndAgreesWithTheDoublePath() {
        for text in ["0", "7", "-3", "1764498000000", "11764498000000", "999999999999999999", "-999999999999999999"] {
            #expect(RedisScore.int64(Self.reply(text)) == Int64(text), "\(text)")
        }
        // Anything the byte reader does not take falls back to the Double reading.
        for (text, expected) in [("1.5e13", Int64(15_000_000_000_000)), ("2.75", 2), ("-2.5", -3), ("1234567890123456789", 1_234_567_890_123_456_768)] {
            #expect(RedisScore.int64(Self.reply(text)) == expected, "\(text)")
        }
        for text in ["", "-", "inf", "-inf", "nan", "12a", "1e19", "9.5e18"] {
            #expect(RedisScore.int64(Self.reply(text)) == nil, "'\(text)'")
        }
        #expect(RedisScore.int64(RedisReply.integer(5)) == nil)
        #expect(RedisScore.int64(RedisReply.null) == nil)
    }
}
