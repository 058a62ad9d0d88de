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

    /// The parser and the writer skip plain runs eight bytes at a time; a byte that ends a run
    /// (quote, backslash, control character) is found at every position of a word and of the
    /// tail, and bytes that only look close (0x7F, 0x20, UTF-8 sequences) are copied.
    @Test func aSpecialCharacterIsFoundAtEveryPositionOfALongString() throws {
        let specials: [Character] = ["\"", "\\", "\n", "\t", "\u{1}", "\u{1F}", "\u{7F}", " ", "é", "🙂", "]"]
        for length in [0, 1, 7, 8, 9, 15, 16, 17, 40] {
            for position in 0...length {
                for special in specials {
                    var text = String(repeating: "x", count: length)
                    text.insert(special, at: text.index(text.startIndex, offsetBy: position))
                    let encoded = JSONValue.string(text).encoded()
                    #expect(String(decoding: encoded, as: UTF8.self) == Self.referenceEncoding(text), "\(length) \(position)")
                    #expect(try JSONParser.parse(encoded) == .string(text), "\(length) \(position)")
                    // Unescaped, a control character is refused where it stands.
                    if let ascii = special.asciiValue, ascii < 0x20 {
                        do {
                            _ = try JSONParser.parse(Array("\"\(text)\"".utf8))
                            Issue.record("raw control character accepted at \(position) of \(length)")
                        } catch {
                            #expect(error.offset == position + 1 && error.message == "unescaped control character in string")
                        }
                    }
                }
            }
            // A broken UTF-8 byte, an escape after a long run, and a string that never ends.
            var broken = Array(String(repeating: "x", count: length).utf8)
            broken.insert(0xFF, at: length / 2)
            #expect(throws: JSONParser.Failure.self) { try JSONParser.parse([0x22] + broken + [0x22]) }
            let run = String(repeating: "y", count: length)
            #expect(try Self.parse("\"\(run)\\u00e9\(run)\\n\"") == .string(run + "é" + run + "\n"))
            #expect(throws: JSONParser.Failure.self) { try Self.parse("\"" + run) }
        }
    }

    /// What RFC 8259 asks a writer to escape, byte by byte.
    static func referenceEncoding(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20: out += "\\u00" + (scalar.value < 0x10 ? "0" : "1") + String(scalar.value & 0xF, radix: 16)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
