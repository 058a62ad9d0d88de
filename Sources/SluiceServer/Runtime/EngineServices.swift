import Logging
import ServiceLifecycle
import SluiceCore
import SluiceEngine
import SluiceRedis

/// The background services of a process: the one pub/sub subscription to the partitions'
/// wake channels, and (when enabled) the runner loop it wakes.
public struct EngineServices {
    public var services: [any Service]
    public let doorbell: Doorbell

    public static func make(
        configuration: SluiceConfiguration, redisConfiguration: RedisConfiguration, redis: RedisClient,
        runner: Bool, sweeper: Bool, wakes: WakeRegistry = WakeRegistry(), logger: Logger
    ) -> EngineServices {
        let keys = configuration.keys
        let doorbell = Doorbell()
        // One subscription per process; a wake-up for an instance rings the runner and the
        // local SSE streams of that instance.
        let subscriber = RedisSubscriber(
            configuration: redisConfiguration, kind: .sharded, channels: keys.allPartitions.map(keys.wakeChannel),
            logger: Logger(label: "sluice.pubsub"),
            onSubscribed: {
                doorbell.ring()
                wakes.wakeAll()
            },
            onMessage: { message in
                doorbell.ring()
                wakes.wake(String(buffer: message.payload))
            })
        var services: [any Service] = [subscriber]
        let storage = Storage(redis: redis, configuration: configuration)
        let tasks = TaskStore(storage)
        let approvals = ApprovalStore(storage)
        if runner {
            let engine = EngineStore(storage)
            services.append(Runner(
                engine: engine, sequences: SequenceStore(redis: redis, keys: keys), tasks: tasks, approvals: approvals,
                leaseMilliseconds: configuration.taskLeaseMilliseconds, doorbell: doorbell, logger: Logger(label: "sluice.runner")))
        }
        if sweeper {
            services.append(Sweeper(tasks: tasks, approvals: approvals, intervalMilliseconds: configuration.sweepIntervalMilliseconds, logger: Logger(label: "sluice.sweeper")))
        }
        return EngineServices(services: services, doorbell: doorbell)
    }
}
