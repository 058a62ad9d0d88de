import SluiceCore
import Testing

@Suite struct BoundedCacheTests {
    @Test func neverHoldsMoreThanItsCapacity() {
        var cache = BoundedCache<Int, String>(capacity: 8)
        for n in 0..<1000 {
            cache.insert("v\(n)", for: n)
            #expect(cache.count <= 8)
        }
        #expect(cache.value(for: 999) == "v999")
        #expect(cache.value(for: 0) == nil)
    }

    @Test func whatWasUsedRecentlySurvivesNewEntries() {
        var cache = BoundedCache<String, Int>(capacity: 8)
        cache.insert(1, for: "hot")
        for n in 0..<100 {
            cache.insert(n, for: "cold-\(n)")
            #expect(cache.value(for: "hot") == 1, "after \(n) inserts")
        }
        // Replacing a value keeps one entry.
        cache.insert(2, for: "hot")
        #expect(cache.value(for: "hot") == 2)
        #expect(cache.count <= 8)
    }
}
