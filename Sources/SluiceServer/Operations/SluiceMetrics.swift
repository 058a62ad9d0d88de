import CoreMetrics
import NIOConcurrencyHelpers
import Prometheus

/// The process's metrics registry. swift-metrics can be bootstrapped once per process, so this
/// is the single place that does it; `/metrics` renders this registry.
public enum SluiceMetrics {
    private static let bootstrapped = NIOLockedValueBox<PrometheusCollectorRegistry?>(nil)

    /// Bootstraps the global metrics system on first call and returns its registry.
    public static func registry() -> PrometheusCollectorRegistry {
        bootstrapped.withLockedValue { registry in
            if let registry { return registry }
            let created = PrometheusCollectorRegistry()
            var factory = PrometheusMetricsFactory(registry: created)
            factory.defaultDurationHistogramBuckets = [
                .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(25),
                .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(5),
            ]
            MetricsSystem.bootstrap(factory)
            registry = created
            return created
        }
    }
}
