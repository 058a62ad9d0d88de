import Logging
import ServiceLifecycle
import SluiceCore
import SluiceRedis

/// The background services of a process: the one pub/sub subscription to the partitions'
/// wake channels, and (when enabled) the runner and sweeper loops.
public struct EngineServices {
    /// The pub/sub subscription: wake-ups for streams, long-polls and the runner.
    public var subscription: any Service
    /// The runner and sweeper loops (those enabled).
    public var loops: [any Service]
    public let doorbell: Doorbell

    /// In start order; a `ServiceGroup` stops them in reverse (the loops before the subscription).
    public var services: [any Service] { [subscription] + loops }

    public static func make(
        configuration: SluiceConfiguration, redisConfiguration: RedisConfiguration, redis: RedisClient,
        runner: Bool, sweeper: Bool, wakes: WakeRegistry = WakeRegistry(), logger: Logger
    ) -> EngineServices {
        let keys = configuration.keys
        let doorbell = Doorbell()
        let storage = Storage(redis: redis, configuration: configuration)
        let tasks = TaskStore(storage)
        let approvals = ApprovalStore(storage)
        let handlers = BuiltinHandlers(configuration: configuration)
        let loop: Runner? = runner
            ? Runner(
                engine: EngineStore(storage), sequences: SequenceStore(redis: redis, keys: keys), tasks: tasks, approvals: approvals,
                handlers: handlers, leaseMilliseconds: configuration.taskLeaseMilliseconds, doorbell: doorbell, logger: Logger(label: "sluice.runner"))
            : nil
        // One subscription per process. A message is an instance id (its local SSE streams
        // wake), `<id>|r` (also due now: the runner claims it), or a `~...` key of other local
        // waiters (approval streams, worker long-polls).
        let subscriber = RedisSubscriber(
            configuration: redisConfiguration, kind: .sharded, channels: keys.allPartitions.map(keys.wakeChannel),
            logger: Logger(label: "sluice.pubsub"),
            onSubscribed: {
                // Messages may have been missed while (re)connecting: everyone looks again.
                doorbell.ring()
                wakes.subscribed()
            },
            onLost: { wakes.lost() },
            onMessage: { message in
                let text = String(buffer: message.payload)
                if text.hasSuffix("|r") {
                    let id = String(text.dropLast(2))
                    loop?.hint(id)
                    wakes.wake(id)
                } else {
                    wakes.wake(text)
                }
            })
        var loops: [any Service] = []
        if let loop { loops.append(loop) }
        if sweeper {
            loops.append(Sweeper(tasks: tasks, approvals: approvals, handlers: handlers, intervalMilliseconds: configuration.sweepIntervalMilliseconds, logger: Logger(label: "sluice.sweeper")))
        }
        return EngineServices(subscription: subscriber, loops: loops, doorbell: doorbell)
    }
}
