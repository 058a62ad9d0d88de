import NIOConcurrencyHelpers
import ServiceLifecycle

/// The first step of an API node's graceful shutdown behind a load balancer: for
/// `SLUICE_SHUTDOWN_DRAIN_MS` the server goes on serving, but every answer says
/// `Connection: close` and `/readyz` says 503. The balancer stops reusing its pooled connections
/// to this node and closes them itself, so none is closed under a request it is sending (nginx
/// does not re-send a POST it already sent: the client would get 502).
///
/// As a `Service` it is stopped just before the HTTP server (later in the `ServiceGroup`'s list):
/// the group triggers the server's shutdown only once this returns.
public final class ShutdownDrain: Service, Sendable {
    public let milliseconds: Int
    private let state = NIOLockedValueBox(false)

    public init(milliseconds: Int) {
        self.milliseconds = milliseconds
    }

    /// True from the shutdown signal until the process ends.
    public var isDraining: Bool { state.withLockedValue { $0 } }

    public func run() async throws {
        // Cancelled (not a graceful shutdown): nothing to drain for.
        do { try await gracefulShutdown() } catch { return }
        guard milliseconds > 0 else { return }
        state.withLockedValue { $0 = true }
        try? await Task.sleep(for: .milliseconds(milliseconds))
    }

    /// Starts draining without a shutdown (tests).
    public func begin() {
        state.withLockedValue { $0 = true }
    }
}
