/// A cache of at most `capacity` entries that drops the least recently used ones first,
/// approximately: entries live in two generations of `capacity / 2`; when the recent one is full
/// it becomes the older one and the previous older one is dropped. A hit in the older generation
/// moves the entry back to the recent one, so whatever was used since the last turn survives the
/// next. O(1) per operation, no linked list; not thread-safe (wrap it in a lock).
public struct BoundedCache<Key: Hashable, Value> {
    public let capacity: Int
    private var recent: [Key: Value] = [:]
    private var older: [Key: Value] = [:]

    public init(capacity: Int) {
        precondition(capacity >= 2, "a bounded cache holds at least 2 entries")
        self.capacity = capacity
    }

    public var count: Int { recent.count + older.count }

    public mutating func value(for key: Key) -> Value? {
        if let value = recent[key] { return value }
        guard let value = older.removeValue(forKey: key) else { return nil }
        insert(value, for: key)
        return value
    }

    public mutating func insert(_ value: Value, for key: Key) {
        older.removeValue(forKey: key)
        recent[key] = value
        if recent.count >= capacity / 2 {
            older = recent
            recent = [:]
        }
    }
}

extension BoundedCache: Sendable where Key: Sendable, Value: Sendable {}
