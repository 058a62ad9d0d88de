/// Strict RFC 8259 JSON text → `JSONValue`, for everything clients send and everything read back
/// from Redis. Foundation's decoder is lenient (it takes `{"a": 1,}`); what one parser accepts and
/// another refuses is a way to smuggle data past checks, so Sluice has one parser and it is strict:
/// no trailing commas, no leading zeros, no NaN/Infinity, no comments, no lone surrogates, valid
/// UTF-8 only, unique object keys, numbers that fit a Double, and at most `maximumDepth` levels of
/// nesting (a depth bomb must not exhaust the stack).
public struct JSONParser {
    /// Nesting limit of arrays and objects in what clients send; deeper documents are refused.
    public static let maximumDepth = 128
    /// Nesting limit for what Sluice stored itself: records wrap client values a few levels deeper
    /// (a checkpoint's snapshot holds the context three levels down), and must stay readable.
    public static let storedMaximumDepth = 2 * maximumDepth

    public struct Failure: Error, Sendable, Equatable, CustomStringConvertible {
        public var message: String
        /// Byte offset where parsing stopped.
        public var offset: Int
        public var description: String { "\(message) at byte \(offset)" }
    }

    private let bytes: [UInt8]
    private let depthLimit: Int
    private var at = 0
    private var depth = 0

    private init(_ bytes: [UInt8], depthLimit: Int) {
        self.bytes = bytes
        self.depthLimit = depthLimit
    }

    public static func parse(_ bytes: some Sequence<UInt8>, maximumDepth: Int = JSONParser.maximumDepth) throws(Failure) -> JSONValue {
        var parser = JSONParser(Array(bytes), depthLimit: maximumDepth)
        parser.skipWhitespace()
        let value = try parser.value()
        parser.skipWhitespace()
        guard parser.at == parser.bytes.count else { throw parser.failure("unexpected text after the JSON value") }
        return value
    }

    private func failure(_ message: String) -> Failure { Failure(message: message, offset: at) }

    private var current: UInt8? { at < bytes.count ? bytes[at] : nil }

    private mutating func skipWhitespace() {
        while let byte = current, byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D { at += 1 }
    }

    private mutating func value() throws(Failure) -> JSONValue {
        guard let byte = current else { throw failure("unexpected end of JSON") }
        switch byte {
        case UInt8(ascii: "{"): return try object()
        case UInt8(ascii: "["): return try array()
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try number()
        default: throw failure("unexpected character '\(Self.printable(byte))'")
        }
    }

    private mutating func literal(_ word: StaticString) throws(Failure) {
        let text = UnsafeBufferPointer(start: word.utf8Start, count: word.utf8CodeUnitCount)
        guard bytes.count - at >= text.count, bytes[at..<at + text.count].elementsEqual(text) else {
            throw failure("invalid literal (expected \(word))")
        }
        at += text.count
    }

    private mutating func enter() throws(Failure) {
        depth += 1
        guard depth <= depthLimit else { throw failure("JSON nested deeper than \(depthLimit) levels") }
    }

    private mutating func object() throws(Failure) -> JSONValue {
        try enter()
        at += 1
        var object: [String: JSONValue] = [:]
        skipWhitespace()
        if current == UInt8(ascii: "}") {
            at += 1
            depth -= 1
            return .object(object)
        }
        while true {
            skipWhitespace()
            guard current == UInt8(ascii: "\"") else {
                throw failure(current == UInt8(ascii: "}") ? "trailing comma in object" : "expected a string key")
            }
            let keyOffset = at
            let key = try string()
            skipWhitespace()
            guard current == UInt8(ascii: ":") else { throw failure("expected ':' after an object key") }
            at += 1
            skipWhitespace()
            let member = try value()
            guard object.updateValue(member, forKey: key) == nil else {
                throw Failure(message: "duplicate object key \"\(key)\"", offset: keyOffset)
            }
            skipWhitespace()
            switch current {
            case UInt8(ascii: ","): at += 1
            case UInt8(ascii: "}"):
                at += 1
                depth -= 1
                return .object(object)
            default: throw failure("expected ',' or '}' in object")
            }
        }
    }

    private mutating func array() throws(Failure) -> JSONValue {
        try enter()
        at += 1
        var array: [JSONValue] = []
        skipWhitespace()
        if current == UInt8(ascii: "]") {
            at += 1
            depth -= 1
            return .array(array)
        }
        while true {
            skipWhitespace()
            if current == UInt8(ascii: "]") { throw failure("trailing comma in array") }
            array.append(try value())
            skipWhitespace()
            switch current {
            case UInt8(ascii: ","): at += 1
            case UInt8(ascii: "]"):
                at += 1
                depth -= 1
                return .array(array)
            default: throw failure("expected ',' or ']' in array")
            }
        }
    }

