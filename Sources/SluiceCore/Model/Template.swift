/// `{{context.a.b}}`, `{{metadata.k}}`, `{{outputs.<block>.field}}`, `{{instance.id}}` in prompts
/// and string params. A missing path renders as an empty string; output is plain text (no HTML
/// escaping). A string that is exactly one template keeps the value's JSON type.
public enum Template {
    /// Renders every string inside `value` (objects and arrays recursively) against `scope`.
    public static func render(_ value: JSONValue, scope: JSONValue) -> JSONValue {
        switch value {
        case .string(let text): return renderValue(text, scope: scope)
        case .array(let items): return .array(items.map { render($0, scope: scope) })
        case .object(let object): return .object(object.mapValues { render($0, scope: scope) })
        default: return value
        }
    }

    /// One string: the value itself when the string is exactly `{{path}}`, else text.
    public static func renderValue(_ text: String, scope: JSONValue) -> JSONValue {
        let trimmed = text.trimmingCharacters(in: " ")
        if trimmed.hasPrefix("{{"), trimmed.hasSuffix("}}"), trimmed.count > 4 {
            let inner = trimmed.dropFirst(2).dropLast(2)
            if !inner.contains("{{") && !inner.contains("}}") {
                return scope.lookup(inner.trimmingCharacters(in: " ")) ?? .string("")
            }
        }
        return .string(renderText(text, scope: scope))
    }

    /// A string with every `{{path}}` replaced by the value's text.
    public static func renderText(_ text: String, scope: JSONValue) -> String {
        var result = ""
        var rest = Substring(text)
        while let open = rest.range(of: "{{") {
            result += rest[..<open.lowerBound]
            let afterOpen = rest[open.upperBound...]
            guard let close = afterOpen.range(of: "}}") else {
                result += rest[open.lowerBound...]
                return result
            }
            let path = afterOpen[..<close.lowerBound].trimmingCharacters(in: " ")
            result += scope.lookup(path).map(plainText) ?? ""
            rest = afterOpen[close.upperBound...]
        }
        return result + rest
    }

    static func plainText(_ value: JSONValue) -> String {
        switch value {
        case .string(let text): return text
        case .null: return ""
        case .number(let number): return JSONValue.format(number)
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
