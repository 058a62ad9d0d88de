import SluiceRedis

/// Walks a deployment's keys and reports what the scripts' invariants say cannot be: index
/// entries without an instance, waiting instances without a gate or item, gates without items,
/// tasks that are neither queued nor leased, queued or leased tasks the instance no longer has
/// (or of a finished instance), unknown states, keys that belong to nothing.
///
/// An operator tool (`sluice check`), not the hot path, so it may SCAN. Key names come only from
/// `KeySchema`: instances are found as hashes whose `id` field names them back
/// (`keys.instance(id) == key`), and every other key must be one that `KeySchema` builds for a
/// partition, an instance or a name found in the data. On a live deployment a change between
/// reads can show as a finding; a finding that persists on a second run is real.
public struct ConsistencyCheck: Sendable {
    public let redis: RedisClient
    public let keys: KeySchema

    public init(redis: RedisClient, keys: KeySchema) {
        self.redis = redis
        self.keys = keys
    }

    public struct Finding: Sendable, Equatable, CustomStringConvertible {
        public enum Kind: String, Sendable, CaseIterable {
            case indexEntryWithoutInstance = "index-entry-without-instance"
            case malformedTaskID = "malformed-task-id"
            case unknownState = "unknown-state"
            case waitingWithoutGate = "waiting-without-gate"
            case waitingWithoutItem = "waiting-without-item"
            case gateWithoutItem = "gate-without-item"
            case itemWithoutGate = "item-without-gate"
            case indexEntryWithoutItem = "index-entry-without-item"
            case taskNotQueuedOrLeased = "task-not-queued-or-leased"
            case staleTask = "stale-task"
            case scheduledNotReady = "scheduled-not-ready"
            case runningWithoutOwner = "running-without-owner"
            case keyWithoutOwner = "key-without-owner"
        }

        public var kind: Kind
        public var key: String
        public var message: String

        public var description: String { "\(kind.rawValue) \(key): \(message)" }
    }

    public struct Report: Sendable {
        public var findings: [Finding] = []
        public var keysScanned = 0
        public var instances = 0
        public var partitions = 0

        public var summary: String {
            "\(findings.isEmpty ? "ok" : "INCONSISTENT"): \(findings.count) finding(s); "
                + "\(instances) instance(s), \(keysScanned) key(s) in \(partitions) partition(s)"
        }
    }

    public func run() async throws -> Report {
        var report = Report()
        report.partitions = keys.partitions
        // Checking with another partition count than the deployment's would report everything.
        let recorded = try await redis.send(RedisCommand("HGET", keys.meta, "partitions")).throwingServerError()
        if let stored = recorded.int, stored != keys.partitions {
            throw ConfigurationError(
                variable: "SLUICE_PARTITIONS", message: "is \(keys.partitions) but the deployment '\(keys.prefix)' has \(stored) partitions")
        }
        for p in keys.allPartitions {
            let partition = try await PartitionScan.read(p, keys: keys, redis: redis)
            report.keysScanned += partition.keySet.count
            report.instances += partition.instances.count
            report.findings += partition.findings()
        }
        let global = try await scan(pattern: Glob.escape(keys.meta))
            + scan(pattern: Glob.wildcard(in: keys.sequence(Glob.sentinel)))
        report.keysScanned += Set(global).count
        return report
    }

    func scan(pattern: String) async throws -> [String] {
        try await Self.scan(redis, pattern: pattern)
    }

    static func scan(_ redis: RedisClient, pattern: String) async throws -> [String] {
        try await redis.scan(matching: pattern)
    }
}

/// Glob patterns for SCAN MATCH built from `KeySchema` names.
enum Glob {
    /// Stands for a name in a key built by `KeySchema`; a valid identifier that no real name is.
    static let sentinel = "0SENTINEL0sluice0check0"

    static func escape(_ text: String) -> String {
        var out = ""
        for character in text {
            if "*?[]\\".contains(character) { out.append("\\") }
            out.append(character)
        }
        return out
    }

    /// The key with the sentinel replaced by `*`, everything else escaped.
    static func wildcard(in key: String) -> String {
        key.components(separatedBy: sentinel).map(escape).joined(separator: "*")
    }

    /// The name a key was built from by `build` (which took the sentinel), when it was.
    static func name(in key: String, built build: (String) -> String) -> String? {
        let template = build(sentinel).components(separatedBy: sentinel)
        guard template.count == 2, key.hasPrefix(template[0]), key.hasSuffix(template[1]),
              key.count > template[0].count + template[1].count
        else { return nil }
        let name = String(key.dropFirst(template[0].count).dropLast(template[1].count))
        return build(name) == key ? name : nil
    }
}

/// Everything one partition holds, read with a handful of pipelined round trips.
struct PartitionScan {
    typealias Finding = ConsistencyCheck.Finding

