import SluiceCore
import SluiceTestSupport
import Testing

/// Integers up to 64 bits keep every digit through every path that stores user JSON: a Double
/// would turn 2^53 + 1 into 2^53.
@Suite struct ExactIntegerTests {
    static let big = "9007199254740993"             // 2^53 + 1
    static let max = "9223372036854775807"          // Int64.max
    static let min = "-9223372036854775808"         // Int64.min

    @Test func theParserKeepsEveryDigit() throws {
        let text = #"{"a":\#(Self.big),"b":\#(Self.max),"c":\#(Self.min),"d":42,"e":1.5,"f":1e300}"#
        let value = try JSONParser.parse(Array(text.utf8))
        #expect(value["a"] == .integer(9_007_199_254_740_993))
        #expect(value["d"] == .number(42))
        #expect(value["f"] == .number(1e300))
        #expect(value.jsonString == text.replacingOccurrences(of: "1e300", with: "\(1e300)"))
    }

    @Test func contextsOutputsAndCheckpointsKeepEveryDigit() async throws {
        let api = try await TestAPI.make()
        try await api.run(engine: true) { client in
            #expect(try await client.post("/sequences", [
                "id": "ints", "blocks": [
                    ["id": "copy", "type": "step", "handler": "set_context", "params": ["copied": "{{context.big}}"]],
                    ["id": "wait", "type": "human_input", "prompt": "{{context.max}}?"],
                ],
            ]).status == .created)
            let created = try await client.call(.post, "/instances", #"{"sequence_id": "ints", "id": "i-1", "context": {"big": \#(Self.big), "max": \#(Self.max)}}"#)
            #expect(created.status == .created)
            #expect(try await client.call(.post, "/instances/i-1/signals", #"{"signal_type": "update_context", "payload": {"min": \#(Self.min)}}"#).status == .ok)
            let waiting = try await api.waitFor(client, "i-1", state: "waiting")
            let context = try #require(waiting["context"])
            #expect(context["big"] == .integer(9_007_199_254_740_993))
            #expect(context["copied"] == .integer(9_007_199_254_740_993), "a one-template param keeps the exact value")
            #expect(context["max"] == .integer(Int64.max))
            #expect(context["min"] == .integer(Int64.min))
            let approvals = try await client.call(.get, "/approvals").json
            #expect(approvals["items"]?.arrayValue?.first?["prompt"] == .string("\(Self.max)?"), "templates print every digit")

            #expect(try await client.call(.post, "/instances/i-1/checkpoints", #"{"checkpoint_data": {"cursor": \#(Self.max)}}"#).status == .created)
            let latest = try await client.call(.get, "/instances/i-1/checkpoints/latest").json
            #expect(latest["checkpoint_data"]?["cursor"] == .integer(Int64.max))
        }
    }
}
