import SluiceCore
import Testing

/// RFC 8259, strictly: what is refused here was accepted by Foundation's lenient decoder.
@Suite struct JSONParserTests {
    static func parse(_ text: String) throws -> JSONValue { try JSONParser.parse(Array(text.utf8)) }

    @Test(arguments: [
        #"{"a": 1,}"#, "[1,]", "[1,,2]", "{,}", "[,]",  // trailing / stray commas
        "01", "-01", "[00]", "1.", ".5", "-", "+1", "1e", "1e+", "0x10",  // number grammar
        "NaN", "Infinity", "-Infinity", "[NaN]", "1e400", "-1e400",  // not numbers, or out of range
        #""\ud800""#, #""\udc00""#, #""\ud800\u0041""#, #""\ud800x""#,  // lone surrogates
        #""\x""#, #""\u12""#, #""\u12g4""#, "\"a\u{1}b\"", "\"tab\tin\"",  // escapes and control characters
        "{'a': 1}", "{a: 1}", "[1] [2]", "// c\n1", "/* c */ 1", "", " ", "tru", "nul",  // not JSON
        #"{"a": 1, "a": 2}"#,  // duplicate keys: parsers disagree on which wins
        "\u{FEFF}{}",  // byte order mark
    ])
    func refused(_ text: String) {
        #expect(throws: JSONParser.Failure.self) { try Self.parse(text) }
    }

    @Test func invalidUTF8IsRefused() {
        #expect(throws: JSONParser.Failure.self) { try JSONParser.parse([0x22, 0xC3, 0x28, 0x22]) }
        #expect(throws: JSONParser.Failure.self) { try JSONParser.parse([0x22, 0xED, 0xA0, 0x80, 0x22]) }  // encoded surrogate
    }

    @Test func depthBombsAreRefusedWithoutExhaustingTheStack() {
        let limit = JSONParser.maximumDepth
        #expect(throws: JSONParser.Failure.self) { try Self.parse(String(repeating: "[", count: 1_000_000)) }
        #expect(throws: JSONParser.Failure.self) { try Self.parse(String(repeating: #"{"a":"#, count: limit + 1) + "1" + String(repeating: "}", count: limit + 1)) }
        #expect((try? Self.parse(String(repeating: "[", count: limit) + String(repeating: "]", count: limit))) != nil)
    }

    @Test func validDocuments() throws {
        #expect(try Self.parse(#" {"a": [1, -0.5, 2e3, 1E-2, true, false, null], "b": {}} "#)
            == .object(["a": .array([.number(1), .number(-0.5), .number(2000), .number(0.01), .bool(true), .bool(false), .null]), "b": .object([:])]))
        #expect(try Self.parse(#""\"\\\/\b\f\n\r\t\u00e9\ud83d\ude42""#) == .string("\"\\/\u{8}\u{C}\n\r\té🙂"))
        #expect(try Self.parse("\"日本🙂\"") == .string("日本🙂"))
        #expect(try Self.parse("0") == .number(0))
        #expect(try Self.parse("-0") == .number(-0.0))
        #expect(try Self.parse("[]") == .array([]))
        // What the encoder writes parses back to the same value.
        let value: JSONValue = .object(["k": .array([.string("a\u{1}\"b"), .number(12.5), .null])])
        #expect(try JSONParser.parse(value.encoded()) == value)
    }

    @Test func failuresSayWhereAndWhy() {
        do {
            _ = try JSONParser.parse(Array(#"{"a": 1,}"#.utf8))
            Issue.record("must fail")
        } catch {
            #expect(error.message == "trailing comma in object")
            #expect(error.offset == 8)
        }
    }
}
