import SluiceRedis

/// The Lua scripts of `lua/`, compiled into the binary by the EmbedLuaScripts build plugin.
/// Every multi-key change is one of these, run with EVALSHA (EVAL on NOSCRIPT).
public enum LuaScripts {
    /// File name without `.lua` → exact file text, as embedded at build time.
    public static var sources: [String: String] { EmbeddedLuaSources.all }

    public static let initMeta = script("init_meta")
    public static let putSequence = script("put_sequence")
    public static let getSequence = script("get_sequence")
    public static let createInstance = instanceScript("create_instance")
    public static let deleteInstance = gateScript("delete_instance")
    public static let claimInstance = instanceScript("claim_instance")
    public static let commitBlock = instanceScript("commit_block")
    public static let requeueExpired = script("requeue_expired")
    public static let renewLease = script("renew_lease")
    public static let releaseInstance = instanceScript("release_instance")
    public static let signalInstance = gateScript("signal_instance")
    public static let enterGate = gateScript("enter_gate")
    public static let decideGate = gateScript("decide_gate")
    public static let timeoutGate = gateScript("timeout_gate")
    public static let approvalPage = script("approval_page")
    public static let dispatchTask = script("dispatch_task")
    public static let leaseTask = script("lease_task")
    public static let heartbeatTask = script("heartbeat_task")
    public static let releaseTask = script("release_task")
    public static let finishTask = instanceScript("finish_task")
    public static let expireTask = instanceScript("expire_task")
    public static let saveCheckpoint = script("save_checkpoint")
    public static let getCheckpoint = script("get_checkpoint")
    public static let pruneCheckpoints = script("prune_checkpoints")
    public static let restoreCheckpoint = gateScript("restore_checkpoint")
    public static let trimExpired = script("trim_expired")

    /// A script that changes instances: the shared helpers of `lua/prelude.lua` come first.
    static func instanceScript(_ name: String) -> RedisScript {
        RedisScript(name: name, source: source("prelude") + "\n" + source(name))
    }

    /// A script that opens, decides or closes approval gates: `lua/gates.lua` after the prelude.
    static func gateScript(_ name: String) -> RedisScript {
        RedisScript(name: name, source: source("prelude") + "\n" + source("gates") + "\n" + source(name))
    }

    /// Files of helpers prepended to scripts, not scripts themselves.
    public static let preludes: Set<String> = ["prelude", "gates"]

    static func script(_ name: String) -> RedisScript {
        RedisScript(name: name, source: source(name))
    }

    private static func source(_ name: String) -> String {
        guard let source = EmbeddedLuaSources.all[name] else {
            preconditionFailure("lua/\(name).lua was not embedded; is the file missing?")
        }
        return source
    }
}
