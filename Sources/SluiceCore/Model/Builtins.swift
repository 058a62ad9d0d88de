/// Names of the handlers Sluice runs in-process (SluiceEngine's `BuiltinHandlers`). Any other
/// handler name is served by external workers. Known here so that storage can route
/// escalation tasks of built-in handlers to the sweepers instead of to workers.
public enum Builtins {
    public static let handlers: Set<String> = ["noop", "set_context", "sleep", "fail", "http_request"]
}