    let p: Int
    let keys: KeySchema
    /// Every key under the partition's hash tag.
    var keySet: Set<String> = []
    /// Instance id → the fields the checks read.
    var instances: [String: [String: String]] = [:]
    var index: Set<String> = []
    var ready: Set<String> = []
    var leases: Set<String> = []
    var deadlines: Set<String> = []
    var items: Set<String> = []
    var taskLeases: Set<String> = []
    /// Approval index key → members (the partition-wide one and each tenant/namespace one).
    var approvalIndexes: [String: [String]] = [:]
    /// Task queue key → task ids (per-handler queues and the built-in escalations).
    var taskQueues: [String: [String]] = [:]

    static let instanceFields = ["id", "state", "task_id", "task_handler", "esc_task", "tenant_id", "namespace"]

    static func read(_ p: Int, keys: KeySchema, redis: RedisClient) async throws -> PartitionScan {
        var scan = PartitionScan(p: p, keys: keys)
        scan.keySet = Set(try await ConsistencyCheck.scan(redis, pattern: Glob.escape(keys.tag(p)) + "*"))
        let all = scan.keySet.sorted()
        let types = all.isEmpty ? [] : try await redis.pipeline(all.map { RedisCommand("TYPE", $0) })
        let hashes = zip(all, types).filter { $0.1.string == "hash" }.map(\.0)
        let fields = hashes.isEmpty ? [] : try await redis.pipeline(hashes.map { RedisCommand("HMGET", [RedisArgument($0)] + instanceFields.map { RedisArgument($0) }) })
        for (key, reply) in zip(hashes, fields) {
            let values = reply.array ?? []
            guard let id = values.first?.string, keys.instance(id) == key else { continue }
            var record: [String: String] = [:]
            for (name, value) in zip(instanceFields, values) { if let text = value.string { record[name] = text } }
            scan.instances[id] = record
        }

        // Partition-level keys whose names take a tenant, namespace or handler.
        for key in all {
            if Glob.name(in: key, built: { keys.approvals(p, tenant: $0) }) != nil
                || Glob.name(in: key, built: { keys.approvals(p, namespace: $0) }) != nil
                || key == keys.approvals(p) {
                scan.approvalIndexes[key] = []
            } else if Glob.name(in: key, built: { keys.tasks(p, handler: $0) }) != nil || key == keys.builtinEscalations(p) {
                scan.taskQueues[key] = []
            }
        }
        // The tenant+namespace index name holds both; match it with its separator.
        for key in all where scan.approvalIndexes[key] == nil && scan.taskQueues[key] == nil {
            if Self.isTenantNamespaceIndex(key, p: p, keys: keys) { scan.approvalIndexes[key] = [] }
        }

        let zsets = [keys.ready(p), keys.leases(p), keys.deadlines(p), keys.taskLeases(p), keys.instanceIndex(p)]
            + scan.approvalIndexes.keys.sorted() + scan.taskQueues.keys.sorted()
        var commands = zsets.map { key -> RedisCommand in
            // The built-in escalations may be a list or a zset; read either.
            key == keys.builtinEscalations(p) ? RedisCommand("EVAL", Self.membersScript, "1", key) : RedisCommand("ZRANGE", key, "0", "-1")
        }
        commands.append(RedisCommand("HKEYS", keys.approvalItems(p)))
        let replies = try await redis.pipeline(commands)
        func members(_ index: Int) -> [String] { (replies[index].array ?? []).compactMap(\.string) }
        scan.ready = Set(members(0))
        scan.leases = Set(members(1))
        scan.deadlines = Set(members(2))
        scan.taskLeases = Set(members(3))
        scan.index = Set(members(4))
        for (offset, key) in zsets.enumerated().dropFirst(5) {
            if scan.approvalIndexes[key] != nil { scan.approvalIndexes[key] = members(offset) } else { scan.taskQueues[key] = members(offset) }
        }
        scan.items = Set(members(zsets.count))
        return scan
    }

    /// Members of a zset or a list, whichever the key is.
    static let membersScript = """
        local t = redis.call('TYPE', KEYS[1]).ok
        if t == 'zset' then return redis.call('ZRANGE', KEYS[1], 0, -1) end
        if t == 'list' then return redis.call('LRANGE', KEYS[1], 0, -1) end
        return {}
        """

    static func isTenantNamespaceIndex(_ key: String, p: Int, keys: KeySchema) -> Bool {
        // tenant and namespace are identifiers; try each split point of the name part.
        let template = keys.approvals(p, tenant: Glob.sentinel, namespace: Glob.sentinel).components(separatedBy: Glob.sentinel)
        guard template.count == 3, key.hasPrefix(template[0]), key.hasSuffix(template[2]) else { return false }
        let middle = key.dropFirst(template[0].count).dropLast(template[2].count)
        for index in middle.indices where middle[index...].hasPrefix(template[1]) {
            let tenant = String(middle[..<index]), namespace = String(middle[index...].dropFirst(template[1].count))
            if keys.approvals(p, tenant: tenant, namespace: namespace) == key { return true }
        }
        return false
    }

