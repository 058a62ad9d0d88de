import SluiceCore
import Testing

@Suite struct KeySchemaTests {
    let keys = KeySchema(prefix: "sluice", partitions: 64)

    @Test func crc32MatchesTheStandardCheckValue() {
        #expect(CRC32.checksum("123456789".utf8) == 0xCBF4_3926)
        #expect(CRC32.checksum([UInt8]()) == 0)
    }

    /// Values computed independently (Python's zlib.crc32): placement must never change, or
    /// stored instances would be looked for in the wrong partition.
    @Test func partitionIsStable() {
        #expect(CRC32.checksum("abc-123".utf8) == 240_318_144)
        #expect(keys.partition(of: "abc-123") == 0)
        #expect(keys.partition(of: "instance-1") == 17)
        #expect(keys.partition(of: "0192f6a0-7b1c-7c3e-8f00-000000000001") == 15)
        #expect(KeySchema(prefix: "x", partitions: 7).partition(of: "instance-1") == Int(2_482_004_369 % 7))
    }

    @Test func partitionsSpreadEvenly() {
        var counts = [Int](repeating: 0, count: 64)
        let total = 128_000
        for i in 0..<total { counts[keys.partition(of: "inst-\(i)")] += 1 }
        let mean = Double(total) / 64
        #expect(counts.allSatisfy { Double($0) > mean * 0.9 && Double($0) < mean * 1.1 }, "\(counts)")
    }

    @Test func everyKeyOfAnInstanceSharesItsPartitionsHashTag() {
        let id = "abc-123"
        let tag = "{sluice:\(keys.partition(of: id))}"
        let instanceKeys = [
            keys.instance(id), keys.events(id), keys.outputs(id), keys.gate(id), keys.inbox(id),
            keys.checkpoints(id), keys.checkpointData(id),
        ]
        let p = keys.partition(of: id)
        let partitionKeys = [
            keys.ready(p), keys.leases(p), keys.approvals(p), keys.approvals(p, tenant: "t"),
            keys.approvals(p, namespace: "n"), keys.approvals(p, tenant: "t", namespace: "n"), keys.deadlines(p),
            keys.approvalEvents(p), keys.tasks(p, handler: "h"), keys.wakeChannel(p),
        ]
        for key in instanceKeys + partitionKeys {
            #expect(key.hasPrefix(tag), "\(key)")
            // Exactly one hash tag: Redis Cluster hashes the first {...}.
            #expect(key.filter { $0 == "{" }.count == 1, "\(key)")
        }
        #expect(keys.instance(id) == "{sluice:0}:i:abc-123")
        #expect(keys.events(id) == "{sluice:0}:i:abc-123:ev")
        #expect(keys.ready(7) == "{sluice:7}:ready")
        #expect(keys.meta == "sluice:meta")
    }
}
