import Hummingbird
import HummingbirdAuth
import Logging
import NIOCore
import Prometheus
import ServiceLifecycle
import SluiceCore
import SluiceEngine
import SluiceRedis

/// What the HTTP application is built from. Tests build it the same way the CLI does.
public struct ServerDependencies: Sendable {
    public var configuration: SluiceConfiguration
    public var redis: RedisClient
    public var registry: PrometheusCollectorRegistry
    /// Adds `GET /bench/noop`: the HTTP floor the benchmarks compare against.
    public var benchRoutes: Bool
    /// Wake-ups from the process's pub/sub subscription (see `EngineServices`); without a
    /// running subscription, streams fall back to `poll_ms`.
    public var wakes: WakeRegistry
    /// The API keys; open (no authentication) without a keys file.
    public var apiKeys: APIKeyRing
    /// Adds the console (`/console/...`, HTML pages for people; not part of the JSON API and so
    /// not in openapi.yaml). `sluice serve` turns it on.
    public var console: Bool
    /// Set while a stopping process drains (`SLUICE_SHUTDOWN_DRAIN_MS`); run it as a service.
    public var drain: ShutdownDrain

    public init(
        configuration: SluiceConfiguration, redis: RedisClient, registry: PrometheusCollectorRegistry = SluiceMetrics.registry(),
        benchRoutes: Bool = false, wakes: WakeRegistry = WakeRegistry(), apiKeys: APIKeyRing = .open(),
        console: Bool = false, drain: ShutdownDrain = ShutdownDrain(milliseconds: 0)
    ) {
        self.console = console
        self.apiKeys = apiKeys
        self.drain = drain
        self.configuration = configuration
        self.redis = redis
        self.registry = registry
        self.benchRoutes = benchRoutes
        self.wakes = wakes
    }
}

/// The router with every route of the API, each answering through `RequestPipeline`.
public func buildRouter(_ dependencies: ServerDependencies) -> Router<SluiceRequestContext> {
    let router = Router(context: SluiceRequestContext.self)
    // Sluice's steps, metrics included, in one place (see `RequestPipeline` for their order):
    // inside each route's responder (`APIRoutes`), and as a middleware for requests that match
    // no route, added last so that it wraps only Hummingbird's not-found responder.
    let metrics = RequestMetrics()
    let sessions = ConsoleSessionStore(redis: dependencies.redis, keys: dependencies.configuration.keys)
    let pipeline = RequestPipeline(
        drain: dependencies.drain, limits: Limits(dependencies.configuration), apiKeys: APIKeyAuthenticator(ring: dependencies.apiKeys),
        consoleSessions: dependencies.console ? ConsoleSessionAuthenticator(sessions: sessions, ring: dependencies.apiKeys) : nil,
        access: AccessCheck(openAPI: dependencies.apiKeys.isOpen, metricsOpen: dependencies.configuration.metricsOpen),
        metrics: metrics)
    let routes = APIRoutes(router: router, pipeline: pipeline)

    let keys = dependencies.configuration.keys
    let sequences = SequenceStore(redis: dependencies.redis, keys: keys)
    let storage = Storage(redis: dependencies.redis, configuration: dependencies.configuration)
    OperationsController(redis: dependencies.redis, registry: dependencies.registry, approvals: ApprovalStore(storage), drain: dependencies.drain)
        .addRoutes(to: routes)
    OpenAPIDocumentController().addRoutes(to: routes)
    let instances = InstanceStore(storage)
    SequencesController(store: sequences).addRoutes(to: routes)
    InstancesController(instances: instances, sequences: sequences, contextMaxBytes: dependencies.configuration.contextMaxBytes)
        .addRoutes(to: routes)
    let signals = SignalStore(storage)
    let approvals = ApprovalStore(storage)
    SignalsController(signals: signals, approvals: approvals).addRoutes(to: routes)
    ApprovalsController(approvals: approvals).addRoutes(to: routes)
    CheckpointsController(checkpoints: CheckpointStore(storage), checkpointMaxBytes: dependencies.configuration.checkpointMaxBytes)
        .addRoutes(to: routes)
    let tasks = TaskStore(storage)
    WorkersController(tasks: tasks, wakes: dependencies.wakes).addRoutes(to: routes)
    // One cap for every kind of stream on this process.
    let limiter = StreamLimiter(maximum: dependencies.configuration.sseMaxStreams)
    let instanceStream = InstanceStreamController(
        reader: EventStreamReader(redis: dependencies.redis, keys: keys), wakes: dependencies.wakes,
        limiter: limiter, metrics: metrics, keepaliveSeconds: dependencies.configuration.sseKeepaliveSeconds,
        safetyPollMilliseconds: Int64(dependencies.configuration.sseSafetyPollMilliseconds))
    instanceStream.addRoutes(to: routes)
    let approvalStream = ApprovalStreamController(
        reader: ApprovalEventReader(redis: dependencies.redis, keys: keys), wakes: dependencies.wakes,
        limiter: limiter, metrics: metrics, keepaliveSeconds: dependencies.configuration.sseKeepaliveSeconds,
        safetyPollMilliseconds: Int64(dependencies.configuration.sseSafetyPollMilliseconds))
    approvalStream.addRoutes(to: routes)
    if dependencies.console {
        ConsoleController(
            instances: instances, approvals: approvals, signals: signals, checkpoints: CheckpointStore(storage),
            events: EventStreamReader(redis: dependencies.redis, keys: keys), sessions: sessions, ring: dependencies.apiKeys,
            approvalStream: approvalStream.stream, instanceStream: instanceStream.stream
        ).addRoutes(to: routes)
    }
    if dependencies.benchRoutes {
        routes.get("/bench/noop") { _, _ in jsonResponse(#"{"ok":true}"#) }
    }
    router.middlewares.add(pipeline)
    return router
}

/// The whole HTTP application: router, bind address and the background services that share
/// its lifecycle (graceful shutdown on SIGINT/SIGTERM when run by the CLI).
public func buildApplication(
    _ dependencies: ServerDependencies,
    services: [any Service] = [],
    logger: Logger,
    onServerRunning: @escaping @Sendable (any Channel) async -> Void = { _ in }
) -> some ApplicationProtocol {
    let configuration = dependencies.configuration
    return Application(
        router: buildRouter(dependencies),
        server: .http1(configuration: .init(additionalChannelHandlers: [ReceiveBufferSizing()])),
        configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "sluice"),
        services: services,
        onServerRunning: onServerRunning,
        logger: logger)
}
