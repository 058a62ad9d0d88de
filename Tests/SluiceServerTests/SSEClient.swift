import AsyncHTTPClient
import Foundation
import NIOConcurrencyHelpers
import NIOCore

/// A minimal Server-Sent Events client over AsyncHTTPClient, for tests: reads events (and
/// comments) until `done`/`error`, the server closes, or `stop` says so.
struct SSEClient {
    struct Event: Equatable, Sendable, CustomStringConvertible {
        var id: String?
        var event: String
        var data: String
        var description: String { "\(event)#\(id ?? "-"):\(data)" }
    }

    struct Result: Sendable {
        var status: Int
        var headers: [String: String]
        var events: [Event]
        var comments: [String]
        /// The last `retry:` reconnection delay the server asked for (ms).
        var retry: Int? = nil
    }

    static func read(
        port: Int, path: String, headers: [String: String] = [:], timeout: Duration = .seconds(30),
        stop: @escaping @Sendable (Result) -> Bool = { _ in false }
    ) async throws -> Result {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)")
        request.headers.add(name: "Accept", value: "text/event-stream")
        // A stream's connection is not reused: the server closes it when the stream ends.
        request.headers.add(name: "Connection", value: "close")
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if !headers.keys.contains(where: { ["authorization", "x-api-key"].contains($0.lowercased()) }) {
            for (name, value) in TestAuth.headers { request.headers.add(name: name, value: value) }
        }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(Int64(timeout.components.seconds)))
        let head = Result(status: Int(response.status.code), headers: [:], events: [], comments: [])
        // The reading stops at `timeout` even when the server sends nothing (an idle stream).
        let collected = NIOLockedValueBox(head)
        let finished = NIOLockedValueBox(false)
        let reader = Task {
            defer { finished.withLockedValue { $0 = true } }
            try await consume(response, into: collected, stop: stop)
        }
        // Cancelling a body read only takes effect at the next chunk, so do not wait for it.
        let deadline = ContinuousClock.now + timeout
        while !finished.withLockedValue({ $0 }) && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(10))
        }
        reader.cancel()
        return collected.withLockedValue { $0 }
    }

    private static func consume(
        _ response: HTTPClientResponse, into collected: NIOLockedValueBox<Result>, stop: @escaping @Sendable (Result) -> Bool
    ) async throws {
        var result = collected.withLockedValue { $0 }
        defer { collected.withLockedValue { $0 = result } }
        for header in response.headers { result.headers[header.name.lowercased()] = header.value }
        var pending = ""
        var current = Event(id: nil, event: "message", data: "")
        var hasData = false
        reading: for try await chunk in response.body {
            pending += String(buffer: chunk)
            while let newline = pending.firstIndex(of: "\n") {
                let line = String(pending[..<newline])
                pending = String(pending[pending.index(after: newline)...])
                if line.isEmpty {
                    if hasData {
                        result.events.append(current)
                        if current.event == "done" || current.event == "error" || stop(result) { break reading }
                    }
                    current = Event(id: nil, event: "message", data: "")
                    hasData = false
                } else if line.hasPrefix(":") {
                    result.comments.append(line.dropFirst().trimmingCharacters(in: .whitespaces))
                    if stop(result) { break reading }
                } else if line.hasPrefix("retry: ") {
                    result.retry = Int(line.dropFirst(7))
                } else if line.hasPrefix("id: ") {
                    current.id = String(line.dropFirst(4))
                } else if line.hasPrefix("event: ") {
                    current.event = String(line.dropFirst(7))
                } else if line.hasPrefix("data: ") {
                    current.data = String(line.dropFirst(6))
                    hasData = true
                }
            }
            collected.withLockedValue { $0 = result }
        }
    }
}
