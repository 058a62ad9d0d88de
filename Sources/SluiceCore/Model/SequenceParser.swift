/// Turns a `POST /sequences` body into a `SequenceDefinition`, or the first problem found as
/// `SluiceError.invalid` naming the block and field. Unknown fields are refused so that a typo
/// (`"chocies"`) is not silently ignored.
public enum SequenceParser {
    static let sequenceFields: Set<String> = ["id", "name", "tenant_id", "namespace", "blocks"]
    /// Blocks per sequence and choices per gate: every instance carries its gates' choices, and
    /// the runner walks the blocks; bounded so one definition cannot make every instance huge.
    public static let maximumBlocks = 1000
    public static let maximumChoices = 100
    static let stepFields: Set<String> = ["id", "type", "handler", "params", "when", "retry", "timeout_ms"]
    static let gateFields: Set<String> = [
        "id", "type", "prompt", "choices", "store_as", "timeout_seconds", "escalation_handler",
        "escalation_params", "on_timeout", "when",
    ]

    public static func parse(_ body: JSONValue) throws(SluiceError) -> SequenceDefinition {
        guard case .object(let object) = body else { throw .invalid(field: "body", message: "a sequence must be a JSON object") }
        try refuseUnknown(object, allowed: sequenceFields, at: "")
        let id = try identifier(object["id"], field: "id", required: true)!
        let name = try string(object["name"], field: "name") ?? id
        let tenant = try identifier(object["tenant_id"], field: "tenant_id")
        let namespace = try identifier(object["namespace"], field: "namespace")
        guard case .array(let rawBlocks)? = object["blocks"] else {
            throw .invalid(field: "blocks", message: "blocks must be a non-empty array of blocks")
        }
        guard !rawBlocks.isEmpty else { throw .invalid(field: "blocks", message: "blocks must not be empty") }
        guard rawBlocks.count <= maximumBlocks else {
            throw .invalid(field: "blocks", message: "a sequence has at most \(maximumBlocks) blocks (got \(rawBlocks.count))")
        }
        var blocks: [Block] = []
        var seen: Set<String> = []
        for (index, raw) in rawBlocks.enumerated() {
            let block = try parseBlock(raw, index: index)
            guard seen.insert(block.id).inserted else {
                throw .invalid(field: "blocks[\(index)].id", message: "duplicate block id '\(block.id)'")
            }
            blocks.append(block)
        }
        return SequenceDefinition(id: id, name: name, tenantId: tenant, namespace: namespace, blocks: blocks)
    }

    static func parseBlock(_ raw: JSONValue, index: Int) throws(SluiceError) -> Block {
        let at = "blocks[\(index)]"
        guard case .object(let object) = raw else { throw .invalid(field: at, message: "\(at) must be an object") }
        let id = try identifier(object["id"], field: "\(at).id", required: true)!
        let here = "block '\(id)'"
        let when = try object["when"].map { v throws(SluiceError) in try parseCondition(v, field: "\(at).when", block: here) }
        switch object["type"] {
        case .string("step"):
            try refuseUnknown(object, allowed: stepFields, at: at)
            guard let handler = try string(object["handler"], field: "\(at).handler"), Identifier.isValid(handler) else {
                throw .invalid(field: "\(at).handler", message: "\(here): handler is required (\(Identifier.rule))")
            }
            let params = object["params"] ?? .object([:])
            guard case .object = params else { throw .invalid(field: "\(at).params", message: "\(here): params must be an object") }
            try checkBuiltinParams(handler: handler, params: params, field: "\(at).params", block: here)
            let retry = try parseRetry(object["retry"], field: "\(at).retry", block: here)
            let timeout = try integer(object["timeout_ms"], field: "\(at).timeout_ms", block: here, minimum: 1, maximum: 86_400_000)
            return Block(id: id, kind: .step(StepBlock(handler: handler, params: params, retry: retry, timeoutMilliseconds: timeout)), when: when)
        case .string("human_input"):
            try refuseUnknown(object, allowed: gateFields, at: at)
            guard let prompt = try string(object["prompt"], field: "\(at).prompt") else {
                throw .invalid(field: "\(at).prompt", message: "\(here): prompt is required")
            }
            let choices = try parseChoices(object["choices"], field: "\(at).choices", block: here)
            let storeAs = try string(object["store_as"], field: "\(at).store_as") ?? id
            guard !storeAs.isEmpty, !storeAs.contains(".") else {
                throw .invalid(field: "\(at).store_as", message: "\(here): store_as must be a non-empty context key without dots")
            }
            // At most ten years: deadlines (ms) must stay below the 1e13 scores of undated items.
            let timeout = try integer(object["timeout_seconds"], field: "\(at).timeout_seconds", block: here, minimum: 0, maximum: 315_360_000)
            let handler = try string(object["escalation_handler"], field: "\(at).escalation_handler")
            if let handler, !Identifier.isValid(handler) {
                throw .invalid(field: "\(at).escalation_handler", message: "\(here): escalation_handler must be \(Identifier.rule)")
            }
            let escalationParams = object["escalation_params"]
            if let escalationParams, escalationParams.objectValue == nil {
                throw .invalid(field: "\(at).escalation_params", message: "\(here): escalation_params must be an object")
            }
            let onTimeout = try parseOnTimeout(object["on_timeout"], handler: handler, choices: choices, field: "\(at).on_timeout", block: here)
            let gate = HumanInputBlock(
                prompt: prompt, choices: choices, storeAs: storeAs, timeoutSeconds: timeout, escalationHandler: handler,
                escalationParams: escalationParams, onTimeout: onTimeout)
            return Block(id: id, kind: .humanInput(gate), when: when)
        case nil:
            throw .invalid(field: "\(at).type", message: "\(here): type is required (step or human_input)")
        case let other?:
            throw .invalid(field: "\(at).type", message: "\(here): unknown block type \(other.jsonString) (allowed: step, human_input)")
        }
    }

