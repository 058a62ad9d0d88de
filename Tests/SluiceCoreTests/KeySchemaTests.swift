import SluiceCore
import Testing

@Suite struct KeySchemaTests {
    let keys = KeySchema(prefix: "sluice", partitions: 64)

    @Test func crc32MatchesTheStandardCheckValue() {
        #expect(CRC32.checksum("123456789".utf8) == 0xCBF4_3926)
        #expect(CRC32.checksum([UInt8]()) == 0)
        // Contiguous and non-contiguous bytes give the same checksum.
        let bytes = (0..<1000).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 3) }
        #expect(CRC32.checksum(bytes) == CRC32.checksum(bytes.lazy.map { $0 }))
        #expect(CRC32.checksum(bytes) == 0x17BC_2A46)  // zlib.crc32
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
        #expect(keys.events(id) == "{sluice:0}:ev:abc-123")
        // The names stored data lives under: they must never change.
        #expect([keys.context(id), keys.outputs(id), keys.gate(id), keys.inbox(id), keys.checkpoints(id), keys.checkpointData(id)]
            == ["{sluice:0}:ctx:abc-123", "{sluice:0}:out:abc-123", "{sluice:0}:gate:abc-123", "{sluice:0}:inbox:abc-123",
                "{sluice:0}:cp:abc-123", "{sluice:0}:cpd:abc-123"])
        #expect(keys.instanceKeys(id) == [keys.context(id), keys.events(id), keys.outputs(id), keys.gate(id), keys.inbox(id),
                                          keys.checkpoints(id), keys.checkpointData(id)])
        #expect(keys.ready(7) == "{sluice:7}:ready")
        #expect(keys.meta == "sluice:meta")
    }

    /// Regression (issue 11): with `<instance key>:ev`, id `inv-3:ev`'s hash was `inv-3`'s events.
    @Test func anIdEndingInAKindDoesNotReachAnotherInstance() {
        let a = Set([keys.instance("inv-3")] + keys.instanceKeys("inv-3"))
        let b = Set([keys.instance("inv-3:ev")] + keys.instanceKeys("inv-3:ev"))
        #expect(a.isDisjoint(with: b))
        #expect(keys.instance("inv-3:ev") != keys.events("inv-3"))
    }

    /// Property: over random ids (`:`, braces, unicode, up to 128 bytes), no key belongs to two
    /// instances, and no instance key is a partition index of any tenant, namespace or handler.
    @Test func noTwoIdsShareAKey() {
        var random = SplitMix64(seed: 11)
        let alphabet: [String] = ["a", "b", "3", "-", ".", "_", ":", ":ev", ":ctx", ":cp", ":cpd", "i:", "ev:", "{", "}", "|", "é", "日", "🙂", " "]
        let schema = KeySchema(prefix: "sluice", partitions: 2)  // few partitions: many ids share one
        var owner: [String: String] = [:]
        var ids: Set<String> = []
        while ids.count < 3000 {
            var id = ""
            let length = Int(random.next() % 40) + 1
            for _ in 0..<length {
                let piece = alphabet[Int(random.next() % UInt64(alphabet.count))]
                if id.utf8.count + piece.utf8.count > 128 { break }
                id += piece
            }
            if id.isEmpty { continue }
            ids.insert(id)
        }
        ids.insert(String(repeating: "x:", count: 64))  // 128 bytes
        ids.insert(String(repeating: "x:", count: 63) + "ev")
        for id in ids {
            for key in [schema.instance(id)] + schema.instanceKeys(id) {
                if let other = owner[key], other != id {
                    Issue.record("\(key) belongs to both \(other) and \(id)")
                }
                owner[key] = id
            }
        }
        // Partition keys named after data (tenant, namespace, handler) take the same random ids.
        for p in schema.allPartitions {
            var partitionKeys = [
                schema.ready(p), schema.instanceIndex(p), schema.leases(p), schema.approvals(p), schema.approvalItems(p),
                schema.deadlines(p), schema.approvalEvents(p), schema.builtinEscalations(p), schema.taskLeases(p), schema.wakeChannel(p),
            ]
            for name in ids.prefix(300) {
                partitionKeys += [
                    schema.approvals(p, tenant: name), schema.approvals(p, namespace: name),
                    schema.approvals(p, tenant: name, namespace: "n"), schema.tasks(p, handler: name),
                    schema.tasks(p, handler: name, tenant: "t"),
                ]
            }
            for key in partitionKeys {
                #expect(owner[key] == nil, "\(key) is both a partition key and a key of instance \(owner[key] ?? "")")
            }
        }
    }
}

/// A small deterministic generator, so a failing property run can be repeated.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
