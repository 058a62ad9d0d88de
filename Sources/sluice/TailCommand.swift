import ArgumentParser
import AsyncHTTPClient
import Foundation
import NIOCore
import SluiceCore

/// `sluice tail <instance>`: follows an instance's live events in a terminal, one line per
/// event, state changes highlighted, and exits with the instance's terminal state
/// (0 completed, 1 failed, 3 cancelled, 4 not found). Reconnects with Last-Event-ID if the
/// connection drops, so nothing is shown twice or missed.
struct TailCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tail", abstract: "Follow an instance's live events (exit status: 0 completed, 1 failed, 3 cancelled, 4 not found).")

    @Argument(help: "The instance id.") var instance: String
    @OptionGroup var client: ClientOptions
    @Flag(help: "No colours, even on a terminal.") var plain = false

    func run() async throws {
        let style = TailStyle(colour: !plain && isatty(STDOUT_FILENO) == 1)
        var lastEventID: String?
        var failures = 0
        while true {
            var request = client.request("/instances/\(instance)/stream")
            request.headers.add(name: "Accept", value: "text/event-stream")
            if let lastEventID { request.headers.add(name: "Last-Event-ID", value: lastEventID) }
            do {
                let response = try await HTTPClient.shared.execute(request, timeout: .hours(24))
                guard response.status == .ok else {
                    let body = try await response.body.collect(upTo: 1 << 20)
                    printLine("sluice tail: \(response.status.code) \(String(buffer: body))", to: .standardError)
                    throw ExitCode(4)
                }
                failures = 0
                var parser = SSELineParser()
                for try await chunk in response.body {
                    for event in parser.feed(String(buffer: chunk)) {
                        if let id = event.id { lastEventID = id }
                        printLine(style.line(for: event))
                        if event.event == "done" { throw ExitCode(Self.exitCode(forDone: event.data)) }
                        if event.event == "error" { throw ExitCode(4) }
                    }
                }
            } catch let exit as ExitCode {
                throw exit
            } catch {
                failures += 1
                if failures > 30 {
                    printLine("sluice tail: cannot reach \(client.server): \(error)", to: .standardError)
                    throw ExitCode(5)
                }
            }
            try await Task.sleep(for: .milliseconds(min(200 * failures, 2000)))
        }
    }

    static func exitCode(forDone data: String) -> Int32 {
        if data.contains("\"completed\"") { return 0 }
        if data.contains("\"cancelled\"") { return 3 }
        return 1
    }
}

/// Splits an SSE byte stream into events.
struct SSELineParser {
    struct Event {
        var id: String?
        var event = "message"
        var data = ""
    }

    private var pending = ""
    private var current = Event()

    mutating func feed(_ text: String) -> [Event] {
        pending += text
        var events: [Event] = []
        while let newline = pending.firstIndex(of: "\n") {
            let line = String(pending[..<newline])
            pending.removeSubrange(...newline)
            if line.isEmpty {
                if !current.data.isEmpty { events.append(current) }
                current = Event()
            } else if line.hasPrefix("id: ") {
                current.id = String(line.dropFirst(4))
            } else if line.hasPrefix("event: ") {
                current.event = String(line.dropFirst(7))
            } else if line.hasPrefix("data: ") {
                current.data = String(line.dropFirst(6))
            }
        }
        return events
    }
}

/// One readable line per event.
struct TailStyle {
    let colour: Bool

    func line(for event: SSELineParser.Event) -> String {
        let time = Clock.rfc3339(milliseconds: Clock.nowMilliseconds()).dropFirst(11).dropLast()
        let json = try? JSONValue.parse(Array(event.data.utf8))
        switch event.event {
        case "state":
            let state = json?["state"]?.stringValue ?? event.data
            return "\(time)  \(paint("state", 1))   \(paint(state, colourFor(state)))"
        case "output":
            let block = json?["block_id"]?.stringValue ?? "?"
            return "\(time)  output  \(block)  \(json?["output"]?.jsonString ?? event.data)"
        case "done":
            let state = json?["state"]?.stringValue ?? event.data
            return "\(time)  \(paint("done", 1))    \(paint(state, colourFor(state)))"
        case "error":
            return "\(time)  \(paint("error", 31))   \(json?["error"]?.stringValue ?? event.data)"
        default:
            return "\(time)  \(event.event)  \(event.data)"
        }
    }

    private func colourFor(_ state: String) -> Int {
        switch state {
        case "completed": return 32
        case "failed", "cancelled": return 31
        case "waiting", "paused": return 33
        default: return 36
        }
    }

    private func paint(_ text: String, _ code: Int) -> String {
        colour ? "\u{1B}[\(code)m\(text)\u{1B}[0m" : text
    }
}

func printLine(_ text: String, to handle: FileHandle = .standardOutput) {
    handle.write(Data((text + "\n").utf8))
}

extension String {
    func trimmingSuffix(_ suffix: String) -> String {
        hasSuffix(suffix) ? String(dropLast(suffix.count)) : self
    }
}
