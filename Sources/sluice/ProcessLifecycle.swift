import Logging
import ServiceLifecycle
import SluiceCore

/// How every long-running `sluice` process runs its services: one `ServiceGroup`, started
/// together, stopped in reverse order on SIGTERM or SIGINT (graceful shutdown). A shutdown that
/// has not finished within `SLUICE_SHUTDOWN_GRACE_MS` is escalated to cancellation; one that
/// still has not finished a few seconds later ends the process (ServiceLifecycle's fatal error)
/// rather than leave it hanging.
enum ProcessLifecycle {
    /// How long cancelled services may take to return after the grace has passed.
    static let cancellationLimit: Duration = .seconds(3)

    static func group(_ services: [any Service], configuration: SluiceConfiguration, logger: Logger) -> ServiceGroup {
        var group = ServiceGroupConfiguration(
            services: services.map { .init(service: $0) }, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        group.maximumGracefulShutdownDuration = .milliseconds(configuration.shutdownGraceMilliseconds)
        group.maximumCancellationDuration = cancellationLimit
        return ServiceGroup(configuration: group)
    }
}
