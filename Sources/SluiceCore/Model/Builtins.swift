/// Names of the handlers Sluice runs in-process (SluiceEngine's `BuiltinHandlers`). Any other
/// handler name is served by external workers. Known here so that storage can route
/// escalation tasks of built-in handlers to the sweepers instead of to workers.
public enum Builtins {
    public static let handlers: Set<String> = ["noop", "set_context", "sleep", "fail", "http_request"]

    /// `http_request` `timeout_ms`: checked when a sequence is posted (a literal) and again when the
    /// step runs (a rendered template), so no value reaches a conversion that could trap.
    public static let httpTimeoutMilliseconds: ClosedRange<Int64> = 1...300_000
    public static let httpDefaultTimeoutMilliseconds: Int64 = 30_000
    /// `sleep` `ms`: up to a year.
    public static let sleepMilliseconds: ClosedRange<Int64> = 0...31_536_000_000
}