    func findings() -> [Finding] {
        var findings: [Finding] = []
        func report(_ kind: Finding.Kind, _ key: String, _ message: String) { findings.append(Finding(kind: kind, key: key, message: message)) }

        // Index entries must name an instance that exists.
        let instanceIndexes: [(String, Set<String>)] = [
            (keys.instanceIndex(p), index), (keys.ready(p), ready), (keys.leases(p), leases), (keys.deadlines(p), deadlines), (keys.approvalItems(p), items),
        ]
        for (key, members) in instanceIndexes {
            for id in members.sorted() where instances[id] == nil {
                report(.indexEntryWithoutInstance, key, "\(id) is indexed but instance \(keys.instance(id)) does not exist")
            }
        }
        for (key, members) in approvalIndexes.sorted(by: { $0.key < $1.key }) {
            for id in members.sorted() {
                if instances[id] == nil {
                    report(.indexEntryWithoutInstance, key, "\(id) is queued for approval but the instance does not exist")
                } else if !items.contains(id) {
                    report(.indexEntryWithoutItem, key, "\(id) is queued for approval but has no item in \(keys.approvalItems(p))")
                }
            }
        }
        let queued = Set(taskQueues.values.joined())
        for (key, members) in taskQueues.sorted(by: { $0.key < $1.key }).map({ ($0.key, $0.value) }) + [(keys.taskLeases(p), taskLeases.sorted())] {
            for task in members {
                guard let parsed = TaskStore.TaskID(task) else {
                    report(.malformedTaskID, key, "'\(task)' is not a task id")
                    continue
                }
                guard let owner = instances[parsed.instanceId] else {
                    report(.indexEntryWithoutInstance, key, "task \(task) belongs to instance \(parsed.instanceId), which does not exist")
                    continue
                }
                // A finished, cancelled or deleted instance ends its tasks in the same script; a
                // task left behind would be handed out for nothing and outlive the instance's keys.
                if let state = owner["state"].flatMap(InstanceState.init(rawValue:)), state.isTerminal {
                    report(.staleTask, key, "task \(task) is still here but instance \(parsed.instanceId) is \(state.rawValue)")
                } else if owner["task_id"] != task && owner["esc_task"] != task {
                    report(.staleTask, key, "task \(task) is not the open task of instance \(parsed.instanceId)")
                }
            }
        }

        // Each instance: a known state, and what that state implies.
        var owned: Set<String> = []
        for (id, fields) in instances.sorted(by: { $0.key < $1.key }) {
            let key = keys.instance(id)
            owned.insert(key)
            owned.formUnion(keys.instanceKeys(id))
            guard let state = fields["state"].flatMap(InstanceState.init(rawValue:)) else {
                report(.unknownState, key, "state is \(fields["state"].map { "'\($0)'" } ?? "missing") (known: \(InstanceState.allCases.map(\.rawValue).joined(separator: ", ")))")
                continue
            }
            let hasGate = keySet.contains(keys.gate(id))
            switch state {
            case .waiting:
                if !hasGate { report(.waitingWithoutGate, key, "waiting, but \(keys.gate(id)) does not exist") }
                if !items.contains(id) { report(.waitingWithoutItem, key, "waiting, but has no approval item in \(keys.approvalItems(p))") }
            case .scheduled:
                if !ready.contains(id) { report(.scheduledNotReady, key, "scheduled, but not in \(keys.ready(p)): no runner will claim it") }
            case .running:
                let task = fields["task_id"].flatMap { $0.isEmpty ? nil : $0 }
                if !leases.contains(id) && task == nil {
                    report(.runningWithoutOwner, key, "running, but neither leased by a runner (\(keys.leases(p))) nor waiting on a task")
                }
                if let task, !queued.contains(task) && !taskLeases.contains(task) {
                    report(.taskNotQueuedOrLeased, key, "task \(task) is neither queued nor leased: no worker can take it")
                }
            case .paused, .completed, .failed, .cancelled:
                break
            }
            if let escalation = fields["esc_task"], !escalation.isEmpty, !queued.contains(escalation), !taskLeases.contains(escalation) {
                report(.taskNotQueuedOrLeased, key, "escalation task \(escalation) is neither queued nor leased")
            }
            if hasGate && !items.contains(id) { report(.gateWithoutItem, keys.gate(id), "gate is open but \(id) has no item in \(keys.approvalItems(p))") }
        }
        for id in items.sorted() where instances[id] != nil && !keySet.contains(keys.gate(id)) {
            report(.itemWithoutGate, keys.approvalItems(p), "\(id) has an approval item but no open gate (\(keys.gate(id)))")
        }

        // Every key belongs to the partition or to an instance.
        let partitionKeys: Set<String> = [
            keys.ready(p), keys.instanceIndex(p), keys.leases(p), keys.approvalItems(p), keys.deadlines(p), keys.approvalEvents(p),
            keys.builtinEscalations(p), keys.taskLeases(p), keys.approvals(p), keys.expiries(p),
        ]
        for key in keySet.sorted() where !owned.contains(key) && !partitionKeys.contains(key)
            && approvalIndexes[key] == nil && taskQueues[key] == nil {
            report(.keyWithoutOwner, key, "belongs to no instance and is no index of partition \(p)")
        }
        return findings
    }
}
