import NIOConcurrencyHelpers
import SluiceRedis

/// Keys a script touches that only Redis data names: an open gate's approval indexes (from the
/// instance's tenant and namespace) and an open task's queues (from its handler and tenant).
///
/// Redis Cluster checks the keys a script declares before running it, so these must be declared
/// too (see `take_declared_keys` in lua/prelude.lua). The caller cannot read them first without a
/// second round trip, so it sends the keys it last saw for the instance; a script that needs one
/// it was not sent changes nothing and answers `KEYS <key>...`, and the call is sent again with
/// them. A process that opened the gate or dispatched the task (or met the instance before) sends
/// the right keys the first time; another pays one extra script call, once per instance.
///
/// One per process, keyed by the instance's hash key (prefix and partition included), so the API
/// and the runner of a process share what either learned.
///
/// Only Redis Cluster needs any of this: on a single Redis no slot migrates, so the scripts are
/// told so (the count -1) and touch the keys their data names without asking. Every call is then
/// one script call, whichever process makes it and however many instances it has met.
public final class DeclaredKeys: Sendable {
    public static let shared = DeclaredKeys()

    private let known: NIOLockedValueBox<BoundedCache<String, [String]>>

    public init(capacity: Int = 20_000) {
        known = NIOLockedValueBox(BoundedCache(capacity: capacity))
    }

    /// The keys last learned for the instance whose hash is `id`.
    func keys(for id: String) -> [String] {
        known.withLockedValue { $0.value(for: id) } ?? []
    }

    /// Adds `keys` to what is known for `id`. Keys that are no longer needed do no harm: a
    /// declared key the script does not touch is only checked for its slot.
    func learn(_ keys: [String], for id: String) {
        guard !keys.isEmpty else { return }
        known.withLockedValue { cache in
            var all = cache.value(for: id) ?? []
            for key in keys where !all.contains(key) { all.append(key) }
            // An instance's data names a handful of keys; a cap keeps a hostile history small.
            cache.insert(Array(all.suffix(32)), for: id)
        }
    }

    /// The keys a `KEYS <key> <key>...` error reply asks for; nil for any other reply.
    static func requested(by reply: RedisReply) -> [String]? {
        guard case .error(let message) = reply, message.hasPrefix("KEYS ") else { return nil }
        return message.dropFirst("KEYS ".count).split(separator: " ").map(String.init)
    }
}

extension Storage {

    /// Runs a script whose data may name keys (`take_declared_keys` in lua/prelude.lua): `keys`
    /// and `arguments` are its own layout; the keys known for `instance` are appended, then their
    /// count. Sent again (at most twice more) when the script asks for keys it was not sent.
    func runDeclaring(_ script: RedisScript, instance: String, keys: [String], arguments: [RedisArgument]) async throws -> RedisReply {
        guard redis.isCluster else { return try await redis.run(script, keys: keys, arguments: arguments + [Self.noDeclarationNeeded]) }
        let id = self.keys.instance(instance)
        var reply = RedisReply.null
        for _ in 0..<3 {
            let declared = declaredKeys.keys(for: id)
            reply = try await redis.run(script, keys: keys + declared, arguments: arguments + [RedisArgument(declared.count)])
            guard let requested = DeclaredKeys.requested(by: reply) else { return reply }
            declaredKeys.learn(requested, for: id)
        }
        return reply
    }

    /// Records keys that the data of `instance` names, known to the caller that wrote them.
    func learnDeclaredKeys(_ learned: [String], instance: String) {
        guard redis.isCluster else { return }
        declaredKeys.learn(learned, for: keys.instance(instance))
    }

    /// `runDeclaring` for many calls pipelined at once (sweepers); the calls that ask for keys
    /// are sent again one by one.
    func runAllDeclaring(_ script: RedisScript, _ calls: [(instance: String, keys: [String], arguments: [RedisArgument])]) async throws -> [RedisReply] {
        guard redis.isCluster else {
            return try await redis.runAll(script, calls.map { (keys: $0.keys, arguments: $0.arguments + [Self.noDeclarationNeeded]) })
        }
        var replies = try await redis.runAll(script, calls.map { call in
            let declared = declaredKeys.keys(for: keys.instance(call.instance))
            return (keys: call.keys + declared, arguments: call.arguments + [RedisArgument(declared.count)])
        })
        for (index, reply) in replies.enumerated() {
            guard let requested = DeclaredKeys.requested(by: reply) else { continue }
            let call = calls[index]
            declaredKeys.learn(requested, for: keys.instance(call.instance))
            replies[index] = try await runDeclaring(script, instance: call.instance, keys: call.keys, arguments: call.arguments)
        }
        return replies
    }

    /// The declared-key count that tells a script it runs on a single Redis, where keys its data
    /// names need not be declared (`take_declared_keys` in lua/prelude.lua).
    static let noDeclarationNeeded: RedisArgument = "-1"
}
