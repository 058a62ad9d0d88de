import Foundation
import Testing
@testable import SluiceCore

/// Generated ids are UUIDv7: the creation time in the first 48 bits, so they sort by it, then
/// random bits with the version and variant set.
@Suite struct InstanceIDTests {
    @Test func idsAreVersion7UUIDsWithTheirTimeFirst() throws {
        let ms: Int64 = 1_700_000_000_123  // 0x018bcfe5687b
        var seen = Set<String>()
        for _ in 0..<10_000 {
            let id = InstanceID.generate(nowMilliseconds: ms)
            #expect(id.utf8.count == 36)
            #expect(id.hasPrefix("018bcfe5-687b-7"), "\(id)")
            let parts = id.split(separator: "-", omittingEmptySubsequences: false)
            #expect(parts.map(\.count) == [8, 4, 4, 4, 12], "\(id)")
            #expect(id.allSatisfy { "0123456789abcdef-".contains($0) }, "\(id)")
            // The variant: the first hex digit of the fourth group is 8, 9, a or b.
            #expect("89ab".contains(parts[3].first ?? "x"), "\(id)")
            #expect(Identifier.isValid(id))
            let uuid = try #require(UUID(uuidString: id))
            #expect(uuid.uuidString.lowercased() == id)
            seen.insert(id)
        }
        // 74 random bits: no repeats within one millisecond.
        #expect(seen.count == 10_000)
        // Every random position takes many values (no byte stuck at zero).
        for position in [15, 16, 17, 20, 21, 22] + Array(24..<36) {
            let values = Set(seen.map { $0.utf8[$0.utf8.index($0.utf8.startIndex, offsetBy: position)] })
            #expect(values.count >= 12, "position \(position): \(values.count) values")
        }
    }

    @Test func idsSortByTheirTime() {
        let times: [Int64] = [0, 1, 255, 256, 1_699_999_999_999, 1_700_000_000_000, 281_474_976_710_655]
        let ids = times.map { InstanceID.generate(nowMilliseconds: $0) }
        #expect(ids == ids.sorted())
        #expect(ids.first?.hasPrefix("00000000-0000-7") == true)
        #expect(ids.last?.hasPrefix("ffffffff-ffff-7") == true)
        // Times outside 48 bits keep their low 48 bits; no trap.
        #expect(InstanceID.generate(nowMilliseconds: -1).hasPrefix("ffffffff-ffff-7"))
        #expect(InstanceID.generate(nowMilliseconds: .max).utf8.count == 36)
    }
}
