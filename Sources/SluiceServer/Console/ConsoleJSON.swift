import Foundation
import SluiceCore

/// JSON as the console shows it: indented with sorted keys, and the difference of two values
/// path by path (the checkpoint diff).
enum ConsoleJSON {
    static func pretty(_ value: JSONValue) -> String {
        var out = ""
        write(value, indent: 0, into: &out)
        return out
    }

    private static func write(_ value: JSONValue, indent: Int, into out: inout String) {
        let pad = String(repeating: "  ", count: indent + 1)
        let close = String(repeating: "  ", count: indent)
        switch value {
        case .array(let values) where !values.isEmpty:
            out += "[\n"
            for (index, element) in values.enumerated() {
                out += pad
                write(element, indent: indent + 1, into: &out)
                out += index < values.count - 1 ? ",\n" : "\n"
            }
            out += close + "]"
        case .object(let object) where !object.isEmpty:
            out += "{\n"
            let keys = object.keys.sorted()
            for (index, key) in keys.enumerated() {
                out += pad + JSONValue.string(key).jsonString + ": "
                write(object[key] ?? .null, indent: indent + 1, into: &out)
                out += index < keys.count - 1 ? ",\n" : "\n"
            }
            out += close + "}"
        default:
            out += value.jsonString
        }
    }

    /// One difference between two values at a path (`amount`, `items.cursor`; `(root)` when the
    /// values themselves are not both objects).
    struct Change: Equatable {
        enum Kind: String { case added, removed, changed }
        var path: String
        var kind: Kind
        var before: JSONValue?
        var after: JSONValue?
    }

    /// Objects are compared key by key, recursively; anything else (arrays included) as a whole.
    static func diff(_ before: JSONValue, _ after: JSONValue, path: String = "") -> [Change] {
        if case .object(let old) = before, case .object(let new) = after {
            var changes: [Change] = []
            for key in Set(old.keys).union(new.keys).sorted() {
                let child = path.isEmpty ? key : path + "." + key
                switch (old[key], new[key]) {
                case (nil, let added?): changes.append(Change(path: child, kind: .added, before: nil, after: added))
                case (let removed?, nil): changes.append(Change(path: child, kind: .removed, before: removed, after: nil))
                case (let a?, let b?): changes += diff(a, b, path: child)
                case (nil, nil): break
                }
            }
            return changes
        }
        guard !same(before, after) else { return [] }
        return [Change(path: path.isEmpty ? "(root)" : path, kind: .changed, before: before, after: after)]
    }

    /// Equal as JSON: 1 and 1.0 are the same number whichever way they were stored.
    static func same(_ a: JSONValue, _ b: JSONValue) -> Bool { a.jsonString == b.jsonString || numeric(a) == numeric(b) && numeric(a) != nil }

    private static func numeric(_ value: JSONValue) -> Double? {
        switch value {
        case .number(let number): return number
        case .integer(let number): return Double(number)
        default: return nil
        }
    }
}

/// Durations as a person reads them: "3 s", "12 min", "4 h 5 min", "2 d 3 h".
enum ConsoleTime {
    static func span(milliseconds: Int64) -> String {
        let seconds = max(0, milliseconds / 1000)
        switch seconds {
        case ..<60: return "\(seconds) s"
        case ..<3600: return "\(seconds / 60) min"
        case ..<86_400: return "\(seconds / 3600) h \(seconds % 3600 / 60) min"
        default: return "\(seconds / 86_400) d \(seconds % 86_400 / 3600) h"
        }
    }

    static func ago(_ milliseconds: Int64, now: Int64) -> String { "\(span(milliseconds: now - milliseconds)) ago" }

    /// "in 3 h 2 min", or "overdue by 5 min".
    static func until(_ milliseconds: Int64, now: Int64) -> String {
        milliseconds >= now ? "in \(span(milliseconds: milliseconds - now))" : "overdue by \(span(milliseconds: now - milliseconds))"
    }

    /// Parses the API's RFC 3339 times (`2024-01-15T09:00:00.000Z`) to epoch milliseconds.
    static func milliseconds(_ text: String?) -> Int64? {
        guard let text else { return nil }
        let parts = text.split(whereSeparator: { "-T:.Z".contains($0) })
        guard text.hasSuffix("Z"), parts.count >= 6, let year = Int(parts[0]), let month = Int(parts[1]), let day = Int(parts[2]),
              let hour = Int(parts[3]), let minute = Int(parts[4]), let second = Int(parts[5]),
              (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61
        else { return nil }
        let fraction = parts.count > 6 ? Int(parts[6].prefix(3).padding(toLength: 3, withPad: "0", startingAt: 0)) ?? 0 : 0
        // Days from the civil date (Howard Hinnant's algorithm): no calendar or time zone needed.
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        let days = era * 146_097 + doe - 719_468
        return Int64(days) * 86_400_000 + Int64(hour * 3600 + minute * 60 + second) * 1000 + Int64(fraction)
    }
}