    static func parseCondition(_ raw: JSONValue, field: String, block: String) throws(SluiceError) -> Condition {
        let operators = ["equals", "not_equals", "in", "exists"]
        guard case .object(let object) = raw, case .string(let path)? = object["path"], !path.isEmpty else {
            throw .invalid(field: field, message: "\(block): when must be {\"path\": \"context.x\", <operator>: value}")
        }
        guard ["context", "metadata", "outputs", "instance"].contains(String(path.split(separator: ".").first ?? "")) else {
            throw .invalid(field: "\(field).path", message: "\(block): when.path must start with context., metadata., outputs. or instance.")
        }
        let given = object.keys.filter { $0 != "path" }
        guard given.count == 1, let op = given.first, operators.contains(op) else {
            throw .invalid(field: field, message: "\(block): when needs exactly one operator of \(operators.joined(separator: ", ")) (got \(given.sorted().joined(separator: ", ")))")
        }
        let value = object[op]!
        switch op {
        case "equals": return Condition(path: path, test: .equals(value))
        case "not_equals": return Condition(path: path, test: .notEquals(value))
        case "in":
            guard case .array(let options) = value else { throw .invalid(field: "\(field).in", message: "\(block): when.in must be an array") }
            return Condition(path: path, test: .isIn(options))
        default:
            guard case .bool(let flag) = value else { throw .invalid(field: "\(field).exists", message: "\(block): when.exists must be true or false") }
            return Condition(path: path, test: .exists(flag))
        }
    }

    static func parseRetry(_ raw: JSONValue?, field: String, block: String) throws(SluiceError) -> RetryPolicy {
        guard let raw else { return .default }
        guard case .object(let object) = raw else { throw .invalid(field: field, message: "\(block): retry must be an object") }
        try refuseUnknown(object, allowed: ["max_attempts", "backoff_ms", "multiplier"], at: field)
        var policy = RetryPolicy.default
        if let attempts = try integer(object["max_attempts"], field: "\(field).max_attempts", block: block, minimum: 1, maximum: 100) { policy.maxAttempts = attempts }
        if let backoff = try integer(object["backoff_ms"], field: "\(field).backoff_ms", block: block, minimum: 0, maximum: 86_400_000) { policy.backoffMilliseconds = backoff }
        if let multiplier = object["multiplier"] {
            guard case .number(let value) = multiplier, value >= 1, value <= 10 else {
                throw .invalid(field: "\(field).multiplier", message: "\(block): retry.multiplier must be a number from 1 to 10")
            }
            policy.multiplier = value
        }
        return policy
    }

