/// The states of an instance (engine.md → Instance states).
public enum InstanceState: String, Sendable, Codable, CaseIterable {
    case scheduled, running, waiting, paused, completed, failed, cancelled

    public var isTerminal: Bool {
        switch self {
        case .completed, .failed, .cancelled: return true
        case .scheduled, .running, .waiting, .paused: return false
        }
    }
}
