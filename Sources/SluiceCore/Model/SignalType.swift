/// The `signal_type` of `POST /instances/{id}/signals`, parsed once at the edge.
public enum SignalType: Sendable, Equatable {
    case cancel
    case pause
    case resume
    case updateContext
    /// `human_input:<block_id>`: decides an approval gate.
    case humanInput(blockId: String)

    /// Accepts the string form and the `{"custom": "..."}` alias some clients send.
    public init(_ value: JSONValue?) throws(SluiceError) {
        let text: String
        switch value {
        case .string(let string)?: text = string
        case .object(let object)? where object.count == 1:
            guard case .string(let custom)? = object["custom"] else { fallthrough }
            text = custom
        default:
            throw .invalid(field: "signal_type", message: "signal_type is required: cancel, pause, resume, update_context or human_input:<block_id>")
        }
        switch text {
        case "cancel": self = .cancel
        case "pause": self = .pause
        case "resume": self = .resume
        case "update_context": self = .updateContext
        default:
            if text.hasPrefix("human_input:"), Identifier.isValid(String(text.dropFirst("human_input:".count))) {
                self = .humanInput(blockId: String(text.dropFirst("human_input:".count)))
            } else {
                throw .invalid(field: "signal_type", message: "unknown signal_type '\(text)' (allowed: cancel, pause, resume, update_context, human_input:<block_id>)")
            }
        }
    }

    var scriptName: String {
        switch self {
        case .cancel: return "cancel"
        case .pause: return "pause"
        case .resume: return "resume"
        case .updateContext: return "update_context"
        case .humanInput: return "human_input"
        }
    }
}
