import Hummingbird
import Metrics
import NIOConcurrencyHelpers
import ServiceLifecycle
import SluiceCore
import SluiceEngine

/// The workers protocol: poll (long-poll), heartbeat, complete, fail.
struct WorkersController {
    let tasks: TaskStore
    /// Scripts that queue a task publish `~tasks:<handler>`; a waiting poll wakes on it.
    let wakes: WakeRegistry

    /// Without a wake-up (missed during a pub/sub reconnect, or a retry whose backoff ends),
    /// a waiting poll looks again this often.
    static let fallbackMilliseconds: Int64 = 1000

    func addRoutes(to routes: APIRoutes) {
        routes.post("/workers/tasks/poll", use: poll)
        routes.post("/workers/tasks/{task_id}/heartbeat", use: heartbeat)
        routes.post("/workers/tasks/{task_id}/complete", use: complete)
        routes.post("/workers/tasks/{task_id}/fail", use: fail)
    }

    @Sendable func poll(_ request: Request, context: SluiceRequestContext) async throws -> Response {
        let body = try await WorkerBody(request.jsonBody(context: context))
        let handler = try body.identifier("handler")
        try Self.requireHandler(handler, context)
        let worker = try body.identifier("worker_id")
        let limit = try body.integer("limit", default: 1, in: 1...100)
        let waitMilliseconds = try body.integer("wait_ms", default: 0, in: 0...30_000)
        let deadline = ContinuousClock.now + .milliseconds(waitMilliseconds)
        let doorbell = Doorbell()
        wakes.register("~tasks:" + handler, doorbell)
        defer { wakes.unregister("~tasks:" + handler, doorbell) }
        // A process shutting down answers a waiting poll at once with [] (and leases nothing
        // more), so the worker polls another process instead of holding the shutdown up.
        let shuttingDown = NIOLockedValueBox(false)
        return try await withGracefulShutdownHandler {
            while true {
                if shuttingDown.withLockedValue({ $0 }) { return JSONValue.array([]).response(status: .ok) }
                let leased = try await tasks.lease(
                    handler: handler, worker: worker, limit: limit, for: context.principal.caller, nowMilliseconds: Clock.nowMilliseconds())
                TaskMetrics.leased.increment(by: leased.count)
                let left = deadline - ContinuousClock.now
                if !leased.isEmpty || left <= .zero {
                    return JSONValue.array(leased.map(Self.json)).response(status: .ok)
                }
                // Long-poll: wait for a task of this handler to be queued anywhere (or the fallback).
                let leftMilliseconds = max(left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000, 1)
                _ = await doorbell.wait(upTo: min(Self.fallbackMilliseconds, leftMilliseconds))
            }
        } onGracefulShutdown: {
            shuttingDown.withLockedValue { $0 = true }
            doorbell.ring()
        }
    }

    @Sendable func heartbeat(_ request: Request, context: SluiceRequestContext) async throws -> Response {
        let task = try taskID(context)
        let body = try await WorkerBody(request.jsonBody(context: context))
        let expires = try await tasks.heartbeat(
            task, worker: try body.identifier("worker_id"), for: context.principal.caller, nowMilliseconds: Clock.nowMilliseconds())
        return JSONValue.object(["task_id": .string(task.text), "lease_expires_at": .string(Clock.rfc3339(milliseconds: expires))]).response(status: .ok)
    }

    @Sendable func complete(_ request: Request, context: SluiceRequestContext) async throws -> Response {
        let task = try taskID(context)
        let body = try await WorkerBody(request.jsonBody(context: context))
        let worker = try body.identifier("worker_id")
        let output = body.object["output"] ?? .object([:])
        var patch: [String: JSONValue] = [:]
        switch body.object["context"] {
        case nil, .null?: break
        case .object(let object)?: patch = object
        default: throw SluiceError.invalid(field: "context", message: "context must be a JSON object (shallow-merged into the instance context)")
        }
        let state = try await tasks.finish(
            task, worker: worker, .completed(output: output, contextPatch: patch), by: context.principal.caller, nowMilliseconds: Clock.nowMilliseconds())
        return JSONValue.object(["task_id": .string(task.text), "instance_state": .string(state.rawValue)]).response(status: .ok)
    }