    /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`, finite as a Double. An integer
    /// literal that fits 64 bits but not a Double exactly is kept exact (`.integer`).
    private mutating func number() throws(Failure) -> JSONValue {
        let start = at
        if current == UInt8(ascii: "-") { at += 1 }
        guard let first = current, Self.isDigit(first) else { throw failure("invalid number") }
        at += 1
        if first == UInt8(ascii: "0"), let next = current, Self.isDigit(next) { throw failure("leading zero in number") }
        while let byte = current, Self.isDigit(byte) { at += 1 }
        if current == UInt8(ascii: ".") {
            at += 1
            guard let byte = current, Self.isDigit(byte) else { throw failure("expected a digit after '.'") }
            while let byte = current, Self.isDigit(byte) { at += 1 }
        }
        if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
            at += 1
            if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { at += 1 }
            guard let byte = current, Self.isDigit(byte) else { throw failure("expected a digit in the exponent") }
            while let byte = current, Self.isDigit(byte) { at += 1 }
        }
        let text = String(decoding: bytes[start..<at], as: UTF8.self)
        if let integer = Int64(text) { return JSONValue.integer(exactly: integer) }
        guard let value = Double(text), value.isFinite else {
            throw Failure(message: "number \(text.prefix(40)) is out of range", offset: start)
        }
        return .number(value)
    }

    private mutating func string() throws(Failure) -> String {
        at += 1  // the opening quote
        let start = at
        var out: [UInt8] = []  // only once an escape is met; until then the text is a slice of `bytes`
        var runStart = at
        while true {
            at = bytes.withUnsafeBytes { JSONStringScan.firstSpecial(in: $0, from: at) }
            guard let byte = current else { throw failure("unterminated string") }
            switch byte {
            case UInt8(ascii: "\\"):
                out.append(contentsOf: bytes[runStart..<at])
                at += 1
                try escape(into: &out)
                runStart = at
            case UInt8(ascii: "\""):
                let end = at
                at += 1
                // Every escape writes at least one byte, so an empty `out` means none was met.
                let text: String?
                if out.isEmpty {
                    text = bytes.withUnsafeBufferPointer { String(validating: UnsafeBufferPointer(rebasing: $0[start..<end]), as: UTF8.self) }
                } else {
                    out.append(contentsOf: bytes[runStart..<end])
                    text = String(validating: out, as: UTF8.self)
                }
                guard let text else { throw failure("string is not valid UTF-8") }
                return text
            default:
                throw failure("unescaped control character in string")
            }
        }
    }

    private mutating func escape(into out: inout [UInt8]) throws(Failure) {
        guard let byte = current else { throw failure("unterminated escape") }
        at += 1
        switch byte {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(byte)
        case UInt8(ascii: "b"): out.append(0x08)
        case UInt8(ascii: "f"): out.append(0x0C)
        case UInt8(ascii: "n"): out.append(0x0A)
        case UInt8(ascii: "r"): out.append(0x0D)
        case UInt8(ascii: "t"): out.append(0x09)
        case UInt8(ascii: "u"):
            var scalar = try hex4()
            if (0xD800...0xDBFF).contains(scalar) {
                // A high surrogate must be followed by an escaped low one (RFC 8259 §7).
                guard bytes.count - at >= 2, bytes[at] == UInt8(ascii: "\\"), bytes[at + 1] == UInt8(ascii: "u") else {
                    throw failure("lone surrogate \\u\(String(scalar, radix: 16)) in string")
                }
                at += 2
                let low = try hex4()
                guard (0xDC00...0xDFFF).contains(low) else { throw failure("lone surrogate \\u\(String(scalar, radix: 16)) in string") }
                scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
            } else if (0xDC00...0xDFFF).contains(scalar) {
                throw failure("lone surrogate \\u\(String(scalar, radix: 16)) in string")
            }
            // Valid by construction: not a surrogate, at most 0x10FFFF.
            out.append(contentsOf: String(Character(Unicode.Scalar(scalar)!)).utf8)
        default:
            throw failure("invalid escape '\\\(Self.printable(byte))'")
        }
    }

    private mutating func hex4() throws(Failure) -> UInt32 {
        guard bytes.count - at >= 4 else { throw failure("truncated \\u escape") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = bytes[at]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw failure("invalid hex digit in \\u escape")
            }
            value = value << 4 | UInt32(digit)
            at += 1
        }
        return value
    }

    private static func isDigit(_ byte: UInt8) -> Bool { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) }

    private static func printable(_ byte: UInt8) -> String {
        (0x21..<0x7F).contains(byte) ? String(UnicodeScalar(byte)) : "0x" + String(byte, radix: 16)
    }
}
