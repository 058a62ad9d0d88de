/// `{{context.a.b}}`, `{{metadata.k}}`, `{{outputs.<block>.field}}`, `{{instance.id}}` in prompts
/// and string params. A missing path renders as an empty string; output is plain text (no HTML
/// escaping). A string that is exactly one template keeps the value's JSON type.
public enum Template {
    /// Bytes a rendering may produce. A template is small but each `{{context.big}}` copies a
    /// value of up to the context limit: without a budget, a megabyte of them asks for gigabytes.
    struct Budget {
        var left: Int
        let limit: Int

        init(_ limit: Int) {
            self.left = limit
            self.limit = limit
        }

        mutating func spend(_ bytes: Int) throws(SluiceError) {
            left -= bytes
            if left < 0 { throw .tooLarge("rendered templates are over \(limit) bytes (SLUICE_CONTEXT_MAX_BYTES)") }
        }
    }

    /// Renders every string inside `value` (objects and arrays recursively) against `scope`;
    /// `SluiceError.tooLarge` once the result would pass `limit` bytes.
    public static func render(_ value: JSONValue, scope: JSONValue, limit: Int) throws(SluiceError) -> JSONValue {
        var budget = Budget(limit)
        return try render(value, scope: scope, budget: &budget)
    }

    static func render(_ value: JSONValue, scope: JSONValue, budget: inout Budget) throws(SluiceError) -> JSONValue {
        switch value {
        case .string(let text): return try renderValue(text, scope: scope, budget: &budget)
        case .array(let items):
            var rendered: [JSONValue] = []
            for item in items { rendered.append(try render(item, scope: scope, budget: &budget)) }
            return .array(rendered)
        case .object(let object):
            var rendered: [String: JSONValue] = [:]
            for (key, item) in object {
                try budget.spend(key.utf8.count)
                rendered[key] = try render(item, scope: scope, budget: &budget)
            }
            return .object(rendered)
        default: return value
        }
    }

    /// One string: the value itself when the string is exactly `{{path}}`, else text.
    static func renderValue(_ text: String, scope: JSONValue, budget: inout Budget) throws(SluiceError) -> JSONValue {
        let trimmed = text.trimmingCharacters(in: " ")
        if trimmed.hasPrefix("{{"), trimmed.hasSuffix("}}"), trimmed.count > 4 {
            let inner = trimmed.dropFirst(2).dropLast(2)
            if !inner.contains("{{") && !inner.contains("}}") {
                let value = scope.lookup(inner.trimmingCharacters(in: " ")) ?? .string("")
                try budget.spend(value.encoded().count)
                return value
            }
        }
        return .string(try renderText(text, scope: scope, budget: &budget))
    }

    /// A string with every `{{path}}` replaced by the value's text; `SluiceError.tooLarge`
    /// once it would pass `limit` bytes.
    public static func renderText(_ text: String, scope: JSONValue, limit: Int) throws(SluiceError) -> String {
        var budget = Budget(limit)
        return try renderText(text, scope: scope, budget: &budget)
    }

    static func renderText(_ text: String, scope: JSONValue, budget: inout Budget) throws(SluiceError) -> String {
        var result = ""
        var rest = Substring(text)
        while let open = rest.range(of: "{{") {
            try budget.spend(rest[..<open.lowerBound].utf8.count)
            result += rest[..<open.lowerBound]
            let afterOpen = rest[open.upperBound...]
            guard let close = afterOpen.range(of: "}}") else {
                try budget.spend(rest[open.lowerBound...].utf8.count)
                result += rest[open.lowerBound...]
                return result
            }
            let path = afterOpen[..<close.lowerBound].trimmingCharacters(in: " ")
            let piece = scope.lookup(path).map(plainText) ?? ""
            try budget.spend(piece.utf8.count)  // before the copy: the copy is what costs
            result += piece
            rest = afterOpen[close.upperBound...]
        }
        try budget.spend(rest.utf8.count)
        return result + rest
    }

    static func plainText(_ value: JSONValue) -> String {
        switch value {
        case .string(let text): return text
        case .null: return ""
        case .number(let number): return JSONValue.format(number)
        case .integer(let integer): return String(integer)
        case .bool(let flag): return flag ? "true" : "false"
        case .array, .object: return value.jsonString
        }
    }
}

extension StringProtocol {
    func trimmingCharacters(in characters: Character) -> String {
        String(drop { $0 == characters }.reversed().drop { $0 == characters }.reversed())
    }
}