    @Sendable func fail(_ request: Request, context: SluiceRequestContext) async throws -> Response {
        let task = try taskID(context)
        let body = try await WorkerBody(request.jsonBody(context: context))
        let worker = try body.identifier("worker_id")
        guard case .string(let message)? = body.object["error"] else {
            throw SluiceError.invalid(field: "error", message: "error is required: a message saying what went wrong")
        }
        let retryable: Bool
        switch body.object["retryable"] {
        case nil, .null?: retryable = true
        case .bool(let flag)?: retryable = flag
        default: throw SluiceError.invalid(field: "retryable", message: "retryable must be true or false")
        }
        let state = try await tasks.finish(
            task, worker: worker, .failed(message: message, retryable: retryable), by: context.principal.caller, nowMilliseconds: Clock.nowMilliseconds())
        return JSONValue.object(["task_id": .string(task.text), "instance_state": .string(state.rawValue)]).response(status: .ok)
    }

    /// The task of the path: 404 when it cannot exist or is another tenant's (as the task id
    /// says; the scripts check the instance itself), 403 for a handler the key does not serve.
    private func taskID(_ context: SluiceRequestContext) throws -> TaskStore.TaskID {
        guard let task = TaskStore.TaskID(try context.parameters.require("task_id")),
              context.principal.tenant == nil || task.tenant == context.principal.tenant else { throw APIError.notFound("task not found") }
        try Self.requireHandler(task.handler, context)
        return task
    }

    /// A worker key with `handlers` serves only those.
    static func requireHandler(_ handler: String, _ context: SluiceRequestContext) throws {
        let principal = context.principal
        guard principal.serves(handler: handler) else {
            AuthMetrics.failure(.forbidden)
            throw APIError(.forbidden, "key \(principal.name) serves only the handlers \(principal.handlers?.sorted().joined(separator: ", ") ?? "")",
                           details: .object(["field": .string("handler")]))
        }
    }

    static func json(_ task: TaskStore.LeasedTask) -> JSONValue {
        .object([
            "task_id": .string(task.id.text), "instance_id": .string(task.id.instanceId), "block_id": .string(task.blockId),
            "handler": .string(task.id.handler), "params": task.params, "context": task.context,
            "attempt": .number(Double(task.attempt)), "lease_expires_at": .string(Clock.rfc3339(milliseconds: task.leaseExpiresAt)),
            "latest_checkpoint": task.latestCheckpoint ?? .null,
        ])
    }
}

/// A worker request body with typed field access (422 naming the field).
struct WorkerBody {
    let object: [String: JSONValue]

    init(_ body: JSONValue) throws {
        guard case .object(let object) = body else { throw SluiceError.invalid(field: "body", message: "body must be a JSON object") }
        self.object = object
    }

    func identifier(_ name: String) throws -> String {
        guard case .string(let value)? = object[name], Identifier.isValid(value) else {
            throw SluiceError.invalid(field: name, message: "\(name) is required: \(Identifier.rule)")
        }
        return value
    }

    func integer(_ name: String, default value: Int, in range: ClosedRange<Int>) throws -> Int {
        switch object[name] {
        case nil, .null?: return value
        case .number(let number)? where number.rounded() == number && range.contains(Int(exactly: number) ?? Int.min):
            return Int(number)
        default:
            throw SluiceError.invalid(field: name, message: "\(name) must be an integer from \(range.lowerBound) to \(range.upperBound)")
        }
    }
}

/// Tasks handed to workers, for `/metrics` (expired leases are the sweeper's `sluice_tasks_expired`).
enum TaskMetrics {
    static let leased = Counter(label: "sluice_tasks_leased")
}
