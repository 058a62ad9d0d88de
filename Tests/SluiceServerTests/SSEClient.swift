import AsyncHTTPClient
import Foundation
import NIOCore

/// A minimal Server-Sent Events client over AsyncHTTPClient, for tests: reads events (and
/// comments) until `done`/`error`, the server closes, or `stop` says so.
struct SSEClient {
    struct Event: Equatable, CustomStringConvertible {
        var id: String?
        var event: String
        var data: String
        var description: String { "\(event)#\(id ?? "-"):\(data)" }
    }

    struct Result {
        var status: Int
        var headers: [String: String]
        var events: [Event]
        var comments: [String]
    }

    static func read(
        port: Int, path: String, headers: [String: String] = [:], timeout: Duration = .seconds(30),
        stop: @escaping @Sendable (Result) -> Bool = { _ in false }
    ) async throws -> Result {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)")
        request.headers.add(name: "Accept", value: "text/event-stream")
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(Int64(timeout.components.seconds)))
        var result = Result(status: Int(response.status.code), headers: [:], events: [], comments: [])
        for header in response.headers { result.headers[header.name.lowercased()] = header.value }
        var pending = ""
        var current = Event(id: nil, event: "message", data: "")
        var hasData = false
        let deadline = ContinuousClock.now + timeout
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
                } else if line.hasPrefix("id: ") {
                    current.id = String(line.dropFirst(4))
                } else if line.hasPrefix("event: ") {
                    current.event = String(line.dropFirst(7))
                } else if line.hasPrefix("data: ") {
                    current.data = String(line.dropFirst(6))
                    hasData = true
                }
            }
            if ContinuousClock.now > deadline { break }
        }
        return result
    }
}
