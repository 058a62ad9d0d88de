/// The one error type of the Redis client. `code` says what went wrong so callers can decide
/// (retry, 503, map a script error) without parsing messages.
public struct RedisClientError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: Sendable, Equatable {
        /// Could not open a connection (refused, no such socket, DNS, connect timeout).
        case connectionFailed
        /// The connection dropped while the command was in flight, or was already closed.
        case connectionClosed
        /// No reply within the command timeout; the connection is closed because its replies
        /// can no longer be matched to commands.
        case timeout
        /// A recent connection attempt failed; requests fail fast until the backoff elapses.
        case unavailable
        /// The server answered with an error reply (`message` is the server's text).
        case server
        /// The byte stream is not valid RESP, or a reply arrived that nobody asked for.
        case protocolError
        /// The client was shut down.
        case shutdown
        /// A reply had an unexpected shape for the typed helper that read it.
        case unexpectedReply
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public static func server(_ message: String) -> RedisClientError { .init(.server, message) }

    /// The first word of a server error (`NOSCRIPT`, `WRONGTYPE`, a script's own prefix such as
    /// `CONFLICT`), or nil for client-side errors.
    public var serverPrefix: Substring? {
        guard code == .server else { return nil }
        return message.split(separator: " ", maxSplits: 1).first
    }

    /// True when the failure says nothing about the command itself: Redis was unreachable, or
    /// answered that it cannot serve anyone yet (a restarted server replaying its AOF says
    /// `LOADING` to every command until it is done; the request should get 503, not 500).
    public var isConnectivity: Bool {
        switch code {
        case .connectionFailed, .connectionClosed, .timeout, .unavailable, .shutdown: return true
        case .server: return serverPrefix.map { Self.notServingPrefixes.contains(String($0)) } ?? false
        case .protocolError, .unexpectedReply: return false
        }
    }

    /// Error replies meaning "not now" for every command: loading a dataset, a script running
    /// past its time limit, a replica without its master, a cluster slot moving.
    static let notServingPrefixes: Set<String> = ["LOADING", "BUSY", "MASTERDOWN", "TRYAGAIN"]

    public var description: String { "redis \(code): \(message)" }
}