    static func parseChoices(_ raw: JSONValue?, field: String, block: String) throws(SluiceError) -> [Choice] {
        guard let raw else { return Choice.yesNo }
        guard case .array(let items) = raw, !items.isEmpty else {
            throw .invalid(field: field, message: "\(block): choices must be a non-empty array of {label, value}")
        }
        guard items.count <= maximumChoices else {
            throw .invalid(field: field, message: "\(block): at most \(maximumChoices) choices (got \(items.count))")
        }
        var choices: [Choice] = []
        for (index, item) in items.enumerated() {
            guard case .string(let label)? = item["label"], case .string(let value)? = item["value"], !value.isEmpty,
                  item.objectValue?.count == 2 else {
                throw .invalid(field: "\(field)[\(index)]", message: "\(block): each choice must be {\"label\": string, \"value\": non-empty string}")
            }
            guard !choices.contains(where: { $0.value == value }) else {
                throw .invalid(field: "\(field)[\(index)].value", message: "\(block): duplicate choice value '\(value)'")
            }
            choices.append(Choice(label: label, value: value))
        }
        return choices
    }

    static func parseOnTimeout(_ raw: JSONValue?, handler: String?, choices: [Choice], field: String, block: String) throws(SluiceError) -> HumanInputBlock.OnTimeout {
        switch raw {
        case nil: return handler == nil ? .fail : .escalate
        case .string("fail")?: return .fail
        case .string("escalate")?:
            guard handler != nil else { throw .invalid(field: field, message: "\(block): on_timeout 'escalate' needs an escalation_handler") }
            return .escalate
        case .object(let object)? where object.count == 1:
            guard case .string(let value)? = object["choose"], choices.contains(where: { $0.value == value }) else {
                throw .invalid(field: "\(field).choose", message: "\(block): on_timeout.choose must be one of \(choices.map(\.value).joined(separator: ", "))")
            }
            return .choose(value)
        default:
            throw .invalid(field: field, message: "\(block): on_timeout must be \"escalate\", \"fail\" or {\"choose\": <choice value>}")
        }
    }

    // MARK: field helpers

    static func refuseUnknown(_ object: [String: JSONValue], allowed: Set<String>, at: String) throws(SluiceError) {
        if let unknown = object.keys.sorted().first(where: { !allowed.contains($0) }) {
            let place = at.isEmpty ? unknown : "\(at).\(unknown)"
            throw .invalid(field: place, message: "unknown field '\(place)' (allowed: \(allowed.sorted().joined(separator: ", ")))")
        }
    }

    static func string(_ value: JSONValue?, field: String) throws(SluiceError) -> String? {
        switch value {
        case nil, .null?: return nil
        case .string(let text)?: return text
        default: throw .invalid(field: field, message: "\(field) must be a string")
        }
    }

    static func identifier(_ value: JSONValue?, field: String, required: Bool = false) throws(SluiceError) -> String? {
        guard let text = try string(value, field: field) else {
            if required { throw .invalid(field: field, message: "\(field) is required") }
            return nil
        }
        guard Identifier.isValid(text) else { throw .invalid(field: field, message: "\(field) must be \(Identifier.rule)") }
        return text
    }

    static func integer(_ value: JSONValue?, field: String, block: String, minimum: Int, maximum: Int) throws(SluiceError) -> Int? {
        switch value {
        case nil, .null?: return nil
        case .number(let number)? where Int(exactly: number).map { (minimum...maximum).contains($0) } ?? false:
            return Int(number)
        default:
            let name = field.split(separator: ".").last.map(String.init) ?? field
            throw .invalid(field: field, message: "\(block): \(name) must be an integer from \(minimum) to \(maximum)")
        }
    }

    /// Literal params of built-in handlers that the runner converts to integers. A template
    /// (a string) is checked when the step runs.
    static func checkBuiltinParams(handler: String, params: JSONValue, field: String, block: String) throws(SluiceError) {
        let (name, range): (String, ClosedRange<Int64>)
        switch handler {
        case "http_request": (name, range) = ("timeout_ms", Builtins.httpTimeoutMilliseconds)
        case "sleep": (name, range) = ("ms", Builtins.sleepMilliseconds)
        default: return
        }
        switch params[name] {
        case nil, .null?, .string?: return
        case .number(let number)? where Int64(exactly: number).map(range.contains) ?? false: return
        default:
            throw .invalid(
                field: "\(field).\(name)",
                message: "\(block): \(handler) params.\(name) must be an integer from \(range.lowerBound) to \(range.upperBound)")
        }
    }
}
