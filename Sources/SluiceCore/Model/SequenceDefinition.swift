/// A workflow definition: an ordered list of blocks run top to bottom. Immutable per version.
public struct SequenceDefinition: Sendable, Equatable {
    public var id: String
    public var name: String
    public var tenantId: String?
    public var namespace: String?
    public var blocks: [Block]

    public func block(_ id: String) -> Block? { blocks.first { $0.id == id } }
}

/// One block of a sequence.
public struct Block: Sendable, Equatable {
    public var id: String
    public var kind: BlockKind
    /// Skip the block (no output) when false.
    public var when: Condition?
}

public enum BlockKind: Sendable, Equatable {
    case step(StepBlock)
    case humanInput(HumanInputBlock)
}

public struct StepBlock: Sendable, Equatable {
    public var handler: String
    /// String values are templates (see `Template`).
    public var params: JSONValue
    public var retry: RetryPolicy
    public var timeoutMilliseconds: Int?
}

public struct RetryPolicy: Sendable, Equatable {
    /// Attempts of a step or task before the instance fails with the last error; failed runs,
    /// expired worker leases and expired runner leases (a runner that died running it) count.
    public var maxAttempts: Int = 5
    public var backoffMilliseconds: Int = 1000
    public var multiplier: Double = 2.0

    public static let `default` = RetryPolicy()

    /// Delay before attempt `attempt + 1`, after `attempt` failed attempts (1-based).
    public func delay(afterAttempt attempt: Int) -> Int {
        let scaled = Double(backoffMilliseconds) * pow(multiplier, Double(max(attempt - 1, 0)))
        return Int(min(scaled, 86_400_000))
    }
}

public struct Choice: Sendable, Equatable, Codable {
    public var label: String
    public var value: String
    public static let yesNo = [Choice(label: "Yes", value: "yes"), Choice(label: "No", value: "no")]
}

public struct HumanInputBlock: Sendable, Equatable {
    public enum OnTimeout: Sendable, Equatable {
        case escalate
        case fail
        case choose(String)
    }

    public var prompt: String
    public var choices: [Choice]
    public var storeAs: String
    public var timeoutSeconds: Int?
    public var escalationHandler: String?
    public var escalationParams: JSONValue?
    public var onTimeout: OnTimeout
}

/// `when`: `{"path": "context.decision", "equals": "approved"}` (or not_equals, in, exists).
public struct Condition: Sendable, Equatable {
    public enum Test: Sendable, Equatable {
        case equals(JSONValue)
        case notEquals(JSONValue)
        case isIn([JSONValue])
        case exists(Bool)
    }

    public var path: String
    public var test: Test

    public init(path: String, test: Test) {
        self.path = path
        self.test = test
    }

    public func holds(in scope: JSONValue) -> Bool {
        let value = scope.lookup(path)
        switch test {
        case .equals(let expected): return value == expected
        case .notEquals(let expected): return value != expected
        case .isIn(let options): return value.map(options.contains) ?? false
        case .exists(let expected): return (value != nil && value != .null) == expected
        }
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
